use std::path::Path;
use std::time::Duration;

use drover_policy::Capability;
use serde_json::json;

use super::*;
use crate::{Language, PluginSource};

const GOOD: &str = "\
name: core
version: 0.1.0
description: Built-in actions every drover has.
plugins:
  echo:
    kind: action
    description: Return the message it was given.
    component: components/core_echo.wasm
    timeout: 30s
    memory: 64MiB
    output: 1MiB
    idempotent: true
    parameters:
      message:
        type: string
        description: What to echo.
        required: true
      count:
        type: integer
        default: 1
        minimum: 1
    capabilities: [log]
  ticker:
    kind: sensor
    component: components/core_ticker.wasm
    timeout: 2m
    memory: 16 MiB
    output: 4KiB
    capabilities:
      - log
      - kv
";

const ORIGIN: &str = "packs/core/pack.yaml";

fn parse(text: &str) -> Result<Pack, PackError> {
    parse_manifest(Path::new(ORIGIN), text)
}

/// The error for `GOOD` with the first `from` replaced by `to`.
fn err_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "GOOD has no {from:?}");
    parse(&GOOD.replacen(from, to, 1)).unwrap_err().to_string()
}

#[track_caller]
fn assert_starts(err: &str, prefix: &str) {
    assert!(err.starts_with(prefix), "\n  got: {err}\n want: {prefix}…");
}

#[test]
fn good_manifest() {
    let pack = parse(GOOD).unwrap();
    assert_eq!(pack.name, "core");
    assert_eq!(pack.version, "0.1.0");
    assert_eq!(pack.reference(), "core@0.1.0");
    assert_eq!(pack.description, "Built-in actions every drover has.");
    let names: Vec<&str> = pack.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["echo", "ticker"]);

    let echo = pack.plugin("echo").unwrap();
    assert_eq!(echo.kind, PluginKind::Action);
    assert_eq!(echo.description, "Return the message it was given.");
    assert_eq!(echo.component, "components/core_echo.wasm");
    assert_eq!(echo.limits, Limits::default());
    assert!(echo.idempotent);
    assert_eq!(echo.capabilities, [Capability::Log]);
    let params: Vec<&str> = echo.parameters.iter().map(|p| p.name()).collect();
    assert_eq!(params, ["message", "count"]);
    assert_eq!(
        echo.parameters.json_schema(),
        json!({
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "What to echo."},
                "count": {"type": "integer", "default": 1, "minimum": 1},
            },
            "required": ["message"],
            "additionalProperties": false,
        })
    );

    let ticker = pack.plugin("ticker").unwrap();
    assert_eq!(ticker.kind, PluginKind::Sensor);
    assert_eq!(ticker.limits.timeout, Duration::from_secs(120));
    assert_eq!(ticker.limits.memory_bytes, 16 << 20);
    assert_eq!(ticker.limits.output_bytes, 4 << 10);
    assert_eq!(ticker.capabilities, [Capability::Log, Capability::Kv]);
    assert!(pack.plugin("nope").is_none());
}

#[test]
fn json_round_trip() {
    let pack = parse(GOOD).unwrap();
    let json = serde_json::to_string(&pack).unwrap();
    let back: Pack = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pack);
    // The stored form is readable, and keeps parameter order.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["plugins"][0]["kind"], "action");
    assert_eq!(value["plugins"][0]["limits"]["timeout"], "30s");
    assert_eq!(value["plugins"][0]["capabilities"], json!(["log"]));
    assert_eq!(
        value["plugins"][0]["parameters"]["message"]["required"],
        true
    );
    assert!(json.find("\"message\"").unwrap() < json.find("\"count\"").unwrap());
}

#[test]
fn defaults() {
    let pack = parse(
        "name: tiny\nversion: 1.0.0-rc.1+build.7\nplugins:\n  \
         noop:\n    kind: action\n    component: noop.wasm\n",
    )
    .unwrap();
    assert_eq!(pack.description, "");
    let noop = &pack.plugins[0];
    assert_eq!(noop.description, "");
    assert_eq!(noop.limits.timeout, Duration::from_secs(30));
    assert_eq!(noop.limits.memory_bytes, 64 * 1024 * 1024);
    assert_eq!(noop.limits.output_bytes, 1024 * 1024);
    assert!(!noop.idempotent);
    assert!(noop.parameters.is_empty());
    assert!(noop.capabilities.is_empty());
}

