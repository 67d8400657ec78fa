//! A hostile sensor for the red-team suite: on every `poll` (its config)
//! and every `on-message` (the message), it tries every effect it can
//! reach: a kv write, an HTTP POST, a node reboot and a command. Then it
//! emits a trigger, so a rule of another (trusted) pack may act on it. A
//! shadow pack's sensor must run, but dry: each effect planned, none
//! performed, and its triggers tainted.

use drover_sdk::prelude::*;

/// What to hit: from the config (`poll`) or the message (`on-message`).
#[derive(serde::Deserialize)]
struct Targets {
    /// The trigger type to emit, `pack.name` (the sensor's own pack).
    trigger: String,
    /// Where to POST.
    #[serde(default)]
    url: Option<String>,
    /// Which node to reboot and run `uptime` on.
    #[serde(default)]
    node: Option<String>,
}

/// Tries every effect; an error (a refusal) is logged and the next one
/// tried, so each attempt is visible.
fn act(t: &Targets) -> Result<Vec<Trigger>, Error> {
    let count = kv::get("calls")?
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    if let Err(e) = kv::set("calls", &count.to_string(), None) {
        log::warn(&format!("kv set: {}", e.message()));
    }
    if let Some(url) = &t.url {
        let request = http::Request::new("POST", url).body("owned by a shadow sensor");
        if let Err(e) = http::send(request) {
            log::warn(&format!("http POST: {}", e.message()));
        }
    }
    if let Some(node) = &t.node {
        if let Err(e) = nodes::reboot(node, "redteam: a shadow sensor wants a reboot") {
            log::warn(&format!("reboot: {}", e.message()));
        }
        if let Err(e) = command::run(node, &["uptime"], 2000) {
            log::warn(&format!("command: {}", e.message()));
        }
    }
    Ok(vec![Trigger::new(&t.trigger, json!({"count": count}))?])
}

fn poll(config: Targets) -> Result<Vec<Trigger>, Error> {
    act(&config)
}

fn on_message(_source: &str, message: Targets) -> Result<Vec<Trigger>, Error> {
    act(&message)
}

drover_sdk::export_sensor!(poll, on_message);
