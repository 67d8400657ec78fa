//! Who may use a running drover's API: API tokens (`drover token
//! create|list|revoke`, local and over `--server`, and `/api/v1/tokens`)
//! and users of the web login (`drover user add|reset-password`, local
//! only). Each operation checks its input here, once, so the CLI and the
//! API refuse alike; the credentials are made here too (a token is stored
//! only as its SHA-256, a password only as an argon2id hash).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use drover_core::now_ms;
use drover_store::{ApiToken, Role, Store, StoreError};
use sha2::{Digest, Sha256};

/// Prefix of API tokens: recognisable in logs and by secret scanners.
pub const TOKEN_PREFIX: &str = "drover_";
/// Longest token name.
pub const MAX_TOKEN_NAME: usize = 128;
/// Longest user name.
pub const MAX_USER_NAME: usize = 64;

/// Why an access change was refused. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("a token name is 1 to {MAX_TOKEN_NAME} characters, e.g. \"ci\"")]
    TokenName,
    #[error("no active token {0:?} (see `drover token list`)")]
    NoToken(String),
    #[error("a user name is 1 to {MAX_USER_NAME} characters")]
    UserName,
    #[error("user {0:?} exists; `drover user reset-password {0}` gives a new password")]
    UserExists(String),
    #[error("no user {0:?} (see `drover user list`)")]
    NoUser(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// Hex SHA-256: how tokens and session ids are stored.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A new API token: `drover_` and 32 random bytes in hex.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex(32))
}

/// A generated password: 24 characters from an unambiguous alphabet
/// (~138 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    // 256 % 57 leaves a bias under 2% per character: irrelevant at 24 chars.
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// An argon2id PHC string for `password` (default parameters: 19 MiB,
/// 2 passes). Slow on purpose: call it off the async workers.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Creates an API token named `name` with `role` for `actor`; returns its
/// record and the token itself, which is not stored and cannot be shown
/// again.
pub fn create_token(
    store: &Store,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<(ApiToken, String), AccessError> {
    if name.trim().is_empty() || name.len() > MAX_TOKEN_NAME {
        return Err(AccessError::TokenName);
    }
    let secret = new_token();
    let token = ApiToken {
        id: ulid::Ulid::new().to_string(),
        name: name.to_owned(),
        role,
        created_at_ms: now_ms(),
        created_by: actor.to_owned(),
        revoked_at_ms: None,
    };
    store.insert_token(token.clone(), &sha256_hex(&secret))?;
    Ok((token, secret))
}

/// Revokes active token `id`: it stops working at once.
pub fn revoke_token(store: &Store, id: &str) -> Result<ApiToken, AccessError> {
    store
        .revoke_token(id)?
        .ok_or_else(|| AccessError::NoToken(id.to_owned()))
}

fn check_user_name(name: &str) -> Result<(), AccessError> {
    if name.trim().is_empty() || name.len() > MAX_USER_NAME {
        return Err(AccessError::UserName);
    }
    Ok(())
}

/// Adds user `name` with `role`; returns the generated password (shown
/// once, stored hashed).
pub fn add_user(store: &Store, name: &str, role: Role) -> Result<String, AccessError> {
    check_user_name(name)?;
    let password = generate_password();
    if !store.create_user(name, role, &hash_password(&password))? {
        return Err(AccessError::UserExists(name.to_owned()));
    }
    Ok(password)
}

/// Gives user `name` a new generated password (returned, shown once) and
/// ends their sessions.
pub fn reset_password(store: &Store, name: &str) -> Result<String, AccessError> {
    let password = generate_password();
    if !store.set_user_password(name, &hash_password(&password))? {
        return Err(AccessError::NoUser(name.to_owned()));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn tokens_need_a_name_and_revoke_once() {
        let (_dir, store) = store();
        for bad in ["", "   ", &"x".repeat(MAX_TOKEN_NAME + 1)] {
            assert!(matches!(
                create_token(&store, bad, Role::Viewer, "user:t"),
                Err(AccessError::TokenName)
            ));
        }
        assert!(
            store.list_tokens(true).unwrap().is_empty(),
            "nothing stored"
        );
        let (record, secret) = create_token(&store, "ci", Role::Operator, "user:t").unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(record.created_by, "user:t");
        assert!(matches!(
            revoke_token(&store, "nope"),
            Err(AccessError::NoToken(id)) if id == "nope"
        ));
        revoke_token(&store, &record.id).unwrap();
        assert!(matches!(
            revoke_token(&store, &record.id),
            Err(AccessError::NoToken(_))
        ));
    }

    #[test]
    fn users_need_a_name_and_exist_once() {
        let (_dir, store) = store();
        assert!(matches!(
            add_user(&store, " ", Role::Viewer),
            Err(AccessError::UserName)
        ));
        assert!(matches!(
            add_user(&store, &"u".repeat(MAX_USER_NAME + 1), Role::Viewer),
            Err(AccessError::UserName)
        ));
        assert!(store.list_users().unwrap().is_empty(), "nothing stored");
        let password = add_user(&store, "ana", Role::Operator).unwrap();
        assert_eq!(password.len(), 24);
        assert!(matches!(
            add_user(&store, "ana", Role::Admin),
            Err(AccessError::UserExists(n)) if n == "ana"
        ));
        assert!(matches!(
            reset_password(&store, "bob"),
            Err(AccessError::NoUser(n)) if n == "bob"
        ));
        assert_ne!(reset_password(&store, "ana").unwrap(), password);
    }
}
