//! How long each kind of history is kept: `drover retention
//! show|set|reset` (local and over `--server`) and `/api/v1/retention`.
//! The kind's name, the limits (`max_age`, `max_count` of at least 1, or
//! for ever) and the answer are checked and worded here once, so the CLI
//! and the API refuse and print alike. Collecting what is past it is the
//! engine's (`drover_engine::retention`).

use std::time::Duration;

use drover_store::{History, Keep, RetentionSetting, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("no kind of history is called {name:?}; the kinds are {kinds}")]
    Kind { name: String, kinds: String },
    #[error("say how long to keep {0}: --max-age DURATION (e.g. 30d), --max-count N, or --forever")]
    NoLimit(&'static str),
    #[error("--forever keeps everything: give it without --max-age or --max-count")]
    ForeverAndLimit,
    #[error("--max-count must be at least 1")]
    Count,
    #[error("--max-age must be at least 1 ms")]
    Age,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RetentionError {
    /// Whether the request was wrong (as opposed to the store failing).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, RetentionError::Store(_))
    }
}

/// One kind's retention, as `drover retention show` and `GET
/// /api/v1/retention` show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// executions, triggers, node-history, fleet-requests or audit.
    pub kind: String,
    pub max_age_ms: Option<i64>,
    pub max_count: Option<u64>,
    /// True when no operator set it.
    pub default: bool,
    pub set_by: Option<String>,
    /// What the kind holds, in words.
    pub holds: String,
}

impl Setting {
    fn of(s: &RetentionSetting) -> Setting {
        Setting {
            kind: s.kind.name().to_owned(),
            max_age_ms: s.keep.max_age_ms,
            max_count: s.keep.max_count,
            default: s.is_default,
            set_by: s.updated_by.clone(),
            holds: s.kind.holds().to_owned(),
        }
    }

    /// How long it is kept, in words.
    pub fn kept(&self) -> String {
        describe(&Keep {
            max_age_ms: self.max_age_ms,
            max_count: self.max_count,
        })
    }

    /// What setting it printed.
    pub fn set_message(&self) -> String {
        format!(
            "{} kept {}; `drover gc --dry-run` shows what goes at the next collection",
            self.kind,
            self.kept()
        )
    }

    /// What resetting it printed.
    pub fn reset_message(&self) -> String {
        format!("{} kept {} (the default)", self.kind, self.kept())
    }
}

/// The kind called `name`.
pub fn kind(name: &str) -> Result<History, RetentionError> {
    History::parse(name).ok_or_else(|| RetentionError::Kind {
        name: name.to_owned(),
        kinds: History::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Every kind's retention.
pub fn show(store: &Store) -> Result<Vec<Setting>, RetentionError> {
    Ok(store.retention()?.iter().map(Setting::of).collect())
}

fn setting(store: &Store, kind: History) -> Result<Setting, RetentionError> {
    let all = store.retention()?;
    let s = all
        .iter()
        .find(|s| s.kind == kind)
        .ok_or_else(|| StoreError::Corrupt(format!("no retention setting for {}", kind.name())))?;
    Ok(Setting::of(s))
}

/// Keeps `kind` for at most `max_age_ms` and/or its newest `max_count`
/// entries, or everything (`forever`), as `actor`'s setting.
pub fn set(
    store: &Store,
    kind_name: &str,
    max_age_ms: Option<i64>,
    max_count: Option<u64>,
    forever: bool,
    actor: &str,
) -> Result<Setting, RetentionError> {
    let kind = kind(kind_name)?;
    match (max_age_ms, max_count, forever) {
        (None, None, false) => return Err(RetentionError::NoLimit(kind.name())),
        (Some(_), _, true) | (_, Some(_), true) => return Err(RetentionError::ForeverAndLimit),
        _ => {}
    }
    if max_count == Some(0) {
        return Err(RetentionError::Count);
    }
    if max_age_ms.is_some_and(|ms| ms < 1) {
        return Err(RetentionError::Age);
    }
    let keep = Keep {
        max_age_ms,
        max_count,
    };
    store.set_retention(kind, Some(keep), actor)?;
    setting(store, kind)
}

/// Puts `kind` back to its default.
pub fn reset(store: &Store, kind_name: &str, actor: &str) -> Result<Setting, RetentionError> {
    let kind = kind(kind_name)?;
    store.set_retention(kind, None, actor)?;
    setting(store, kind)
}

/// `30days`, `the newest 1000`, `30days, at most the newest 1000`, `for
/// ever`.
pub fn describe(keep: &Keep) -> String {
    let age = keep.max_age_ms.map(|ms| {
        let d = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        humantime::format_duration(d).to_string()
    });
    match (age, keep.max_count) {
        (None, None) => "for ever".into(),
        (Some(a), None) => a,
        (None, Some(n)) => format!("the newest {n}"),
        (Some(a), Some(n)) => format!("{a}, at most the newest {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        let before = show(&store).unwrap();
        let err = set(&store, "logs", Some(1000), None, false, "user:t").unwrap_err();
        assert!(
            err.to_string()
                .contains("the kinds are executions, triggers"),
            "{err}"
        );
        assert!(matches!(
            set(&store, "audit", None, None, false, "user:t"),
            Err(RetentionError::NoLimit("audit"))
        ));
        assert!(matches!(
            set(&store, "audit", Some(1000), None, true, "user:t"),
            Err(RetentionError::ForeverAndLimit)
        ));
        assert!(matches!(
            set(&store, "audit", None, Some(0), false, "user:t"),
            Err(RetentionError::Count)
        ));
        assert!(matches!(
            set(&store, "audit", Some(0), None, false, "user:t"),
            Err(RetentionError::Age)
        ));
        assert!(matches!(
            reset(&store, "nope", "user:t"),
            Err(RetentionError::Kind { .. })
        ));
        assert_eq!(show(&store).unwrap(), before, "nothing stored");

        let set = set(&store, "audit", Some(86_400_000), None, false, "user:t").unwrap();
        assert_eq!(
            set.set_message(),
            "audit kept 1day; `drover gc --dry-run` shows what goes at the next collection"
        );
        assert_eq!(set.set_by.as_deref(), Some("user:t"));
        assert!(!set.default);
        let back = reset(&store, "audit", "user:t").unwrap();
        assert!(back.default);
        assert!(back.reset_message().ends_with("(the default)"));
    }
}
