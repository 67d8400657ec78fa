//! The validated pack model: [`Pack`], [`Plugin`], [`Limits`].
//!
//! Values of these types have passed every check in [`crate::manifest`]:
//! names follow the naming rule, limits are in range, component paths stay
//! inside the pack directory, capabilities are known. Downstream crates take
//! these, never the raw manifest. They are serialized as JSON for storage;
//! deserializing trusts that stored data (it was validated when written).

use std::time::Duration;

use drover_policy::Capability;
use serde::{Deserialize, Serialize};

use crate::params::Parameters;

/// A validated pack: a named, versioned set of plugins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pack {
    /// Pack name, e.g. `core` (see [`is_name`]).
    pub name: String,
    /// Semantic version, e.g. `0.1.0`.
    pub version: String,
    /// One line for humans; may be empty.
    pub description: String,
    /// Plugins in declaration order; never empty, names unique.
    pub plugins: Vec<Plugin>,
    /// Trigger types in declaration order; names unique.
    #[serde(default)]
    pub triggers: Vec<TriggerType>,
}

/// A kind of event the pack's sensors, webhooks or timers produce;
/// its reference is `pack.name`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerType {
    pub name: String,
    pub description: String,
    /// The payload's declared fields; a payload may carry more.
    pub payload: Parameters,
    /// Present when events may arrive at `/api/v1/webhooks/<pack.name>`.
    pub webhook: Option<WebhookAuth>,
}

/// How a webhook sender proves who it is; the value is a named secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// `X-Drover-Signature: sha256=<hex HMAC-SHA256>`, of
    /// `"<X-Drover-Timestamp>.<body>"` when the sender sends a timestamp
    /// (then within ±5 minutes and never accepted twice), else of the body
    /// alone (replayable) unless `require_timestamp`.
    Hmac {
        secret: String,
        /// Refuse signatures without `X-Drover-Timestamp`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        require_timestamp: bool,
    },
    /// `X-Drover-Token: <token>`.
    Token { secret: String },
}

impl Pack {
    /// `name@version`, e.g. `core@0.1.0`: what grants are given to.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The plugin called `name`, if the pack has one.
    pub fn plugin(&self, name: &str) -> Option<&Plugin> {
        self.plugins.iter().find(|plugin| plugin.name == name)
    }

    /// The trigger type called `name` (without the pack prefix).
    pub fn trigger(&self, name: &str) -> Option<&TriggerType> {
        self.triggers.iter().find(|t| t.name == name)
    }
}

/// One action or sensor of a pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    /// Plugin name inside its pack, e.g. `echo` (see [`is_name`]).
    pub name: String,
    /// Whether it is run on demand or polled for triggers.
    pub kind: PluginKind,
    /// One line for humans; may be empty.
    pub description: String,
    /// Path of the component file relative to the pack directory, as written
    /// in the manifest; relative, without `..`.
    pub component: String,
    /// Per-call resource limits.
    pub limits: Limits,
    /// Whether running it twice with the same input is harmless (it may be
    /// retried).
    pub idempotent: bool,
    /// The parameters it takes.
    pub parameters: Parameters,
    /// Capabilities it asks for, in declaration order, without duplicates.
    pub capabilities: Vec<Capability>,
    /// Sensors only: how the host drives it (default for actions).
    #[serde(default, skip_serializing_if = "SensorSpec::is_empty")]
    pub sensor: SensorSpec,
    /// Workflow actions only (`runner: workflow`): the workflow file. Such
    /// a plugin has no component (`component` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowEntry>,
    /// Where the component is built from (`source:`), when the pack
    /// carries its sources; `drover pack build` writes `component` from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PluginSource>,
}

/// A plugin's source: what `drover pack build` compiles into its component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginSource {
    /// Relative to the pack directory, without `..` or a trailing `/`.
    pub path: String,
    /// From the name: `.py`, `.js`, or a directory (a Rust crate).
    pub language: Language,
}

