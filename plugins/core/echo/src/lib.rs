//! `core.echo`: logs `message` at info and returns it as
//! `{"message": ...}`.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    message: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    log::info(&format!("echo {}", input.message));
    Ok(json!({"message": input.message}))
}

drover_sdk::export_action!(run);
