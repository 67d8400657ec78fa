//! `secrets`: read a named secret. Each name must be granted; every read is
//! audited (the value never is). The value is remembered for the call, and
//! masked wherever it shows up in the audit, plan, logs, error or result
//! (see [`crate::redact`]).

use drover_policy::{Capability, Target};

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::secrets::Host;
use crate::call::{CallCtx, denied};

impl Host for CallCtx {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, PluginError>> {
        let check = self.check(Capability::Secrets, &Target::Name(&name), &name);
        if !check.allowed() {
            return Ok(Err(denied(&check)));
        }
        Ok(match self.services.ports.secret(&name) {
            Ok(Some(v)) => {
                // Masked from here on in everything recorded about the call.
                self.secrets.add(&v);
                Ok(v)
            }
            Ok(None) => Err(PluginError::NotFound(format!(
                "no secret named {name:?}; an operator can set it with `drover secret set {name}`"
            ))),
            Err(e) => Err(PluginError::Failed(format!("secret {name:?}: {e}"))),
        })
    }
}