/// The language a plugin's source is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// A `.py` module built with componentize-py.
    Python,
    /// A `.js` module built with componentize-js.
    #[serde(rename = "js")]
    JavaScript,
    /// A cargo crate built for `wasm32-wasip2`.
    Rust,
}

impl Language {
    /// `python`, `js` or `rust`, as `drover pack new --lang` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "js",
            Language::Rust => "rust",
        }
    }
}

impl Plugin {
    /// Whether it is a workflow (`runner: workflow`), not a Wasm component.
    pub fn is_workflow(&self) -> bool {
        self.workflow.is_some()
    }

    /// Whether it declares `cap`: listed under `capabilities:`, or, for
    /// `subscribe`, a sensor with `subscriptions:` (which declare it).
    pub fn declares(&self, cap: Capability) -> bool {
        self.capabilities.contains(&cap)
            || (cap == Capability::Subscribe && !self.sensor.subscriptions.is_empty())
    }
}

/// The workflow of a `runner: workflow` action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowEntry {
    /// Path of the workflow file relative to the pack directory, as written
    /// in the manifest (`entry:`).
    pub entry: String,
    /// The workflow's text: filled in by [`crate::load_pack_dir`] and stored
    /// with the pack, so a run never reads the pack directory again.
    #[serde(default)]
    pub text: String,
    /// Most task runs (actions started, with-items items and action-less
    /// tasks counted one each) of one run of this workflow, its
    /// subworkflows included; `None`: [`WorkflowEntry::DEFAULT_MAX_STEPS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
}

impl WorkflowEntry {
    /// The ceiling when the manifest sets no `max_steps`.
    pub const DEFAULT_MAX_STEPS: u64 = 100_000;
    /// The highest `max_steps` a manifest may set.
    pub const MAX_MAX_STEPS: u64 = 10_000_000;

    /// The ceiling on task runs of one run of this workflow.
    pub fn max_steps(&self) -> u64 {
        self.max_steps.unwrap_or(Self::DEFAULT_MAX_STEPS)
    }
}

/// How the host drives a sensor: `poll` on an interval, `on-message` for
/// each message of its host-owned subscriptions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SensorSpec {
    /// Call `poll` this often; `None`: never polled.
    #[serde(
        default,
        with = "humantime_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub poll_interval: Option<Duration>,
    /// Subscriptions the host owns for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
    /// Passed to every `poll` as JSON; `null` when not given.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub config: serde_json::Value,
}

impl SensorSpec {
    /// Shortest `poll_interval` a manifest may ask for.
    pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
    /// Longest `poll_interval` a manifest may ask for.
    pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);

    fn is_empty(&self) -> bool {
        self == &SensorSpec::default()
    }
}

/// A host-owned message source; `source` of `on-message` is its
/// [`Display`](std::fmt::Display) form, e.g. `nats:drover.nodes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    /// A NATS subject (wildcards allowed), on the server of `drover serve --nats`.
    Nats(String),
    /// `POST /api/v1/webhooks/<pack>.<name>` of `drover serve`, with the
    /// same authentication as a trigger type's webhook; each body is one
    /// message.
    Webhook { name: String, auth: WebhookAuth },
}

impl std::fmt::Display for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subscription::Nats(subject) => write!(f, "nats:{subject}"),
            Subscription::Webhook { name, .. } => write!(f, "webhook:{name}"),
        }
    }
}

/// What a plugin is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Runs on demand (`world action`).
    Action,
    /// Polled for triggers (`world sensor`).
    Sensor,
}

