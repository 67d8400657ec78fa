//! Reading `pack.yaml`: YAML text -> validated [`Pack`].
//!
//! Owns the manifest format (the raw serde structs below never leave this
//! module) and the errors a pack author sees. Checking happens in three
//! places, all reporting `file:line:column: field.path: message`:
//!
//! 1. YAML syntax, by a first pass that ignores the content;
//! 2. shapes and scalar rules, inside deserialization (the newtypes of
//!    [`crate::fields`] and `deny_unknown_fields`), so the YAML parser knows
//!    the line and `serde_path_to_error` the field path (both through
//!    `drover_text::yaml`);
//! 3. rules over whole values (parameter schemas and their defaults, at
//!    least one plugin), after deserialization, with the line recovered from
//!    the text by [`crate::locate`].
//!
//! It reads no files: [`crate::source`] does, and passes the text in.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::PackError;
use crate::fields::{
    Capabilities, ComponentPath, EntryPath, KeyKind, MemorySize, Name, NamedMap, OutputSize,
    SchemaType, SourcePath, Timeout, Version,
};
use crate::pack::{
    Limits, Pack, Plugin, PluginKind, SensorSpec, Subscription, TriggerType, WebhookAuth,
    WorkflowEntry,
};
use crate::params::{Parameter, Parameters, SchemaProblem, check_schema};
use drover_text::locate;

/// Parses and validates a manifest. `origin` is only used in messages
/// (usually the path of the `pack.yaml` the text came from).
pub fn parse_manifest(origin: &Path, text: &str) -> Result<Pack, PackError> {
    let raw = deserialize(origin, text)?;
    resolve(&Context { origin, text }, raw)
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a pack manifest: a map with name, version and plugins"
)]
struct RawManifest {
    name: Name,
    version: Version,
    description: Option<String>,
    plugins: NamedMap<RawPlugin, PluginKey>,
    triggers: Option<NamedMap<RawTrigger, TriggerKey>>,
}

struct PluginKey;
impl KeyKind for PluginKey {
    const WHAT: &'static str = "plugin";
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a plugin: a map with at least kind and component"
)]
struct RawPlugin {
    kind: PluginKind,
    description: Option<String>,
    /// Exactly one of `component` and `runner: workflow` + `entry`.
    component: Option<ComponentPath>,
    /// What `drover pack build` builds `component` from: a `.py` or `.js`
    /// file, or a Rust crate directory.
    source: Option<SourcePath>,
    timeout: Option<Timeout>,
    memory: Option<MemorySize>,
    output: Option<OutputSize>,
    idempotent: Option<bool>,
    parameters: Option<NamedMap<RawParam, ParamKey>>,
    capabilities: Option<Capabilities>,
    /// Sensors only: call `poll` this often (a duration such as `30s`).
    poll_interval: Option<String>,
    /// Sensors only: host-owned subscriptions, e.g. `[{nats: drover.nodes}]`.
    subscriptions: Option<Vec<RawSubscription>>,
    /// Sensors only: passed to every `poll` as JSON.
    config: Option<Value>,
    /// `workflow`: the action is a workflow (`entry`), not a component.
    runner: Option<Runner>,
    /// Workflow actions only: the workflow file, relative to the pack.
    entry: Option<EntryPath>,
    /// Workflow actions only: most task runs of one run (default 100,000).
    max_steps: Option<u64>,
}

/// How an action is run when it is not a Wasm component.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Runner {
    /// An Orquesta-compatible workflow file (`entry`).
    Workflow,
}

/// `{nats: SUBJECT}` or `{webhook: NAME, hmac_secret|token_secret: SECRET}`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a subscription: a map such as {nats: SUBJECT} or {webhook: NAME, hmac_secret: SECRET}"
)]
struct RawSubscription {
    nats: Option<String>,
    webhook: Option<String>,
    hmac_secret: Option<String>,
    token_secret: Option<String>,
    require_timestamp: Option<bool>,
}

struct ParamKey;
impl KeyKind for ParamKey {
    const WHAT: &'static str = "parameter";
}

