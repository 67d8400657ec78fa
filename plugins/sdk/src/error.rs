//! [`Error`]: the WIT `error` variant, shared by host calls and actions.
//!
//! A host call that is refused or fails returns one of these; an action
//! returns one to fail its execution. Propagating a host error with `?`
//! keeps its kind, so a `denied` from the host stays `denied` in the
//! execution record.

use std::fmt;

/// Why a host call or an action failed (`drover:plugin/types.error`).
///
/// The variant is the kind the operator sees; the string says what went
/// wrong, lowercase and without a trailing period by convention.
/// Non-exhaustive: a later WIT version may add kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The operator has not granted this capability, or the target is
    /// outside the granted scope. The refusal is in the audit log.
    Denied(String),
    /// The host does not offer this operation (yet), or the target cannot
    /// do it.
    Unsupported(String),
    /// An argument was malformed or out of range.
    Invalid(String),
    /// The named thing (node, secret, key) does not exist.
    NotFound(String),
    /// Anything else: the message says what went wrong.
    Failed(String),
}

impl Error {
    /// [`Error::Denied`] with `message`.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(message.into())
    }

    /// [`Error::Unsupported`] with `message`.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported(message.into())
    }

    /// [`Error::Invalid`] with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// [`Error::NotFound`] with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// [`Error::Failed`] with `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// The kind as spelled in WIT: `denied`, `unsupported`, `invalid`,
    /// `not-found` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Denied(_) => "denied",
            Self::Unsupported(_) => "unsupported",
            Self::Invalid(_) => "invalid",
            Self::NotFound(_) => "not-found",
            Self::Failed(_) => "failed",
        }
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m)
            | Self::Unsupported(m)
            | Self::Invalid(m)
            | Self::NotFound(m)
            | Self::Failed(m) => m,
        }
    }
}

/// `kind: message`, e.g. `denied: no grant for nodes.reboot on node-7`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Error {}

/// JSON that does not parse or does not fit the expected type is a
/// [`Error::Failed`]; bad *input* is reported as [`Error::Invalid`] by
/// [`export_action!`](crate::export_action) before your code runs.
impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::Failed(format!("json: {err}"))
    }
}
