//! Subscription lists: which message sources a `subscribe` grant lets a
//! sensor's host-owned subscriptions open (its `subscriptions:` in
//! pack.yaml). A subscription is opened only when an entry covers it.
//!
//! A comma-separated list of entries:
//!
//! | Entry                 | Covers                                                  |
//! | --------------------- | ------------------------------------------------------- |
//! | `nats:batch.health`   | the NATS subject `batch.health` only                    |
//! | `nats:batch.*`        | `batch.X` for one token X (and a subscription to `batch.*`) |
//! | `nats:batch.>`        | every subject under `batch.` (and `batch.>`, `batch.*.x`)   |
//! | `nats:>`              | every subject: the only entry that covers a subscription to `>` |
//! | `batch.health`        | the same as `nats:batch.health` (the canonical text says `nats:`) |
//! | `webhook:health`      | the webhook subscription `health` (served at `/api/v1/webhooks/<pack>.health`) |
//! | `webhook:*`           | every webhook subscription of the pack                  |
//!
//! - NATS subjects are tokens separated by `.`; `*` stands for one token,
//!   `>` (last only) for one or more. A subscription is covered when every
//!   subject it would receive is one the entry matches: an entry `batch.*`
//!   does not cover a subscription `batch.>`, and nothing but `>` covers
//!   `>`.
//! - There is no implicit "everything": `*` alone is the NATS one-token
//!   wildcard (`nats:*`), not [`crate::Scope::Any`]. To let a sensor read
//!   every subject an operator must write `nats:>`.
//! - Whitespace around entries is ignored; the canonical text joins them
//!   with `,`.

use std::fmt;

use crate::PolicyError;

/// A parsed subscription list; see the [module docs](self) for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionList {
    /// Never empty once parsed.
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A NATS subject pattern, as tokens.
    Nats(Vec<String>),
    /// A webhook subscription's name; `None`: every one (`webhook:*`).
    Webhook(Option<String>),
}

impl SubscriptionList {
    /// Parses a list such as `nats:batch.health, webhook:health`.
    pub fn parse(text: &str) -> Result<SubscriptionList, PolicyError> {
        let entries = text
            .split(',')
            .map(Entry::parse)
            .collect::<Result<_, _>>()?;
        Ok(SubscriptionList { entries })
    }

    /// Does an entry cover a NATS subscription to `subject` (wildcards
    /// allowed)? A subject that is not valid is never covered.
    pub fn allows_nats(&self, subject: &str) -> bool {
        let Ok(wanted) = subject_tokens(subject) else {
            return false;
        };
        self.entries.iter().any(|e| match e {
            Entry::Nats(granted) => covers(granted, &wanted),
            Entry::Webhook(_) => false,
        })
    }

    /// Does an entry cover the webhook subscription `name`?
    pub fn allows_webhook(&self, name: &str) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::Webhook(None) => true,
            Entry::Webhook(Some(n)) => n == name,
            Entry::Nats(_) => false,
        })
    }
}

/// Whether every subject `wanted` matches is matched by `granted`.
fn covers(granted: &[String], wanted: &[String]) -> bool {
    for (i, g) in granted.iter().enumerate() {
        if g == ">" {
            // One or more tokens: whatever is left of `wanted` (at least one).
            return wanted.len() > i;
        }
        let Some(w) = wanted.get(i) else {
            return false;
        };
        let ok = match g.as_str() {
            // One token: a literal or `*`, never `>` (more than one).
            "*" => w != ">",
            literal => w == literal,
        };
        if !ok {
            return false;
        }
    }
    granted.len() == wanted.len()
}

