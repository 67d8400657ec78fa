//! The `trusted_keys` table: publisher keys an operator trusts to sign
//! pack archives, each limited to the pack names its patterns match.
//! Adding and removing one are changes (`trust.add`, `trust.remove`),
//! recorded in the change log in the same transaction.

use drover_core::ChangeBy;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A trusted publisher key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKey {
    /// The operator's name for it (unique).
    pub name: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA…`).
    pub public_key: String,
    /// `SHA256:…` (unique: one key is trusted under one name).
    pub fingerprint: String,
    /// Pack name patterns (`*`, `?`) it may sign.
    pub packs: Vec<String>,
    pub added_at_ms: i64,
    pub added_by: String,
}

/// Trusted publisher keys.
pub trait TrustStore: Send + Sync {
    /// Stores a key and its change. The caller checked that neither its
    /// name nor its fingerprint is taken.
    fn add_trusted_key(&self, key: TrustedKey, by: &ChangeBy) -> Result<()>;

    /// Every trusted key, by name.
    fn list_trusted_keys(&self) -> Result<Vec<TrustedKey>>;

    /// Removes the key named `name` and records the change; returns it, or
    /// `None` when no key has that name.
    fn remove_trusted_key(&self, name: &str, by: &ChangeBy) -> Result<Option<TrustedKey>>;
}
