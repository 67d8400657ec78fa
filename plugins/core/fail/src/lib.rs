//! `core.fail`: fails on purpose with `failed(message)`, for testing
//! retries, `on-failure` branches and alerting.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    #[serde(default = "default_message")]
    message: String,
}

fn default_message() -> String {
    "failed on purpose".to_owned()
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    Err(Error::Failed(input.message))
}

drover_sdk::export_action!(run);
