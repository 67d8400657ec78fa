//! The `kv` table: a key-value store per scope. Scopes are text here;
//! their meaning is `drover_policy::KvScope`'s: `system` (what rules read
//! as `kv.*`), `user:NAME`, and `pack:NAME`, a pack's own (migration 0014
//! moved packs' keys there from scope NAME). Expired keys read as absent.

use crate::Result;

/// The key-value store, per scope.
pub trait KvStore: Send + Sync {
    fn kv_get(&self, scope: &str, key: &str) -> Result<Option<String>>;

    fn kv_set(&self, scope: &str, key: &str, value: &str, ttl_seconds: Option<u32>) -> Result<()>;

    /// Live keys of a scope starting with `prefix`, sorted, with values.
    fn kv_list(&self, scope: &str, prefix: &str) -> Result<Vec<(String, String)>>;

    /// Removes a key; true when a live key was there.
    fn kv_delete(&self, scope: &str, key: &str) -> Result<bool>;
}
