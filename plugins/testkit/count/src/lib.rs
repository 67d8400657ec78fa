//! `testkit.count`: adds one to the integer at kv `key` (missing: 0) and
//! returns `{"key", "count"}`. Not idempotent on purpose: crash tests read
//! the counters to prove no task ran twice.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    key: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let now: u64 = kv::get(&input.key)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let count = now + 1;
    kv::set(&input.key, &count.to_string(), None)?;
    Ok(json!({"key": input.key, "count": count}))
}

drover_sdk::export_action!(run);
