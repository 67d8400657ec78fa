//! SQLite: [`WebhookStore`] over the tables of [`crate::webhooks`].

use crate::webhooks::*;
use crate::{Result, SqliteStore};
use rusqlite::params;

impl WebhookStore for SqliteStore {
    fn remember_webhook_signature(
        &self,
        webhook: &str,
        signature: &str,
        now: i64,
        expires_at: i64,
        then: Box<dyn FnOnce(Result<bool>) + Send>,
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

    fn remember(store: &SqliteStore, sig: &str, now: i64, expires: i64) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        store
            .remember_webhook_signature(
                "p.t",
                sig,
                now,
                expires,
                Box::new(move |r| tx.send(r.unwrap()).unwrap()),
            )
            .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn a_signature_is_new_once_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        assert!(remember(&store, "ab", 1000, 1300));
        assert!(!remember(&store, "ab", 1100, 1400), "a replay");
        assert!(remember(&store, "cd", 1100, 1400), "another signature");
        // Once expired, the row is gone (by then the timestamp is refused
        // as too old anyway).
        assert!(remember(&store, "ab", 1301, 1600));
    }
}
