//! `secrets`: read a named secret. Each name must be granted; every read is
//! audited (the value never is).

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
        Ok(match self.services.store.secret_get(&name) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(PluginError::NotFound(format!(
                "no secret named {name:?}; an operator can set it with `drover secret set {name}`"
            ))),
            Err(e) => Err(PluginError::Failed(format!("secret {name:?}: {e}"))),
        })
    }
}
