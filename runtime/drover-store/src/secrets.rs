//! The `secrets` table. Values are sealed with XChaCha20-Poly1305 under a
//! key kept in a file beside the database (mode 0600), with the secret's
//! name as associated data so a ciphertext cannot be moved to another name.
//! A copied database without its key file reveals no secret.
//!
//! The key may come from the environment instead ([`SECRET_KEY_ENV`], 64
//! hex digits), e.g. from a systemd credential or a vault agent; it then
//! takes precedence over the file, and no file is created.

use std::path::PathBuf;

use crate::Result;

/// The environment variable holding the secrets key (64 hex digits).
pub const SECRET_KEY_ENV: &str = "DROVER_SECRET_KEY";

/// Secrets, sealed at rest.
pub trait SecretStore: Send + Sync {
    /// The key file that seals this database's secrets.
    fn secrets_key_path(&self) -> PathBuf;

    fn secret_set(&self, name: &str, value: &str) -> Result<()>;

    fn secret_get(&self, name: &str) -> Result<Option<String>>;

    /// Secret names (never values), sorted.
    fn secret_names(&self) -> Result<Vec<String>>;
}
