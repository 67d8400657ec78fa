//! Name lists: which secrets a `secrets` grant lets a plugin read.
//!
//! A comma-separated list of entries; a name is allowed when any entry
//! matches it.
//!
//! | Entry                | Matches                                          |
//! | -------------------- | ------------------------------------------------ |
//! | `redfish.password`   | exactly that name                                |
//! | `redfish.*`          | every name starting with `redfish.`              |
//! | `*` (whole scope)    | every name: see [`crate::Scope::Any`]            |
//!
//! - Names are one or more of `A-Z a-z 0-9 . _ / -`, compared exactly
//!   (case matters).
//! - `*` is only allowed once, at the end, after at least one character:
//!   `redfish*` also matches `redfish-other`, so end the prefix with the
//!   separator you mean (`redfish.*`).
//! - Whitespace around entries is ignored; the canonical text joins them
//!   with `,`.

use std::fmt;
use std::str::FromStr;

use crate::PolicyError;

/// A parsed name list; see the [module docs](self) for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList {
    /// Never empty once parsed.
    entries: Vec<NamePattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NamePattern {
    Exact(String),
    /// The text before the trailing `*`, never empty.
    Prefix(String),
}

impl NameList {
    /// Parses a list such as `redfish.password, ipmi.*`.
    pub fn parse(text: &str) -> Result<NameList, PolicyError> {
        let entries = text
            .split(',')
            .map(NamePattern::parse)
            .collect::<Result<_, _>>()?;
        Ok(NameList { entries })
    }

    /// Does any entry match `name`?
    pub fn matches(&self, name: &str) -> bool {
        self.entries.iter().any(|entry| match entry {
            NamePattern::Exact(exact) => name == exact,
            NamePattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
        })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
}

impl NamePattern {
    fn parse(raw: &str) -> Result<NamePattern, PolicyError> {
        let entry = raw.trim();
        let fail = |reason: String| PolicyError::Name {
            entry: entry.to_owned(),
            reason,
        };
        if entry.is_empty() {
            return Err(fail(
                "empty entry: remove the extra ',' or write a name".into(),
            ));
        }
        if entry == "*" {
            return Err(fail(
                "'*' allows every name, so it cannot be combined with other entries; \
                 write `*` alone"
                    .into(),
            ));
        }
        let (body, prefix) = match entry.strip_suffix('*') {
            Some(body) => (body, true),
            None => (entry, false),
        };
        if let Some(bad) = body.chars().find(|&c| !is_name_char(c)) {
            let reason = if bad == '*' {
                "'*' is only allowed once, at the end, as in `redfish.*`".to_owned()
            } else {
                format!(
                    "unexpected character {bad:?}: names are letters, digits, '.', '_', '/' and '-', \
                     with an optional '*' at the end"
                )
            };
            return Err(fail(reason));
        }
        let body = body.to_owned();
        Ok(if prefix {
            NamePattern::Prefix(body)
        } else {
            NamePattern::Exact(body)
        })
    }
}

impl FromStr for NameList {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NameList::parse(text)
    }
}

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match entry {
                NamePattern::Exact(name) => f.write_str(name)?,
                NamePattern::Prefix(prefix) => write!(f, "{prefix}*")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(text: &str, name: &str) -> bool {
        NameList::parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(name)
    }

    fn reason(text: &str) -> String {
        match NameList::parse(text) {
            Err(PolicyError::Name { reason, .. }) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn exact_names() {
        assert!(matches("redfish.password", "redfish.password"));
        assert!(!matches("redfish.password", "redfish.password2"));
        assert!(!matches("redfish.password", "redfish"));
        assert!(!matches("redfish.password", "Redfish.password"));
        assert!(!matches("redfish.password", ""));
    }

    #[test]
    fn prefixes() {
        assert!(matches("redfish.*", "redfish.password"));
        assert!(matches("redfish.*", "redfish.bmc/user"));
        assert!(matches("redfish.*", "redfish."));
        assert!(!matches("redfish.*", "redfish"));
        assert!(!matches("redfish.*", "redfish-other.password"));
        assert!(!matches("redfish.*", "x.redfish.password"));
        assert!(matches("redfish*", "redfish-other"));
    }

    #[test]
    fn any_entry_may_match() {
        let text = "ipmi.password, redfish.* ,site/token";
        assert!(matches(text, "ipmi.password"));
        assert!(matches(text, "redfish.user"));
        assert!(matches(text, "site/token"));
        assert!(!matches(text, "ipmi.user"));
    }

    #[test]
    fn display_is_canonical_and_parses_back() {
        let cases = [
            (" a ,b.* , C_d/e-f ", "a,b.*,C_d/e-f"),
            ("redfish.*", "redfish.*"),
        ];
        for (text, canonical) in cases {
            let names = NameList::parse(text).unwrap();
            assert_eq!(names.to_string(), canonical);
            assert_eq!(NameList::parse(canonical).unwrap(), names);
            assert_eq!(canonical.parse::<NameList>().unwrap(), names);
        }
    }

    #[test]
    fn error_empty_entries() {
        let empty = "empty entry: remove the extra ',' or write a name";
        assert_eq!(reason(""), empty);
        assert_eq!(reason("a,,b"), empty);
        assert_eq!(reason("a,"), empty);
    }

    #[test]
    fn error_misplaced_stars() {
        let once = "'*' is only allowed once, at the end, as in `redfish.*`";
        assert_eq!(reason("*.password"), once);
        assert_eq!(reason("red*fish"), once);
        assert_eq!(reason("redfish.**"), once);
        assert!(reason("a, *").starts_with("'*' allows every name"));
    }

    #[test]
    fn error_bad_characters() {
        assert_eq!(
            reason("ipmi password"),
            "unexpected character ' ': names are letters, digits, '.', '_', '/' and '-', \
             with an optional '*' at the end"
        );
        assert!(reason("a:b").starts_with("unexpected character ':'"));
        assert!(reason("pässword").starts_with("unexpected character 'ä'"));
        assert!(reason("?").starts_with("unexpected character '?'"));
    }

    #[test]
    fn error_names_the_entry() {
        let err = NameList::parse("ok, red*fish").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid name \"red*fish\": '*' is only allowed once, at the end, as in `redfish.*`"
        );
    }
}