struct TriggerKey;
impl KeyKind for TriggerKey {
    const WHAT: &'static str = "trigger type";
}

/// A trigger type the pack declares: its payload schema (same form as
/// parameters; payloads may carry more fields than declared) and, when
/// events may arrive by webhook, how the sender proves who it is.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a trigger type: a map with description, payload, webhook"
)]
struct RawTrigger {
    description: Option<String>,
    payload: Option<NamedMap<RawParam, ParamKey>>,
    webhook: Option<RawWebhook>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a webhook: hmac_secret: NAME or token_secret: NAME"
)]
struct RawWebhook {
    hmac_secret: Option<String>,
    token_secret: Option<String>,
    /// hmac_secret only: refuse signatures without X-Drover-Timestamp.
    require_timestamp: Option<bool>,
}

/// One parameter: the JSON Schema keywords drover accepts at the top of a
/// property, plus StackStorm's `required: true`. Keywords are typed where a
/// wrong type is a likely mistake, so the error gets a line number; nested
/// schemas (`items`, `properties`, …) are checked by `jsonschema` afterwards.
/// Serializing it gives the property's JSON Schema.
#[derive(Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a parameter: a map of JSON Schema keywords such as type: string"
)]
struct RawParam {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<SchemaType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing)]
    required: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    default: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    r#const: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#enum: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    examples: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exclusive_minimum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exclusive_maximum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multiple_of: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_items: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_properties: Option<Value>,
}

/// Keeps an explicit `null` as `Some(Value::Null)` (plain `Option` would drop it).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Stages 1 and 2: YAML syntax, then shapes and scalar rules.
fn deserialize(origin: &Path, text: &str) -> Result<RawManifest, PackError> {
    drover_text::yaml::deserialize(
        text,
        "the manifest is empty: write at least name, version and plugins",
        |_, _| false,
    )
    .map_err(|p| {
        let origin = origin.to_owned();
        if p.syntax {
            PackError::Yaml {
                origin,
                line: p.line,
                column: p.column,
                message: p.message,
            }
        } else {
            PackError::Invalid {
                origin,
                line: p.line,
                column: p.column,
                path: p.path,
                message: p.message,
            }
        }
    })
}

/// Where stage-3 errors point.
struct Context<'a> {
    origin: &'a Path,
    text: &'a str,
}

impl Context<'_> {
    fn invalid(&self, path: &[&str], message: String) -> PackError {
        let location = locate(self.text, path);
        PackError::Invalid {
            origin: self.origin.to_owned(),
            line: location.map(|(line, _)| line),
            column: location.map(|(_, column)| column),
            path: path.join("."),
            message,
        }
    }
}

/// Stage 3: rules over whole values, and raw -> validated.
fn resolve(cx: &Context<'_>, raw: RawManifest) -> Result<Pack, PackError> {
    if let Some(why) = crate::pack::reserved_name(&raw.name.0) {
        return Err(cx.invalid(
            &["name"],
            format!(
                "{:?} is reserved ({why}) and cannot name a pack: choose another name, \
                 e.g. {:?}",
                raw.name.0,
                format!("{}_pack", raw.name.0)
            ),
        ));
    }
    if raw.plugins.entries.is_empty() {
        return Err(cx.invalid(
            &["plugins"],
            "a pack needs at least one plugin: add e.g. `echo: {kind: action, component: components/echo.wasm}`".into(),
        ));
    }
    let plugins = raw
        .plugins
        .entries
        .into_iter()
        .map(|(name, plugin)| resolve_plugin(cx, name, plugin))
        .collect::<Result<Vec<_>, _>>()?;
    let triggers = raw
        .triggers
        .map(|t| t.entries)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, trigger)| resolve_trigger(cx, name, trigger))
        .collect::<Result<Vec<_>, _>>()?;
    check_webhook_names(cx, &plugins, &triggers)?;
    Ok(Pack {
        name: raw.name.0,
        version: raw.version.0,
        description: raw.description.unwrap_or_default(),
        plugins,
        triggers,
    })
}