impl PluginKind {
    /// `action` or `sensor`, as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Action => "action",
            PluginKind::Sensor => "sensor",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-call resource limits of a plugin. The manifest may lower or raise each
/// within the `MIN_*..=MAX_*` range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock deadline of one call (stored as text, e.g. `"30s"`).
    #[serde(with = "humantime_text")]
    pub timeout: Duration,
    /// Linear-memory cap of one instance, in bytes.
    pub memory_bytes: u64,
    /// Cap on the result plus log lines of one call, in bytes.
    pub output_bytes: u64,
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

impl Limits {
    /// Timeout when the manifest says nothing.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Shortest timeout a manifest may ask for.
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);
    /// Longest timeout a manifest may ask for: longer work belongs in a workflow.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
    /// Memory cap when the manifest says nothing.
    pub const DEFAULT_MEMORY: u64 = 64 * MIB;
    /// Smallest memory cap a manifest may ask for (a Rust component needs about this much).
    pub const MIN_MEMORY: u64 = MIB;
    /// Largest memory cap a manifest may ask for.
    pub const MAX_MEMORY: u64 = 512 * MIB;
    /// Output cap when the manifest says nothing.
    pub const DEFAULT_OUTPUT: u64 = MIB;
    /// Smallest output cap a manifest may ask for.
    pub const MIN_OUTPUT: u64 = KIB;
    /// Largest output cap a manifest may ask for: results are stored in SQLite.
    pub const MAX_OUTPUT: u64 = 64 * MIB;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Self::DEFAULT_TIMEOUT,
            memory_bytes: Self::DEFAULT_MEMORY,
            output_bytes: Self::DEFAULT_OUTPUT,
        }
    }
}

/// `[a-z][a-z0-9_]*`, at most this long: the rule for pack, plugin and parameter names.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `s` is a valid pack, plugin or parameter name: `[a-z][a-z0-9_]*`,
/// at most [`MAX_NAME_LEN`] characters.
pub fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= MAX_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Names no pack may take, with why: each means something else where
/// pack names are used (kv scopes, rules' `st2kv.*` and `kv.*`, audit
/// actors, drover's own records). Names starting with `_` are not names
/// at all ([`is_name`]). `core` is drover's bundled pack, not reserved.
pub const RESERVED_NAMES: [(&str, &str); 6] = [
    (
        "system",
        "the kv scope rules read as `kv.*` and `st2kv.system.*`",
    ),
    (
        "user",
        "the operators' kv scopes `user:NAME`, read as `st2kv.user.*`",
    ),
    (
        "drover",
        "drover's own records, such as the fleet controller's audit",
    ),
    ("st2", "StackStorm's namespace in rules"),
    ("st2kv", "the key-value store in rules, `st2kv.system.*`"),
    ("kv", "the key-value store in rules, `kv.*`"),
];

/// Why `name` may not be a pack name, if it is reserved.
pub fn reserved_name(name: &str) -> Option<&'static str> {
    RESERVED_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// Serde for a [`Duration`] as humantime text (`"30s"`, `"1m 30s"`).
mod humantime_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(D::Error::custom)
    }
}

mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| humantime::parse_duration(&text).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["core", "a", "node_2", &"a".repeat(64)] {
            assert!(is_name(good), "{good}");
        }
        for bad in [
            "",
            "Core",
            "2core",
            "_core",
            "co-re",
            "co.re",
            "cöre",
            &"a".repeat(65),
        ] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn reserved_names_are_names_but_reserved() {
        for (name, _) in RESERVED_NAMES {
            assert!(is_name(name), "{name}");
            assert!(reserved_name(name).is_some(), "{name}");
        }
        for free in ["core", "batchops", "systems", "users"] {
            assert_eq!(reserved_name(free), None, "{free}");
        }
    }

    #[test]
    fn limits_default_and_json() {
        let limits = Limits::default();
        assert_eq!(limits.timeout, Duration::from_secs(30));
        assert_eq!(limits.memory_bytes, 64 * 1024 * 1024);
        assert_eq!(limits.output_bytes, 1024 * 1024);
        let json = serde_json::to_value(limits).unwrap();
        assert_eq!(json["timeout"], "30s");
        assert_eq!(serde_json::from_value::<Limits>(json).unwrap(), limits);
    }
}
