//! Pack archives in OCI registries (`oci://HOST[:PORT]/REPO:TAG`), as OCI
//! artifacts, the convention Wasm tooling uses: an image manifest whose
//! `artifactType` and config media type are drover's
//! ([`CONFIG_MEDIA_TYPE`]: the pack's name, version and the SHA-256 of its
//! archive manifest) and whose one layer is the `.dpk` itself
//! ([`LAYER_MEDIA_TYPE`]). The signature travels inside the archive.
//!
//! A small client of the OCI distribution API over ureq (the HTTP client
//! drover already has, rustls with ring): blob upload (POST then PUT),
//! manifest PUT/GET, blob GET, and the registry's auth challenges (Basic,
//! or a Bearer token from the realm it names). What a registry answers is
//! hostile: the manifest is size-limited and must be drover's, the layer's
//! declared size is checked against the archive reader's limit before any
//! of it is downloaded, and its bytes must match the declared size and
//! digest; the archive then goes through the same verification as a local
//! `.dpk` (its caller's job).
//!
//! Loopback registries are spoken to in plain HTTP, others in HTTPS unless
//! the operator passes `--plain-http`.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The artifact type, and the config blob's media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.drover.pack.v1+json";
/// The layer: a `.dpk` archive.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.drover.pack.layer.v1.tar+gzip";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// A manifest or config larger than this is not drover's.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Environment variables for registry credentials.
pub const USERNAME_ENV: &str = "DROVER_REGISTRY_USERNAME";
pub const PASSWORD_ENV: &str = "DROVER_REGISTRY_PASSWORD";

/// `oci://HOST[:PORT]/REPOSITORY:TAG` (or `@sha256:DIGEST`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "oci://{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

impl Reference {
    /// Parses an `oci://` reference, refusing anything but the grammar of
    /// the distribution spec (so nothing odd reaches a URL).
    pub fn parse(text: &str) -> Result<Reference> {
        let usage = "an OCI reference looks like oci://registry.example:5000/packs/netcheck:0.1.0";
        let Some(rest) = text.strip_prefix("oci://") else {
            bail!("{text:?}: not an oci:// reference; {usage}");
        };
        let Some((registry, path)) = rest.split_once('/') else {
            bail!("{text:?}: no repository after the registry; {usage}");
        };
        let host_ok = !registry.is_empty()
            && registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
        if !host_ok {
            bail!("{text:?}: {registry:?} is not a registry host[:port]; {usage}");
        }
        let (repository, reference) = if let Some((repo, digest)) = path.split_once('@') {
            let hex = digest.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("{text:?}: {digest:?} is not a sha256:… digest");
            }
            (repo, digest.to_ascii_lowercase())
        } else {
            let Some((repo, tag)) = path.rsplit_once(':') else {
                bail!("{text:?}: no :TAG; {usage}");
            };
            let tag_ok = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !tag_ok {
                bail!(
                    "{text:?}: {tag:?} is not a tag (letters, digits, `.`, `_`, `-`; at most 128)"
                );
            }
            (repo, tag.to_owned())
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if !repo_ok {
            bail!(
                "{text:?}: {repository:?} is not a repository name (lowercase letters, digits, \
                 `.`, `_`, `-`, parts separated by `/`)"
            );
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            reference,
        })
    }

    /// Whether the registry is on this machine (spoken to in plain HTTP).
    fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.registry,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<IpAddr>()
                .is_ok_and(|ip: IpAddr| ip.is_loopback())
    }
}

/// How to reach a registry: plain HTTP or not, and credentials.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Plain HTTP for a registry that is not on loopback.
    pub plain_http: bool,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Options {
    /// `--plain-http`, `--username` and `--password-stdin`, with the
    /// environment's credentials when they are not given.
    pub fn from_flags(
        plain_http: bool,
        username: Option<String>,
        password_stdin: bool,
    ) -> Result<Options> {
        let username = username.or_else(|| std::env::var(USERNAME_ENV).ok());
        let password = if password_stdin {
            let mut text = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut text)
                .context("cannot read the password from standard input")?;
            Some(text.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            std::env::var(PASSWORD_ENV).ok()
        };
        if password.is_some() && username.is_none() {
            bail!("a registry password needs a user name: --username NAME or {USERNAME_ENV}");
        }
        Ok(Options {
            plain_http,
            username,
            password,
        })
    }
}

