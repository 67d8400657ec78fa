//! `core.sleep`: sleeps for `seconds` and returns `{"slept_seconds": x}`.
//!
//! Sleeps in chunks of at most 10 ms: a sleep is a blocking host call that
//! the epoch deadline cannot interrupt, so short chunks let the host stop
//! the plugin at its timeout, between two chunks.

use std::time::{Duration, Instant};

use drover_sdk::prelude::*;

/// The longest single host sleep; about one epoch tick.
const CHUNK: Duration = Duration::from_millis(10);

#[derive(serde::Deserialize)]
struct Input {
    seconds: f64,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let total = Duration::try_from_secs_f64(input.seconds).map_err(|_| {
        Error::invalid(format!(
            "seconds must be a finite number >= 0, got {}",
            input.seconds
        ))
    })?;
    let start = Instant::now();
    loop {
        let left = total.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(CHUNK));
    }
    Ok(json!({"slept_seconds": input.seconds}))
}

drover_sdk::export_action!(run);