#[test]
fn malformed_yaml_has_line_and_column() {
    let err = parse("name: [core\nversion: 0.1.0\n").unwrap_err();
    assert!(matches!(err, PackError::Yaml { .. }), "{err:?}");
    assert_eq!(err.location(), Some((2, 8)));
    assert_starts(
        &err.to_string(),
        "packs/core/pack.yaml:2:8: invalid YAML: did not find expected ',' or ']'",
    );
    let err = parse("name: core\n  version: 0.1.0\n")
        .unwrap_err()
        .to_string();
    assert_starts(
        &err,
        "packs/core/pack.yaml:2:10: invalid YAML: mapping values are not allowed",
    );
}

#[test]
fn empty_and_wrong_shape() {
    assert_eq!(
        parse("# nothing\n").unwrap_err().to_string(),
        "packs/core/pack.yaml: the manifest is empty: write at least name, version and plugins"
    );
    assert_eq!(
        parse("- core\n").unwrap_err().to_string(),
        "packs/core/pack.yaml:1:1: invalid type: sequence, expected a pack manifest: \
         a map with name, version and plugins"
    );
    assert_eq!(
        parse("name: core\nversion: 0.1.0\n")
            .unwrap_err()
            .to_string(),
        "packs/core/pack.yaml:1:1: missing required key \"plugins\""
    );
    assert_eq!(
        err_with("    component: components/core_echo.wasm\n", ""),
        "packs/core/pack.yaml:5:3: plugins.echo: missing required key \"component\" (a Wasm \
         component such as components/echo.wasm; or `runner: workflow` with \
         `entry: workflows/NAME.yaml`)"
    );
    assert_eq!(
        parse("name: core\nversion: 0.1.0\nplugins: {}\n")
            .unwrap_err()
            .to_string(),
        "packs/core/pack.yaml:3:1: plugins: a pack needs at least one plugin: \
         add e.g. `echo: {kind: action, component: components/echo.wasm}`"
    );
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    assert_eq!(
        err_with("    timeout: 30s", "    timout: 30s"),
        "packs/core/pack.yaml:9:5: plugins.echo.timout: unknown key \"timout\"; did you mean \
         \"timeout\"? (valid keys: kind, description, component, source, timeout, memory, output, \
         idempotent, parameters, capabilities, poll_interval, subscriptions, config, runner, \
         entry, max_steps)"
    );
    assert_eq!(
        err_with("version: 0.1.0", "verison: 0.1.0"),
        "packs/core/pack.yaml:2:1: verison: unknown key \"verison\"; did you mean \"version\"? \
         (valid keys: name, version, description, plugins, triggers)"
    );
    assert_starts(
        &err_with("        default: 1", "        defualt: 1"),
        "packs/core/pack.yaml:20:9: plugins.echo.parameters.count.defualt: unknown key \
         \"defualt\"; did you mean \"default\"? (valid keys: type, description, required, default,",
    );
    // No suggestion when nothing is close, but still the list.
    assert_starts(
        &err_with("    idempotent: true", "    retries: 3"),
        "packs/core/pack.yaml:12:5: plugins.echo.retries: unknown key \"retries\" (valid keys: kind,",
    );
}

#[test]
fn bad_kind() {
    assert_eq!(
        err_with("    kind: action", "    kind: actoin"),
        "packs/core/pack.yaml:6:11: plugins.echo.kind: unknown value \"actoin\"; did you mean \
         \"action\"? (valid values: action, sensor)"
    );
}

#[test]
fn bad_names() {
    assert_eq!(
        err_with("name: core", "name: Core-Pack"),
        "packs/core/pack.yaml:1:7: name: invalid name \"Core-Pack\": use lowercase letters, \
         digits and _, starting with a letter, at most 64 characters (write \"core_pack\")"
    );
    assert_starts(
        &err_with("  echo:", "  2echo:"),
        "packs/core/pack.yaml:5:3: plugins.2echo: invalid name \"2echo\": use lowercase letters",
    );
    assert_eq!(
        err_with("  ticker:", "  echo:"),
        "packs/core/pack.yaml:23:3: plugins.echo: plugin \"echo\" is declared twice; declare it once"
    );
    assert_eq!(
        err_with("      count:", "      message:"),
        "packs/core/pack.yaml:18:7: plugins.echo.parameters.message: parameter \"message\" \
         is declared twice; declare it once"
    );
}

