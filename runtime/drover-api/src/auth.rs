//! Authentication and roles, for the JSON API and for HTML pages alike.
//!
//! A request is made by a [`Principal`] (a name and a [`Role`]) that is
//! either an API token (`Authorization: Bearer drover_…`) or a web session
//! (the `drover_session` cookie set by logging in). Handlers say what they
//! need with an extractor: `Auth<need::Operator>` answers 401 (JSON) to the
//! anonymous and 403 naming the role needed to the rest. Extractors of the
//! request's parts run before the body is read, so a request is authorized
//! before its body is validated.
//!
//! Secrets at rest: passwords are argon2id PHC strings; tokens (32 random
//! bytes, shown once) and session ids (32 random bytes) are stored as
//! SHA-256. A stolen database does not log anyone in.
//!
//! CSRF: the session cookie is `HttpOnly; SameSite=Strict` and each
//! session has a synchronizer token (stored server-side, never in a
//! cookie). Unsafe requests (anything but GET/HEAD/OPTIONS) made with the
//! cookie must carry it: JSON calls in the `X-CSRF-Token` header
//! ([`Auth`] checks), HTML forms in a `csrf` field ([`FormAuth`] then
//! [`CsrfForm`]). Bearer-token requests need none: browsers never attach
//! them on their own.

use std::marker::PhantomData;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use drover_core::now_ms;
use drover_store::{Role, Store};
use serde::de::DeserializeOwned;

use crate::error::blocking;
use crate::{ApiError, AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "drover_session";
/// The header that carries the session's CSRF token on JSON calls.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries it on HTML form posts.
pub const CSRF_FIELD: &str = "csrf";
/// How long a session lasts after login.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;
/// The user the first start of `drover serve` creates.
pub const FIRST_ADMIN: &str = "admin";

/// Who is making a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub via: Via,
}

/// How the principal authenticated.
#[derive(Clone, Debug)]
pub enum Via {
    /// An API token, by its id.
    Token { id: String },
    /// A web session; `csrf` is its synchronizer token.
    Session { csrf: String },
}

impl Principal {
    /// The actor recorded in audit records and executions.
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Token { id } => format!("token:{}({id})", self.name),
            Via::Session { .. } => format!("user:{}", self.name),
        }
    }

    /// The session's CSRF token, for pages to put in their forms.
    pub fn csrf(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf } => Some(csrf),
            Via::Token { .. } => None,
        }
    }

    /// 403 unless this principal has at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "this needs the {needed} role; {} is {} (an admin can create a token with \
             `drover token create --role {needed}`)",
            self.name, self.role
        )))
    }
}

// ------------------------------------------------------------ secrets

// Made in the application core, where `drover token` and `drover user`
// make them too.
pub use drover_app::access::{
    TOKEN_PREFIX, generate_password, hash_password, new_token, random_hex, sha256_hex,
};

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// On first start (no users at all): creates `admin` with a generated
/// password and returns the password, to be shown once. `None` when users
/// exist.
pub fn bootstrap_admin(store: &Store) -> Result<Option<String>, drover_store::StoreError> {
    if !store.list_users()?.is_empty() {
        return Ok(None);
    }
    let password = generate_password();
    let created = store.create_first_user(FIRST_ADMIN, Role::Admin, &hash_password(&password))?;
    Ok(created.then_some(password))
}

// ------------------------------------------------------------ login

/// A new session for a user whose password checked out: the cookie value
/// (random id) and the session's CSRF token.
pub struct NewSession {
    pub cookie_value: String,
    pub csrf: String,
    pub role: Role,
}

/// Password checks running at once: argon2 is slow on purpose (~19 MiB
/// and tens of ms each), so a flood of logins waits here instead of
/// taking every core and the memory with it.
pub const MAX_CONCURRENT_LOGINS: usize = 4;

