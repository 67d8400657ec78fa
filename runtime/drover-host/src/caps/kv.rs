//! `kv`: a key-value store private to the calling pack. In a dry run writes
//! are planned, not performed, and reads see the live store overlaid with
//! the run's own planned writes.

use drover_policy::{Capability, Target};
use serde_json::json;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::kv::Host;
use crate::call::{CallCtx, denied};
use crate::grants::Check;

/// Longest key and value a plugin may store; SQLite would take more, but
/// kv is for small state, not blobs.
const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 64 << 10;

type R<T> = wasmtime::Result<Result<T, PluginError>>;

impl CallCtx {
    fn kv_checked(&mut self, key: &str) -> Result<Check, PluginError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(PluginError::Invalid(format!(
                "a kv key must be 1 to {MAX_KEY_BYTES} bytes"
            )));
        }
        let check = self.check(Capability::Kv, &Target::Name(key), key);
        if check.allowed() {
            Ok(check)
        } else {
            Err(denied(&check))
        }
    }

    fn store_error(e: drover_store::StoreError) -> PluginError {
        PluginError::Failed(format!("kv: {e}"))
    }

    fn kv_read(&self, key: &str) -> Result<Option<String>, PluginError> {
        if let Some(planned) = self.kv_planned.get(key) {
            return Ok(planned.clone());
        }
        self.services
            .store
            .kv_get(&self.pack, key)
            .map_err(CallCtx::store_error)
    }
}

impl Host for CallCtx {
    fn get(&mut self, key: String) -> R<Option<String>> {
        Ok(self.kv_checked(&key).and_then(|_| self.kv_read(&key)))
    }

    fn set(&mut self, key: String, value: String, ttl_seconds: Option<u32>) -> R<()> {
        Ok((|| {
            let check = self.kv_checked(&key)?;
            if value.len() > MAX_VALUE_BYTES {
                return Err(PluginError::Invalid(format!(
                    "a kv value must be at most {MAX_VALUE_BYTES} bytes"
                )));
            }
            if self.dry_run {
                self.plan(
                    Capability::Kv,
                    "set",
                    &key,
                    &check,
                    json!({"value": value, "ttl_seconds": ttl_seconds}),
                );
                self.kv_planned.insert(key, Some(value));
                return Ok(());
            }
            self.services
                .store
                .kv_set(&self.pack, &key, &value, ttl_seconds)
                .map_err(CallCtx::store_error)
        })())
    }

    fn delete(&mut self, key: String) -> R<bool> {
        Ok((|| {
            let check = self.kv_checked(&key)?;
            if self.dry_run {
                // Tell the plugin what a real delete would have answered.
                let existed = self.kv_read(&key)?.is_some();
                self.plan(Capability::Kv, "delete", &key, &check, json!(existed));
                self.kv_planned.insert(key, None);
                return Ok(existed);
            }
            self.services
                .store
                .kv_delete(&self.pack, &key)
                .map_err(CallCtx::store_error)
        })())
    }
}
