//! kv scopes: the namespaces of the key-value store, and what a `kv` grant
//! lets a plugin read or write outside its own.
//!
//! | Scope        | Whose                                   | Read by                                  |
//! | ------------ | --------------------------------------- | ---------------------------------------- |
//! | `system`     | the operators' (`drover kv set`)        | rules, as `kv.KEY` / `st2kv.system.KEY`  |
//! | `user:NAME`  | one operator's                          | rules of packs NAME installed, as `st2kv.user.KEY` |
//! | `pack:NAME`  | pack NAME's own                         | NAME's plugins, through `kv` (no grant)  |
//!
//! A pack's own scope is always `pack:NAME`: no pack name, however chosen,
//! is `system` or `user:…`, so a pack cannot write what rules read without
//! a grant. Any other scope is reached only through the `*-in` functions of
//! the `kv` interface and a `kv` grant ([`KvGrant`]) that covers it:
//!
//! | Entry                        | Allows                                                   |
//! | ---------------------------- | -------------------------------------------------------- |
//! | `system:maintenance.*`       | reading keys of `system` that start with `maintenance.`  |
//! | `read system:maintenance.*`  | the same (`read` is the default)                         |
//! | `write system:maintenance.*` | reading, setting and deleting them                       |
//! | `pack:inventory:hosts`       | reading the key `hosts` of pack `inventory`              |
//! | `user:alice:*`               | reading every key of `user:alice`                        |
//! | `*` (whole scope)            | everything: see [`crate::Scope::Any`]                    |
//!
//! Entries are separated by `,`. The key part is a key, a prefix ending in
//! `*`, or `*` for every key of the scope; it must be given (`system:*`),
//! so a grant never covers a whole scope without saying so. Writing is
//! never implied: it takes the word `write`.

/// Longest key and value anyone may store (a plugin through `kv`, an
/// operator through `drover kv set` or the API); SQLite would take more,
/// but kv is for small state, not blobs.
pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 64 << 10;

use std::fmt;

use crate::PolicyError;

/// One namespace of the key-value store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvScope {
    /// What operators set and rules read (`kv.*`, `st2kv.system.*`).
    System,
    /// One operator's keys (`st2kv.user.*`).
    User(String),
    /// A pack's own keys.
    Pack(String),
}

impl KvScope {
    /// Parses `system`, `user:NAME` or `pack:NAME`. Names are one or more
    /// of `A-Z a-z 0-9 . _ @ -`.
    pub fn parse(text: &str) -> Result<KvScope, PolicyError> {
        let text = text.trim();
        let fail = |reason: String| PolicyError::KvScope {
            text: text.to_owned(),
            reason,
        };
        if text == "system" {
            return Ok(KvScope::System);
        }
        let (kind, name) = match text.split_once(':') {
            Some(("user", name)) => (KvScope::User as fn(String) -> KvScope, name),
            Some(("pack", name)) => (KvScope::Pack as fn(String) -> KvScope, name),
            _ => {
                return Err(fail(format!(
                    "write `system`, `user:NAME` or `pack:NAME`{}",
                    if is_scope_name(text) {
                        format!(" (the store of pack {text} is `pack:{text}`)")
                    } else {
                        String::new()
                    }
                )));
            }
        };
        if !is_scope_name(name) {
            return Err(fail(
                "the name after `user:` or `pack:` is one or more of letters, digits, \
                 '.', '_', '@' and '-'"
                    .into(),
            ));
        }
        Ok(kind(name.to_owned()))
    }

    /// The scope of pack `name`'s own keys.
    pub fn pack(name: &str) -> KvScope {
        KvScope::Pack(name.to_owned())
    }
}

impl fmt::Display for KvScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvScope::System => f.write_str("system"),
            KvScope::User(name) => write!(f, "user:{name}"),
            KvScope::Pack(name) => write!(f, "pack:{name}"),
        }
    }
}

fn is_scope_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
}

