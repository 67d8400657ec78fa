//! `drover pack test [DIR] [--json] [--filter TEXT]`: prints what
//! `drover_engine::pack_test` (the runner, shared with `pack build`)
//! found, one line per test, and chooses the exit code: 0 every test
//! passed, 1 a test failed, 2 bad input (the pack or a test file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use drover_engine::pack_test::{Options, test_pack};

use crate::output;

#[derive(Args, Debug)]
pub struct PackTestArgs {
    /// The pack directory (default: the current directory).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Run only the tests whose name contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(db: &Path, args: PackTestArgs) -> Result<ExitCode> {
    // The installation's compiled cache, when there is one, so a component
    // installed (or tested) before is not compiled again; never its
    // database.
    let cache = db.parent().map(|d| d.join("cache")).filter(|c| c.is_dir());
    let opts = Options {
        filter: args.filter,
        cache_dir: cache,
    };
    let report = match test_pack(&args.dir, &opts) {
        Ok(r) => r,
        Err(e) => {
            if args.json {
                output::json(&serde_json::json!({"error": e.to_string()}))?;
            }
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.json {
        output::json(&report)?;
    } else if report.files.is_empty() {
        println!(
            "{}: no tests{} (test files are {}/tests/*.yaml; see docs/pack-authoring.md, \
             \"Testing a pack\")",
            report.pack,
            if opts.filter.is_some() {
                " match --filter"
            } else {
                ""
            },
            args.dir.display()
        );
    } else {
        println!("{report}");
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
