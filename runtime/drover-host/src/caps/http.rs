//! `http`: outgoing requests through the host's client, to granted hosts
//! only. The host is resolved once and the request goes to exactly the
//! addresses checked ([`crate::net`]: a special-use address such as
//! loopback or 169.254.169.254 needs a grant naming it by address).
//! Redirects are returned, never followed (a redirect to an ungranted host
//! must not slip through). In a dry run GET and HEAD go out live; every
//! other method is planned (with its headers and body, credentials masked)
//! and answered with a simulated 200. What is recorded shows the URL with
//! its user information and query values masked ([`crate::redact`]).

use std::net::SocketAddr;
use std::time::Duration;

use drover_policy::{Capability, Target};
use serde_json::json;
use ureq::http::Uri;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::http::{Host, Request, Response};
use crate::call::{CallCtx, denied};
use crate::{net, redact};

/// Longest any single request may take, whatever the plugin asks.
const MAX_REQUEST_TIME: Duration = Duration::from_secs(60);
/// Largest request and response bodies. Guest-supplied sizes are capped on
/// the host; the response also counts against the plugin's memory.
const MAX_BODY_BYTES: usize = 8 << 20;
const MAX_HEADERS: usize = 100;

type R<T> = wasmtime::Result<Result<T, PluginError>>;

/// The configuration every request shares (each gets an agent of its own,
/// pinned to the addresses checked for it): no redirects, no proxy from
/// the environment, HTTP error statuses returned as responses.
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
        // What is recorded: credentials in the URL masked.
        let shown = redact::url(&req.url);
        let target = Target::Url {
            scheme: &scheme,
            host: &host,
            port,
        };
        let check = self.decide(Capability::Http, &target, &shown);
        let found =
            self.check_addresses(Capability::Http, &target, &host, Some(port), &shown, check);
        let check = self.record(Capability::Http, &found.text, found.check);
        let read_only = method == "GET" || method == "HEAD";
        if self.dry_run && !read_only {
            let simulated = json!({"status": 200, "headers": [], "body": ""});
            let request = planned_request(&req);
            self.plan_request(
                Capability::Http,
                &method,
                &found.text,
                &check,
                simulated,
                Some(request),
            );
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
        let addrs = found
            .addrs
            .map_err(|why| PluginError::Failed(format!("{method} {shown}: {why}")))?;
        let addrs = addrs
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        self.http_perform(&method, uri, req, addrs, &shown)
    }

    /// Sends the request to `addrs`, the addresses checked for it.
    fn http_perform(
        &mut self,
        method: &str,
        uri: Uri,
        req: Request,
        addrs: Vec<SocketAddr>,
        shown: &str,
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
        let agent = net::pinned_agent(self.services.http.config(), addrs);
        let request = agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        let mut resp = agent
            .run(request)
            .map_err(|e| PluginError::Failed(format!("{method} {shown}: {e}")))?;
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
            .map_err(|e| PluginError::Failed(format!("{method} {shown}: reading the body: {e}")))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Longest request body kept in a plan.
const PLANNED_BODY_BYTES: usize = 4 << 10;

/// The headers and body of a planned request, as a plan records them:
/// credential headers masked, the body cut at [`PLANNED_BODY_BYTES`].
/// Secret values read by the call are masked by [`CallCtx::plan_request`].
fn planned_request(req: &Request) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if redact::secret_header(name) {
                redact::MASK
            } else {
                value
            };
            (name.clone(), value.into())
        })
        .collect();
    let body = req.body.as_deref().map(|b| {
        let cut = &b[..b.len().min(PLANNED_BODY_BYTES)];
        let mut text = String::from_utf8_lossy(cut).into_owned();
        if b.len() > cut.len() {
            text.push_str(&format!("… ({} bytes in all)", b.len()));
        }
        text
    });
    json!({"headers": headers, "body": body})
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

/// DNS rebinding, in process: the host's resolver seam answers a granted
/// name with one address the first time and another afterwards, as an
/// attacker's name server would. The request must go to the address that
/// was checked, after exactly one lookup.
#[cfg(test)]
mod rebinding {
    use std::collections::BTreeMap;
    use std::io::{Read, Write};
    use std::net::{IpAddr, TcpListener};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use drover_core::{Decision, ExecutionId, Grant, GrantId};
    use drover_policy::Capability;

