//! `hostile.panic`: panics, like a plugin with a bug. The host must turn
//! the trap into a failed execution carrying the panic message.

use drover_sdk::prelude::*;

fn run(_input: Value, _ctx: &Context) -> Result<Value, Error> {
    panic!("plugin bug: index out of range")
}

drover_sdk::export_action!(run);
