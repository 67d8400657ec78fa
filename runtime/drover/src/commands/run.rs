//! `drover run`: run one action now, in this process, and store it. A
//! workflow (`runner: workflow`) runs here too until it ends (every child
//! execution stored and, with `--dry-run`, dry) or waits (paused, an
//! inquiry: exit code 3, continued by `drover serve` or the CLI). A dry
//! run asks no one: its inquiries are answered by `--answer` or a default,
//! in the plan.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use drover_core::ExecStatus;
use drover_host::RunOptions;
use drover_pack::ActionRef;
use serde_json::Value;

use crate::cli::RunArgs;
use crate::context::{actor, open_app};
use crate::output;

pub fn run(db: &Path, args: RunArgs) -> Result<ExitCode> {
    let action: ActionRef = args.action.parse()?;
    let app = open_app(db)?;
    let version = args.version.as_deref();
    let (pack, plugin) = app.runtime().action_plugin_version(&action, version)?;
    if !args.dry_run && app.runtime().is_shadow(&pack) {
        // Liveness follows the least-trusted link: the operator is trusted,
        // the pack is not (yet).
        eprintln!(
            "note: {} is in shadow mode: this is a dry run (its effects are planned, not \
             performed); `drover pack promote {}` makes it run for real",
            pack.reference(),
            pack.reference()
        );
    }
    let schema = &plugin.parameters;
    let mut params = match &args.params_json {
        Some(text) => {
            serde_json::from_str::<Value>(text).context("--params-json is not valid JSON")?
        }
        None => Value::Object(Default::default()),
    };
    let Value::Object(map) = &mut params else {
        bail!("--params-json must be a JSON object, e.g. '{{\"message\": \"hi\"}}'");
    };
    let cli =
        schema
            .parse_cli_args(&args.params)
            .map_err(|problem| drover_host::RunError::Params {
                action: action.to_string(),
                problem,
                params: schema.describe(),
            })?;
    if let Value::Object(cli) = cli {
        map.extend(cli);
    }
    let opts = RunOptions {
        dry_run: args.dry_run,
        actor: actor(),
        timeout: args.timeout,
    };
    let answer = match &args.answer {
        Some(_) if !plugin.is_workflow() => {
            bail!("--answer answers a workflow's core.ask tasks; {action} is not a workflow")
        }
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .context("--answer is not valid JSON, e.g. '{\"approve\": true}'")?,
        ),
        None => None,
    };
    if plugin.is_workflow() {
        let outcome = drover_engine::workflows::run_workflow_as(
            &app, &action, version, params, &opts, answer,
        )?;
        return super::exec_control::print_outcome(&outcome, args.json);
    }
    let exec = app.runtime().run_prepared(
        &app.runtime().prepare_version(&action, version)?,
        params,
        &opts,
    )?;
    if args.json {
        output::json(&exec)?;
    } else {
        output::execution(&exec);
    }
    Ok(match exec.status {
        ExecStatus::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
