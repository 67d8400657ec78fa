//! `drover policy set|list|remove`: the operator's own scheduler policies.
//! A pack's policies govern only its own actions; a limit on another
//! pack's action (one `core.sleep` at a time, retry a vendor's action) is
//! the operator's decision, made here and audited. The operations are
//! `drover_engine::policies::operator`'s, shared with `/api/v1/policies`;
//! with `--server` (`remote.rs`) the same print functions show the API's
//! answers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use drover_engine::policies::operator::{self, PolicyView};

use crate::context::{actor, open_app, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Add or replace an operator policy from a policy file (the format of
    /// a pack's `policies/*.yaml`); it may govern any installed action and
    /// applies to live and dry runs alike.
    Set {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Every policy in force: the packs' (each on its own actions) and the
    /// operator's.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an operator policy: `drover policy remove one_sleep`.
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

pub fn run(db: &Path, cmd: PolicyCmd) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Set { file } => {
            let text = read(&file)?;
            let app = open_app(db)?;
            let set = operator::set(&app, &file.display().to_string(), &text, &actor())?;
            println!("{}", set.set_message());
        }
        PolicyCmd::List { json } => print_list(&operator::list(&open_store(db)?)?, json)?,
        PolicyCmd::Remove { name } => {
            let removed = operator::remove(&open_store(db)?, &name, &actor())?;
            println!("{}", removed.removed_message());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A policy file, as much of it as drover reads of a pack file.
pub(crate) fn read(file: &Path) -> Result<String> {
    drover_text::yaml::read_file(file).with_context(|| format!("cannot read {}", file.display()))
}

/// What `drover policy list` prints, local or remote.
pub(crate) fn print_list(policies: &[PolicyView], json: bool) -> Result<()> {
    if json {
        return output::json(&policies);
    }
    let mut table = vec![vec![
        "REF".to_owned(),
        "OWNER".to_owned(),
        "ACTION".to_owned(),
        "POLICY".to_owned(),
    ]];
    table.extend(policies.iter().map(|p| {
        vec![
            p.reference.clone(),
            p.owner.clone(),
            p.action.clone(),
            p.policy.clone(),
        ]
    }));
    output::table(&table);
    Ok(())
}
