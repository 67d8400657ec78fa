//! The UI's side of drover-api's authentication: the same sessions, roles
//! and CSRF tokens, through thin extractors over this router's state.
//!
//! - [`Page<N>`]: a page or fragment; the anonymous go to `/login`, a lower
//!   role gets a 403 page (drover-api's `PageAuth`);
//! - [`Post<N, T>`]: a form post by role `N` whose `csrf` field must be
//!   the session's token (drover-api's `FormAuth` then `CsrfForm`).
//!
//! Every page's forms carry the token in a hidden `csrf` field; the layout
//! shows who is logged in and a logout form.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use drover_api::auth::{CsrfForm, FormAuth, Need, PageAuth, Principal};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::WebState;

pub use drover_api::auth::need;

/// Someone allowed to see a page needing role `N`.
pub struct Page<N: Need>(pub Principal, pub PhantomData<N>);

impl<N: Need> FromRequestParts<WebState> for Page<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let PageAuth(p, _) = PageAuth::<N>::from_request_parts(parts, &state.api).await?;
        Ok(Page(p, PhantomData))
    }
}

/// A form posted by someone with role `N`, its CSRF token checked.
pub struct Post<N: Need, T>(pub Principal, pub T, pub PhantomData<N>);

impl<N: Need, T: DeserializeOwned + Send> FromRequest<WebState> for Post<N, T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let FormAuth(p, _) = FormAuth::<N>::from_request_parts(&mut parts, &state.api)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let CsrfForm(form) = CsrfForm::<T>::from_request(req, &state.api)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Post(p, form, PhantomData))
    }
}

/// What the layout needs to know about the viewer.
#[derive(Serialize)]
pub struct Viewer {
    pub name: String,
    pub role: String,
    /// The session's CSRF token (absent for API-token requests, which
    /// need none).
    pub csrf: String,
    /// Whether they may run, drain and enable (operator) and grant and
    /// promote (admin): pages hide what would be refused.
    pub operator: bool,
    pub admin: bool,
}

impl Viewer {
    pub fn of(p: &Principal) -> Viewer {
        use drover_store::Role;
        Viewer {
            name: p.name.clone(),
            role: p.role.to_string(),
            csrf: p.csrf().unwrap_or_default().to_owned(),
            operator: p.role >= Role::Operator,
            admin: p.role >= Role::Admin,
        }
    }
}
