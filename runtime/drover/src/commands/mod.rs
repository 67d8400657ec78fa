//! One module per subcommand; [`dispatch`] routes to them.

pub mod access;
mod audit;
pub mod brake;
pub mod budget;
pub mod changes;
pub mod demo;
pub mod exec;
pub mod exec_control;
pub mod fleet;
pub mod gc;
pub mod grant;
pub mod incident;
pub mod inquiry;
pub mod key;
mod kv;
pub mod node;
pub mod pack;
pub mod pack_archive;
pub mod pack_test;
pub mod policy;
pub mod replay;
mod rule;
mod run;
pub(crate) mod secret;
mod sensor;
mod serve;
pub mod shadow;
pub mod sim;
pub mod trigger;
pub mod trust;
mod workflow;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::db_path;

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    let db = db_path(cli.db.as_deref())?;
    let remote = match &cli.server {
        Some(url) => Some(crate::remote::Remote::new(url, cli.token.clone())?),
        None => None,
    };
    match cli.command {
        Command::Token(cmd) => return access::token(&db, remote, cmd),
        Command::User(cmd) if remote.is_none() => return access::user(&db, cmd),
        // Offline: they read files, never a drover, so --server changes nothing.
        Command::Workflow(cmd) => return workflow::run(cmd),
        // Offline: files and keys on this machine (verify reads the local
        // database's trusted keys when there is one; push and pull talk to
        // an OCI registry, never a drover).
        Command::Key(cmd) => return key::run(cmd),
        Command::Pack(
            cmd @ (crate::cli::PackCmd::Build { .. }
            | crate::cli::PackCmd::Sign { .. }
            | crate::cli::PackCmd::Verify { .. }
            | crate::cli::PackCmd::Push { .. }
            | crate::cli::PackCmd::Pull { .. }),
        ) => return pack_archive::run(&db, cmd),
        // Its own database in --dir, set up and served in this process.
        Command::Demo(args) => return demo::run(args),
        // Offline: it writes a pack directory, never a drover.
        Command::Pack(cmd @ crate::cli::PackCmd::New { .. }) => {
            return pack::run_offline(cmd);
        }
        Command::Rule(crate::cli::RuleCmd::Test(args)) => {
            return rule::run(&db, crate::cli::RuleCmd::Test(args));
        }
        _ => {}
    }
    if let Some(remote) = remote {
        return crate::remote::dispatch(&remote, cli.command);
    }
    match cli.command {
        Command::Pack(cmd) => pack::run(&db, cmd),
        Command::Run(args) => run::run(&db, args),
        Command::Grant(cmd) => grant::run(&db, cmd),
        Command::Trust(cmd) => trust::run(&db, cmd),
        Command::Exec(cmd) => exec::run(&db, cmd),
        Command::Audit(cmd) => audit::run(&db, cmd),
        Command::Changes(cmd) => changes::run(&db, cmd),
        Command::Secret(cmd) => secret::run(&db, cmd),
        Command::Rule(cmd) => rule::run(&db, cmd),
        Command::Workflow(cmd) => workflow::run(cmd),
        Command::Serve(args) => serve::run(&db, args),
        Command::Trigger(cmd) => trigger::run(&db, cmd),
        Command::Incident(cmd) => incident::run(&db, cmd),
        Command::Shadow(cmd) => shadow::run(&db, cmd),
        Command::Replay(args) => replay::run(&db, args),
        Command::Kv(cmd) => kv::run(&db, cmd),
        Command::Sensor(cmd) => sensor::run(&db, cmd),
        Command::Node(cmd) => node::run(&db, cmd),
        Command::Budget(cmd) => budget::run(&db, cmd),
        Command::Brake(cmd) => brake::run(&db, cmd),
        Command::Sim(cmd) => sim::run(&db, cmd),
        Command::Fleet(cmd) => fleet::run(&db, cmd),
        Command::Inquiry(cmd) => inquiry::run(&db, cmd),
        Command::Policy(cmd) => policy::run(&db, cmd),
        Command::Retention(cmd) => gc::retention_cmd(&db, cmd),
        Command::Gc(args) => gc::gc(&db, args),
        Command::Token(_) | Command::User(_) | Command::Demo(_) | Command::Key(_) => {
            unreachable!("dispatched above")
        }
    }
}
