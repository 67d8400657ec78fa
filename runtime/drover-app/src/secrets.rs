//! Setting a secret: the name a `secrets` grant scope can match and the
//! size limit, checked once for `drover secret set` (local and over
//! `--server`), `PUT /api/v1/secrets/NAME` and anything else that stores
//! one. Values are stored encrypted (`drover-store`) and never returned.

use drover_store::{Store, StoreError};

/// Largest secret value accepted.
pub const MAX_SECRET_BYTES: usize = 64 << 10;

/// Why a secret cannot be set. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret names are letters, digits and . _ - / (e.g. redfish.password); got {0:?}")]
    BadName(String),
    #[error("the secret value is over {MAX_SECRET_BYTES} bytes")]
    TooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SecretError {
    /// Whether the request was wrong (as opposed to the store failing).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, SecretError::Store(_))
    }
}

/// Names a `secrets` grant scope can match: letters, digits and `._-/`,
/// at most 128 bytes.
pub fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
}

/// Checks a value against the limit: what a client can do before sending.
pub fn check_value(value: &str) -> Result<(), SecretError> {
    if value.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge);
    }
    Ok(())
}

/// Checks the name and the value, then stores the secret.
pub fn set_secret(store: &Store, name: &str, value: &str) -> Result<(), SecretError> {
    if !is_secret_name(name) {
        return Err(SecretError::BadName(name.to_owned()));
    }
    check_value(value)?;
    store.secret_set(name, value)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_scope_grammar_and_oversized_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        for bad in ["", "a b", "x;rm", "ünicode", &"n".repeat(129)] {
            let err = set_secret(&store, bad, "v").unwrap_err();
            assert!(matches!(err, SecretError::BadName(_)), "{bad:?}: {err}");
            assert!(err.is_bad_request());
        }
        let big = "x".repeat(MAX_SECRET_BYTES + 1);
        assert!(matches!(
            set_secret(&store, "redfish.password", &big),
            Err(SecretError::TooLarge)
        ));
        assert!(store.secret_names().unwrap().is_empty(), "nothing stored");
        set_secret(&store, "redfish/bmc-1.password", "hunter2").unwrap();
        assert_eq!(
            store
                .secret_get("redfish/bmc-1.password")
                .unwrap()
                .as_deref(),
            Some("hunter2")
        );
    }
}
