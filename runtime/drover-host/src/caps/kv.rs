//! `kv`: the key-value store. A plugin's own keys live in its pack's scope,
//! `pack:NAME` (no grant: declaring `kv` is enough), which no pack name can
//! turn into `system` or `user:…`, the scopes rules read. The `-in`
//! functions reach another scope, checked against a `kv` grant for that
//! scope, key and access (read, or write for set and delete) and audited
//! whatever the decision. In a dry run writes are planned, not performed,
//! and reads see the live store overlaid with the run's own planned writes.

use drover_policy::{Capability, KvScope, Target};
use serde_json::json;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::kv::Host;
use crate::call::{CallCtx, denied};
use crate::grants::{Check, GrantSet};
use drover_policy::kv::{MAX_KEY_BYTES, MAX_VALUE_BYTES};

type R<T> = wasmtime::Result<Result<T, PluginError>>;

/// Where a kv call goes: the store's scope text, and what the audit and
/// the plan name as the target.
struct Place {
    scope: String,
    key: String,
    shown: String,
}

impl CallCtx {
    /// Checks a call on `key` of `scope` (`None`: the pack's own) and says
    /// where it goes, with the grant decision (the caller refuses a denied
    /// one). Another scope needs a grant; the pack's own scope named
    /// explicitly is the pack's own.
    fn kv_place(
        &mut self,
        scope: Option<&str>,
        key: &str,
        write: bool,
    ) -> Result<(Place, Check), PluginError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(PluginError::Invalid(format!(
                "a kv key must be 1 to {MAX_KEY_BYTES} bytes"
            )));
        }
        let own = KvScope::pack(&self.pack);
        let scope = match scope {
            None => own.clone(),
            Some(text) => KvScope::parse(text).map_err(|e| PluginError::Invalid(e.to_string()))?,
        };
        let scope_text = scope.to_string();
        let (check, shown) = if scope == own {
            let check = self.check(Capability::Kv, &Target::Name(key), key);
            (check, key.to_owned())
        } else {
            if !self.grants.is_loaded() {
                let active = self
                    .services
                    .ports
                    .active_grants(&self.pack, &self.version)
                    .map_err(CallCtx::store_error)?;
                self.grants = GrantSet::new(&self.pack, &self.version, active);
            }
            let shown = format!("{scope_text}:{key}");
            let target = Target::Kv {
                scope: &scope,
                key,
                write,
            };
            (self.check(Capability::Kv, &target, &shown), shown)
        };
        Ok((
            Place {
                scope: scope_text,
                key: key.to_owned(),
                shown,
            },
            check,
        ))
    }

    /// A refused write: planned as denied in a dry run, like every refused
    /// effect, and the plugin gets the same `denied` either way.
    fn kv_refused(&mut self, operation: &str, place: &Place, check: &Check) -> PluginError {
        if self.dry_run {
            let refused = json!({"error": "denied", "reason": check.reason});
            self.plan(Capability::Kv, operation, &place.shown, check, refused);
        }
        denied(check)
    }

    fn store_error(e: crate::ports::PortError) -> PluginError {
        PluginError::Failed(format!("kv: {e}"))
    }

    fn kv_read(&self, place: &Place) -> Result<Option<String>, PluginError> {
        if let Some(planned) = self
            .kv_planned
            .get(&(place.scope.clone(), place.key.clone()))
        {
            return Ok(planned.clone());
        }
        self.services
            .ports
            .kv_get(&place.scope, &place.key)
            .map_err(CallCtx::store_error)
    }

    fn kv_get(&mut self, scope: Option<&str>, key: &str) -> Result<Option<String>, PluginError> {
        let (place, check) = self.kv_place(scope, key, false)?;
        if !check.allowed() {
            return Err(denied(&check));
        }
        self.kv_read(&place)
    }

    fn kv_set(
        &mut self,
        scope: Option<&str>,
        key: &str,
        value: String,
        ttl_seconds: Option<u32>,
    ) -> Result<(), PluginError> {
        let (place, check) = self.kv_place(scope, key, true)?;
        if !check.allowed() {
            return Err(self.kv_refused("set", &place, &check));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(PluginError::Invalid(format!(
                "a kv value must be at most {MAX_VALUE_BYTES} bytes"
            )));
        }
        if self.dry_run {
            self.plan(
                Capability::Kv,
                "set",
                &place.shown,
                &check,
                json!({"value": value, "ttl_seconds": ttl_seconds}),
            );
            self.kv_planned
                .insert((place.scope, place.key), Some(value));
            return Ok(());
        }
        self.services
            .ports
            .kv_set(&place.scope, &place.key, &value, ttl_seconds)
            .map_err(CallCtx::store_error)
    }

    fn kv_delete(&mut self, scope: Option<&str>, key: &str) -> Result<bool, PluginError> {
        let (place, check) = self.kv_place(scope, key, true)?;
        if !check.allowed() {
            return Err(self.kv_refused("delete", &place, &check));
        }
        if self.dry_run {
            // Tell the plugin what a real delete would have answered.
            let existed = self.kv_read(&place)?.is_some();
            self.plan(
                Capability::Kv,
                "delete",
                &place.shown,
                &check,
                json!(existed),
            );
            self.kv_planned.insert((place.scope, place.key), None);
            return Ok(existed);
        }
        self.services
            .ports
            .kv_delete(&place.scope, &place.key)
            .map_err(CallCtx::store_error)
    }
}

impl Host for CallCtx {
    fn get(&mut self, key: String) -> R<Option<String>> {
        Ok(self.kv_get(None, &key))
    }

    fn set(&mut self, key: String, value: String, ttl_seconds: Option<u32>) -> R<()> {
        Ok(self.kv_set(None, &key, value, ttl_seconds))
    }

    fn delete(&mut self, key: String) -> R<bool> {
        Ok(self.kv_delete(None, &key))
    }

    fn get_in(&mut self, scope: String, key: String) -> R<Option<String>> {
        Ok(self.kv_get(Some(&scope), &key))
    }

    fn set_in(
        &mut self,
        scope: String,
        key: String,
        value: String,
        ttl_seconds: Option<u32>,
    ) -> R<()> {
        Ok(self.kv_set(Some(&scope), &key, value, ttl_seconds))
    }

    fn delete_in(&mut self, scope: String, key: String) -> R<bool> {
        Ok(self.kv_delete(Some(&scope), &key))
    }
}
