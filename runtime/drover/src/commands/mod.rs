//! One module per subcommand; [`dispatch`] routes to them.

mod audit;
mod exec;
mod grant;
mod pack;
mod run;
mod secret;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::db_path;

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    let db = db_path(cli.db.as_deref())?;
    match cli.command {
        Command::Pack(cmd) => pack::run(&db, cmd),
        Command::Run(args) => run::run(&db, args),
        Command::Grant(cmd) => grant::run(&db, cmd),
        Command::Exec(cmd) => exec::run(&db, cmd),
        Command::Audit(cmd) => audit::run(&db, cmd),
        Command::Secret(cmd) => secret::run(&db, cmd),
    }
}
