//! One module per page. Each handler reads on the blocking pool, shapes
//! rows for its template and renders it; a page's live fragment is a
//! separate route rendered from the same data.

pub mod audit;
pub mod changes;
pub mod dashboard;
pub mod executions;
pub mod find;
pub mod fleet;
pub mod incidents;
pub mod inquiries;
pub mod nodes;
pub mod packs;
pub mod replay;
pub mod rules;
pub mod run;
pub mod run_control;
pub mod shadow;
pub mod tasks;
pub mod triggers;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;

use crate::{WebError, WebState};

/// Rows per page of the executions and audit lists.
pub const PAGE_SIZE: u32 = 50;

pub async fn not_found(State(state): State<WebState>) -> (StatusCode, Html<String>) {
    let body = state
        .templates
        .render("not_found.html", ctx! { page => "" })
        .unwrap_or_else(|_| "not found".to_owned());
    (StatusCode::NOT_FOUND, Html(body))
}

/// Who makes a change (the signed-in user) and why (the form's `reason`,
/// checked as everywhere: one line, at most 500 characters).
pub fn change_by(
    me: &drover_api::auth::Principal,
    reason: &str,
) -> Result<drover_core::ChangeBy, WebError> {
    drover_core::ChangeBy::new(&me.actor(), Some(reason))
        .map_err(|e| WebError::BadRequest(format!("reason: {e}")))
}

/// An empty form field is an absent one.
pub fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub type Page = Result<Html<String>, WebError>;