#[test]
fn reserved_pack_names_are_refused_at_their_line() {
    for name in ["system", "user", "drover", "st2", "st2kv", "kv"] {
        let err = err_with("name: core", &format!("name: {name}"));
        assert_starts(
            &err,
            &format!("packs/core/pack.yaml:1:1: name: \"{name}\" is reserved ("),
        );
        assert!(err.contains("choose another name"), "{err}");
    }
    // Plugins may use these names: only a pack name becomes a scope.
    assert!(parse(&GOOD.replacen("  ticker:", "  system:", 1)).is_ok());
    assert!(parse(&GOOD.replacen("name: core", "name: systems", 1)).is_ok());
}

#[test]
fn bad_version() {
    assert_eq!(
        err_with("version: 0.1.0", "version: 1.0"),
        "packs/core/pack.yaml:2:10: version: invalid version \"1.0\": write a semantic version \
         major.minor.patch[-pre][+build] (write \"1.0.0\")"
    );
    assert_starts(
        &err_with("version: 0.1.0", "version: v1.0.0"),
        "packs/core/pack.yaml:2:10: version: invalid version \"v1.0.0\"",
    );
}

#[test]
fn bad_duration() {
    assert_eq!(
        err_with("    timeout: 30s", "    timeout: 5 parsecs"),
        "packs/core/pack.yaml:9:14: plugins.echo.timeout: invalid duration \"5 parsecs\" \
         (write e.g. 30s, 2m, 1h)"
    );
    assert_eq!(
        err_with("    timeout: 30s", "    timeout: 30"),
        "packs/core/pack.yaml:9:14: plugins.echo.timeout: invalid duration \"30\": add a unit \
         (write e.g. 30s, 2m, 1h)"
    );
}

#[test]
fn bad_size() {
    assert_eq!(
        err_with("    memory: 64MiB", "    memory: lots"),
        "packs/core/pack.yaml:10:13: plugins.echo.memory: invalid size \"lots\" \
         (write e.g. 64MiB, 512KiB, 1GiB)"
    );
    assert_eq!(
        err_with("    output: 1MiB", "    output: 1024"),
        "packs/core/pack.yaml:11:13: plugins.echo.output: invalid size \"1024\": add a unit \
         (write e.g. 64MiB, 512KiB, 1GiB)"
    );
}

#[test]
fn limits_out_of_range() {
    let cases = [
        (
            "    timeout: 30s",
            "    timeout: 5ms",
            "9:14: plugins.echo.timeout: timeout \"5ms\" is too short: write at least 10ms",
        ),
        (
            "    timeout: 30s",
            "    timeout: 61m",
            "9:14: plugins.echo.timeout: timeout \"61m\" is too long: write at most 1h",
        ),
        (
            "    memory: 64MiB",
            "    memory: 512KiB",
            "10:13: plugins.echo.memory: size \"512KiB\" is too small: write at least 1 MiB",
        ),
        (
            "    memory: 64MiB",
            "    memory: 1GiB",
            "10:13: plugins.echo.memory: size \"1GiB\" is too large: write at most 512 MiB",
        ),
        (
            "    output: 1MiB",
            "    output: 512B",
            "11:13: plugins.echo.output: size \"512B\" is too small: write at least 1 KiB",
        ),
        (
            "    output: 1MiB",
            "    output: 65MiB",
            "11:13: plugins.echo.output: size \"65MiB\" is too large: write at most 64 MiB",
        ),
    ];
    for (from, to, want) in cases {
        assert_starts(&err_with(from, to), &format!("{ORIGIN}:{want}"));
    }
    // The bounds themselves are allowed.
    for (from, to) in [
        ("    timeout: 30s", "    timeout: 10ms"),
        ("    timeout: 30s", "    timeout: 1h"),
        ("    memory: 64MiB", "    memory: 1MiB"),
        ("    memory: 64MiB", "    memory: 512MiB"),
        ("    output: 1MiB", "    output: 1KiB"),
        ("    output: 1MiB", "    output: 64MiB"),
    ] {
        parse(&GOOD.replacen(from, to, 1)).unwrap();
    }
}

