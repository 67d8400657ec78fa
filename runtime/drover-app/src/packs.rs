//! Promoting a pack version out of shadow mode: which version `NAME`
//! means (the newest shadowed one, else the live one), the promotion, and
//! what it changed (the live version, and so whose rules and policies are
//! in force). One implementation for `drover pack promote` (local and over
//! `--server`), `POST /api/v1/packs/NAME/promote` and the web UI.
//!
//! A promotion needs a reason (`--reason`, the API's `reason`, the web
//! form's field): it is recorded in the change log, in the promotion's
//! own transaction.

use drover_core::ChangeBy;
use drover_store::{InstalledPack, Store, StoreError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no pack {0:?} is installed (see `drover pack list`)")]
    NotInstalled(String),
    #[error(
        "promoting {0} needs a reason for the change log, e.g. --reason \"CHG-1234: ssh timeout raised\" (the API takes \"reason\" in the JSON body)"
    )]
    NoReason(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let versions: Vec<InstalledPack> = store
        .list_packs()?
        .into_iter()
        .filter(|p| p.name == name)
        .collect();
    let newest_shadow = versions
        .iter()
        .filter(|p| p.shadow)
        .max_by_key(|p| p.installed_at_ms)
        .cloned();
    Ok(newest_shadow.or_else(|| versions.into_iter().find(|p| p.live)))
}

/// Takes a pack version out of shadow mode (see [`target`] for which),
/// by `by`, who must give a reason.
pub fn promote(
    store: &Store,
    name: &str,
    version: Option<&str>,
    by: &ChangeBy,
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
        store
            .install_pack(
                InstalledPack {
                    name: "demo".into(),
                    version: version.into(),
                    manifest: serde_json::json!({"name": "demo", "version": version}),
                    source_dir: "/tmp/demo".into(),
                    installed_at_ms: at,
                    installed_by: "user:test".into(),
                    shadow,
                    live: false,
                    digests: Default::default(),
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
        let err = promote(&store, "demo", None, &"user:ann".into()).unwrap_err();
        assert!(matches!(&err, PromoteError::NoReason(s) if s == "demo"));
        assert!(err.to_string().contains("--reason"), "{err}");
        assert_eq!(
            store.get_pack("demo", None).unwrap().unwrap().version,
            "0.1.0",
            "refused: nothing changed"
        );
        let done = promote(&store, "demo", None, &by).unwrap();
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

        let again = promote(&store, "demo", None, &by).unwrap();
        assert!(!again.changed);
        assert_eq!(again.note(), "it was not in shadow mode");
        assert!(matches!(
            promote(&store, "demo", Some("9.9.9"), &by),
            Err(PromoteError::NotInstalled(s)) if s == "demo@9.9.9"
        ));
    }
}