/// Trigger types with a webhook and sensors' webhook subscriptions share
/// `/api/v1/webhooks/<pack>.<name>`: a name may be used once.
fn check_webhook_names(
    cx: &Context<'_>,
    plugins: &[Plugin],
    triggers: &[TriggerType],
) -> Result<(), PackError> {
    let mut taken: Vec<(String, String)> = triggers
        .iter()
        .filter(|t| t.webhook.is_some())
        .map(|t| (t.name.clone(), format!("trigger type {}", t.name)))
        .collect();
    for plugin in plugins {
        for sub in &plugin.sensor.subscriptions {
            let Subscription::Webhook { name, .. } = sub else {
                continue;
            };
            if let Some((_, owner)) = taken.iter().find(|(n, _)| n == name) {
                return Err(cx.invalid(
                    &["plugins", plugin.name.as_str(), "subscriptions"],
                    format!(
                        "webhook {name:?} is already used by {owner}: both would be served at \
                         /api/v1/webhooks/<pack>.{name}; rename one"
                    ),
                ));
            }
            taken.push((name.clone(), format!("sensor {}", plugin.name)));
        }
    }
    Ok(())
}

/// Checks a StackStorm-style property map (parameters, trigger payloads)
/// whose entries sit at `at` in the manifest.
fn resolve_params(
    cx: &Context<'_>,
    at: &[&str],
    entries: Vec<(String, RawParam)>,
) -> Result<Vec<Parameter>, PackError> {
    let mut parameters = Vec::new();
    for (param, spec) in entries {
        let mut here = at.to_vec();
        here.push(param.as_str());
        let required = spec.required.unwrap_or(false);
        let schema = serde_json::to_value(&spec).map_err(|err| {
            cx.invalid(&here, format!("cannot turn the parameter into JSON: {err}"))
        })?;
        match check_schema(&schema) {
            Ok(()) => {}
            Err(SchemaProblem::Invalid { pointer, message }) => {
                let mut path = here.clone();
                path.extend(pointer.split('/').skip(1));
                return Err(cx.invalid(&path, format!("not a valid JSON Schema: {message}")));
            }
            Err(SchemaProblem::BadDefault { message }) => {
                here.push("default");
                return Err(cx.invalid(
                    &here,
                    format!("the default does not match the parameter's schema: {message} (fix the default or the schema)"),
                ));
            }
        }
        parameters.push(Parameter::checked(param, required, schema));
    }
    Ok(parameters)
}

fn resolve_trigger(
    cx: &Context<'_>,
    name: String,
    raw: RawTrigger,
) -> Result<TriggerType, PackError> {
    let payload = resolve_params(
        cx,
        &["triggers", name.as_str(), "payload"],
        raw.payload.map(|p| p.entries).unwrap_or_default(),
    )?;
    let webhook = match raw.webhook {
        None => None,
        Some(hook) => Some(webhook_auth(
            cx,
            &["triggers", name.as_str(), "webhook"],
            "",
            hook.hmac_secret,
            hook.token_secret,
            hook.require_timestamp,
        )?),
    };
    Ok(TriggerType {
        name,
        description: raw.description.unwrap_or_default(),
        payload: Parameters::from_checked(payload),
        webhook,
    })
}

/// A webhook's authentication: exactly one of `hmac_secret` and
/// `token_secret`; `require_timestamp` only with `hmac_secret`.
fn webhook_auth(
    cx: &Context<'_>,
    at: &[&str],
    what: &str,
    hmac_secret: Option<String>,
    token_secret: Option<String>,
    require_timestamp: Option<bool>,
) -> Result<WebhookAuth, PackError> {
    match (hmac_secret, token_secret) {
        (Some(secret), None) => Ok(WebhookAuth::Hmac {
            secret,
            require_timestamp: require_timestamp.unwrap_or(false),
        }),
        (None, Some(_)) if require_timestamp.is_some() => Err(cx.invalid(
            at,
            format!(
                "{what}require_timestamp applies to hmac_secret only (a token is the same in \
                 every request; use hmac_secret for replay protection)"
            ),
        )),
        (None, Some(secret)) => Ok(WebhookAuth::Token { secret }),
        _ => Err(cx.invalid(
            at,
            format!(
                "{what}give exactly one of hmac_secret (senders sign the body: \
                 X-Drover-Signature: sha256=HEX, with X-Drover-Timestamp) or token_secret \
                 (senders send X-Drover-Token: TOKEN)"
            ),
        )),
    }
}