#[test]
fn component_path_stays_inside_the_pack() {
    assert_eq!(
        err_with("components/core_echo.wasm", "components/../../evil.wasm"),
        "packs/core/pack.yaml:8:16: plugins.echo.component: component path \
         \"components/../../evil.wasm\" contains .. and so may leave the pack directory: write a \
         path relative to the pack directory (e.g. components/core_echo.wasm)"
    );
    assert_starts(
        &err_with("components/core_echo.wasm", "/usr/lib/echo.wasm"),
        "packs/core/pack.yaml:8:16: plugins.echo.component: component path \"/usr/lib/echo.wasm\" is absolute",
    );
}

#[test]
fn bad_capabilities() {
    assert_starts(
        &err_with("[log]", "[log, lgo]"),
        "packs/core/pack.yaml:22:25: plugins.echo.capabilities[1]: unknown capability \"lgo\"",
    );
    let err = err_with("[log]", "[reboot]");
    assert!(err.contains("nodes.reboot"), "{err}");
    assert_eq!(
        err_with("      - kv", "      - log"),
        "packs/core/pack.yaml:31:9: plugins.ticker.capabilities[1]: capability \"log\" is listed \
         twice; list each capability once"
    );
}

#[test]
fn bad_parameter_schemas() {
    assert_eq!(
        err_with("        type: integer", "        type: int"),
        "packs/core/pack.yaml:19:15: plugins.echo.parameters.count.type: unknown type \"int\"; \
         did you mean \"integer\"? (valid types: string, integer, number, boolean, object, array, null)"
    );
    assert_starts(
        &err_with("        type: integer", "        type: [integer, nothing]"),
        "packs/core/pack.yaml:19:25: plugins.echo.parameters.count.type[1]: unknown type \"nothing\"",
    );
    assert_eq!(
        err_with("        required: true", "        required: yes"),
        "packs/core/pack.yaml:17:19: plugins.echo.parameters.message.required: invalid type: \
         string \"yes\", expected a boolean (write true or false)"
    );
    assert_eq!(
        err_with("        minimum: 1", "        minimum: one"),
        "packs/core/pack.yaml:21:18: plugins.echo.parameters.count.minimum: invalid type: \
         string \"one\", expected a JSON number"
    );
    // Nested schemas are checked by jsonschema; the line comes from the text.
    assert_starts(
        &err_with("        minimum: 1", "        items:\n          type: 5"),
        "packs/core/pack.yaml:22:11: plugins.echo.parameters.count.items.type: not a valid JSON Schema: ",
    );
    assert_starts(
        &err_with("        minimum: 1", "        pattern: \"(\""),
        "packs/core/pack.yaml:21:9: plugins.echo.parameters.count.pattern: not a valid JSON Schema: ",
    );
}

#[test]
fn default_must_match_its_schema() {
    assert_eq!(
        err_with("        default: 1", "        default: one"),
        "packs/core/pack.yaml:20:9: plugins.echo.parameters.count.default: the default does not \
         match the parameter's schema: \"one\" is not of type \"integer\" (fix the default or the schema)"
    );
    assert_starts(
        &err_with("        default: 1", "        default: 0"),
        "packs/core/pack.yaml:20:9: plugins.echo.parameters.count.default: the default does not \
         match the parameter's schema: 0 is less than the minimum of 1",
    );
    // Flow style: no line, but still the file and path.
    let text = GOOD.replace(
        "      count:\n        type: integer\n        default: 1\n        minimum: 1\n",
        "      count: {type: integer, default: x}\n",
    );
    assert_starts(
        &parse(&text).unwrap_err().to_string(),
        "packs/core/pack.yaml: plugins.echo.parameters.count.default: the default does not match",
    );
}

const WITH_TRIGGERS: &str = "\
name: batch
version: 0.1.0
plugins:
  noop: {kind: action, component: c/noop.wasm}