/// A parsed `kv` grant scope; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvGrant {
    /// Never empty once parsed.
    entries: Vec<KvEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct KvEntry {
    write: bool,
    scope: KvScope,
    keys: Keys,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Keys {
    All,
    Exact(String),
    /// The text before the trailing `*`, never empty.
    Prefix(String),
}

impl KvGrant {
    /// Parses entries such as `system:maintenance.*, write pack:inventory:hosts`.
    pub fn parse(text: &str) -> Result<KvGrant, PolicyError> {
        let entries = text
            .split(',')
            .map(KvEntry::parse)
            .collect::<Result<_, _>>()?;
        Ok(KvGrant { entries })
    }

    /// Does an entry allow this access to `key` of `scope`? `write` covers
    /// set and delete; a write entry also allows reading.
    pub fn allows(&self, scope: &KvScope, key: &str, write: bool) -> bool {
        self.entries.iter().any(|e| {
            (e.write || !write)
                && &e.scope == scope
                && match &e.keys {
                    Keys::All => true,
                    Keys::Exact(k) => k == key,
                    Keys::Prefix(p) => key.starts_with(p.as_str()),
                }
        })
    }
}

impl KvEntry {
    fn parse(raw: &str) -> Result<KvEntry, PolicyError> {
        let entry = raw.trim();
        let fail = |reason: &str| PolicyError::Kv {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        if entry.is_empty() {
            return Err(fail(
                "empty entry: remove the extra ',' or write e.g. `system:maintenance.*`",
            ));
        }
        let (write, rest) = match entry.split_once(char::is_whitespace) {
            Some(("write", rest)) => (true, rest.trim_start()),
            Some(("read", rest)) => (false, rest.trim_start()),
            Some(_) => {
                return Err(fail(
                    "an entry is `[read|write] SCOPE:KEYS`, e.g. `write system:maintenance.*`",
                ));
            }
            None => (false, entry),
        };
        // `system:KEYS`, `user:NAME:KEYS`, `pack:NAME:KEYS`: scope names
        // have no ':', so the keys are what follows the scope's last ':'.
        let split = if let Some(keys) = rest.strip_prefix("system:") {
            Some(("system", keys))
        } else if rest.starts_with("user:") || rest.starts_with("pack:") {
            rest[5..]
                .find(':')
                .map(|i| (&rest[..5 + i], &rest[5 + i + 1..]))
        } else {
            None
        };
        let Some((scope, keys)) = split else {
            return Err(fail(
                "name the scope and the keys: `system:KEYS`, `user:NAME:KEYS` or \
                 `pack:NAME:KEYS`, with KEYS a key, a prefix ending in `*`, or `*` for every key",
            ));
        };
        let scope = KvScope::parse(scope)?;
        let keys = match keys.trim() {
            "" => {
                return Err(fail(
                    "no keys after the scope: write a key, a prefix ending in `*`, or `*`",
                ));
            }
            "*" => Keys::All,
            k => match k.find('*') {
                None => Keys::Exact(k.to_owned()),
                Some(i) if i + 1 == k.len() => Keys::Prefix(k[..i].to_owned()),
                Some(_) => {
                    return Err(fail(
                        "'*' may only end the keys: `maintenance.*` matches every key \
                         starting with `maintenance.`",
                    ));
                }
            },
        };
        Ok(KvEntry { write, scope, keys })
    }
}

impl fmt::Display for KvGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if e.write {
                f.write_str("write ")?;
            }
            write!(f, "{}:", e.scope)?;
            match &e.keys {
                Keys::All => f.write_str("*")?,
                Keys::Exact(k) => f.write_str(k)?,
                Keys::Prefix(p) => write!(f, "{p}*")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_display() {
        for text in ["system", "user:alice", "pack:batchops", "user:a.b-c@x"] {
            assert_eq!(KvScope::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(KvScope::pack("core"), KvScope::Pack("core".into()));
        let err = KvScope::parse("batchops").unwrap_err().to_string();
        assert!(err.contains("`pack:batchops`"), "{err}");
        for bad in ["", "user:", "pack:", "pack:a:b", "group:x", "System"] {
            assert!(KvScope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn read_is_the_default_and_write_says_so() {
        let g = KvGrant::parse("system:maintenance.*").unwrap();
        assert!(g.allows(&KvScope::System, "maintenance.b7s01", false));
        assert!(!g.allows(&KvScope::System, "maintenance.b7s01", true));
        assert!(!g.allows(&KvScope::System, "other", false));
        assert!(!g.allows(&KvScope::User("system".into()), "maintenance.x", false));
        let w = KvGrant::parse("write system:maintenance.*").unwrap();
        assert!(w.allows(&KvScope::System, "maintenance.b7s01", true));
        assert!(w.allows(&KvScope::System, "maintenance.b7s01", false));
    }

    #[test]
    fn user_and_pack_entries_name_their_owner() {
        let g = KvGrant::parse("user:alice:*, read pack:inventory:hosts").unwrap();
        assert!(g.allows(&KvScope::User("alice".into()), "anything", false));
        assert!(!g.allows(&KvScope::User("bob".into()), "anything", false));
        assert!(g.allows(&KvScope::Pack("inventory".into()), "hosts", false));
        assert!(!g.allows(&KvScope::Pack("inventory".into()), "hosts2", false));
        assert!(!g.allows(&KvScope::System, "hosts", false));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "",
            "system",
            "system:",
            "pack:x",
            "maintenance.*",
            "rw system:*",
            "system:main*tenance",
            "pack::k",
            "core:k",
            "a,,b",
        ] {
            assert!(KvGrant::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "system:maintenance.*",
            " write  system:*, user:alice:k , pack:p:x.* ",
        ] {
            let g = KvGrant::parse(text).unwrap();
            assert_eq!(KvGrant::parse(&g.to_string()).unwrap(), g, "{text}");
        }
        assert_eq!(
            KvGrant::parse("system:m.*,write pack:p:*")
                .unwrap()
                .to_string(),
            "system:m.*, write pack:p:*"
        );
    }
}
