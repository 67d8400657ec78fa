//! Sensor calls against one application's runtime: `testkit.sensor`'s `poll` and
//! `on-message` give triggers of its pack's types, its kv counter goes
//! through the same sandbox as an action's, the trap mode is a classified
//! failure with the panic message, and an action is refused as a sensor.
//!
//! Needs the plugin components: `cargo xtask plugins` first.

use std::path::{Path, PathBuf};

use drover_app::App;
use drover_host::{RunError, RunOptions, SensorFailureKind, SensorInput};
use drover_pack::ActionRef;
use drover_store::Store;
use serde_json::json;
use tempfile::TempDir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn env() -> (App, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("drover.db")).unwrap();
    let app = App::with_defaults(store, &dir.path().join("cache")).unwrap();
    for rel in ["tests/packs/testkit", "packs/core"] {
        app.install(&repo().join(rel), "test").unwrap();
    }
    (app, dir)
}

fn opts(sensor: &str) -> RunOptions {
    RunOptions {
        dry_run: false,
        actor: format!("sensor:{sensor}"),
        timeout: None,
    }
}

fn sensor_ref(name: &str) -> ActionRef {
    ActionRef {
        pack: "testkit".into(),
        plugin: name.into(),
    }
}

#[test]
fn poll_and_on_message_emit_the_packs_triggers() {
    let (app, _dir) = env();
    let runtime = app.runtime();
    let sensors = runtime.installed_sensors().unwrap();
    let names: Vec<String> = sensors.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["testkit.flaky", "testkit.sensor"]);

    let sensor = runtime.prepare_sensor(&sensor_ref("sensor")).unwrap();
    let config = sensor.plugin.sensor.config.clone();
    for count in 1..=2 {
        let call = runtime
            .call_sensor(
                &sensor,
                SensorInput::Poll { config: &config },
                &opts("testkit.sensor"),
            )
            .unwrap();
        let triggers = call.outcome.unwrap();
        assert_eq!(triggers.len(), 1);
        assert_eq!(triggers[0].trigger_type, "testkit.tick");
        assert_eq!(triggers[0].payload, json!({"count": count}));
    }

    let down = json!({"host": "node-7", "status": "down", "since": "2026-01-01T00:00:00Z"});
    let call = runtime
        .call_sensor(
            &sensor,
            SensorInput::Message {
                source: "nats:testkit.nodes",
                payload: &down,
            },
            &opts("testkit.sensor"),
        )
        .unwrap();
    let triggers = call.outcome.unwrap();
    assert_eq!(triggers[0].trigger_type, "testkit.no_contact");
    assert_eq!(
        triggers[0].payload,
        json!({"node": "node-7", "since": "2026-01-01T00:00:00Z"})
    );

    let up = json!({"host": "node-7", "status": "up"});
    let call = runtime
        .call_sensor(
            &sensor,
            SensorInput::Message {
                source: "nats:testkit.nodes",
                payload: &up,
            },
            &opts("testkit.sensor"),
        )
        .unwrap();
    assert_eq!(call.outcome.unwrap(), []);
}

#[test]
fn a_dry_run_poll_plans_its_kv_write() {
    let (app, _dir) = env();
    let runtime = app.runtime();
    let sensor = runtime.prepare_sensor(&sensor_ref("sensor")).unwrap();
    let mut dry = opts("testkit.sensor");
    dry.dry_run = true;
    for _ in 0..2 {
        let call = runtime
            .call_sensor(
                &sensor,
                SensorInput::Poll {
                    config: &json!(null),
                },
                &dry,
            )
            .unwrap();
        // The counter is not stored, so every dry poll counts 1.
        assert_eq!(call.outcome.unwrap()[0].payload, json!({"count": 1}));
    }
}

#[test]
fn a_trapping_sensor_is_a_classified_failure() {
    let (app, _dir) = env();
    let runtime = app.runtime();
    let flaky = runtime.prepare_sensor(&sensor_ref("flaky")).unwrap();
    let config = flaky.plugin.sensor.config.clone();
    let call = runtime
        .call_sensor(
            &flaky,
            SensorInput::Poll { config: &config },
            &opts("testkit.flaky"),
        )
        .unwrap();
    let failure = call.outcome.unwrap_err();
    assert_eq!(failure.kind, SensorFailureKind::Trap);
    assert!(
        failure.message.contains("testkit.sensor: trap mode"),
        "{}",
        failure.message
    );
}

#[test]
fn actions_are_not_sensors() {
    let (app, _dir) = env();
    let runtime = app.runtime();
    let err = runtime.prepare_sensor(&sensor_ref("kv")).err().unwrap();
    assert!(matches!(err, RunError::NotASensor { .. }), "{err}");
    let err = runtime.prepare(&sensor_ref("sensor")).err().unwrap();
    assert!(matches!(err, RunError::NotAnAction { .. }), "{err}");
}
