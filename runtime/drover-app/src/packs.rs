//! Promoting a pack version out of shadow mode and rolling a pack back:
//! which version `NAME` means (the newest shadowed one, else the live
//! one), the promotion, the rollback, and what each changed (the live
//! version, and so whose rules, policies, sensors and grants are in
//! force). One implementation for `drover pack promote|rollback` (local
//! and over `--server`), `POST /api/v1/packs/NAME/promote|rollback` and
//! the web UI.
//!
//! Both need a reason (`--reason`, the API's `reason`, the web form's
//! field): it is recorded in the change log, in the change's own
//! transaction.
//!
//! Both take the operator role, the on-call's, except a promotion that
//! makes a pack ask for more: a version declaring a capability that needs
//! a grant and that the live version's same plugin does not declare (or
//! any such capability, when no version is live yet) takes the admin role,
//! who decides what a pack may do.
//!
//! A rollback puts the live version back into shadow mode, so the live
//! version is chosen again as always: the newest trusted version, which is
//! the one that was live before (a version arrives shadowed, and only a
//! promotion makes it trusted and live). The rolled-back version stays
//! installed as a candidate, so it can be compared, replayed and promoted
//! again once fixed. Runs already under way are not touched here.

use drover_core::ChangeBy;
use drover_pack::Pack;
use drover_store::{InstalledPack, Role, Store, StoreError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no pack {0:?} is installed (see `drover pack list`)")]
    NotInstalled(String),
    #[error(
        "promoting {0} needs a reason for the change log, e.g. --reason \"CHG-1234: ssh timeout raised\" (the API takes \"reason\" in the JSON body)"
    )]
    NoReason(String),
    #[error(
        "promoting {spec} takes the admin role: it asks for capabilities the live version does not declare ({}); an operator may promote a version that asks for nothing new (see `drover pack diff`)",
        .new.join(", ")
    )]
    NeedsAdmin {
        spec: String,
        /// `plugin: capability`, each new capability that needs a grant.
        new: Vec<String>,
    },
    #[error("the stored manifest of {0} cannot be read: {1}")]
    Manifest(String, serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("no pack {0:?} is installed (see `drover pack list`)")]
    NotInstalled(String),
    #[error(
        "rolling back {0} needs a reason for the change log, e.g. --reason \"CHG-1235: 0.2.0 reboots too eagerly\" (the API takes \"reason\" in the JSON body)"
    )]
    NoReason(String),
    #[error(
        "a rollback takes a pack name ({0:?}), not a version ({0}@{1}): it puts the live version back into shadow mode and makes the trusted version before it live again"
    )]
    Versioned(String, String),
    #[error(
        "cannot roll back {name}: {name}@{live} is live and no earlier trusted version is installed to go back to (installed: {installed}); install the version to go back to with `drover pack install --trusted DIR`{shadow_hint}"
    )]
    NothingEarlier {
        name: String,
        live: String,
        /// Each installed version and its state, e.g. `0.2.0 (live)`.
        installed: String,
        shadow_hint: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RollbackError {
    /// Whether the caller asked for something that cannot be done (as
    /// opposed to a store failure).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, RollbackError::Store(_))
    }
}

/// What a rollback did.
#[derive(Clone, Debug, Serialize)]
pub struct Rollback {
    pub name: String,
    /// The version that was live, now in shadow mode.
    pub from: String,
    /// The version live again.
    pub to: String,
}

impl Rollback {
    /// What it means, in one sentence.
    pub fn note(&self) -> String {
        let Rollback { name, from, to } = self;
        format!(
            "{name}@{to} is the live version again, its rules, policies, sensors and grants in \
             force; {name}@{from} is back in shadow mode (`drover pack promote {name}@{from}` \
             makes it live again); a running `drover serve` picks this up within a second"
        )
    }
}

