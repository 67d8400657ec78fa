//! `probe`: reachability checks run by the host, to granted hosts only.
//! Probes are reads: they run for real in a dry run too. Every call is
//! audited (the grant check does it).
//!
//! - `tcp-connect` opens a TCP connection (each resolved address in turn,
//!   within the one timeout) and closes it; the latency is the time to the
//!   successful connect.
//! - `ping` runs the system `ping` (iputils-ping) as an argv, one echo
//!   request: ICMP needs privileges a plain socket does not have, and the
//!   setuid/capability-carrying `ping` already has them.
//!
//! The host is resolved once and only the addresses checked are connected
//! to or pinged ([`crate::net`]: a special-use address such as loopback
//! or a private network needs a grant naming it by address). Nodes of the
//! simulated fleet have no address: the simulation answers for them.
//!
//! An unreachable target is an answer (`reachable: false` and why), not an
//! error; errors are for bad arguments, refusals and a missing `ping`.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use drover_policy::{Capability, Target};
use drover_process::{self as process, ProcessError};

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::probe::{Host, ProbeResult};
use crate::call::{CallCtx, denied};
use crate::net::AddressCheck;

type R = wasmtime::Result<Result<ProbeResult, PluginError>>;

/// Longest any single probe may take, whatever the plugin asks.
const MAX_PROBE_TIME: Duration = Duration::from_secs(30);

impl CallCtx {
    fn probe(
        &mut self,
        host: &str,
        port: Option<u16>,
        timeout_ms: u32,
    ) -> Result<ProbeResult, PluginError> {
        validate_host(host)?;
        if timeout_ms == 0 {
            return Err(PluginError::Invalid("timeout-ms must be at least 1".into()));
        }
        let text = match port {
            Some(p) if host.contains(':') => format!("[{host}]:{p}"),
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let target = Target::Host { host, port };
        let check = self.decide(Capability::Probe, &target, &text);
        // A node of the simulated fleet has no address: the simulation
        // answers for it. Anything else is resolved once and checked.
        let sim = if check.allowed() {
            self.sim_answers(host)
        } else {
            Ok(None)
        };
        let found = match sim {
            Ok(Some(_)) => AddressCheck::skipped(check, &text),
            _ => self.check_addresses(Capability::Probe, &target, host, port, &text, check),
        };
        let check = self.record(Capability::Probe, &found.text, found.check);
        if !check.allowed() {
            return Err(denied(&check));
        }
        let timeout = Duration::from_millis(timeout_ms.into())
            .min(self.remaining())
            .min(MAX_PROBE_TIME);
        if timeout.is_zero() {
            return Err(PluginError::Failed(
                "no time left before the deadline".into(),
            ));
        }
        if let Some(answers) = sim? {
            return Ok(Self::sim_probe(answers, host));
        }
        let addrs = match found.addrs {
            Ok(addrs) => addrs,
            // Not resolving is an answer, like not answering.
            Err(why) => {
                return Ok(ProbeResult {
                    reachable: false,
                    latency_ms: None,
                    detail: why,
                });
            }
        };
        match port {
            Some(port) => {
                let addrs: Vec<_> = addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
                Ok(tcp_connect(&addrs, timeout))
            }
            None => match addrs.first() {
                Some(addr) => ping(host, *addr, timeout),
                None => Ok(ProbeResult {
                    reachable: false,
                    latency_ms: None,
                    detail: format!("{host} resolves to no address"),
                }),
            },
        }
    }
}

/// Host names and addresses only: nothing `ping` could take for an option.
fn validate_host(host: &str) -> Result<(), PluginError> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('-')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:_%".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(PluginError::Invalid(format!(
            "host {host:?}: give a host name or an IP address (no brackets, ports or URLs)"
        )))
    }
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

