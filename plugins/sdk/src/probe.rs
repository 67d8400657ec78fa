//! Reachability checks run by the host (`drover:plugin/probe`).
//!
//! Capability `probe`; the operator grants the hosts that may be probed.
//! Probes are reads: they run in a dry run too.

use crate::Error;
use crate::bindings::drover::plugin::probe as wit;

pub use wit::ProbeResult;

/// ICMP-style reachability of `host`, waiting at most `timeout_ms`.
/// Unreachable is an `Ok` with `reachable == false`.
pub fn ping(host: &str, timeout_ms: u32) -> Result<ProbeResult, Error> {
    wit::ping(host, timeout_ms)
}

/// Whether a TCP connection to `host:port` opens within `timeout_ms`.
pub fn tcp_connect(host: &str, port: u16, timeout_ms: u32) -> Result<ProbeResult, Error> {
    wit::tcp_connect(host, port, timeout_ms)
}