/// `0.1.0 (live), 0.2.0 (shadow)`: the installed versions of `name`,
/// oldest first.
pub fn describe_versions(versions: &[InstalledPack]) -> String {
    let mut versions: Vec<&InstalledPack> = versions.iter().collect();
    versions.sort_by_key(|p| p.installed_at_ms);
    versions
        .iter()
        .map(|p| {
            let state = match (p.live, p.shadow) {
                (true, false) => "live",
                (true, true) => "live, shadow",
                (false, true) => "shadow",
                (false, false) => "trusted, not live",
            };
            format!("{} ({state})", p.version)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The installed versions of pack `name`, live first, then newest first.
pub fn versions(store: &Store, name: &str) -> Result<Vec<InstalledPack>, StoreError> {
    Ok(store
        .list_packs()?
        .into_iter()
        .filter(|p| p.name == name)
        .collect())
}

/// Rolls pack `name` back to the trusted version live before the live one
/// (see the module doc), by `by`, who must give a reason.
pub fn rollback(store: &Store, name: &str, by: &ChangeBy) -> Result<Rollback, RollbackError> {
    if let Some((n, v)) = name.split_once('@') {
        return Err(RollbackError::Versioned(n.to_owned(), v.to_owned()));
    }
    if by.reason.is_none() {
        return Err(RollbackError::NoReason(name.to_owned()));
    }
    if let Some(done) = store.rollback_pack(name, by)? {
        return Ok(Rollback {
            name: name.to_owned(),
            from: done.from,
            to: done.to,
        });
    }
    // Refused: say why, from what is installed.
    let installed = versions(store, name)?;
    let Some(live) = installed.iter().find(|p| p.live) else {
        return Err(RollbackError::NotInstalled(name.to_owned()));
    };
    Err(RollbackError::NothingEarlier {
        name: name.to_owned(),
        live: live.version.clone(),
        installed: describe_versions(&installed),
        shadow_hint: if live.shadow {
            " (the live version is itself in shadow mode: it runs dry already)"
        } else {
            ""
        },
    })
}

/// What a promotion did.
#[derive(Clone, Debug, Serialize)]
pub struct Promotion {
    pub name: String,
    pub version: String,
    /// False when the version was not in shadow mode.
    pub changed: bool,
    /// The pack's live version before and after.
    pub live_before: Option<String>,
    pub live_after: Option<String>,
}

impl Promotion {
    /// What it means, in one sentence.
    pub fn note(&self) -> String {
        if !self.changed {
            return "it was not in shadow mode".into();
        }
        let switched = match (&self.live_before, &self.live_after) {
            (Some(before), Some(now)) if before != now && *now == self.version => format!(
                "; it is now the live version (was {}@{before}), its rules and policies \
                 replace that version's",
                self.name
            ),
            (_, Some(now)) if *now != self.version => format!(
                "; {}@{now} stays the live version (installed later)",
                self.name
            ),
            _ => String::new(),
        };
        format!(
            "it now runs for real, and its rules start real executions{switched} (a running \
             `drover serve` picks this up within a second)"
        )
    }
}

/// The version `promote` acts on: `version`, or without one the newest
/// shadowed version (the candidate waiting), else the live one.
fn target(
    store: &Store,
    name: &str,
    version: Option<&str>,
) -> Result<Option<InstalledPack>, StoreError> {
    if version.is_some() {
        return store.get_pack(name, version);
    }
    let versions = versions(store, name)?;
    let newest_shadow = versions
        .iter()
        .filter(|p| p.shadow)
        .max_by_key(|p| p.installed_at_ms)
        .cloned();
    Ok(newest_shadow.or_else(|| versions.into_iter().find(|p| p.live)))
}

/// The capabilities needing a grant that `candidate` declares and the
/// live version's same plugin does not, as `plugin: capability` (every
/// one of them when no trusted version is live; none when `candidate` is
/// the trusted live version).
pub fn new_capabilities(
    store: &Store,
    candidate: &InstalledPack,
) -> Result<Vec<String>, PromoteError> {
    let manifest = |p: &InstalledPack| -> Result<Pack, PromoteError> {
        serde_json::from_value(p.manifest.clone())
            .map_err(|e| PromoteError::Manifest(format!("{}@{}", p.name, p.version), e))
    };
    // A pack with no trusted version has its newest shadowed one as
    // "live": that grants nothing, so it counts as none.
    let live = match store.get_pack(&candidate.name, None)? {
        Some(live) if live.shadow => None,
        Some(live) if live.version == candidate.version => return Ok(Vec::new()),
        Some(live) => Some(manifest(&live)?),
        None => None,
    };
    let mut new = Vec::new();
    for plugin in &manifest(candidate)?.plugins {
        let before = live
            .as_ref()
            .and_then(|l| l.plugin(&plugin.name))
            .map(crate::pack_diff::declared)
            .unwrap_or_default();
        new.extend(
            crate::pack_diff::declared(plugin)
                .into_iter()
                .filter(|c| c.needs_grant() && !before.contains(c))
                .map(|c| format!("{}: {c}", plugin.name)),
        );
    }
    Ok(new)
}

/// Takes a pack version out of shadow mode (see [`target`] for which),
/// by `by` holding `role`, who must give a reason (and be an admin when
/// the version asks for new capabilities: see the module doc).
pub fn promote(
    store: &Store,
    name: &str,
    version: Option<&str>,
    by: &ChangeBy,
    role: Role,
) -> Result<Promotion, PromoteError> {
    let spec = match version {
        Some(v) => format!("{name}@{v}"),
        None => name.to_owned(),
    };
    if by.reason.is_none() {
        return Err(PromoteError::NoReason(spec));
    }
    let Some(installed) = target(store, name, version)? else {
        return Err(PromoteError::NotInstalled(spec));
    };
    if role < Role::Admin && installed.shadow {
        let new = new_capabilities(store, &installed)?;
        if !new.is_empty() {
            return Err(PromoteError::NeedsAdmin {
                spec: format!("{}@{}", installed.name, installed.version),
                new,
            });
        }
    }
    let live = |store: &Store| -> Result<Option<String>, StoreError> {
        Ok(store.get_pack(name, None)?.map(|p| p.version))
    };
    let live_before = live(store)?;
    let changed = installed.shadow
        && store.set_pack_shadow(&installed.name, &installed.version, false, by)?;
    Ok(Promotion {
        name: installed.name,
        version: installed.version,
        changed,
        live_before,
        live_after: live(store)?,
    })
}

#[cfg(test)]
mod tests {
    use drover_store::PackCatalog;

    use super::*;

    fn install(store: &Store, version: &str, shadow: bool, at: i64) {
        install_manifest(
            store,
            version,
            shadow,
            at,
            serde_json::json!({"name": "demo", "version": version}),
        );
    }

    /// Installs demo@`version` whose one plugin, `reboot`, declares `caps`.
    fn install_declaring(store: &Store, version: &str, shadow: bool, at: i64, caps: &str) {
        let yaml = format!(
            "name: demo\nversion: {version}\nplugins:\n  reboot:\n    kind: action\n    \
             component: c.wasm\n    capabilities: [{caps}]\n"
        );
        let pack = drover_pack::parse_manifest(std::path::Path::new("pack.yaml"), &yaml).unwrap();
        install_manifest(
            store,
            version,
            shadow,
            at,
            serde_json::to_value(pack).unwrap(),
        );
    }

    fn install_manifest(
        store: &Store,
        version: &str,
        shadow: bool,
        at: i64,
        manifest: serde_json::Value,
    ) {
        store
            .install_pack(
                InstalledPack {
                    name: "demo".into(),
                    version: version.into(),
                    manifest,
                    source_dir: "/tmp/demo".into(),
                    installed_at_ms: at,
                    installed_by: "user:test".into(),
                    shadow,
                    live: false,
                    digests: Default::default(),
                    signer: None,
                },
                Vec::new(),
                PackCatalog::default(),
                &"user:test".into(),
            )
            .unwrap();
    }

    #[test]
    fn without_a_version_the_waiting_candidate_is_promoted_and_becomes_live() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        install(&store, "0.1.0", false, 1);
        install(&store, "0.2.0", true, 2);
        assert_eq!(
            store.get_pack("demo", None).unwrap().unwrap().version,
            "0.1.0"
        );

        let by = ChangeBy::new("user:ann", Some("CHG-7")).unwrap();
        let err = promote(&store, "demo", None, &"user:ann".into(), Role::Admin).unwrap_err();
        assert!(matches!(&err, PromoteError::NoReason(s) if s == "demo"));
        assert!(err.to_string().contains("--reason"), "{err}");
        assert_eq!(
            store.get_pack("demo", None).unwrap().unwrap().version,
            "0.1.0",
            "refused: nothing changed"
        );
        let done = promote(&store, "demo", None, &by, Role::Admin).unwrap();
        assert_eq!(
            done.version, "0.2.0",
            "the shadowed candidate, not the live one"
        );
        assert!(done.changed);
        assert_eq!(done.live_before.as_deref(), Some("0.1.0"));
        assert_eq!(done.live_after.as_deref(), Some("0.2.0"));
        assert!(
            done.note()
                .contains("now the live version (was demo@0.1.0)")
        );

        let again = promote(&store, "demo", None, &by, Role::Admin).unwrap();
        assert!(!again.changed);
        assert_eq!(again.note(), "it was not in shadow mode");
        assert!(matches!(
            promote(&store, "demo", Some("9.9.9"), &by, Role::Admin),
            Err(PromoteError::NotInstalled(s)) if s == "demo@9.9.9"
        ));
    }

    #[test]
    fn a_rollback_needs_a_reason_and_an_earlier_trusted_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        let by = ChangeBy::new("user:ann", Some("CHG-8")).unwrap();
        assert!(matches!(
            rollback(&store, "demo", &by),
            Err(RollbackError::NotInstalled(n)) if n == "demo"
        ));
        install(&store, "0.1.0", false, 1);
        let err = rollback(&store, "demo", &by).unwrap_err();
        let said = err.to_string();
        assert!(
            said.contains("cannot roll back demo: demo@0.1.0 is live and no earlier trusted")
                && said.contains("(installed: 0.1.0 (live))"),
            "{said}"
        );
        install(&store, "0.2.0", true, 2);
        promote(&store, "demo", None, &by, Role::Admin).unwrap();
        let err = rollback(&store, "demo", &"user:ann".into()).unwrap_err();
        assert!(matches!(&err, RollbackError::NoReason(n) if n == "demo"));
        assert!(err.to_string().contains("--reason"), "{err}");
        assert!(matches!(
            rollback(&store, "demo@0.2.0", &by),
            Err(RollbackError::Versioned(n, v)) if n == "demo" && v == "0.2.0"
        ));
        assert_eq!(
            store.get_pack("demo", None).unwrap().unwrap().version,
            "0.2.0",
            "refused: nothing changed"
        );

        let done = rollback(&store, "demo", &by).unwrap();
        assert_eq!((done.from.as_str(), done.to.as_str()), ("0.2.0", "0.1.0"));
        assert!(
            done.note()
                .starts_with("demo@0.1.0 is the live version again")
        );
        assert_eq!(
            store.get_pack("demo", None).unwrap().unwrap().version,
            "0.1.0"
        );
        // The rolled-back version is the candidate again.
        assert_eq!(
            promote(&store, "demo", None, &by, Role::Admin)
                .unwrap()
                .version,
            "0.2.0"
        );
    }

    #[test]
    fn an_operator_may_promote_a_version_that_asks_for_nothing_new_and_only_an_admin_one_that_does()
    {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        let by = ChangeBy::new("user:olga", Some("CHG-9")).unwrap();
        install_declaring(&store, "0.1.0", true, 1, "log, nodes.drain");
        // Nothing is live yet: everything needing a grant is new.
        let err = promote(&store, "demo", None, &by, Role::Operator).unwrap_err();
        assert!(
            matches!(&err, PromoteError::NeedsAdmin { new, .. } if new == &["reboot: nodes.drain"]),
            "{err}"
        );
        promote(&store, "demo", None, &by, Role::Admin).unwrap();

        // Same capabilities, other code: the on-call's decision.
        install_declaring(&store, "0.2.0", true, 2, "nodes.drain, log");
        assert_eq!(
            promote(&store, "demo", None, &by, Role::Operator)
                .unwrap()
                .live_after
                .as_deref(),
            Some("0.2.0")
        );

        // A new capability: refused for the operator, nothing changed.
        install_declaring(&store, "0.3.0", true, 3, "log, nodes.drain, nodes.reboot");
        let err = promote(&store, "demo", None, &by, Role::Operator).unwrap_err();
        let said = err.to_string();
        assert!(
            said.contains("promoting demo@0.3.0 takes the admin role")
                && said.contains("(reboot: nodes.reboot)"),
            "{said}"
        );
        assert_eq!(
            store.get_pack("demo", None).unwrap().unwrap().version,
            "0.2.0"
        );
        promote(&store, "demo", None, &by, Role::Admin).unwrap();

        // Dropping a capability asks for nothing new.
        install_declaring(&store, "0.4.0", true, 4, "log");
        promote(&store, "demo", None, &by, Role::Operator).unwrap();
    }
}