triggers:
  no_contact:
    description: A node stopped answering.
    payload:
      node: {type: string, required: true}
      since: {type: string}
    webhook:
      hmac_secret: batch.webhook
";

#[test]
fn trigger_types_with_payload_schema_and_webhook_auth() {
    let pack = parse(WITH_TRIGGERS).unwrap();
    let t = pack.trigger("no_contact").unwrap();
    assert_eq!(
        t.webhook,
        Some(WebhookAuth::Hmac {
            secret: "batch.webhook".into(),
            require_timestamp: false,
        })
    );
    // Payloads may carry more than they declare; declared fields are checked.
    let ok = t
        .payload
        .validate_payload(json!({"node": "b7s01", "extra": 1}))
        .unwrap();
    assert_eq!(ok["extra"], 1);
    let err = t.payload.validate_payload(json!({"node": 7})).unwrap_err();
    assert!(err.to_string().contains("\"node\""), "{err}");
    let err = t.payload.validate_payload(json!({})).unwrap_err();
    assert!(err.to_string().contains("node"), "{err}");
}

#[test]
fn a_webhook_needs_exactly_one_way_to_authenticate() {
    let both = WITH_TRIGGERS.replace(
        "      hmac_secret: batch.webhook\n",
        "      hmac_secret: a\n      token_secret: b\n",
    );
    let err = parse(&both).unwrap_err().to_string();
    assert!(err.contains("triggers.no_contact.webhook"), "{err}");
    assert!(err.contains("exactly one of hmac_secret"), "{err}");
    let typo = WITH_TRIGGERS.replace("hmac_secret", "hmac_secrt");
    let err = parse(&typo).unwrap_err().to_string();
    assert!(err.contains("did you mean \"hmac_secret\""), "{err}");
}

#[test]
fn sensor_fields() {
    let text = GOOD.replacen(
        "    timeout: 2m\n",
        "    timeout: 2m\n    poll_interval: 5s\n    subscriptions: [{nats: drover.nodes.*}]\n    config: {mode: quiet, n: 3}\n",
        1,
    );
    let pack = parse(&text).unwrap();
    let ticker = pack.plugin("ticker").unwrap();
    assert_eq!(ticker.sensor.poll_interval, Some(Duration::from_secs(5)));
    assert_eq!(
        ticker.sensor.subscriptions,
        vec![Subscription::Nats("drover.nodes.*".into())]
    );
    assert_eq!(
        ticker.sensor.subscriptions[0].to_string(),
        "nats:drover.nodes.*"
    );
    assert_eq!(ticker.sensor.config, json!({"mode": "quiet", "n": 3}));
    // Stored as JSON and read back unchanged; actions carry no sensor spec.
    let stored = serde_json::to_value(&pack).unwrap();
    assert!(stored["plugins"][0].get("sensor").is_none());
    let back: Pack = serde_json::from_value(stored).unwrap();
    assert_eq!(back.plugin("ticker").unwrap().sensor, ticker.sensor);
}

#[test]
fn sensor_fields_are_checked() {
    let err = err_with("    timeout: 2m\n", "    poll_interval: 10ms\n");
    assert!(
        err.contains("poll_interval \"10ms\" is out of range"),
        "{err}"
    );
    let err = err_with(
        "    timeout: 2m\n",
        "    subscriptions: [{nats: \"a b\"}]\n",
    );
    assert!(err.contains("invalid NATS subject"), "{err}");
    let err = err_with("    timeout: 30s\n", "    poll_interval: 5s\n");
    assert!(err.contains("`poll_interval` is for sensors only"), "{err}");
}

