//! `core.noop`: does nothing and returns `{}`. Useful as a workflow
//! placeholder and for measuring the runtime's own overhead.

use drover_sdk::prelude::*;

fn run(_input: Value, _ctx: &Context) -> Result<Value, Error> {
    Ok(json!({}))
}

drover_sdk::export_action!(run);