/// A registry session for one repository.
pub struct Client {
    reference: Reference,
    base: String,
    agent: ureq::Agent,
    options: Options,
    /// `Authorization` once a challenge was answered.
    auth: Option<String>,
}

/// The config blob: what the artifact holds, readable without the layer.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PackConfig {
    pub name: String,
    pub version: String,
    /// SHA-256 of the archive's manifest (what its signature signs).
    pub archive_manifest_sha256: String,
    pub signed: bool,
}

impl Client {
    pub fn new(reference: &Reference, options: &Options) -> Client {
        let scheme = if options.plain_http || reference.is_loopback() {
            "http"
        } else {
            "https"
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .timeout_connect(Some(Duration::from_secs(15)))
            .build()
            .into();
        Client {
            base: format!(
                "{scheme}://{}/v2/{}",
                reference.registry, reference.repository
            ),
            reference: reference.clone(),
            agent,
            options: options.clone(),
            auth: None,
        }
    }

    /// Sends a request, answering one auth challenge (401) by retrying
    /// with credentials.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        for attempt in 0..2 {
            let mut req = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(auth) = &self.auth {
                req = req.header("Authorization", auth);
            }
            let resp = match body {
                Some(b) => self.agent.run(req.body(b)?),
                None => self.agent.run(req.body(())?),
            }
            .map_err(|e| anyhow!("{}: cannot reach the registry: {e}", self.reference))?;
            if resp.status() != 401 || attempt == 1 {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            self.auth = Some(self.answer(&challenge)?);
        }
        unreachable!("the loop returns")
    }