/// Waits for a turn to check a password (see [`MAX_CONCURRENT_LOGINS`]).
pub async fn login_permit() -> tokio::sync::SemaphorePermit<'static> {
    static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_LOGINS);
    TURNS
        .acquire()
        .await
        .expect("the login semaphore is never closed")
}

/// Checks a name and password and starts a session. Runs argon2, so call
/// it on the blocking pool, holding a [`login_permit`]. A wrong name costs
/// as much as a wrong password.
pub fn login(store: &Store, name: &str, password: &str) -> Result<NewSession, ApiError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let refused = || ApiError::Unauthorized("wrong user name or password".into());
    let Some((role, hash)) = store.user_credentials(name)? else {
        let dummy = DUMMY.get_or_init(|| hash_password("not a password"));
        let _ = verify_password(password, dummy);
        return Err(refused());
    };
    if !verify_password(password, &hash) {
        return Err(refused());
    }
    let id = random_hex(32);
    let csrf = random_hex(32);
    store.insert_session(
        &sha256_hex(&id),
        name,
        &csrf,
        now_ms() + SESSION_TTL_SECS * 1000,
    )?;
    Ok(NewSession {
        cookie_value: id,
        csrf,
        role,
    })
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(value: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_SECS}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie's value, if the request has one.
pub fn session_cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE && !v.is_empty()).then_some(v)
        })
}

// ------------------------------------------------------------ extractors

const ANONYMOUS: &str = "authentication required: send `Authorization: Bearer TOKEN` (an admin \
     creates one with `drover token create --role viewer`) or log in at /login";

/// Finds the principal of a request (cached in its extensions).
async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(p) = parts.extensions.get::<Principal>() {
        return Ok(p.clone());
    }
    let principal = if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "the Authorization header must be `Bearer TOKEN` (a token from `drover \
                     token create`)"
                        .into(),
                )
            })?;
        let hash = sha256_hex(token);
        let store = state.store().clone();
        let found = blocking(move || Ok(store.token_by_hash(&hash)?)).await?;
        let token = found.ok_or_else(|| {
            ApiError::Unauthorized(
                "unknown or revoked token; create one with `drover token create --role viewer`"
                    .into(),
            )
        })?;
        Principal {
            name: token.name,
            role: token.role,
            via: Via::Token { id: token.id },
        }
    } else if let Some(id) = session_cookie_value(&parts.headers) {
        let hash = sha256_hex(id);
        let store = state.store().clone();
        let found = blocking(move || Ok(store.session(&hash)?)).await?;
        let session = found.ok_or_else(|| {
            ApiError::Unauthorized("your session has ended; log in again at /login".into())
        })?;
        Principal {
            name: session.user,
            role: session.role,
            via: Via::Session { csrf: session.csrf },
        }
    } else {
        return Err(ApiError::Unauthorized(ANONYMOUS.into()));
    };
    parts.extensions.insert(principal.clone());
    Ok(principal)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await
    }
}

/// The role a handler needs, as a type: `Auth<need::Admin>`.
pub trait Need: Send + Sync + 'static {
    const ROLE: Role;
}

/// Role markers for [`Auth`] and [`FormAuth`].
pub mod need {
    use super::{Need, Role};

    /// Read anything but secret values.
    pub struct Viewer;
    /// Run, approve, drain, enable rules, write kv.
    pub struct Operator;
    /// Grants, promotions, budgets, secrets, tokens.
    pub struct Admin;

    impl Need for Viewer {
        const ROLE: Role = Role::Viewer;
    }
    impl Need for Operator {
        const ROLE: Role = Role::Operator;
    }
    impl Need for Admin {
        const ROLE: Role = Role::Admin;
    }
}

/// A principal with at least role `N`, for JSON handlers: 401 for the
/// anonymous, 403 for a lower role, 403 for a cookie-authenticated unsafe
/// request without the session's `X-CSRF-Token`.
pub struct Auth<N: Need>(pub Principal, pub PhantomData<N>);

