//! `testkit.kv`: round-trips `key` through the pack's kv store: set, get,
//! delete, get again. Returns `{"got", "deleted", "after_delete"}`.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    key: String,
    value: String,
    #[serde(default)]
    ttl: Option<u32>,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    kv::set(&input.key, &input.value, input.ttl)?;
    let got = kv::get(&input.key)?;
    let deleted = kv::delete(&input.key)?;
    let after_delete = kv::get(&input.key)?;
    Ok(json!({
        "got": got,
        "deleted": deleted,
        "after_delete": after_delete,
    }))
}

drover_sdk::export_action!(run);
