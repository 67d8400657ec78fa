//! The `redfish` driver: power actions through a node's BMC over the DMTF
//! Redfish REST API.
//!
//! ```yaml
//! driver: redfish
//! options:
//!   url: https://10.0.3.17          # the BMC; scheme, host and port only
//!   username_secret: bmc.user       # names of drover secrets
//!   password_secret: bmc.password
//!   system: "1"                     # optional: the ComputerSystem id
//!   timeout_seconds: 20             # optional: per request (default 20)
//!   insecure: false                 # optional: see below
//! ```
//!
//! - The ComputerSystem is `/redfish/v1/Systems/<system>`, or the first
//!   member of `/redfish/v1/Systems` when `system` is not set.
//! - `reboot` POSTs `ComputerSystem.Reset` with `ResetType`
//!   `GracefulRestart` or `ForceRestart` to the target the system
//!   advertises, after checking the ResetTypes it allows (inline
//!   `@Redfish.AllowableValues` or its `@Redfish.ActionInfo`); a refused
//!   type is named with the allowed ones.
//! - `is_up` reads `PowerState`: `On` is up. Redfish has no notion of
//!   draining, so `drain` and `undrain` do nothing.
//! - HTTP basic auth, username and password read from drover secrets on
//!   every operation (a rotated secret is picked up at once).
//! - TLS certificates are verified against the bundled web PKI roots.
//!   `insecure: true` turns verification off: anyone on the path to the BMC
//!   can then pose as it and read the credentials drover sends. Use it only
//!   on an isolated management network, and prefer fixing the certificate.
//! - Redirects are not followed (the credentials must not go elsewhere).
//! - Every error names the node and the BMC's URL.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use ureq::http::Uri;

use crate::driver::{Driver, DriverError, NodeTarget, PowerAction};

const DEFAULT_TIMEOUT_SECONDS: u64 = 20;
const MAX_TIMEOUT_SECONDS: u64 = 600;
/// Largest Redfish document drover reads.
const MAX_BODY_BYTES: u64 = 4 << 20;
const SYSTEMS: &str = "/redfish/v1/Systems";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    url: String,
    username_secret: String,
    password_secret: String,
    #[serde(default)]
    insecure: bool,
    system: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// The `redfish` driver; it holds no state, the options come per node.
#[derive(Clone, Copy, Debug, Default)]
pub struct Redfish;

impl Redfish {
    /// The system's `PowerState` as the BMC reports it (`On`, `Off`,
    /// `PoweringOn`, ...).
    pub fn power_state(&self, node: &NodeTarget) -> Result<String, DriverError> {
        let bmc = Bmc::connect(node)?;
        let path = bmc.system_path()?;
        let system = bmc.get(&path)?;
        system["PowerState"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bmc.failed(format!("{} reports no PowerState", bmc.url(&path))))
    }
}

impl Driver for Redfish {
    fn drain(&self, _node: &NodeTarget) -> Result<(), DriverError> {
        Ok(())
    }

    fn undrain(&self, _node: &NodeTarget) -> Result<(), DriverError> {
        Ok(())
    }

    fn reboot(&self, node: &NodeTarget, action: PowerAction) -> Result<(), DriverError> {
        let bmc = Bmc::connect(node)?;
        let path = bmc.system_path()?;
        let system = bmc.get(&path)?;
        let reset = &system["Actions"]["#ComputerSystem.Reset"];
        if !reset.is_object() {
            return Err(bmc.failed(format!(
                "{} offers no ComputerSystem.Reset action",
                bmc.url(&path)
            )));
        }
        let target = match reset["target"].as_str() {
            Some(t) => bmc.same_origin_path(t)?,
            None => format!("{path}/Actions/ComputerSystem.Reset"),
        };
        let reset_type = match action {
            PowerAction::GracefulRestart => "GracefulRestart",
            PowerAction::ForceRestart => "ForceRestart",
        };
        if let Some(allowed) = bmc.allowed_reset_types(reset)?
            && !allowed.iter().any(|a| a == reset_type)
        {
            return Err(bmc.failed(format!(
                "the BMC at {} does not allow ResetType {reset_type} for {path} (allowed: {})",
                bmc.base,
                allowed.join(", ")
            )));
        }
        tracing::info!(node = node.name, bmc = %bmc.base, reset_type, "Redfish reset");
        bmc.post(&target, &json!({ "ResetType": reset_type }))
    }

    fn is_up(&self, node: &NodeTarget) -> Result<bool, DriverError> {
        Ok(self.power_state(node)? == "On")
    }
}

/// One node's BMC: where it is, how to log in, the client to use.
struct Bmc<'a> {
    node: &'a str,
    /// `scheme://host:port`, no trailing slash.
    base: String,
    system: Option<String>,
    agent: ureq::Agent,
    authorization: String,
    user: String,
    username_secret: String,
    password_secret: String,
    seconds: u64,
}