#[test]
fn a_sensor_may_subscribe_to_a_webhook_with_trigger_style_auth() {
    let with_sensor = |subs: &str| {
        WITH_TRIGGERS.replace(
            "  noop: {kind: action, component: c/noop.wasm}\n",
            &format!(
                "  noop: {{kind: action, component: c/noop.wasm}}\n  health:\n    kind: sensor\n    \
                 component: c/health.wasm\n    subscriptions:\n{subs}"
            ),
        )
    };
    let pack = parse(&with_sensor(
        "      - {nats: batch.health}\n      - {webhook: health_report, token_secret: batch.hook}\n",
    ))
    .unwrap();
    let subs = &pack.plugin("health").unwrap().sensor.subscriptions;
    assert_eq!(
        subs[1],
        Subscription::Webhook {
            name: "health_report".into(),
            auth: WebhookAuth::Token {
                secret: "batch.hook".into()
            }
        }
    );
    assert_eq!(subs[1].to_string(), "webhook:health_report");
    // Stored as JSON and read back unchanged.
    let back: Pack = serde_json::from_value(serde_json::to_value(&pack).unwrap()).unwrap();
    assert_eq!(&back.plugin("health").unwrap().sensor.subscriptions, subs);

    for (subs, want) in [
        (
            "      - {webhook: h, hmac_secret: a, token_secret: b}\n",
            "exactly one of hmac_secret",
        ),
        ("      - {webhook: h}\n", "exactly one of hmac_secret"),
        (
            "      - {webhook: Bad-Name, hmac_secret: a}\n",
            "invalid webhook name",
        ),
        (
            "      - {nats: x, webhook: h, hmac_secret: a}\n",
            "either {nats: SUBJECT} or {webhook: NAME",
        ),
        (
            "      - {nats: x, hmac_secret: a}\n",
            "either {nats: SUBJECT}",
        ),
        // The trigger type no_contact already has the webhook URL.
        (
            "      - {webhook: no_contact, hmac_secret: a}\n",
            "already used by trigger type no_contact",
        ),
    ] {
        let err = parse(&with_sensor(subs)).unwrap_err().to_string();
        assert!(
            err.contains("plugins.health.subscriptions"),
            "{subs}: {err}"
        );
        assert!(err.contains(want), "{subs}: {err}");
    }
}

const FLOW: &str = "\
name: flows
version: 0.1.0
plugins:
  handle:
    kind: action
    runner: workflow
    entry: workflows/handle.yaml
";

#[test]
fn workflow_actions() {
    let pack = parse(FLOW).unwrap();
    let handle = pack.plugin("handle").unwrap();
    assert!(handle.is_workflow());
    assert_eq!(handle.component, "");
    assert_eq!(
        handle.workflow.as_ref().unwrap().entry,
        "workflows/handle.yaml"
    );
    // Stored and read back.
    let back: Pack = serde_json::from_value(serde_json::to_value(&pack).unwrap()).unwrap();
    assert_eq!(back, pack);
    // Components stay components.
    assert!(!parse(GOOD).unwrap().plugin("echo").unwrap().is_workflow());
    assert_eq!(handle.workflow.as_ref().unwrap().max_steps(), 100_000);
}

