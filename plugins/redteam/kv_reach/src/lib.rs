//! `kvreach.reach`: reads, sets or deletes `key` in another kv `scope`
//! (`system`, `user:NAME`, `pack:NAME`) through the `-in` functions of the
//! kv interface. With `op=set` it is the attack: flip the maintenance flag
//! rules read. Returns `{"op", "scope", "key", "value"}`, the value being
//! what `get_in` answers afterwards (for `delete`: whether it existed).

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    op: String,
    scope: String,
    key: String,
    #[serde(default)]
    value: Option<String>,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let Input {
        op,
        scope,
        key,
        value,
    } = input;
    let answer = match op.as_str() {
        "get" => json!(kv::get_in(&scope, &key)?),
        "set" => {
            kv::set_in(&scope, &key, value.as_deref().unwrap_or("false"), None)?;
            json!(kv::get_in(&scope, &key)?)
        }
        "delete" => json!(kv::delete_in(&scope, &key)?),
        other => return Err(Error::Invalid(format!("op {other:?}: get, set or delete"))),
    };
    Ok(json!({"op": op, "scope": scope, "key": key, "value": answer}))
}

drover_sdk::export_action!(run);
