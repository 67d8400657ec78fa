//! Named secrets set by an operator (`drover:plugin/secrets`).
//!
//! Capability `secrets`; each name must be granted to the pack. Read-only.
//! Never put a secret in the action's result or logs: both are stored.

use crate::Error;
use crate::bindings::drover::plugin::secrets as wit;

/// The secret called `name`: [`Error::NotFound`] when it is not set,
/// [`Error::Denied`] when this pack has no grant for it.
pub fn get(name: &str) -> Result<String, Error> {
    wit::get(name)
}
