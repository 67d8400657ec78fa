//! Grants: an operator's permission for one pack version to use one
//! capability within a scope, bound to the component digests it was given
//! for. A new version or a rebuilt component has no grants.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::GrantId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub pack: String,
    pub version: String,
    /// Canonical capability name, e.g. `nodes.reboot`.
    pub capability: String,
    /// Canonical scope text, `*` for everything.
    pub scope: String,
    /// Plugin name -> component digest at the time of the grant.
    pub digests: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub revoked_at_ms: Option<i64>,
}

impl Grant {
    /// `pack@version`.
    pub fn pack_ref(&self) -> String {
        format!("{}@{}", self.pack, self.version)
    }
}