    /// The `Authorization` header for a challenge.
    fn answer(&self, challenge: &str) -> Result<String> {
        let basic = || -> Result<String> {
            let (Some(user), Some(password)) = (&self.options.username, &self.options.password)
            else {
                bail!(
                    "{}: the registry asks for credentials: set {USERNAME_ENV} and \
                     {PASSWORD_ENV}, or pass --username NAME --password-stdin",
                    self.reference
                );
            };
            use base64::Engine as _;
            Ok(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ))
        };
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return basic();
        };
        let param = |name: &str| {
            params.split(',').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_owned())
            })
        };
        let realm = param("realm").ok_or_else(|| {
            anyhow!(
                "{}: the registry's Bearer challenge has no realm",
                self.reference
            )
        })?;
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            bail!(
                "{}: the registry's token realm {realm:?} is not an HTTP URL",
                self.reference
            );
        }
        // A registry reached over HTTPS must not send the credentials to
        // a plain-HTTP token service, where anyone on the path reads them.
        if self.base.starts_with("https://") && realm.starts_with("http://") {
            bail!(
                "{}: the registry's token realm {realm:?} is plain HTTP while the registry \
                 is HTTPS; refusing to send credentials in clear (fix the registry's \
                 token service, or pass --plain-http if the whole registry is plain HTTP)",
                self.reference
            );
        }
        let mut url = realm;
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for key in ["service", "scope"] {
            if let Some(v) = param(key) {
                url.push(sep);
                url.push_str(key);
                url.push('=');
                url.push_str(&percent(&v));
                sep = '&';
            }
        }
        let mut req = self.agent.get(&url);
        if self.options.username.is_some() {
            req = req.header("Authorization", basic()?);
        }
        let mut resp = req
            .call()
            .map_err(|e| anyhow!("{}: cannot get a registry token: {e}", self.reference))?;
        if resp.status() != 200 {
            bail!(
                "{}: the registry's token service answered {} (check the credentials: \
                 {USERNAME_ENV}/{PASSWORD_ENV} or --username/--password-stdin)",
                self.reference,
                resp.status()
            );
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| anyhow!("{}: the token service's answer: {e}", self.reference))?;
        let body: Value = serde_json::from_slice(&body)
            .map_err(|e| anyhow!("{}: the token service's answer: {e}", self.reference))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{}: the token service sent no token", self.reference))?;
        Ok(format!("Bearer {token}"))
    }

    /// The registry's error text for an answer that is not a success.
    fn refusal(&self, what: &str, resp: &mut ureq::http::Response<ureq::Body>) -> anyhow::Error {
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                let e = v.get("errors")?.get(0)?.clone();
                Some(format!(
                    "{}: {}",
                    e.get("code")?.as_str()?,
                    e.get("message").and_then(Value::as_str).unwrap_or("")
                ))
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        // Credentials were sent (a 401 without them is answered in `send`).
        let hint = if status == 401 {
            format!(
                "; it refused the credentials given (--username/--password-stdin or \
                 {USERNAME_ENV}/{PASSWORD_ENV}): check them"
            )
        } else {
            String::new()
        };
        anyhow!(
            "{}: {what}: the registry answered {status} ({detail}){hint}",
            self.reference
        )
    }

    /// Uploads a blob unless the registry has it.
    fn put_blob(&mut self, digest: &str, bytes: &[u8]) -> Result<()> {
        let url = format!("{}/blobs/{digest}", self.base);
        if self.send("HEAD", &url, &[], None)?.status() == 200 {
            return Ok(());
        }
        let start = format!("{}/blobs/uploads/", self.base);
        let mut resp = self.send("POST", &start, &[], Some(&[]))?;
        if resp.status() != 202 {
            return Err(self.refusal("starting a blob upload", &mut resp));
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("{}: the registry gave no upload location", self.reference))?;
        let mut location = if location.starts_with('/') {
            let origin = self.base.split("/v2/").next().unwrap_or_default();
            format!("{origin}{location}")
        } else {
            location.to_owned()
        };
        location.push(if location.contains('?') { '&' } else { '?' });
        location.push_str("digest=");
        location.push_str(digest);
        let headers = [("Content-Type", "application/octet-stream")];
        let mut resp = self.send("PUT", &location, &headers, Some(bytes))?;
        if resp.status() != 201 {
            return Err(self.refusal("uploading a blob", &mut resp));
        }
        Ok(())
    }

    /// Pushes the archive at `archive` (read and checked by the caller,
    /// whose manifest `config` describes) as this reference.
    pub fn push(&mut self, archive: &Path, config: &PackConfig) -> Result<String> {
        let layer =
            std::fs::read(archive).with_context(|| format!("cannot read {}", archive.display()))?;
        let config_bytes = serde_json::to_vec(config)?;
        let config_digest = sha256(&config_bytes);
        let layer_digest = sha256(&layer);
        self.put_blob(&config_digest, &config_bytes)?;
        self.put_blob(&layer_digest, &layer)?;
        let title = format!("{}-{}.dpk", config.name, config.version);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": CONFIG_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": config_digest,
                "size": config_bytes.len(),
            },
            "layers": [{
                "mediaType": LAYER_MEDIA_TYPE,
                "digest": layer_digest,
                "size": layer.len(),
                "annotations": {"org.opencontainers.image.title": title},
            }],
            "annotations": {
                "org.opencontainers.image.title": config.name,
                "org.opencontainers.image.version": config.version,
            },
        });
        let bytes = serde_json::to_vec(&manifest)?;
        let url = format!("{}/manifests/{}", self.base, self.reference.reference);
        let mut resp = self.send(
            "PUT",
            &url,
            &[("Content-Type", MANIFEST_MEDIA_TYPE)],
            Some(&bytes),
        )?;
        if resp.status() != 201 {
            return Err(self.refusal("putting the manifest", &mut resp));
        }
        Ok(sha256(&bytes))
    }

    /// Downloads the artifact's archive into `out` (a new file), checking
    /// the manifest is drover's, the layer's declared size against
    /// `max_bytes` before downloading, and its bytes against the declared
    /// size and digest. Returns the config's name and version.
    pub fn pull(&mut self, out: &Path, max_bytes: u64) -> Result<(String, String)> {
        let r = self.reference.to_string();
        let url = format!("{}/manifests/{}", self.base, self.reference.reference);
        let mut resp = self.send("GET", &url, &[("Accept", MANIFEST_MEDIA_TYPE)], None)?;
        if resp.status() == 404 {
            bail!(
                "{r}: no such artifact: the registry has no {} in {} (check the tag, or push \
                 it first with `drover pack push`)",
                self.reference.reference,
                self.reference.repository
            );
        }
        if resp.status() != 200 {
            return Err(self.refusal("getting the manifest", &mut resp));
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| anyhow!("{r}: the manifest: {e}"))?;
        if self.reference.reference.starts_with("sha256:")
            && sha256(&bytes) != self.reference.reference
        {
            bail!("{r}: the registry sent a manifest with another digest");
        }
        let manifest: Value =
            serde_json::from_slice(&bytes).map_err(|e| anyhow!("{r}: the manifest: {e}"))?;
        let config_type = manifest
            .pointer("/config/mediaType")
            .and_then(Value::as_str)
            .unwrap_or("none");
        if config_type != CONFIG_MEDIA_TYPE {
            bail!(
                "{r}: not a drover pack: its config's media type is {config_type:?}, not \
                 {CONFIG_MEDIA_TYPE:?}"
            );
        }
        let layers = manifest
            .get("layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let [layer] = layers.as_slice() else {
            bail!(
                "{r}: a drover pack artifact has one layer, this one has {}",
                layers.len()
            );
        };
        let media = layer.get("mediaType").and_then(Value::as_str).unwrap_or("");
        if media != LAYER_MEDIA_TYPE {
            bail!("{r}: its layer's media type is {media:?}, not {LAYER_MEDIA_TYPE:?}");
        }
        let digest = layer.get("digest").and_then(Value::as_str).unwrap_or("");
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{r}: its layer's digest {digest:?} is not a sha256:… digest");
        }
        let Some(size) = layer.get("size").and_then(Value::as_u64) else {
            bail!("{r}: its layer has no size");
        };
        if size > max_bytes {
            bail!(
                "{r}: its layer is {size} bytes, more than the {max_bytes} a pack archive may \
                 have; not downloaded"
            );
        }
        let config: PackConfig = {
            let digest = manifest
                .pointer("/config/digest")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let bytes = self.get_blob_bytes(&digest, MAX_MANIFEST_BYTES)?;
            if sha256(&bytes) != digest {
                bail!("{r}: its config blob does not match its digest {digest}");
            }
            serde_json::from_slice(&bytes).map_err(|e| anyhow!("{r}: its config: {e}"))?
        };
        let url = format!("{}/blobs/{digest}", self.base);
        let mut resp = self.send("GET", &url, &[], None)?;
        if resp.status() != 200 {
            return Err(self.refusal("getting the layer", &mut resp));
        }
        let mut file = std::fs::File::create_new(out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        let mut reader = resp.body_mut().with_config().limit(size + 1).reader();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| anyhow!("{r}: downloading the layer: {e}"))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > size {
                bail!("{r}: the registry sent more than the layer's {size} bytes; refused");
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
        let got_digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if got != size {
            bail!("{r}: the layer is {got} bytes, its manifest says {size}; refused");
        }
        if got_digest != digest {
            bail!(
                "{r}: the layer's digest is {got_digest}, its manifest says {digest}: the \
                 registry's copy was changed; refused"
            );
        }
        file.sync_all()?;
        Ok((config.name, config.version))
    }

    fn get_blob_bytes(&mut self, digest: &str, limit: u64) -> Result<Vec<u8>> {
        let url = format!("{}/blobs/{digest}", self.base);
        let mut resp = self.send("GET", &url, &[], None)?;
        if resp.status() != 200 {
            return Err(self.refusal("getting a blob", &mut resp));
        }
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| anyhow!("{}: blob {digest}: {e}", self.reference))
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Percent-encodes a query value.
fn percent(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_hostile_ones_are_refused() {
        let r = Reference::parse("oci://127.0.0.1:5000/packs/netcheck:0.1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "packs/netcheck");
        assert_eq!(r.reference, "0.1.0");
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/packs/netcheck:0.1.0");
        assert!(
            !Reference::parse("oci://registry.example/p:1")
                .unwrap()
                .is_loopback()
        );
        assert!(
            Reference::parse("oci://[::1]:5000/p:1")
                .unwrap()
                .is_loopback()
        );
        for bad in [
            "https://x/p:1",
            "oci://x/p",
            "oci://x/P:1",
            "oci://x/../p:1",
            "oci://x/p:-rf",
            "oci://x/p:a b",
            "oci://us er@x/p:1",
            "oci:///p:1",
            "oci://x/p@sha256:12",
            "oci://x/p?x=1:1",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_https_registry_never_sends_credentials_to_a_plain_http_token_realm() {
        let reference = Reference::parse("oci://registry.example/packs/p:1").unwrap();
        let options = Options {
            plain_http: false,
            username: Some("ci".into()),
            password: Some("s3cret".into()),
        };
        let client = Client::new(&reference, &options);
        let e = client
            .answer(r#"Bearer realm="http://evil.example/token",service="r""#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("refusing to send credentials in clear"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
