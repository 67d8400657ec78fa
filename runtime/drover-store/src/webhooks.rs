//! The `webhook_signatures` table: timestamped webhook signatures already
//! accepted, so that a captured request cannot be replayed while its
//! timestamp is still inside the acceptance window. Rows expire with the
//! window; expired ones are deleted by the next insert.

use crate::Result;

/// Webhook signatures already accepted (replay protection).
pub trait WebhookStore: Send + Sync {
    /// Records that `signature` (lowercase hex) was accepted for `webhook`,
    /// remembered until `expires_at` (unix seconds); `then` gets `true`
    /// if it is new, `false` if the same one is already remembered (a
    /// replay). Concurrent duplicates are decided by the single writer:
    /// exactly one of them is new. `then` runs once the answer is durable,
    /// on the writer thread (see [`Self::write_then`]).
    fn remember_webhook_signature(
        &self,
        webhook: &str,
        signature: &str,
        now: i64,
        expires_at: i64,
        then: Box<dyn FnOnce(Result<bool>) + Send>,
    ) -> Result<()>;
}
