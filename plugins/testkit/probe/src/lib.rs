//! `testkit.probe`: a `tcp-connect` to `host:port`, or a `ping` of `host`
//! when no port is given; returns `{"reachable", "latency_ms", "detail"}`.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    host: String,
    port: Option<u16>,
    #[serde(default = "default_timeout")]
    timeout_ms: u32,
}

fn default_timeout() -> u32 {
    2_000
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let r = match input.port {
        Some(port) => probe::tcp_connect(&input.host, port, input.timeout_ms)?,
        None => probe::ping(&input.host, input.timeout_ms)?,
    };
    Ok(json!({
        "reachable": r.reachable,
        "latency_ms": r.latency_ms,
        "detail": r.detail,
    }))
}

drover_sdk::export_action!(run);
