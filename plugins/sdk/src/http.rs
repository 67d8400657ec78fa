//! Outgoing HTTP through the host (`drover:plugin/http`).
//!
//! Capability `http`; the operator grants the reachable hosts. Redirects
//! are not followed. In a dry run, `GET` and `HEAD` go out live and every
//! other method is recorded in the plan with a simulated response.
//!
//! ```no_run
//! # use drover_sdk::prelude::*;
//! # fn f() -> Result<(), Error> {
//! let status = http::get("https://status.example.com/api")?.json::<Value>()?;
//! let created = http::send(
//!     http::Request::new("POST", "https://tickets.example.com/api/tickets")
//!         .header("authorization", &format!("Bearer {}", secrets::get("tickets-token")?))
//!         .json(&json!({"title": "node-7 rebooted"}))?,
//! )?;
//! if !created.is_success() {
//!     return Err(Error::failed(format!("ticket not created: {}", created.status)));
//! }
//! # Ok(()) }
//! ```

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::drover::plugin::http as wit;

pub use wit::{Request, Response};

impl Request {
    /// A request with no headers, no body and the host's default timeout.
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    /// A `GET` request for `url`.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// Add a header (repeated names are sent repeatedly).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Set a JSON body and `content-type: application/json`.
    pub fn json(self, value: &impl Serialize) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Give up after `timeout_ms`; the host bounds it by the time left to
    /// the execution anyway.
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }
}

impl Response {
    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text; invalid UTF-8 becomes U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON into `T` ([`Error::Failed`] when it does not
    /// parse or fit).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::failed(format!("response body is not the expected json: {e}")))
    }
}

/// Send `request` and return the response, whatever its status: a 404 is
/// an `Ok` with `status == 404`. `Err` means it could not be sent (not
/// granted, unreachable, timed out).
pub fn send(request: Request) -> Result<Response, Error> {
    wit::send(&request)
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, Error> {
    send(Request::get(url))
}
