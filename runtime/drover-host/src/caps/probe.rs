//! `probe`: reachability checks. Declared in the WIT so plugins can be
//! written against it; the checks themselves arrive with the fleet
//! controller, so every call answers `unsupported` (after the grant check,
//! so the audit log shows what was asked).

use drover_policy::{Capability, Target};

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::probe::{Host, ProbeResult};
use crate::call::{CallCtx, denied};

type R = wasmtime::Result<Result<ProbeResult, PluginError>>;

impl CallCtx {
    fn probe(&mut self, host: &str, port: Option<u16>) -> Result<ProbeResult, PluginError> {
        let text = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let check = self.check(Capability::Probe, &Target::Host { host, port }, &text);
        if !check.allowed() {
            return Err(denied(&check));
        }
        Err(PluginError::Unsupported(
            "probe is not available in this drover version".into(),
        ))
    }
}

impl Host for CallCtx {
    fn ping(&mut self, host: String, _timeout_ms: u32) -> R {
        Ok(self.probe(&host, None))
    }

    fn tcp_connect(&mut self, host: String, port: u16, _timeout_ms: u32) -> R {
        Ok(self.probe(&host, Some(port)))
    }
}
