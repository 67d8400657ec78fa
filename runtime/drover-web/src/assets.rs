//! The static files of `web/static/`, compiled into the binary and served
//! under `/ui/static/` with long-lived caching (each is versioned with the
//! binary: a page links `?v=<crate version>`).

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::WebError;

/// Name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../../web/static/favicon.svg"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/htmx.min.js"),
    ),
    (
        "htmx-sse.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/htmx-sse.min.js"),
    ),
];

/// The embedded file `name`, if there is one.
pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, b)| (*t, *b))
}

pub async fn serve(Path(file): Path<String>) -> Result<Response, WebError> {
    let (content_type, bytes) =
        get(&file).ok_or_else(|| WebError::NotFound(format!("no static file {file:?}")))?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(resp)
}

/// `GET /favicon.ico`, for browsers and tools that ask there rather than
/// follow the pages' `<link rel="icon">`.
pub async fn favicon() -> Result<Response, WebError> {
    serve(Path("favicon.svg".to_owned())).await
}