#[test]
fn workflow_max_steps() {
    let text = format!("{FLOW}    max_steps: 500\n");
    let pack = parse(&text).unwrap();
    let entry = pack.plugin("handle").unwrap().workflow.clone().unwrap();
    assert_eq!(entry.max_steps(), 500);
    let err = parse(&format!("{FLOW}    max_steps: 0\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plugins.handle.max_steps: max_steps 0 is out of range: write 1 to 10000000"),
        "{err}"
    );
    let err = parse(&GOOD.replace(
        "    component: components/core_echo.wasm\n",
        "    component: components/core_echo.wasm\n    max_steps: 5\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("`max_steps` is for workflow actions"), "{err}");
}

#[test]
fn workflow_actions_need_exactly_one_of_component_and_entry() {
    let with = |from: &str, to: &str| {
        assert!(FLOW.contains(from), "FLOW has no {from:?}");
        parse(&FLOW.replacen(from, to, 1)).unwrap_err().to_string()
    };
    assert_eq!(
        with(
            "    entry: workflows/handle.yaml\n",
            "    entry: workflows/handle.yaml\n    component: c/x.wasm\n"
        ),
        "packs/core/pack.yaml:8:5: plugins.handle.component: give either `component` (a Wasm \
         component) or `runner: workflow` with `entry`, not both"
    );
    assert_eq!(
        with("    entry: workflows/handle.yaml\n", ""),
        "packs/core/pack.yaml:6:5: plugins.handle.runner: `runner: workflow` needs \
         `entry: workflows/NAME.yaml`, the workflow file"
    );
    assert_eq!(
        with("    runner: workflow\n", ""),
        "packs/core/pack.yaml:6:5: plugins.handle.entry: `entry` is for workflow actions: \
         add `runner: workflow`"
    );
    assert_eq!(
        with("kind: action", "kind: sensor"),
        "packs/core/pack.yaml:6:5: plugins.handle.runner: `runner: workflow` is for actions \
         only; write `kind: action`"
    );
    assert_eq!(
        with("workflows/handle.yaml", "../handle.yaml"),
        "packs/core/pack.yaml:7:12: plugins.handle.entry: entry path \"../handle.yaml\" contains \
         .. and so may leave the pack directory: write a path relative to the pack directory \
         (e.g. workflows/handle_no_contact.yaml)"
    );
    assert_starts(
        &with("workflows/handle.yaml", "workflows/handle.json"),
        "packs/core/pack.yaml:7:12: plugins.handle.entry: entry path \"workflows/handle.json\" is \
         not a .yaml file",
    );
    assert_starts(
        &with("runner: workflow", "runner: python"),
        "packs/core/pack.yaml:6:13: plugins.handle.runner: unknown value \"python\"",
    );
}

/// `GOOD` with `source: SRC` added to the echo action, after `component:`.
fn with_source(src: &str) -> Result<Pack, PackError> {
    let line = "    component: components/core_echo.wasm\n";
    parse(&GOOD.replacen(line, &format!("{line}    source: {src}\n"), 1))
}

#[test]
fn sources_name_their_language_by_extension() {
    for (src, language, path) in [
        ("actions/echo.py", Language::Python, "actions/echo.py"),
        ("actions/echo.js", Language::JavaScript, "actions/echo.js"),
        ("actions/echo.mjs", Language::JavaScript, "actions/echo.mjs"),
        ("plugins/echo", Language::Rust, "plugins/echo"),
        ("plugins/echo/", Language::Rust, "plugins/echo"),
    ] {
        let pack = with_source(src).unwrap();
        let source = pack.plugin("echo").unwrap().source.clone().unwrap();
        assert_eq!(
            source,
            PluginSource {
                path: path.into(),
                language
            },
            "{src}"
        );
    }
    assert_eq!(parse(GOOD).unwrap().plugin("echo").unwrap().source, None);
}

#[test]
fn hostile_sources_are_refused_naming_the_line_and_field() {
    let err = |src: &str| with_source(src).unwrap_err().to_string();
    assert_eq!(
        err("actions/../../../etc/passwd.py"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: source path \
         \"actions/../../../etc/passwd.py\" contains .. and so may leave the pack directory: \
         write a path relative to the pack directory (e.g. actions/ping_many.py, \
         actions/ping_many.js or a Rust crate directory such as plugins/ping_many)"
    );
    assert_starts(
        &err("/tmp/evil.py"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: source path \"/tmp/evil.py\" is absolute",
    );
    assert_starts(
        &err("'actions\\evil.py'"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: source path \"actions\\\\evil.py\" contains \\",
    );
    assert_starts(
        &err("actions/echo.rb"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: source \"actions/echo.rb\" has an unknown \
         extension .rb: write a .py (Python) or .js (JavaScript) file, or a Rust crate directory",
    );
    assert_starts(
        &err("actions/ping-many.py"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: source \"actions/ping-many.py\": \
         \"ping-many\" is not a Python module name",
    );
    assert_starts(
        &err("actions/drover.py"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: source \"actions/drover.py\": the module \
         name \"drover\" is taken",
    );
    assert_starts(
        &err("''"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: source path \"\" is empty",
    );
    assert_starts(
        &err("[a, b]"),
        "packs/core/pack.yaml:9:13: plugins.echo.source: invalid type",
    );
}

#[test]
fn a_workflow_has_no_source() {
    let text = "name: p\nversion: 0.1.0\nplugins:\n  wf:\n    kind: action\n    runner: workflow\n    \
                entry: workflows/wf.yaml\n    source: actions/wf.py\n";
    assert_eq!(
        parse(text).unwrap_err().to_string(),
        "packs/core/pack.yaml:8:5: plugins.wf.source: `source` is for component plugins: a \
         workflow is its `entry` file"
    );
}