impl<N: Need> FromRequestParts<AppState> for Auth<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = authenticate(parts, state).await?;
        p.require(N::ROLE)?;
        if let Via::Session { csrf } = &p.via
            && !is_safe(&parts.method)
        {
            let given = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(given.as_bytes(), csrf.as_bytes()) {
                return Err(ApiError::Forbidden(
                    "missing or wrong CSRF token: with a session cookie, send the session's \
                     token (`csrf` of GET /api/v1/whoami) in the X-CSRF-Token header"
                        .into(),
                ));
            }
        }
        Ok(Auth(p, PhantomData))
    }
}

/// A principal with at least role `N`, for HTML form handlers: like
/// [`Auth`] but the CSRF token is checked from the form by [`CsrfForm`],
/// which such a handler must take as its body.
pub struct FormAuth<N: Need>(pub Principal, pub PhantomData<N>);

impl<N: Need> FromRequestParts<AppState> for FormAuth<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = authenticate(parts, state).await?;
        p.require(N::ROLE)?;
        Ok(FormAuth(p, PhantomData))
    }
}

/// A principal with at least role `N`, for HTML pages: the anonymous (or
/// an ended session) are redirected to `/login`, a lower role gets a 403
/// page. Pages that post forms take [`FormAuth`] and [`CsrfForm`] on the
/// posting handler; the page puts [`Principal::csrf`] in each form's
/// `csrf` field.
pub struct PageAuth<N: Need>(pub Principal, pub PhantomData<N>);

impl<N: Need> FromRequestParts<AppState> for PageAuth<N> {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, axum::response::Response> {
        use axum::response::IntoResponse;
        let p = match authenticate(parts, state).await {
            Ok(p) => p,
            Err(ApiError::Unauthorized(_)) => {
                return Err((
                    axum::http::StatusCode::SEE_OTHER,
                    [(header::LOCATION, "/login")],
                )
                    .into_response());
            }
            Err(e) => return Err(e.into_response()),
        };
        if let Err(e) = p.require(N::ROLE) {
            let body = format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>drover: \
                 not allowed</title></head><body><h1>Not allowed</h1><p>{}</p></body></html>\n",
                crate::pages::escape(&e.to_string())
            );
            return Err((
                axum::http::StatusCode::FORBIDDEN,
                axum::response::Html(body),
            )
                .into_response());
        }
        Ok(PageAuth(p, PhantomData))
    }
}

/// An `application/x-www-form-urlencoded` body whose `csrf` field must be
/// the session's CSRF token (bearer-token requests are exempt). Take it
/// after [`FormAuth`], which authenticates first.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let principal = authenticate(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, crate::MAX_FORM_BODY)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the form: {e}")))?;
        if let Via::Session { csrf } = &principal.via {
            let given: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| ApiError::BadRequest(format!("the form is malformed: {e}")))?;
            let ok = given
                .iter()
                .any(|(k, v)| k == CSRF_FIELD && constant_time_eq(v.as_bytes(), csrf.as_bytes()));
            if !ok {
                return Err(ApiError::Forbidden(
                    "missing or wrong CSRF token: reload the page and submit the form again".into(),
                ));
            }
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(CsrfForm)
            .map_err(|e| ApiError::BadRequest(format!("the form is malformed: {e}")))
    }
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_and_passwords_are_random_and_tokens_are_prefixed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(generate_password().len(), 24);
        assert_ne!(generate_password(), generate_password());
        assert_eq!(sha256_hex("a").len(), 64);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; drover_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie_value(&h), Some("abc"));
        let c = session_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
    }

    #[test]
    fn roles_below_the_need_are_refused_naming_the_role() {
        let p = Principal {
            name: "ci".into(),
            role: Role::Operator,
            via: Via::Token { id: "1".into() },
        };
        assert!(p.require(Role::Viewer).is_ok());
        let err = p.require(Role::Admin).unwrap_err();
        assert!(err.to_string().contains("needs the admin role"), "{err}");
    }
}
