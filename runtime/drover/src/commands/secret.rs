//! `drover secret set|list`. Values are read from standard input, never
//! from the command line (where `ps` and shell history would see them),
//! and are never printed.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use drover_app::secrets::{MAX_SECRET_BYTES, check_value, set_secret};

use crate::cli::SecretCmd;
use crate::context::open_store;
use crate::output;

/// Reads a secret value from standard input (without its final newline),
/// refusing one over the limit before anything is sent or stored.
pub(crate) fn read_value() -> Result<String> {
    let mut value = String::new();
    std::io::stdin()
        .take(MAX_SECRET_BYTES as u64 + 1)
        .read_to_string(&mut value)
        .context("cannot read the secret value from standard input")?;
    check_value(&value)?;
    let value = value.strip_suffix('\n').unwrap_or(&value);
    Ok(value.strip_suffix('\r').unwrap_or(value).to_owned())
}

pub fn run(db: &Path, cmd: SecretCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        SecretCmd::Set { name } => {
            let value = read_value()?;
            set_secret(&store, &name, &value)?;
            println!("secret {name} set ({} bytes)", value.len());
        }
        SecretCmd::List { json } => {
            let names = store.secret_names()?;
            if json {
                output::json(&names)?;
            } else if names.is_empty() {
                println!("no secrets; set one with `drover secret set NAME < file`");
            } else {
                for n in names {
                    println!("{n}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
