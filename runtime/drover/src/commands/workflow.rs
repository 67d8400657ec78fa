//! `drover workflow validate|rehearse|graph`: workflow files, offline — no
//! database, no installed packs.
//!
//! This module only reads files and prints; parsing, validation, the
//! conductor, rehearsal and drawing are `drover_workflow`'s. Exit codes:
//! `validate` 0 valid / 2 invalid; `rehearse` 0 every case passed / 1 a case
//! failed / 2 a spec could not be run; `graph` 0 / 2 invalid.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use drover_workflow::rehearse::rehearse_file;
use drover_workflow::{Workflow, graph, validate};

use crate::cli::{GraphFormat, WorkflowCmd};
use crate::output;

/// Largest workflow or spec file read: hand-written documents held in memory.
const MAX_FILE_BYTES: u64 = 4 << 20;

pub fn run(cmd: WorkflowCmd) -> Result<ExitCode> {
    match cmd {
        WorkflowCmd::Validate { files, json } => validate_files(&files, json),
        WorkflowCmd::Rehearse {
            specs,
            workflows,
            json,
        } => rehearse(&specs, workflows.as_deref(), json),
        WorkflowCmd::Graph { file, format } => draw(&file, format),
    }
}

fn validate_files(files: &[std::path::PathBuf], json: bool) -> Result<ExitCode> {
    let mut all = Vec::new();
    for file in files {
        let text = read(file)?;
        let problems = validate(&file.display().to_string(), &text, None);
        if !json {
            if problems.is_empty() {
                println!("{}: valid", file.display());
            }
            for p in &problems {
                println!("{p}");
            }
        }
        all.extend(problems);
    }
    if json {
        output::json(&all)?;
    } else if !all.is_empty() {
        let n = all.len();
        eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
    }
    Ok(if all.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn rehearse(
    specs: &[std::path::PathBuf],
    workflows: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for spec in specs {
        match rehearse_file(spec, workflows) {
            Ok(report) => {
                if !json {
                    print!("{report}");
                }
                reports.push(report);
            }
            Err(e) => {
                if !json {
                    println!("ERROR {}: {e}", spec.display());
                }
                errors.push(
                    serde_json::json!({"spec": spec.display().to_string(), "error": e.to_string()}),
                );
            }
        }
    }
    let cases: usize = reports.iter().map(|r| r.cases.len()).sum();
    let failed: usize = reports
        .iter()
        .map(|r| r.cases.iter().filter(|c| !c.passed).count())
        .sum();
    if json {
        output::json(&serde_json::json!({"reports": reports, "errors": errors}))?;
    } else {
        println!("{} passed, {failed} failed", cases - failed);
    }
    Ok(if !errors.is_empty() {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn draw(file: &Path, format: GraphFormat) -> Result<ExitCode> {
    let text = read(file)?;
    let wf = match Workflow::parse(&file.display().to_string(), &text, None) {
        Ok(wf) => wf,
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("{d}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    match format {
        GraphFormat::Dot => print!("{}", graph::to_dot(&wf, None)),
        GraphFormat::Svg => print!("{}", graph::to_svg(&wf, None)),
    }
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path) -> Result<String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        bail!("{} is over {MAX_FILE_BYTES} bytes", path.display());
    }
    Ok(text)
}