/// `component`, or `runner: workflow` with `entry`: exactly one. Returns
/// the component path (empty for a workflow) and the workflow entry.
fn resolve_runner(
    cx: &Context<'_>,
    name: &str,
    raw: &RawPlugin,
) -> Result<(String, Option<WorkflowEntry>), PackError> {
    let at = |field: &'static str| ["plugins", name, field];
    if raw.max_steps.is_some() && raw.runner.is_none() {
        return Err(cx.invalid(
            &at("max_steps"),
            "`max_steps` is for workflow actions (`runner: workflow`)".into(),
        ));
    }
    match (&raw.component, raw.runner, &raw.entry) {
        (Some(c), None, None) => Ok((c.0.clone(), None)),
        (None, Some(Runner::Workflow), Some(entry)) => {
            if raw.kind != PluginKind::Action {
                return Err(cx.invalid(
                    &at("runner"),
                    "`runner: workflow` is for actions only; write `kind: action`".into(),
                ));
            }
            if raw.capabilities.is_some() {
                return Err(cx.invalid(
                    &at("capabilities"),
                    "a workflow has no capabilities of its own: its tasks' actions declare theirs"
                        .into(),
                ));
            }
            if let Some(n) = raw.max_steps
                && !(1..=WorkflowEntry::MAX_MAX_STEPS).contains(&n)
            {
                return Err(cx.invalid(
                    &at("max_steps"),
                    format!(
                        "max_steps {n} is out of range: write 1 to {} (default {})",
                        WorkflowEntry::MAX_MAX_STEPS,
                        WorkflowEntry::DEFAULT_MAX_STEPS
                    ),
                ));
            }
            Ok((
                String::new(),
                Some(WorkflowEntry {
                    entry: entry.0.clone(),
                    text: String::new(),
                    max_steps: raw.max_steps,
                }),
            ))
        }
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(cx.invalid(
            &at("component"),
            "give either `component` (a Wasm component) or `runner: workflow` with `entry`, not both"
                .into(),
        )),
        (None, Some(Runner::Workflow), None) => Err(cx.invalid(
            &at("runner"),
            "`runner: workflow` needs `entry: workflows/NAME.yaml`, the workflow file".into(),
        )),
        (None, None, Some(_)) => Err(cx.invalid(
            &at("entry"),
            "`entry` is for workflow actions: add `runner: workflow`".into(),
        )),
        (None, None, None) => Err(cx.invalid(
            &["plugins", name],
            "missing required key \"component\" (a Wasm component such as components/echo.wasm; \
             or `runner: workflow` with `entry: workflows/NAME.yaml`)"
                .into(),
        )),
    }
}

fn resolve_plugin(cx: &Context<'_>, name: String, raw: RawPlugin) -> Result<Plugin, PackError> {
    let defaults = Limits::default();
    let (component, workflow) = resolve_runner(cx, &name, &raw)?;
    if workflow.is_some() && raw.source.is_some() {
        return Err(cx.invalid(
            &["plugins", name.as_str(), "source"],
            "`source` is for component plugins: a workflow is its `entry` file".into(),
        ));
    }
    let parameters = resolve_params(
        cx,
        &["plugins", name.as_str(), "parameters"],
        raw.parameters.map(|p| p.entries).unwrap_or_default(),
    )?;
    let sensor = resolve_sensor(
        cx,
        &name,
        raw.kind,
        raw.poll_interval,
        raw.subscriptions,
        raw.config,
    )?;
    Ok(Plugin {
        sensor,
        kind: raw.kind,
        description: raw.description.unwrap_or_default(),
        component,
        workflow,
        limits: Limits {
            timeout: raw.timeout.map_or(defaults.timeout, |t| t.0),
            memory_bytes: raw.memory.map_or(defaults.memory_bytes, |m| m.0),
            output_bytes: raw.output.map_or(defaults.output_bytes, |o| o.0),
        },
        idempotent: raw.idempotent.unwrap_or(false),
        parameters: Parameters::from_checked(parameters),
        capabilities: raw.capabilities.unwrap_or_default().0,
        source: raw.source.map(|s| s.0),
        name,
    })
}

