//! A key-value store private to the calling pack (`drover:plugin/kv`).
//!
//! Capability `kv`, never needs a grant. In a dry run, writes are recorded
//! in the plan and not performed; reads are live.

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
