//! The `webhook_signatures` table: timestamped webhook signatures already
//! accepted, so that a captured request cannot be replayed while its
//! timestamp is still inside the acceptance window. Rows expire with the
//! window; expired ones are deleted by the next insert.

use rusqlite::params;

use crate::{Result, Store};

impl Store {
    /// Records that `signature` (lowercase hex) was accepted for `webhook`,
    /// remembered until `expires_at` (unix seconds); `then` gets `true`
    /// if it is new, `false` if the same one is already remembered (a
    /// replay). Concurrent duplicates are decided by the single writer:
    /// exactly one of them is new. `then` runs once the answer is durable,
    /// on the writer thread (see [`Store::write_then`]).
    pub fn remember_webhook_signature(
        &self,
        webhook: &str,
        signature: &str,
        now: i64,
        expires_at: i64,
        then: impl FnOnce(Result<bool>) + Send + 'static,
    ) -> Result<()> {
        let (webhook, signature) = (webhook.to_owned(), signature.to_owned());
        self.write_then(
            move |conn| {
                conn.execute(
                    "DELETE FROM webhook_signatures WHERE expires_at < ?1",
                    [now],
                )?;
                let added = conn.execute(
                    "INSERT INTO webhook_signatures (webhook, signature, expires_at)
                     VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![webhook, signature, expires_at],
                )?;
                Ok(added == 1)
            },
            then,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remember(store: &Store, sig: &str, now: i64, expires: i64) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        store
            .remember_webhook_signature("p.t", sig, now, expires, move |r| {
                tx.send(r.unwrap()).unwrap()
            })
            .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn a_signature_is_new_once_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.db")).unwrap();
        assert!(remember(&store, "ab", 1000, 1300));
        assert!(!remember(&store, "ab", 1100, 1400), "a replay");
        assert!(remember(&store, "cd", 1100, 1400), "another signature");
        // Once expired, the row is gone (by then the timestamp is refused
        // as too old anyway).
        assert!(remember(&store, "ab", 1301, 1600));
    }
}
