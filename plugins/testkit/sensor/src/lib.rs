//! `testkit.sensor`: `poll` emits one `testkit.tick` trigger `{count}`
//! with a counter kept in kv; `on_message` turns `{"host", "status":
//! "down"}` into a `testkit.no_contact` trigger `{node, since}` and ignores
//! other statuses. With `mode: trap` in its config, `poll` panics (the
//! restart and backoff tests).

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Config {
    #[serde(default)]
    mode: Option<String>,
}

#[derive(serde::Deserialize)]
struct Message {
    host: String,
    status: String,
    #[serde(default)]
    since: Option<String>,
}

fn poll(config: Config) -> Result<Vec<Trigger>, Error> {
    if config.mode.as_deref() == Some("trap") {
        panic!("testkit.sensor: trap mode");
    }
    let count = kv::get("ticks")?
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    kv::set("ticks", &count.to_string(), None)?;
    Ok(vec![Trigger::new("testkit.tick", json!({"count": count}))?])
}

fn on_message(_source: &str, message: Message) -> Result<Vec<Trigger>, Error> {
    if message.status != "down" {
        return Ok(Vec::new());
    }
    Ok(vec![Trigger::new(
        "testkit.no_contact",
        json!({"node": message.host, "since": message.since.unwrap_or_default()}),
    )?])
}

drover_sdk::export_sensor!(poll, on_message);
