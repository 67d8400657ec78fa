//! `testkit.secret`: reads the secret `name` and returns only its length
//! in bytes, `{"length": n}`. It never echoes the secret.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    name: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let secret = secrets::get(&input.name)?;
    Ok(json!({"length": secret.len()}))
}

drover_sdk::export_action!(run);
