//! [`ActionRef`]: how users name a plugin, `PACK.PLUGIN` (e.g. `core.echo`).
//!
//! Only the syntax lives here; whether the pack and plugin exist is the
//! caller's question.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::pack::is_name;

/// A plugin reference, `PACK.PLUGIN`, e.g. `core.echo`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ActionRef {
    /// The pack name, e.g. `core`.
    pub pack: String,
    /// The plugin name inside the pack, e.g. `echo`.
    pub plugin: String,
}

impl ActionRef {
    /// `pack.plugin`, without checking the names.
    pub fn new(pack: impl Into<String>, plugin: impl Into<String>) -> ActionRef {
        ActionRef {
            pack: pack.into(),
            plugin: plugin.into(),
        }
    }
}

impl fmt::Display for ActionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.pack, self.plugin)
    }
}

/// Text that is not a `PACK.PLUGIN` reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid action reference {input:?}: expected PACK.ACTION, e.g. core.echo \
     (names are lowercase letters, digits and _, starting with a letter)"
)]
pub struct ActionRefError {
    /// The text that was rejected.
    pub input: String,
}

impl FromStr for ActionRef {
    type Err = ActionRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('.') {
            Some((pack, plugin)) if is_name(pack) && is_name(plugin) => {
                Ok(ActionRef::new(pack, plugin))
            }
            _ => Err(ActionRefError {
                input: s.to_owned(),
            }),
        }
    }
}

impl TryFrom<String> for ActionRef {
    type Error = ActionRefError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ActionRef> for String {
    fn from(r: ActionRef) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        let r: ActionRef = "core.echo".parse().unwrap();
        assert_eq!(r, ActionRef::new("core", "echo"));
        assert_eq!(r.to_string(), "core.echo");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"core.echo\"");
        assert_eq!(serde_json::from_str::<ActionRef>(&json).unwrap(), r);
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "core",
            "core.",
            ".echo",
            "core.echo.x",
            "Core.echo",
            "core/echo",
            "",
        ] {
            let err = bad.parse::<ActionRef>().unwrap_err().to_string();
            assert!(
                err.contains("expected PACK.ACTION, e.g. core.echo"),
                "{err}"
            );
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
