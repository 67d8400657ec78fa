//! Who may use the API: users (web login), API tokens and web sessions.
//!
//! This module stores and finds them; it never sees a password, a token
//! or a session id in the clear. Callers (`drover-api`'s `auth`) hash
//! passwords with argon2id and tokens and session ids with SHA-256 before
//! they get here, so a copy of the database grants nothing.

use serde::{Deserialize, Serialize};

use crate::Result;

/// What a principal may do. Ordered: each role may do everything the ones
/// below it may.
///
/// - `viewer`: read everything but secret values;
/// - `operator`: also run actions, approve, enable and disable rules,
///   write kv, promote a pack version that asks for nothing new, roll
///   back;
/// - `admin`: also grants, promotions that bring new capabilities,
///   budgets, secrets, tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Role, String> {
        Role::parse(s)
            .ok_or_else(|| format!("unknown role {s:?}: expected viewer, operator or admin"))
    }
}

/// A user who logs in with a password.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// An API token, without the token itself.
#[derive(Clone, Debug, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
    pub created_by: String,
    pub revoked_at_ms: Option<i64>,
}

/// A live web session: who, with which role, and its CSRF token.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    pub expires_at_ms: i64,
}

/// Users, API tokens and web sessions.
pub trait AuthStore: Send + Sync {
    /// Creates `name` only if there is no user at all (the first start of
    /// `drover serve`); false when users already exist.
    fn create_first_user(&self, name: &str, role: Role, password_hash: &str) -> Result<bool>;

    /// Adds a user; false when the name is taken.
    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<bool>;

    /// Replaces a user's password hash and ends their sessions; false when
    /// there is no such user.
    fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool>;

    /// A user's role and password hash, for checking a login.
    fn user_credentials(&self, name: &str) -> Result<Option<(Role, String)>>;

    fn list_users(&self) -> Result<Vec<User>>;

    /// Stores a new token under the SHA-256 `hash` of its secret.
    fn insert_token(&self, token: ApiToken, hash: &str) -> Result<()>;

    /// The unrevoked token whose secret hashes to `hash`.
    fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>>;

    /// Tokens, newest first; revoked ones only when `include_revoked`.
    fn list_tokens(&self, include_revoked: bool) -> Result<Vec<ApiToken>>;

    /// Revokes a token; returns it, or `None` when no unrevoked token has
    /// this id.
    fn revoke_token(&self, id: &str) -> Result<Option<ApiToken>>;

    /// Starts a session for `user` (by the SHA-256 of its id) and drops
    /// expired ones in the same write.
    fn insert_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf: &str,
        expires_at_ms: i64,
    ) -> Result<()>;

    /// The unexpired session with this id hash, with its user's role now.
    fn session(&self, id_hash: &str) -> Result<Option<SessionRow>>;

    /// Ends a session (logout).
    fn delete_session(&self, id_hash: &str) -> Result<()>;
}