impl<'a> Bmc<'a> {
    fn connect(node: &'a NodeTarget) -> Result<Bmc<'a>, DriverError> {
        let options: Options = super::parse_options(node)?;
        let config = |message: String| DriverError::Config {
            node: node.name.to_owned(),
            message,
        };
        let base = base_url(&options.url).map_err(|why| config(format!("url: {why}")))?;
        if options.timeout_seconds == 0 || options.timeout_seconds > MAX_TIMEOUT_SECONDS {
            return Err(config(format!(
                "timeout_seconds: {} is out of range (1 to {MAX_TIMEOUT_SECONDS})",
                options.timeout_seconds
            )));
        }
        if let Some(system) = &options.system
            && (system.is_empty() || system.contains(['/', '?', '#']) || system.contains(".."))
        {
            return Err(config(format!(
                "system: {system:?} is not a ComputerSystem id (the last part of \
                 /redfish/v1/Systems/<id>)"
            )));
        }
        let secret = |field: &str, name: &str| {
            node.secrets.secret(name).map_err(|e| {
                config(format!(
                    "{field}: cannot read secret {name:?}: {e}; set it with `drover secret set {name}`"
                ))
            })
        };
        let user = secret("username_secret", &options.username_secret)?;
        let password = secret("password_secret", &options.password_secret)?;
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        if options.insecure && base.starts_with("https:") {
            tracing::warn!(
                node = node.name,
                bmc = %base,
                "TLS certificate verification is off for this BMC (insecure: true)"
            );
        }
        let timeout = Duration::from_secs(options.timeout_seconds);
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(options.insecure)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(None)
            .timeout_connect(Some(timeout))
            .timeout_global(Some(timeout))
            .user_agent(concat!("drover/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Bmc {
            node: node.name,
            base,
            system: options.system,
            agent,
            authorization,
            user,
            username_secret: options.username_secret,
            password_secret: options.password_secret,
            seconds: options.timeout_seconds,
        })
    }

    fn failed(&self, message: String) -> DriverError {
        DriverError::Failed {
            node: self.node.to_owned(),
            message,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The ComputerSystem's path: the configured id, else the first member.
    fn system_path(&self) -> Result<String, DriverError> {
        if let Some(id) = &self.system {
            return Ok(format!("{SYSTEMS}/{id}"));
        }
        let systems = self.get(SYSTEMS)?;
        let first = systems["Members"]
            .as_array()
            .and_then(|m| m.first())
            .and_then(|m| m["@odata.id"].as_str());
        match first {
            Some(path) => self.same_origin_path(path),
            None => Err(self.failed(format!(
                "the BMC at {} lists no systems under {SYSTEMS}",
                self.base
            ))),
        }
    }

    /// A path the BMC handed us, refused when it points at another host.
    fn same_origin_path(&self, reference: &str) -> Result<String, DriverError> {
        if reference.starts_with('/') {
            return Ok(reference.to_owned());
        }
        match reference.strip_prefix(&self.base) {
            Some(path) if path.starts_with('/') => Ok(path.to_owned()),
            _ => Err(self.failed(format!(
                "the BMC at {} pointed at {reference:?}, outside itself; drover does not \
                 send the credentials there",
                self.base
            ))),
        }
    }

    /// The ResetTypes the system allows, when it says.
    fn allowed_reset_types(&self, reset: &Value) -> Result<Option<Vec<String>>, DriverError> {
        let strings = |v: &Value| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
        };
        if let Some(inline) = strings(&reset["ResetType@Redfish.AllowableValues"]) {
            return Ok(Some(inline));
        }
        let Some(info) = reset["@Redfish.ActionInfo"].as_str() else {
            return Ok(None);
        };
        let info = self.get(&self.same_origin_path(info)?)?;
        Ok(info["Parameters"].as_array().and_then(|params| {
            params
                .iter()
                .find(|p| p["Name"] == "ResetType")
                .and_then(|p| strings(&p["AllowableValues"]))
        }))
    }

    fn get(&self, path: &str) -> Result<Value, DriverError> {
        let url = self.url(path);
        let mut resp = self
            .agent
            .get(&url)
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| self.transport_error("GET", &url, e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport_error("GET", &url, e))?;
        self.check_status("GET", &url, status, &body)?;
        serde_json::from_slice(&body)
            .map_err(|e| self.failed(format!("GET {url}: the answer is not JSON: {e}")))
    }

    fn post(&self, path: &str, body: &Value) -> Result<(), DriverError> {
        let url = self.url(path);
        let mut resp = self
            .agent
            .post(&url)
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json")
            .content_type("application/json")
            .send(body.to_string())
            .map_err(|e| self.transport_error("POST", &url, e))?;
        let status = resp.status().as_u16();
        let answer = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .unwrap_or_default();
        self.check_status("POST", &url, status, &answer)
    }

    fn check_status(
        &self,
        method: &str,
        url: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), DriverError> {
        match status {
            200..=299 => Ok(()),
            401 => Err(self.failed(format!(
                "wrong credentials for the BMC at {} (user {:?} from secret {}, password from \
                 secret {})",
                self.base, self.user, self.username_secret, self.password_secret
            ))),
            403 => Err(self.failed(format!(
                "{method} {url}: the BMC refused user {:?} (403 Forbidden): it lacks the \
                 privilege{}",
                self.user,
                redfish_message(body)
            ))),
            300..=399 => Err(self.failed(format!(
                "{method} {url}: the BMC redirects ({status}); set url to where it points \
                 (drover does not follow redirects with credentials)"
            ))),
            _ => Err(self.failed(format!(
                "{method} {url} answered {status}{}",
                redfish_message(body)
            ))),
        }
    }

    fn transport_error(&self, method: &str, url: &str, e: ureq::Error) -> DriverError {
        let timeout = DriverError::Timeout {
            node: self.node.to_owned(),
            address: self.base.clone(),
            seconds: self.seconds,
        };
        match e {
            ureq::Error::Timeout(_) => timeout,
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => timeout,
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => self
                .failed(format!(
                    "the BMC at {} refused the connection: is the url right and the BMC up?",
                    self.base
                )),
            ureq::Error::HostNotFound => self.failed(format!(
                "cannot resolve the host of the BMC at {}",
                self.base
            )),
            // rustls reports a refused certificate as invalid data.
            ureq::Error::Io(io)
                if io.kind() == std::io::ErrorKind::InvalidData
                    && self.base.starts_with("https:") =>
            {
                self.tls_failed(&io)
            }
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => self.tls_failed(&e),
            e => self.failed(format!("{method} {url}: cannot reach the BMC: {e}")),
        }
    }

    fn tls_failed(&self, e: &dyn std::fmt::Display) -> DriverError {
        self.failed(format!(
            "TLS with the BMC at {} failed: {e}; if it has a self-signed certificate, fix \
                 the certificate or (on an isolated network only) set insecure: true",
            self.base
        ))
    }
}

/// `scheme://host:port` of the configured URL.
fn base_url(url: &str) -> Result<String, String> {
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|_| format!("{url:?} is not a URL (e.g. https://10.0.3.17)"))?;
    let scheme = uri
        .scheme_str()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| format!("{url:?} has no scheme: write https://{url}"))?;
    if scheme != "https" && scheme != "http" {
        return Err(format!("{url:?}: only https and http are supported"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "{url:?} carries credentials: put them in secrets and name them in \
             username_secret and password_secret"
        ));
    }
    let path = uri.path().trim_end_matches('/');
    if !path.is_empty() && path != "/redfish/v1" {
        return Err(format!(
            "{url:?} has a path: give the BMC's address only, e.g. {scheme}://{authority}"
        ));
    }
    Ok(format!("{scheme}://{authority}"))
}

