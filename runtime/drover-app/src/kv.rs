//! Operators' kv writes: the scope grammar (`system`, `user:NAME`,
//! `pack:NAME`), a non-empty key and the size limits plugins have too,
//! checked once for `drover kv set` (local and over `--server`) and
//! `PUT /api/v1/kv/SCOPE/KEY`.

use drover_policy::KvScope;
use drover_policy::kv::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use drover_store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("scope: {0}")]
    Scope(String),
    #[error("the key must not be empty and at most {MAX_KEY_BYTES} bytes")]
    Key,
    #[error("the value is over {MAX_VALUE_BYTES} bytes (kv is for small state, not blobs)")]
    Value,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a scope: what reads and deletes need too.
pub fn check_scope(scope: &str) -> Result<(), KvError> {
    KvScope::parse(scope)
        .map(drop)
        .map_err(|e| KvError::Scope(e.to_string()))
}

/// Checks scope, key and value, then stores the value (expiring after
/// `ttl_seconds` when given).
pub fn set(
    store: &Store,
    scope: &str,
    key: &str,
    value: &str,
    ttl_seconds: Option<u32>,
) -> Result<(), KvError> {
    check_scope(scope)?;
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(KvError::Key);
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::Value);
    }
    store.kv_set(scope, key, value, ttl_seconds)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_get_the_limits_plugins_have() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        assert!(matches!(
            set(&store, "nope", "k", "v", None),
            Err(KvError::Scope(_))
        ));
        assert!(matches!(
            set(&store, "system", "", "v", None),
            Err(KvError::Key)
        ));
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(
            set(&store, "system", &long_key, "v", None),
            Err(KvError::Key)
        ));
        let big = "v".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(
            set(&store, "system", "k", &big, None),
            Err(KvError::Value)
        ));
        assert_eq!(store.kv_get("system", "k").unwrap(), None, "nothing stored");
        set(&store, "system", "maintenance.r01", "on", Some(60)).unwrap();
        assert_eq!(
            store
                .kv_get("system", "maintenance.r01")
                .unwrap()
                .as_deref(),
            Some("on")
        );
    }
}
