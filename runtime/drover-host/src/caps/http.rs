//! `http`: outgoing requests through the host's client, to granted hosts
//! only. Redirects are returned, never followed (a redirect to an
//! ungranted host must not slip through). In a dry run GET and HEAD go out
//! live; every other method is planned and answered with a simulated 200.

use std::time::Duration;

use drover_policy::{Capability, Target};
use serde_json::json;
use ureq::http::Uri;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::http::{Host, Request, Response};
use crate::call::{CallCtx, denied};

/// Longest any single request may take, whatever the plugin asks.
const MAX_REQUEST_TIME: Duration = Duration::from_secs(60);
/// Largest request and response bodies. Guest-supplied sizes are capped on
/// the host; the response also counts against the plugin's memory.
const MAX_BODY_BYTES: usize = 8 << 20;
const MAX_HEADERS: usize = 100;

type R<T> = wasmtime::Result<Result<T, PluginError>>;

/// The client every call shares: no redirects, no proxy from the
/// environment, HTTP error statuses returned as responses.
pub(crate) fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(MAX_REQUEST_TIME))
        .user_agent(concat!("drover/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Scheme, host and port of a URL, the port defaulted by scheme.
fn url_target(url: &str) -> Result<(Uri, String, String, u16), PluginError> {
    let invalid = |why: &str| PluginError::Invalid(format!("url {url:?}: {why}"));
    let uri: Uri = url.parse().map_err(|_| invalid("not a valid URL"))?;
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| invalid("missing scheme"))?
        .to_ascii_lowercase();
    let port = match (scheme.as_str(), uri.port_u16()) {
        (_, Some(p)) => p,
        ("http", None) => 80,
        ("https", None) => 443,
        _ => return Err(invalid("only http and https are supported")),
    };
    if scheme != "http" && scheme != "https" {
        return Err(invalid("only http and https are supported"));
    }
    let host = uri
        .host()
        .ok_or_else(|| invalid("missing host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    Ok((uri, scheme, host, port))
}

impl CallCtx {
    fn http_send(&mut self, req: Request) -> Result<Response, PluginError> {
        let method = req.method.to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(PluginError::Invalid(format!(
                "bad HTTP method {:?}",
                req.method
            )));
        }
        if req.headers.len() > MAX_HEADERS {
            return Err(PluginError::Invalid(format!(
                "at most {MAX_HEADERS} headers"
            )));
        }
        if req.body.as_ref().is_some_and(|b| b.len() > MAX_BODY_BYTES) {
            return Err(PluginError::Invalid(format!(
                "request body over {MAX_BODY_BYTES} bytes"
            )));
        }
        let (uri, scheme, host, port) = url_target(&req.url)?;
        let target = Target::Url {
            scheme: &scheme,
            host: &host,
            port,
        };
        let check = self.check(Capability::Http, &target, &req.url);
        let read_only = method == "GET" || method == "HEAD";
        if self.dry_run && !read_only {
            let simulated = json!({"status": 200, "headers": [], "body": ""});
            self.plan(Capability::Http, &method, &req.url, &check, simulated);
            if check.allowed() {
                return Ok(Response {
                    status: 200,
                    headers: vec![],
                    body: vec![],
                });
            }
        }
        if !check.allowed() {
            return Err(denied(&check));
        }
        self.http_perform(&method, uri, req)
    }

    fn http_perform(
        &mut self,
        method: &str,
        uri: Uri,
        req: Request,
    ) -> Result<Response, PluginError> {
        let asked = req.timeout_ms.map(|ms| Duration::from_millis(ms.into()));
        let timeout = [Some(self.remaining()), asked, Some(MAX_REQUEST_TIME)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(MAX_REQUEST_TIME);
        if timeout.is_zero() {
            return Err(PluginError::Failed(
                "no time left before the deadline".into(),
            ));
        }
        let mut builder = ureq::http::Request::builder().method(method).uri(uri);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let request = builder
            .body(req.body.unwrap_or_default())
            .map_err(|e| PluginError::Invalid(format!("bad request: {e}")))?;
        let agent = &self.services.http;
        let request = agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        let mut resp = agent
            .run(request)
            .map_err(|e| PluginError::Failed(format!("{method} {}: {e}", req.url)))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES as u64)
            .read_to_vec()
            .map_err(|e| {
                PluginError::Failed(format!("{method} {}: reading the body: {e}", req.url))
            })?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl Host for CallCtx {
    fn send(&mut self, req: Request) -> R<Response> {
        Ok(self.http_send(req))
    }
}

#[cfg(test)]
mod tests {
    use super::url_target;

    #[test]
    fn url_targets_default_ports_and_reject_other_schemes() {
        let (_, s, h, p) = url_target("https://Example.COM/x").unwrap();
        assert_eq!((s.as_str(), h.as_str(), p), ("https", "example.com", 443));
        let (_, _, h, p) = url_target("http://[::1]:8080/").unwrap();
        assert_eq!((h.as_str(), p), ("::1", 8080));
        assert!(url_target("ftp://x/").is_err());
        assert!(url_target("not a url").is_err());
    }
}
