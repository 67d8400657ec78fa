//! `hostile.flood`: produces 100 MB of output, which the host's output cap
//! (result + logs, default 1 MiB) must stop. `mode` picks the channel:
//! `"log"` (64 KiB `log::info` calls), `"stdout"` (64 KiB `print!`s) or
//! `"result"` (one 100 MB JSON string).
//!
//! This plugin implements [`Guest`] itself instead of using
//! `export_action!`: serialising a 100 MB value through serde would need
//! about three times that in guest memory, and the point is to reach the
//! host's cap, not the memory limit.

use std::io::Write;

use drover_sdk::bindings::Guest;
use drover_sdk::prelude::*;
use drover_sdk::serde_json;

const TOTAL: usize = 100_000_000;
const CHUNK: usize = 64 * 1024;

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Log,
    Stdout,
    Result,
}

#[derive(serde::Deserialize)]
struct Input {
    mode: Mode,
}

struct Flood;

impl Guest for Flood {
    fn run(input: String, _ctx: Context) -> Result<String, Error> {
        let input: Input = serde_json::from_str(&input)
            .map_err(|e| Error::invalid(format!("input does not fit hostile.flood: {e}")))?;
        let chunk = "x".repeat(CHUNK);
        match input.mode {
            Mode::Log => {
                for _ in 0..TOTAL / CHUNK {
                    log::info(&chunk);
                }
                Ok("{}".to_owned())
            }
            Mode::Stdout => {
                for _ in 0..TOTAL / CHUNK {
                    print!("{chunk}");
                }
                std::io::stdout()
                    .flush()
                    .map_err(|e| Error::failed(format!("flush stdout: {e}")))?;
                Ok("{}".to_owned())
            }
            Mode::Result => {
                // Built directly as JSON text: `"xxx…"`, no serde copy.
                let mut json = String::with_capacity(TOTAL + 2);
                json.push('"');
                while json.len() + CHUNK <= TOTAL {
                    json.push_str(&chunk);
                }
                json.push('"');
                Ok(json)
            }
        }
    }
}

drover_sdk::bindings::export_guest!(Flood);
