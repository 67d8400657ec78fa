//! The `grants` table: add, list, revoke, and the active grants of a pack
//! version (what every host call is checked against).

use drover_core::{ChangeBy, Grant, GrantId};

use crate::Result;

/// Grants: add, list, revoke, and the active grants of a pack version.
pub trait GrantStore: Send + Sync {
    /// Stores a new grant, and its change (`grant.add`) in the same
    /// transaction.
    fn insert_grant(&self, grant: Grant, by: &ChangeBy) -> Result<()>;

    /// Grants, newest first; revoked ones only when `include_revoked`.
    fn list_grants(&self, pack: Option<&str>, include_revoked: bool) -> Result<Vec<Grant>>;

    /// The unrevoked grants of one pack version.
    fn active_grants(&self, pack: &str, version: &str) -> Result<Vec<Grant>>;

    /// Marks a grant revoked; returns it, or `None` when no unrevoked grant
    /// has this id. The change (`grant.revoke`) is recorded in the same
    /// transaction.
    fn revoke_grant(&self, id: GrantId, at_ms: i64, by: &ChangeBy) -> Result<Option<Grant>>;
}
