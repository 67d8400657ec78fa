//! The login page and logout, for people with a browser. Server-rendered
//! HTML, no script. The web UI's pages build on [`crate::auth`]'s
//! `FormAuth` and `CsrfForm` the same way `logout` does here.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::auth::{self, CsrfForm, FormAuth, PageAuth, need};
use crate::error::blocking;
use crate::{ApiError, AppState};

/// Where a successful login lands.
pub const AFTER_LOGIN: &str = "/ui/";

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(message: Option<&str>, name: &str) -> String {
    let message = message
        .map(|m| format!("<p role=\"alert\" class=\"error\">{}</p>", escape(m)))
        .unwrap_or_default();
    // The web UI's stylesheet and icon (public static files) when the UI
    // is served beside the API; without it the page still works unstyled.
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>drover: log in</title>\
         <link rel=\"stylesheet\" href=\"/ui/static/app.css\">\
         <link rel=\"icon\" href=\"/ui/static/favicon.svg\" type=\"image/svg+xml\"></head><body>\
         <main id=\"main\" class=\"login\"><h1>drover</h1>{message}\
         <form method=\"post\" action=\"/login\" class=\"stack\">\
         <label for=\"name\">User</label>\
         <input id=\"name\" name=\"name\" autocomplete=\"username\" value=\"{}\" required>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Log in</button></form>\
         <p class=\"hint\">First start? <code>drover serve</code> printed the password of <code>admin</code> once; \
         <code>drover user reset-password admin</code> sets a new one.</p>\
         </main></body></html>\n",
        escape(name)
    )
}

/// `GET /login`.
pub async fn login_form() -> Html<String> {
    Html(page(None, ""))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`: a session cookie and a redirect, or the form again.
pub async fn login_submit(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let store = state.store().clone();
    let name = form.name.clone();
    let _turn = auth::login_permit().await;
    match blocking(move || auth::login(&store, &form.name, &form.password)).await {
        Ok(session) => {
            let cookie = auth::session_cookie(&session.cookie_value, state.config.secure_cookies);
            redirect(AFTER_LOGIN, &cookie)
        }
        Err(e @ ApiError::Unauthorized(_)) => (
            StatusCode::UNAUTHORIZED,
            Html(page(Some(&e.to_string()), &name)),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {}

/// `POST /logout` (form with the `csrf` field).
pub async fn logout(
    _: FormAuth<need::Viewer>,
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm<LogoutForm>,
) -> Result<Response, ApiError> {
    crate::v1::access::end_session(&state, &headers).await?;
    Ok(redirect(
        "/login",
        &auth::clear_session_cookie(state.config.secure_cookies),
    ))
}

fn redirect(to: &'static str, cookie: &str) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /`: who is logged in, and the logout form (with the session's
/// CSRF token), until the web UI's pages take this place.
pub async fn home(PageAuth(p, ..): PageAuth<need::Viewer>) -> Html<String> {
    let logout = match p.csrf() {
        Some(csrf) => format!(
            "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"{}\" \
             value=\"{}\"><button type=\"submit\">Log out</button></form>",
            auth::CSRF_FIELD,
            escape(csrf)
        ),
        None => String::new(),
    };
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>drover</title>\
         </head><body><h1>drover</h1><p>Logged in as <strong>{}</strong> ({}).</p>{logout}\
         <p>The API is described at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\
         </body></html>\n",
        escape(&p.name),
        p.role
    ))
}