/// A NATS subject's tokens, checked: none empty, no whitespace, `*` and
/// `>` only as whole tokens, `>` only last.
fn subject_tokens(subject: &str) -> Result<Vec<String>, String> {
    if subject.is_empty() {
        return Err("empty subject: write e.g. `nats:batch.health`".into());
    }
    let tokens: Vec<String> = subject.split('.').map(str::to_owned).collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err("a subject has no empty tokens: remove the extra '.'".into());
        }
        if t.chars().any(char::is_whitespace) {
            return Err("a subject has no whitespace".into());
        }
        if t != "*" && t != ">" && (t.contains('*') || t.contains('>')) {
            return Err(format!(
                "token {t:?}: `*` and `>` are whole tokens (`batch.*`, `batch.>`)"
            ));
        }
        if t == ">" && i + 1 != tokens.len() {
            return Err("`>` may only be the last token".into());
        }
    }
    Ok(tokens)
}

impl Entry {
    fn parse(raw: &str) -> Result<Entry, PolicyError> {
        let entry = raw.trim();
        let fail = |reason: String| PolicyError::Subscription {
            entry: entry.to_owned(),
            reason,
        };
        if entry.is_empty() {
            return Err(fail(
                "empty entry: remove the extra ',' or write e.g. `nats:batch.health`".into(),
            ));
        }
        if let Some(name) = entry.strip_prefix("webhook:") {
            let name = name.trim();
            if name == "*" {
                return Ok(Entry::Webhook(None));
            }
            let mut chars = name.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(fail(
                    "a webhook name is [a-z][a-z0-9_]* (as in pack.yaml), or `*` for all".into(),
                ));
            }
            return Ok(Entry::Webhook(Some(name.to_owned())));
        }
        let subject = entry.strip_prefix("nats:").unwrap_or(entry).trim();
        subject_tokens(subject).map(Entry::Nats).map_err(fail)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Nats(tokens) => write!(f, "nats:{}", tokens.join(".")),
            Entry::Webhook(None) => f.write_str("webhook:*"),
            Entry::Webhook(Some(name)) => write!(f, "webhook:{name}"),
        }
    }
}

impl fmt::Display for SubscriptionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            e.fmt(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> SubscriptionList {
        SubscriptionList::parse(text).unwrap()
    }

    #[test]
    fn exact_subjects_and_webhooks() {
        let l = list("batch.health, webhook:health");
        assert_eq!(l.to_string(), "nats:batch.health,webhook:health");
        assert!(l.allows_nats("batch.health"));
        assert!(!l.allows_nats("batch.health.x"));
        assert!(!l.allows_nats("batch.*"));
        assert!(!l.allows_nats(">"));
        assert!(l.allows_webhook("health"));
        assert!(!l.allows_webhook("other"));
    }

    #[test]
    fn wildcards_cover_only_what_they_match() {
        let star = list("nats:batch.*");
        assert!(star.allows_nats("batch.health"));
        assert!(star.allows_nats("batch.*"));
        assert!(!star.allows_nats("batch.>"));
        assert!(!star.allows_nats("batch.a.b"));
        assert!(!star.allows_nats("batch"));
        let tail = list("nats:batch.>");
        assert!(tail.allows_nats("batch.a.b"));
        assert!(tail.allows_nats("batch.>"));
        assert!(tail.allows_nats("batch.*.x"));
        assert!(!tail.allows_nats("batch"));
        assert!(!tail.allows_nats(">"));
        assert!(!tail.allows_nats("other.x"));
    }

    #[test]
    fn only_gt_covers_everything() {
        for text in ["*", "nats:*", "*.>", "nats:*.*", "webhook:*"] {
            assert!(!list(text).allows_nats(">"), "{text}");
        }
        assert!(list("nats:>").allows_nats(">"));
        assert!(list(">").allows_nats("a.b.c"));
        // `*` alone is the one-token wildcard.
        assert!(list("*").allows_nats("health"));
        assert!(!list("*").allows_nats("batch.health"));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for bad in [
            "",
            "a,,b",
            "batch..x",
            "batch.h*",
            "a.>.b",
            "webhook:Bad",
            "webhook:",
            "nats:",
        ] {
            let err = SubscriptionList::parse(bad).unwrap_err();
            assert!(
                matches!(err, PolicyError::Subscription { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn invalid_subscriptions_are_never_covered() {
        assert!(!list("nats:>").allows_nats("a..b"));
        assert!(!list("nats:>").allows_nats(""));
    }
}