fn resolve_sensor(
    cx: &Context<'_>,
    name: &str,
    kind: PluginKind,
    poll_interval: Option<String>,
    subscriptions: Option<Vec<RawSubscription>>,
    config: Option<Value>,
) -> Result<SensorSpec, PackError> {
    if kind != PluginKind::Sensor {
        for (field, given) in [
            ("poll_interval", poll_interval.is_some()),
            ("subscriptions", subscriptions.is_some()),
            ("config", config.is_some()),
        ] {
            if given {
                return Err(cx.invalid(
                    &["plugins", name, field],
                    format!("`{field}` is for sensors only; this plugin is an action"),
                ));
            }
        }
        return Ok(SensorSpec::default());
    }
    let poll_interval = match poll_interval {
        None => None,
        Some(text) => {
            let path = ["plugins", name, "poll_interval"];
            let d = humantime::parse_duration(&text).map_err(|_| {
                cx.invalid(
                    &path,
                    format!("invalid duration {text:?} (write e.g. 30s, 5m)"),
                )
            })?;
            let show = |d| humantime::format_duration(d).to_string();
            if d < SensorSpec::MIN_POLL_INTERVAL || d > SensorSpec::MAX_POLL_INTERVAL {
                return Err(cx.invalid(
                    &path,
                    format!(
                        "poll_interval {text:?} is out of range: write {} to {}",
                        show(SensorSpec::MIN_POLL_INTERVAL),
                        show(SensorSpec::MAX_POLL_INTERVAL)
                    ),
                ));
            }
            Some(d)
        }
    };
    let mut subs = Vec::new();
    let at = ["plugins", name, "subscriptions"];
    for raw in subscriptions.unwrap_or_default() {
        let sub = match raw {
            RawSubscription {
                nats: Some(subject),
                webhook: None,
                hmac_secret: None,
                token_secret: None,
                require_timestamp: None,
            } => {
                if subject.is_empty() || subject.chars().any(char::is_whitespace) {
                    return Err(cx.invalid(
                        &at,
                        format!("invalid NATS subject {subject:?}: write e.g. drover.nodes.*"),
                    ));
                }
                Subscription::Nats(subject)
            }
            RawSubscription {
                nats: None,
                webhook: Some(hook),
                hmac_secret,
                token_secret,
                require_timestamp,
            } => {
                if !crate::pack::is_name(&hook) {
                    return Err(cx.invalid(
                        &at,
                        format!(
                            "invalid webhook name {hook:?}: write [a-z][a-z0-9_]* (it is served \
                             at /api/v1/webhooks/<pack>.<name>)"
                        ),
                    ));
                }
                let auth = webhook_auth(
                    cx,
                    &at,
                    &format!("webhook {hook:?}: "),
                    hmac_secret,
                    token_secret,
                    require_timestamp,
                )?;
                Subscription::Webhook { name: hook, auth }
            }
            _ => {
                return Err(cx.invalid(
                    &at,
                    "each subscription is either {nats: SUBJECT} or {webhook: NAME, \
                     hmac_secret: SECRET} (or token_secret instead of hmac_secret)"
                        .into(),
                ));
            }
        };
        subs.push(sub);
    }
    Ok(SensorSpec {
        poll_interval,
        subscriptions: subs,
        config: config.unwrap_or(Value::Null),
    })
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
