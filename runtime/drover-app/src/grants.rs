//! Giving a grant: checks an operator's request (`PACK@VERSION`, a
//! capability that needs a grant, a scope in that capability's grammar, an
//! installed pack with a plugin that declares it) and builds the grant,
//! bound to the current digests of the plugins that asked for it. Shared
//! by `drover grant add`, `POST /api/v1/grants` and the web UI.
//!
//! Revoking one ([`revoke_grant`]): the id's grammar, then the grant must
//! be active. Shared by `drover grant revoke` (local and over `--server`),
//! `DELETE /api/v1/grants/{id}` and the web UI's pack page.

use std::collections::BTreeMap;

use drover_core::{ChangeBy, Grant, GrantId, IdError, now_ms};
use drover_pack::Pack;
use drover_policy::{Capability, Scope};
use drover_store::{Store, StoreError};

/// Why a grant cannot be given. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GiveError {
    #[error(
        "grants are given to one pack version: write PACK@VERSION, e.g. demo@0.1.0 (see `drover pack list`); got {0:?}"
    )]
    NoVersion(String),
    #[error(transparent)]
    Policy(#[from] drover_policy::PolicyError),
    #[error("{0} needs no grant: declaring it in pack.yaml is enough")]
    NeedsNoGrant(Capability),
    #[error("{0} is not installed (see `drover pack list`)")]
    NotInstalled(String),
    #[error("{pack} has no plugin {plugin:?}")]
    NoPlugin { pack: String, plugin: String },
    #[error("no plugin of {pack}{only} declares {capability}; a grant would have no effect")]
    Undeclared {
        pack: String,
        only: String,
        capability: Capability,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GiveError {
    /// Whether the request was wrong (as opposed to the store failing).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, GiveError::Store(_))
    }
}

/// Why a grant cannot be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("no active grant {0} (see `drover grant list --all`)")]
    NotActive(GrantId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revokes active grant `id` (it stops matching at once) and returns it;
/// the change log records it, by `by`, in the same transaction.
pub fn revoke_grant(store: &Store, id: &str, by: &ChangeBy) -> Result<Grant, RevokeError> {
    let id: GrantId = id.parse()?;
    store
        .revoke_grant(id, now_ms(), by)?
        .ok_or(RevokeError::NotActive(id))
}

/// Checks the request, stores the grant (given by `by`, with the change
/// log's record in the same transaction) and returns it.
pub fn give_grant(
    store: &Store,
    pack_ref: &str,
    capability: &str,
    scope: &str,
    only_plugin: Option<&str>,
    by: &ChangeBy,
) -> Result<Grant, GiveError> {
    let grant = prepare_grant(store, pack_ref, capability, scope, only_plugin, &by.actor)?;
    store.insert_grant(grant.clone(), by)?;
    Ok(grant)
}

/// Checks the request and returns the grant it would store, without
/// storing it (what a confirmation shows).
pub fn prepare_grant(
    store: &Store,
    pack_ref: &str,
    capability: &str,
    scope: &str,
    only_plugin: Option<&str>,
    actor: &str,
) -> Result<Grant, GiveError> {
    let Some((name, version)) = pack_ref.split_once('@') else {
        return Err(GiveError::NoVersion(pack_ref.to_owned()));
    };
    let cap: Capability = capability.parse()?;
    if !cap.grantable() {
        return Err(GiveError::NeedsNoGrant(cap));
    }
    let scope = Scope::parse(cap, scope)?;
    let Some(installed) = store.get_pack(name, Some(version))? else {
        return Err(GiveError::NotInstalled(pack_ref.to_owned()));
    };
    let pack: Pack =
        serde_json::from_value(installed.manifest.clone()).map_err(StoreError::from)?;
    if let Some(p) = only_plugin
        && pack.plugin(p).is_none()
    {
        return Err(GiveError::NoPlugin {
            pack: pack_ref.to_owned(),
            plugin: p.to_owned(),
        });
    }
    // Bind the grant to the digests of the plugins that asked for it.
    let digests: BTreeMap<String, String> = pack
        .plugins
        .iter()
        .filter(|p| p.declares(cap))
        .filter(|p| only_plugin.is_none_or(|only| only == p.name))
        .filter_map(|p| Some((p.name.clone(), installed.digests.get(&p.name)?.clone())))
        .collect();
    if digests.is_empty() {
        return Err(GiveError::Undeclared {
            pack: pack_ref.to_owned(),
            only: only_plugin
                .map(|p| format!(" named {p:?}"))
                .unwrap_or_default(),
            capability: cap,
        });
    }
    let grant = Grant {
        id: GrantId::new(),
        pack: name.to_owned(),
        version: version.to_owned(),
        capability: cap.to_string(),
        scope: scope.to_string(),
        digests,
        created_at_ms: now_ms(),
        created_by: actor.to_owned(),
        revoked_at_ms: None,
    };
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_needs_a_grant_id_of_an_active_grant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        let by = ChangeBy::new("user:ann", Some("off-boarding")).unwrap();
        assert!(matches!(
            revoke_grant(&store, "not-an-id", &by),
            Err(RevokeError::Id(_))
        ));
        let unknown = GrantId::new();
        let err = revoke_grant(&store, &unknown.to_string(), &by).unwrap_err();
        assert!(matches!(err, RevokeError::NotActive(id) if id == unknown));
        assert!(err.to_string().contains("drover grant list --all"), "{err}");
        let grant = Grant {
            id: GrantId::new(),
            pack: "demo".into(),
            version: "0.1.0".into(),
            capability: "http".into(),
            scope: "*".into(),
            digests: Default::default(),
            created_at_ms: now_ms(),
            created_by: "user:test".into(),
            revoked_at_ms: None,
        };
        store.insert_grant(grant.clone(), &by).unwrap();
        let revoked = revoke_grant(&store, &grant.id.to_string(), &by).unwrap();
        assert!(revoked.revoked_at_ms.is_some());
        assert!(
            matches!(
                revoke_grant(&store, &grant.id.to_string(), &by),
                Err(RevokeError::NotActive(_))
            ),
            "a second revocation is refused"
        );
        let log = store
            .list_changes(&drover_store::ChangeFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        let kinds: Vec<&str> = log.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["grant.revoke", "grant.add"],
            "refusals record nothing"
        );
        assert_eq!(log[0].subject, "demo@0.1.0 http");
        assert_eq!(log[0].reason.as_deref(), Some("off-boarding"));
        assert_eq!(log[0].after, serde_json::Value::Null);
        assert_eq!(log[0].before["scope"], "*");
    }
}