    use super::client;
    use crate::bindings::drover::plugin::http::Request;
    use crate::call::{CallCtx, CallSpec, Services};
    use crate::grants::GrantSet;
    use crate::net::Lookup;
    use crate::ports::memory::AuditOnly;

    /// Answers `first` to the first lookup and `then` to every later one.
    struct Rebinding {
        first: IpAddr,
        then: IpAddr,
        lookups: Arc<AtomicUsize>,
    }

    impl Lookup for Rebinding {
        fn lookup(&self, _host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
            let n = self.lookups.fetch_add(1, Ordering::SeqCst);
            Ok(vec![if n == 0 { self.first } else { self.then }])
        }
    }

    fn call(ports: Arc<AuditOnly>, lookup: Rebinding, scope: &str) -> CallCtx {
        let services = Services {
            ports,
            http: client(),
            ssh: crate::ssh::SshSettings::default(),
            lookup: Box::new(lookup),
        };
        let grant = Grant {
            id: GrantId::new(),
            pack: "t".into(),
            version: "0.1.0".into(),
            capability: "http".into(),
            scope: scope.into(),
            digests: BTreeMap::from([("p".into(), "sha256:x".into())]),
            created_at_ms: 0,
            created_by: "test".into(),
            revoked_at_ms: None,
        };
        CallCtx::new(
            Arc::new(services),
            CallSpec {
                exec_id: ExecutionId::new(),
                pack: "t".into(),
                version: "0.1.0".into(),
                plugin: "p".into(),
                digest: "sha256:x".into(),
                declared: vec![Capability::Http],
                grants: GrantSet::new("t", "0.1.0", vec![grant]),
                dry_run: false,
                actor: "user:test".into(),
                timeout: Duration::from_secs(10),
                output_cap: 1 << 20,
            },
        )
    }

    /// A one-shot HTTP server on `ip`: answers 200 to the first request
    /// and returns its request line.
    fn server(ip: &str) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            text.lines().next().unwrap_or("").to_owned()
        });
        (port, handle)
    }

    fn get(url: String) -> Request {
        Request {
            method: "GET".into(),
            url,
            headers: vec![],
            body: None,
            timeout_ms: Some(5_000),
        }
    }

    #[test]
    fn the_checked_address_is_the_one_connected_to() {
        let ports = Arc::new(AuditOnly::default());
        let (port, served) = server("127.0.0.1");
        // A second loopback address the rebinding answer points to; the
        // grant does not name it. Nothing listens there on this port.
        let lookups = Arc::new(AtomicUsize::new(0));
        let resolver = Rebinding {
            first: "127.0.0.1".parse().unwrap(),
            then: "127.0.0.2".parse().unwrap(),
            lookups: lookups.clone(),
        };
        let mut ctx = call(
            ports.clone(),
            resolver,
            &format!("rebind.test, 127.0.0.1:{port}"),
        );
        let resp = ctx
            .http_send(get(format!("http://rebind.test:{port}/x")))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"ok");
        assert_eq!(served.join().unwrap(), "GET /x HTTP/1.1");
        assert_eq!(lookups.load(Ordering::SeqCst), 1, "one lookup, no second");

        let audit = ports.records();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].decision, Decision::Allowed);
        assert_eq!(
            audit[0].target,
            format!("http://rebind.test:{port}/x -> 127.0.0.1")
        );
    }

    #[test]
    fn a_name_that_resolves_to_an_ungranted_special_address_is_refused() {
        let ports = Arc::new(AuditOnly::default());
        let lookups = Arc::new(AtomicUsize::new(0));
        let resolver = Rebinding {
            first: "169.254.169.254".parse().unwrap(),
            then: "169.254.169.254".parse().unwrap(),
            lookups: lookups.clone(),
        };
        let mut ctx = call(ports.clone(), resolver, "metadata.example.com");
        let err = ctx
            .http_send(get("http://metadata.example.com/latest/".into()))
            .unwrap_err();
        let crate::bindings::PluginError::Denied(reason) = err else {
            panic!("{err:?}");
        };
        assert!(
            reason.starts_with(
                "metadata.example.com resolved to 169.254.169.254, a link-local address"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("drover grant add t@0.1.0 http --scope '169.254.169.254:80'"),
            "{reason}"
        );
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        let audit = ports.records();
        assert_eq!(audit[0].decision, Decision::Denied);
        assert_eq!(
            audit[0].target,
            "http://metadata.example.com/latest/ -> 169.254.169.254"
        );
    }
}
