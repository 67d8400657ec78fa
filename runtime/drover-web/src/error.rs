//! The UI's error type: a short HTML page (or fragment) with the status
//! that fits; internal details go to the log, not to the browser.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// 400: the form or query is wrong; the message says which field.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the viewer's role does not allow this change; the message
    /// says which role does and why.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such page or object.
    #[error("{0}")]
    NotFound(String),
    /// 409: the change conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 500: logged, shown as "internal error".
    #[error("internal error")]
    Internal(String),
}

impl From<drover_store::StoreError> for WebError {
    fn from(e: drover_store::StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<minijinja::Error> for WebError {
    fn from(e: minijinja::Error) -> Self {
        WebError::Internal(format!("{e:#}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Internal(detail) => {
                tracing::error!(%detail, "web UI internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        // A plain page: the layout needs the template environment, and an
        // error may come from rendering it.
        let message = crate::templates::escape(&self.to_string());
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{code} · drover</title><link rel=\"stylesheet\" href=\"/ui/static/app.css\">\
             <link rel=\"icon\" href=\"/ui/static/favicon.svg\" type=\"image/svg+xml\"></head>\
             <body><main id=\"main\"><h1>{code}</h1><p role=\"alert\" class=\"error\">{message}</p>\
             <p><a href=\"/ui/\">Back to the dashboard</a></p></main></body></html>",
            code = status.as_u16()
        );
        (status, Html(body)).into_response()
    }
}
