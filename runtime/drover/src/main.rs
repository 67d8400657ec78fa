//! The `drover` binary: command-line parsing, configuration and wiring.
//! Each subcommand lives in `commands/`; they open the store and the
//! plugin runtime and print human text or, with `--json`, JSON.
//!
//! Exit codes: 0 success (for `run`: the execution succeeded), 1 an
//! execution that ended failed/denied/timeout/canceled, 2 anything that
//! stopped the command itself (bad input, unknown action, unreadable
//! database, a refused request), 3 a workflow that waits (paused, or on an
//! inquiry).

mod cli;
mod commands;
mod context;
mod git_source;
mod oci;
mod output;
mod remote;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`drover exec list | head`), as Unix
    // tools do, instead of panicking in `println!`.
    // SAFETY: resetting a signal disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("drover: error: {}", render(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-separated, like `{:#}`, but skipping a
/// cause whose text the message before already quotes (many errors name
/// their source in their own message).
fn render(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}
