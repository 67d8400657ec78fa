//! Where `http` and `probe` connect. A grant names hosts; what it must
//! protect is addresses. So the host of an allowed call is resolved once
//! ([`Lookup`]), every address it resolved to is checked (a special-use
//! address, [`drover_policy::special_use`], needs a grant that names it by
//! address or network), and the connection goes to exactly the checked
//! addresses ([`pinned_agent`] for `http`; `probe` connects or pings the
//! address itself). There is no second lookup a DNS answer could change in
//! between (DNS rebinding), and a name such as `localhost` or a cloud
//! metadata alias cannot reach drover's own API or 169.254.169.254 through
//! a grant for that name.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use drover_policy::{Capability, Target, special_use};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::call::CallCtx;
use crate::grants::Check;

/// Name resolution: the system's by default; a seam for tests.
pub trait Lookup: Send + Sync {
    /// The addresses of `host` (a name, never an address literal).
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (`getaddrinfo`: /etc/hosts, then DNS).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        Ok((host, port).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// The outcome of resolving and checking an allowed call's host.
pub(crate) struct AddressCheck {
    /// The grant decision, turned into a refusal when an address is not
    /// covered.
    pub(crate) check: Check,
    /// What the audit records: the shown target, then ` -> ` and the
    /// addresses a name resolved to.
    pub(crate) text: String,
    /// The addresses to connect to, or why there are none (the name did
    /// not resolve: for the call to report, not a refusal).
    pub(crate) addrs: Result<Vec<IpAddr>, String>,
}

impl AddressCheck {
    /// No address work: a refused call, or a simulated node.
    pub(crate) fn skipped(check: Check, shown: &str) -> AddressCheck {
        AddressCheck {
            check,
            text: shown.to_owned(),
            addrs: Ok(Vec::new()),
        }
    }
}

impl CallCtx {
    /// Resolves `host` once for a call the grants allowed (`check`), and
    /// refuses it when one of its addresses is special-use and no grant of
    /// `cap` names that address (see the module docs). `port` is the
    /// target's port (`None`: a ping); `shown` is the target as recorded.
    pub(crate) fn check_addresses(
        &self,
        cap: Capability,
        target: &Target<'_>,
        host: &str,
        port: Option<u16>,
        shown: &str,
        check: Check,
    ) -> AddressCheck {
        if !check.allowed() {
            return AddressCheck::skipped(check, shown);
        }
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let addrs = match literal {
            Some(ip) => vec![ip],
            None => match self.services.lookup.lookup(host, port.unwrap_or(0)) {
                Ok(found) if !found.is_empty() => dedup(found),
                Ok(_) => {
                    return AddressCheck {
                        check,
                        text: format!("{shown} -> (no address)"),
                        addrs: Err(format!("{host} resolves to no address")),
                    };
                }
                Err(e) => {
                    return AddressCheck {
                        check,
                        text: format!("{shown} -> (does not resolve)"),
                        addrs: Err(format!("cannot resolve {host}: {e}")),
                    };
                }
            },
        };
        let text = match literal {
            Some(_) => shown.to_owned(),
            None => {
                let mut text = format!("{shown} ->");
                for (i, ip) in addrs.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    let _ = write!(text, "{sep}{ip}");
                }
                text
            }
        };
        for ip in &addrs {
            let Some(kind) = special_use(*ip) else {
                continue;
            };
            if self
                .grants
                .names_address(&self.plugin, &self.digest, cap, target, *ip)
            {
                continue;
            }
            let a = if kind.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) {
                "an"
            } else {
                "a"
            };
            let what = match literal {
                Some(_) => format!("{ip} is {a} {kind} address"),
                None => format!("{host} resolved to {ip}, {a} {kind} address"),
            };
            let entry = match (ip, port) {
                (IpAddr::V4(v4), Some(p)) => format!("{v4}:{p}"),
                (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
                (IpAddr::V4(v4), None) => v4.to_string(),
                (IpAddr::V6(v6), None) => format!("[{v6}]"),
            };
            let reason = format!(
                "{what}: a grant reaches loopback, link-local, private and other special-use \
                 addresses only when its scope names them by address or network, never through \
                 a name or `*`; if this pack is meant to reach it, an admin can run: \
                 drover grant add {pack}@{version} {cap} --scope '{entry}'",
                pack = self.pack,
                version = self.version,
            );
            return AddressCheck {
                check: Check::deny(reason),
                text,
                addrs: Ok(Vec::new()),
            };
        }
        AddressCheck {
            check,
            text,
            addrs: Ok(addrs),
        }
    }
}

/// Keeps the first occurrence of each address, in the resolver's order.
fn dedup(found: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::with_capacity(found.len());
    for ip in found {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// A ureq resolver that answers the addresses already checked and never
/// looks a name up.
#[derive(Debug)]
struct Pinned(Vec<SocketAddr>);

impl Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        for addr in &self.0 {
            if out.try_push(*addr).is_err() {
                break;
            }
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// An agent with `config` that connects to `addrs` only, whatever the
/// URL's host (which still goes into the `Host` header and TLS name
/// checks). One per request: a pooled connection from another call must
/// not stand in for this call's checked addresses.
pub(crate) fn pinned_agent(config: &ureq::config::Config, addrs: Vec<SocketAddr>) -> ureq::Agent {
    ureq::Agent::with_parts(config.clone(), DefaultConnector::default(), Pinned(addrs))
}
