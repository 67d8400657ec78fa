//! Body and query extractors whose rejections are [`ApiError`]s (JSON that
//! names the bad field), unlike axum's plain-text ones.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body. Any content type is read as JSON; errors name the field
/// (`parameters.node: invalid type ...`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ApiError::BadRequest(format!("the body is not the JSON expected: {inner}"))
            } else {
                ApiError::BadRequest(format!("body field `{path}`: {inner}"))
            }
        })?;
        Ok(ApiJson(value))
    }
}

/// An optional JSON body: none (or `null`) is `T::default()`, for changes
/// whose only input is an optional `reason`, so a bare `POST` keeps
/// working. A body that is given must be the JSON expected.
pub struct ApiBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiBody(T::default()));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value: Option<T> = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ApiError::BadRequest(format!("the body is not the JSON expected: {inner}"))
            } else {
                ApiError::BadRequest(format!("body field `{path}`: {inner}"))
            }
        })?;
        Ok(ApiBody(value.unwrap_or_default()))
    }
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| {
                ApiError::BadRequest(format!("{} (see /api/v1/openapi.json)", e.body_text()))
            })
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(p)| ApiPath(p))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}
