//! `drover trust add|list|remove`: the publisher keys this drover trusts
//! to sign pack archives, each for the pack names its patterns match.
//! Adding and removing are changes in the change log. With `--server`,
//! the same through the API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use drover_core::ChangeBy;
use drover_store::TrustedKey;
use serde_json::json;

use crate::context::{actor, open_store};
use crate::output;
use crate::remote::{Remote, answer, segment};

#[derive(Subcommand, Debug)]
pub enum TrustCmd {
    /// Trust a publisher's public key (an OpenSSH ed25519 `.pub` file, as
    /// `drover key new` writes it) to sign the packs `--packs` matches.
    Add {
        /// The public key file.
        #[arg(value_name = "KEY.pub")]
        key: PathBuf,
        /// Your name for the key (shown as the signer of what it signs).
        #[arg(long)]
        name: String,
        /// The pack names it may sign: comma-separated names or patterns
        /// with `*` and `?`, e.g. 'batch*,ops_*' (default: every pack).
        #[arg(long, value_name = "PATTERNS")]
        packs: Option<String>,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List trusted keys.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a key: archives it signed are refused from now on
    /// (pack versions installed already stay installed).
    Remove {
        /// The key's name (see `drover trust list`).
        name: String,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

pub fn run(db: &Path, cmd: TrustCmd) -> Result<ExitCode> {
    match cmd {
        TrustCmd::Add {
            key,
            name,
            packs,
            reason,
            json,
        } => {
            let by = ChangeBy::new(&actor(), reason.as_deref())?;
            let text = read_public_key(&key)?;
            let store = open_store(db)?;
            let what = key.display().to_string();
            let trusted =
                drover_app::trust::add_trust(&store, &what, &text, &name, packs.as_deref(), &by)?;
            print_added(&trusted, json)?;
        }
        TrustCmd::List { json } => print_list(&open_store(db)?.list_trusted_keys()?, json)?,
        TrustCmd::Remove { name, reason } => {
            let by = ChangeBy::new(&actor(), reason.as_deref())?;
            let key = drover_app::trust::remove_trust(&open_store(db)?, &name, &by)?;
            print_removed(&key);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `drover --server URL trust …`: the same through the API (admin to add
/// or remove). `add` reads the key file here and sends its text.
pub fn remote(remote: &Remote, cmd: TrustCmd) -> Result<ExitCode> {
    match cmd {
        TrustCmd::Add {
            key,
            name,
            packs,
            reason,
            json,
        } => {
            let text = read_public_key(&key)?;
            // A file that is no key is this machine's mistake: say so by name.
            drover_pack::signing::parse_public_key(&key.display().to_string(), &text)?;
            let added = remote.post(
                "/api/v1/trust",
                &json!({"name": name, "public_key": text, "packs": packs, "reason": reason}),
            )?;
            print_added(&answer(added)?, json)?;
        }
        TrustCmd::List { json } => {
            let keys: Vec<TrustedKey> = answer(remote.get("/api/v1/trust")?)?;
            print_list(&keys, json)?
        }
        TrustCmd::Remove { name, reason } => {
            let removed = remote.delete_with(
                &format!("/api/v1/trust/{}", segment(&name)),
                &json!({ "reason": reason }),
            )?;
            print_removed(&answer(removed)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_added(trusted: &TrustedKey, json: bool) -> Result<()> {
    if json {
        return output::json(trusted);
    }
    println!(
        "trusted key {} ({}) to sign packs '{}'",
        trusted.name,
        trusted.fingerprint,
        trusted.packs.join(",")
    );
    Ok(())
}

fn print_list(keys: &[TrustedKey], json: bool) -> Result<()> {
    if json {
        return output::json(&keys);
    }
    if keys.is_empty() {
        println!(
            "no trusted keys; archives are installed only with --allow-unsigned (in shadow mode) \
             until you `drover trust add KEY.pub --name NAME`"
        );
        return Ok(());
    }
    let mut rows = vec![vec![
        "NAME".into(),
        "FINGERPRINT".into(),
        "PACKS".into(),
        "ADDED".into(),
    ]];
    for k in keys {
        rows.push(vec![
            k.name.clone(),
            k.fingerprint.clone(),
            k.packs.join(","),
            format!("{} by {}", output::time(k.added_at_ms), k.added_by),
        ]);
    }
    output::table(&rows);
    Ok(())
}

fn print_removed(key: &TrustedKey) {
    println!(
        "no longer trusting key {} ({}); archives it signs are refused from now on",
        key.name, key.fingerprint
    );
}

/// A public key file's text: small, and a regular file.
fn read_public_key(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() || meta.len() > 16 * 1024 {
        anyhow::bail!(
            "{}: not a public key file (an OpenSSH .pub file is one line, well under 16 KiB)",
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} as text (an OpenSSH .pub file)",
            path.display()
        )
    })
}
