//! `drover secret set|list`. Values are read from standard input, never
//! from the command line (where `ps` and shell history would see them),
//! and are never printed.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::SecretCmd;
use crate::context::open_store;
use crate::output;

/// Largest secret value accepted.
const MAX_SECRET_BYTES: u64 = 64 << 10;

pub fn run(db: &Path, cmd: SecretCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        SecretCmd::Set { name } => {
            if !is_secret_name(&name) {
                bail!(
                    "secret names are letters, digits and . _ - / (e.g. redfish.password); got {name:?}"
                );
            }
            let mut value = String::new();
            std::io::stdin()
                .take(MAX_SECRET_BYTES + 1)
                .read_to_string(&mut value)
                .context("cannot read the secret value from standard input")?;
            if value.len() as u64 > MAX_SECRET_BYTES {
                bail!("the secret value is over {MAX_SECRET_BYTES} bytes");
            }
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            store.secret_set(&name, value)?;
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

/// Names a `secrets` grant scope can match: letters, digits and `._-/`.
fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
}
