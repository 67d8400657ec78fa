//! SQLite: [`SecretStore`] over the tables of [`crate::secrets`].

use crate::secrets::*;
use crate::{Result, SqliteStore, StoreError};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use drover_core::now_ms;
use rusqlite::{OptionalExtension, params};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

impl SecretStore for SqliteStore {
    fn secrets_key_path(&self) -> PathBuf {
        super::key_path(self.path())
    }

    fn secret_set(&self, name: &str, value: &str) -> Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Secret(e.to_string()))?;
        let sealed = self
            .inner
            .secrets
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Secret("cannot encrypt the secret".into()))?;
        let name = name.to_owned();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO secrets (name, nonce, ciphertext, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce,
                     ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                params![name, nonce.to_vec(), sealed, now_ms()],
            )?;
            Ok(())
        })
    }

    fn secret_get(&self, name: &str) -> Result<Option<String>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT nonce, ciphertext FROM secrets WHERE name = ?1")?
                .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })?;
        let Some((nonce, sealed)) = row else {
            return Ok(None);
        };
        if nonce.len() != NONCE_LEN {
            return Err(StoreError::Corrupt(format!(
                "secret {name:?} has a bad nonce"
            )));
        }
        let plain = self
            .inner
            .secrets
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| {
                StoreError::Secret(format!(
                    "secret {name:?} cannot be decrypted with {}: is this the key file it was set with?",
                    self.secrets_key_path().display()
                ))
            })?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("secret {name:?} is not UTF-8")))
    }

    fn secret_names(&self) -> Result<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT name FROM secrets ORDER BY name")?;
            let names = stmt.query_map([], |r| r.get(0))?;
            Ok(names.collect::<rusqlite::Result<_>>()?)
        })
    }
}

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

pub(crate) struct SecretBox {
    cipher: XChaCha20Poly1305,
}

/// The key in [`SECRET_KEY_ENV`]'s value; the error never repeats it.
pub(crate) fn parse_env_key(value: &str) -> Result<Vec<u8>> {
    let text = value.trim();
    let bad = || {
        StoreError::Secret(format!(
            "{SECRET_KEY_ENV} must be {} hex digits ({KEY_LEN} bytes), e.g. the output of              `openssl rand -hex {KEY_LEN}`; it has {} characters{}",
            KEY_LEN * 2,
            text.chars().count(),
            if text.chars().all(|c| c.is_ascii_hexdigit()) {
                ""
            } else {
                ", not all hex digits"
            }
        ))
    };
    if text.len() != KEY_LEN * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    (0..KEY_LEN)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad()))
        .collect()
}

impl SecretBox {
    /// The key from `env_key` (the value of [`SECRET_KEY_ENV`]) when given,
    /// else from `key_path`, created on first use.
    pub(crate) fn open(key_path: &Path, env_key: Option<&str>) -> Result<SecretBox> {
        let io = |source| StoreError::Io {
            path: key_path.to_owned(),
            source,
        };
        if let Some(value) = env_key {
            let key = parse_env_key(value)?;
            let cipher = XChaCha20Poly1305::new_from_slice(&key)
                .map_err(|_| StoreError::Secret(format!("{SECRET_KEY_ENV}: bad key length")))?;
            return Ok(SecretBox { cipher });
        }
        let key = match read_private(key_path) {
            Ok(key) => key?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_key(key_path).map_err(io)?
            }
            Err(e) => return Err(io(e)),
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| {
            StoreError::Secret(format!(
                "{}: the secrets key must be {KEY_LEN} bytes; restore the original key file",
                key_path.display()
            ))
        })?;
        Ok(SecretBox { cipher })
    }
}

/// The key file's bytes, if only its owner, drover's user, can read it:
/// the key unseals every secret. Checked on the open file, so a file
/// swapped in meanwhile is not what gets checked.
fn read_private(path: &Path) -> std::io::Result<Result<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let shown = path.display();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Ok(Err(StoreError::Secret(format!(
            "{shown}: the secrets key file belongs to uid {}, not to drover's user (uid {me}); \
             refusing to use a key another user controls: `chown {me} {shown}` if it is yours",
            meta.uid()
        ))));
    }
    if meta.mode() & 0o077 != 0 {
        return Ok(Err(StoreError::Secret(format!(
            "{shown}: the secrets key file is readable or writable by others (mode {:o}); it \
             unseals every secret: `chmod 600 {shown}` (and consider rotating the secrets if \
             others may have read it)",
            meta.mode() & 0o777
        ))));
    }
    let mut key = Vec::new();
    file.read_to_end(&mut key)?;
    Ok(Ok(key))
}

fn create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut key = vec![0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(std::io::Error::other)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    #[test]
    fn secrets_round_trip_and_are_not_stored_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .secret_set("redfish.password", "hunter2-very-secret")
            .unwrap();
        assert_eq!(
            store.secret_get("redfish.password").unwrap().as_deref(),
            Some("hunter2-very-secret")
        );
        assert_eq!(store.secret_get("nope").unwrap(), None);
        assert_eq!(store.secret_names().unwrap(), vec!["redfish.password"]);
        drop(store);
        let raw = std::fs::read(&path).unwrap();
        let needle = b"hunter2-very-secret";
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn a_different_key_cannot_read_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let store = SqliteStore::open(&path).unwrap();
        store.secret_set("s", "v").unwrap();
        let key = store.secrets_key_path();
        drop(store);
        std::fs::remove_file(&key).unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let err = store.secret_get("s").unwrap_err().to_string();
        assert!(err.contains("cannot be decrypted"), "{err}");
    }

    #[test]
    fn a_key_file_others_may_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let key = SqliteStore::open(&path).unwrap().secrets_key_path();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for loose in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(loose)).unwrap();
            let err = SqliteStore::open(&path).err().expect("refused").to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", key.display()))
                    && err.contains(&format!("{loose:o}")),
                "{err}"
            );
        }
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        SqliteStore::open(&path).unwrap();
    }

    #[test]
    fn an_environment_key_must_be_64_hex_digits_and_is_never_echoed() {
        let good = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        assert_eq!(parse_env_key(good).unwrap().len(), 32);
        assert_eq!(parse_env_key(&format!(" {good}\n")).unwrap()[1], 0x11);
        for bad in [
            "",
            "abc",
            &good[1..],
            &format!("{good}00"),
            &good.replace('0', "g"),
        ] {
            let err = parse_env_key(bad).unwrap_err().to_string();
            assert!(
                err.contains("DROVER_SECRET_KEY must be 64 hex digits"),
                "{err}"
            );
            assert!(bad.len() < 4 || !err.contains(bad), "{err}");
        }
        // The environment key seals and opens, and writes no key file.
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("k");
        let a = SecretBox::open(&key_file, Some(good)).unwrap();
        let b = SecretBox::open(&key_file, Some(good)).unwrap();
        let nonce = XNonce::from_slice(&[7u8; NONCE_LEN]);
        let sealed = a
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: b"v",
                    aad: b"n",
                },
            )
            .unwrap();
        let opened = b
            .cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed,
                    aad: b"n",
                },
            )
            .unwrap();
        assert_eq!(opened, b"v");
        assert!(!key_file.exists());
    }
}