/// Connects to each address in turn (the ones checked for the target),
/// within the one timeout.
fn tcp_connect(addrs: &[SocketAddr], timeout: Duration) -> ProbeResult {
    let started = Instant::now();
    let unreachable = |detail: String| ProbeResult {
        reachable: false,
        latency_ms: None,
        detail,
    };
    let mut failures = Vec::new();
    for addr in addrs {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            failures.push(format!("{addr}: no time left"));
            break;
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(stream) => {
                let latency = started.elapsed();
                drop(stream);
                return ProbeResult {
                    reachable: true,
                    latency_ms: Some(millis(latency)),
                    detail: format!("connected to {addr} in {latency:.1?}"),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                failures.push(format!("{addr}: no answer within {}ms", millis(left)));
            }
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    if failures.is_empty() {
        return unreachable("no address to connect to".into());
    }
    unreachable(failures.join("; "))
}

/// Pings `addr`, the address checked for `host` (`ping` is given the
/// address, so it does not look the name up again).
fn ping(host: &str, addr: IpAddr, timeout: Duration) -> Result<ProbeResult, PluginError> {
    let wait = format!("{:.3}", timeout.as_secs_f64());
    let deadline = timeout.as_secs().max(1).to_string();
    let addr = addr.to_string();
    let argv: Vec<String> = [
        "ping", "-n", "-c", "1", "-W", &wait, "-w", &deadline, "--", &addr,
    ]
    .map(str::to_owned)
    .to_vec();
    // `-w` counts whole seconds: allow the program that much plus a margin.
    let limit = Duration::from_secs(timeout.as_secs().max(1)) + Duration::from_millis(500);
    match process::run(&argv, limit, 16 << 10) {
        Ok(done) if done.status.success() => {
            let out = done.stdout.text();
            let rtt = round_trip_ms(&out);
            Ok(ProbeResult {
                reachable: true,
                latency_ms: rtt.map(|ms| ms.round() as u32),
                detail: match rtt {
                    Some(ms) => format!("reply from {host} in {ms} ms"),
                    None => format!("reply from {host}"),
                },
            })
        }
        Ok(done) => {
            let stderr = done.stderr.tail_text(300);
            Ok(ProbeResult {
                reachable: false,
                latency_ms: None,
                detail: if stderr.is_empty() {
                    format!("no reply from {host} within {}ms", millis(timeout))
                } else {
                    stderr
                },
            })
        }
        Err(ProcessError::TimedOut { .. }) => Ok(ProbeResult {
            reachable: false,
            latency_ms: None,
            detail: format!("no reply from {host} within {}ms", millis(timeout)),
        }),
        Err(ProcessError::NotFound { .. }) => Err(PluginError::Unsupported(
            "the `ping` program is not installed on the drover host \
             (Debian: apt-get install iputils-ping)"
                .into(),
        )),
        Err(e) => Err(PluginError::Failed(format!("ping {host}: {e}"))),
    }
}

/// The `time=0.047 ms` of ping's reply line.
fn round_trip_ms(out: &str) -> Option<f64> {
    let after = &out[out.find("time=")? + "time=".len()..];
    let number: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().ok()
}

impl Host for CallCtx {
    fn ping(&mut self, host: String, timeout_ms: u32) -> R {
        Ok(self.probe(&host, None, timeout_ms))
    }

    fn tcp_connect(&mut self, host: String, port: u16, timeout_ms: u32) -> R {
        Ok(self.probe(&host, Some(port), timeout_ms))
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn tcp_connect_tells_a_listening_port_from_a_closed_one() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addr = [SocketAddr::from(([127, 0, 0, 1], port))];
        let open = tcp_connect(&addr, Duration::from_secs(2));
        assert!(open.reachable, "{}", open.detail);
        assert!(open.latency_ms.is_some());
        drop(listener);
        let closed = tcp_connect(&addr, Duration::from_secs(2));
        assert!(!closed.reachable);
        assert!(closed.detail.contains("refused"), "{}", closed.detail);
    }

    #[test]
    fn ping_answers_for_loopback() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let r = ping("127.0.0.1", loopback, Duration::from_secs(2)).unwrap();
        assert!(r.reachable, "{}", r.detail);
        assert!(
            r.detail.starts_with("reply from 127.0.0.1 in "),
            "{}",
            r.detail
        );
    }

    #[test]
    fn hosts_that_could_be_options_are_refused() {
        assert!(validate_host("-f").is_err());
        assert!(validate_host("").is_err());
        assert!(validate_host("a b").is_err());
        assert!(validate_host("http://x").is_err());
        assert!(validate_host("node-1.example.com").is_ok());
        assert!(validate_host("fd00::5").is_ok());
    }

    #[test]
    fn round_trips_are_parsed() {
        let out = "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.047 ms\n";
        assert_eq!(round_trip_ms(out), Some(0.047));
        assert_eq!(round_trip_ms("nothing"), None);
    }
}
