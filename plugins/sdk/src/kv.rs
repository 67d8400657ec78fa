//! The key-value store (`drover:plugin/kv`).
//!
//! Capability `kv`. [`get`], [`set`] and [`delete`] reach the pack's own
//! keys (scope `pack:NAME`) and never need a grant. [`get_in`], [`set_in`]
//! and [`delete_in`] reach another scope (`system`, what rules read as
//! `kv.KEY`; `user:NAME`; `pack:NAME`) and each needs a `kv` grant that
//! covers the scope and key: `system:maintenance.*` to read,
//! `write system:maintenance.*` to set and delete. In a dry run, writes
//! are recorded in the plan and not performed; reads are live.

use crate::Error;
use crate::bindings::drover::plugin::kv as wit;

/// The value stored under `key`, or `None` when there is none (or it
/// expired).
pub fn get(key: &str) -> Result<Option<String>, Error> {
    wit::get(key)
}

/// Store `value` under `key`, expiring after `ttl_seconds` when given.
pub fn set(key: &str, value: &str, ttl_seconds: Option<u32>) -> Result<(), Error> {
    wit::set(key, value, ttl_seconds)
}

/// Remove `key`; `true` when it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    wit::delete(key)
}

/// [`get`] in another scope, e.g. `get_in("system", "maintenance.b7s01")`.
pub fn get_in(scope: &str, key: &str) -> Result<Option<String>, Error> {
    wit::get_in(scope, key)
}

/// [`set`] in another scope (needs a `write` grant).
pub fn set_in(scope: &str, key: &str, value: &str, ttl_seconds: Option<u32>) -> Result<(), Error> {
    wit::set_in(scope, key, value, ttl_seconds)
}

/// [`delete`] in another scope (needs a `write` grant).
pub fn delete_in(scope: &str, key: &str) -> Result<bool, Error> {
    wit::delete_in(scope, key)
}
