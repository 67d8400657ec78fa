//! `hostile.spin`: loops forever without calling the host. Only the
//! host's epoch deadline can stop it.

use std::hint::black_box;

use drover_sdk::prelude::*;

fn run(_input: Value, _ctx: &Context) -> Result<Value, Error> {
    let mut n = 0u64;
    loop {
        // `black_box` keeps the optimiser from proving the loop useless.
        n = black_box(n.wrapping_add(1));
    }
}

drover_sdk::export_action!(run);
