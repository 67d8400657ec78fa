//! The one error type of this crate. Every message is lowercase, quotes the
//! text it refused and says what to write instead, so the CLI and the API
//! can show it to an operator as is.

use crate::{Capability, ScopeKind, scope_help};

/// Why a capability name or a grant scope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not one of [`Capability::ALL`]'s canonical names.
    #[error("unknown capability {name:?}{}; valid names: {}", did_you_mean(*.suggestion), valid_names())]
    UnknownCapability {
        name: String,
        /// A capability the operator probably meant (`reboot` ->
        /// `nodes.reboot`, `nodes.set_state` -> `nodes.set-state`).
        suggestion: Option<Capability>,
    },

    /// A scope was given for a capability that has none (`log`, `kv`, ...).
    #[error(
        "capability `{capability}` takes no scope, got {text:?}; write `*` or leave the scope empty"
    )]
    UnexpectedScope {
        capability: Capability,
        text: String,
    },

    /// No scope was given for a capability whose grants must say what they
    /// cover. There is no implicit "everything": write `*` for that.
    #[error("capability `{capability}` needs a scope; {}", scope_help(.capability.scope_kind()))]
    MissingScope { capability: Capability },

    /// A label selector did not parse. `column` is 1-based, in characters.
    #[error("invalid label selector: {reason} {}", location(*.column, .text))]
    Selector {
        text: String,
        column: usize,
        reason: String,
    },

    /// One comma-separated entry of a host list did not parse.
    #[error("invalid host {entry:?}: {reason}")]
    Host { entry: String, reason: String },

    /// One comma-separated entry of a name list did not parse.
    #[error("invalid name {entry:?}: {reason}")]
    Name { entry: String, reason: String },

    /// One `;`-separated pattern of an argv list did not parse.
    #[error("invalid argv pattern {pattern:?}: {reason}")]
    Argv { pattern: String, reason: String },

    /// One comma-separated entry of a subscription list did not parse.
    #[error("invalid subscription {entry:?}: {reason}")]
    Subscription { entry: String, reason: String },
    /// A `command` scope is not `NODES: COMMANDS`.
    #[error("invalid command scope {text:?}: {reason}")]
    Command { text: String, reason: String },

    /// A kv scope is not `system`, `user:NAME` or `pack:NAME`.
    #[error("invalid kv scope {text:?}: {reason}")]
    KvScope { text: String, reason: String },

    /// One comma-separated entry of a `kv` grant did not parse.
    #[error("invalid kv grant entry {entry:?}: {reason}")]
    Kv { entry: String, reason: String },
}

impl PolicyError {
    /// The scope grammar the error is about, if it is about a scope.
    pub fn scope_kind(&self) -> Option<ScopeKind> {
        match self {
            PolicyError::UnknownCapability { .. } => None,
            PolicyError::UnexpectedScope { .. } => Some(ScopeKind::None),
            PolicyError::MissingScope { capability } => Some(capability.scope_kind()),
            PolicyError::Selector { .. } => Some(ScopeKind::Labels),
            PolicyError::Host { .. } => Some(ScopeKind::Hosts),
            PolicyError::Name { .. } => Some(ScopeKind::Names),
            PolicyError::Argv { .. } | PolicyError::Command { .. } => Some(ScopeKind::Argv),
            PolicyError::Subscription { .. } => Some(ScopeKind::Subscriptions),
            PolicyError::KvScope { .. } | PolicyError::Kv { .. } => Some(ScopeKind::Kv),
        }
    }
}

fn did_you_mean(suggestion: Option<Capability>) -> String {
    match suggestion {
        Some(capability) => format!(" (did you mean `{capability}`?)"),
        None => String::new(),
    }
}

fn valid_names() -> String {
    Capability::ALL.map(Capability::name).join(", ")
}

/// "at column 6 in "rack r01"", or "at the end of "rack in"" when the
/// parser ran out of text.
fn location(column: usize, text: &str) -> String {
    if column > text.chars().count() {
        format!("at the end of {text:?}")
    } else {
        format!("at column {column} in {text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_capability_lists_valid_names() {
        let err = PolicyError::UnknownCapability {
            name: "reboot".into(),
            suggestion: Some(Capability::NodesReboot),
        };
        assert_eq!(
            err.to_string(),
            "unknown capability \"reboot\" (did you mean `nodes.reboot`?); valid names: \
             log, kv, secrets, http, probe, command, nodes.read, nodes.reboot, nodes.drain, \
             nodes.set-state, nodes.health, wasi:filesystem, wasi:sockets, subscribe"
        );
        let err = PolicyError::UnknownCapability {
            name: "x".into(),
            suggestion: None,
        };
        assert!(
            err.to_string()
                .starts_with("unknown capability \"x\"; valid names: log, kv,")
        );
    }

    #[test]
    fn selector_location_is_a_column_or_the_end() {
        let err = PolicyError::Selector {
            text: "rack r01".into(),
            column: 6,
            reason: "expected '=', '!=', 'in' or 'notin' after key \"rack\"".into(),
        };
        assert_eq!(
            err.to_string(),
            "invalid label selector: expected '=', '!=', 'in' or 'notin' after key \"rack\" \
             at column 6 in \"rack r01\""
        );
        let err = PolicyError::Selector {
            text: "rack in".into(),
            column: 8,
            reason: "expected '(' after 'in'".into(),
        };
        assert_eq!(
            err.to_string(),
            "invalid label selector: expected '(' after 'in' at the end of \"rack in\""
        );
    }

    #[test]
    fn scope_errors_name_the_capability_and_the_fix() {
        let err = PolicyError::UnexpectedScope {
            capability: Capability::Log,
            text: "x".into(),
        };
        assert_eq!(
            err.to_string(),
            "capability `log` takes no scope, got \"x\"; write `*` or leave the scope empty"
        );
        let err = PolicyError::MissingScope {
            capability: Capability::Http,
        };
        assert_eq!(
            err.to_string(),
            format!(
                "capability `http` needs a scope; {}",
                scope_help(ScopeKind::Hosts)
            )
        );
    }

    #[test]
    fn every_error_knows_its_grammar() {
        let cases = [
            (
                PolicyError::UnknownCapability {
                    name: "x".into(),
                    suggestion: None,
                },
                None,
            ),
            (
                PolicyError::UnexpectedScope {
                    capability: Capability::Kv,
                    text: "x".into(),
                },
                Some(ScopeKind::None),
            ),
            (
                PolicyError::MissingScope {
                    capability: Capability::Command,
                },
                Some(ScopeKind::Argv),
            ),
            (
                PolicyError::Selector {
                    text: String::new(),
                    column: 1,
                    reason: String::new(),
                },
                Some(ScopeKind::Labels),
            ),
            (
                PolicyError::Host {
                    entry: String::new(),
                    reason: String::new(),
                },
                Some(ScopeKind::Hosts),
            ),
            (
                PolicyError::Name {
                    entry: String::new(),
                    reason: String::new(),
                },
                Some(ScopeKind::Names),
            ),
            (
                PolicyError::Argv {
                    pattern: String::new(),
                    reason: String::new(),
                },
                Some(ScopeKind::Argv),
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.scope_kind(), kind, "{err:?}");
        }
    }
}