/// ": <message>" from a Redfish error document, or "".
fn redfish_message(body: &[u8]) -> String {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return if text.is_empty() {
            String::new()
        } else {
            format!(": {}", text.chars().take(300).collect::<String>())
        };
    };
    let error = &doc["error"];
    let mut parts: Vec<String> = error["@Message.ExtendedInfo"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["Message"].as_str().map(str::to_owned))
        .collect();
    if parts.is_empty()
        && let Some(m) = error["message"].as_str()
    {
        parts.push(m.to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_scheme_host_and_port_only() {
        assert_eq!(base_url("https://10.0.3.17").unwrap(), "https://10.0.3.17");
        assert_eq!(
            base_url("http://bmc:8000/redfish/v1/").unwrap(),
            "http://bmc:8000"
        );
        assert!(base_url("10.0.3.17").unwrap_err().contains("no scheme"));
        assert!(base_url("ftp://x").unwrap_err().contains("only https"));
        assert!(
            base_url("https://u:p@x")
                .unwrap_err()
                .contains("credentials")
        );
        assert!(
            base_url("https://x/other")
                .unwrap_err()
                .contains("has a path")
        );
    }

    #[test]
    fn redfish_error_messages_are_extracted() {
        let body = br#"{"error": {"code": "Base.1.0.GeneralError", "message": "See ExtendedInfo",
            "@Message.ExtendedInfo": [{"Message": "The action is not supported."}]}}"#;
        assert_eq!(redfish_message(body), ": The action is not supported.");
        assert_eq!(redfish_message(br#"{"error": {"message": "x"}}"#), ": x");
        assert_eq!(redfish_message(b""), "");
        assert_eq!(redfish_message(b"Bad gateway"), ": Bad gateway");
    }
}
