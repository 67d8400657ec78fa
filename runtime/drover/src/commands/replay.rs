//! `drover replay`: stored trigger instances through a candidate pack
//! version as dry runs, next to what the live version did (see
//! `drover_engine::replay`). Runs in this process, at low CPU priority,
//! reading the database on its own connections: it works beside a
//! `drover serve` of the same database (it takes no serve lock and writes
//! nothing there).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use drover_app::compare::RuleOutcome;
use drover_engine::replay::{self, Replay, Setup, Spec, TriggerReplay};

use crate::output;

/// Replays stored trigger instances through a candidate version of a pack
/// as dry runs (effects planned, never performed) and shows, per trigger,
/// what the live version did next to what the candidate would do; a
/// summary first.
///
/// A trigger acts differently when a different set of the pack's rules
/// fires, a rule fires a different action or the same action with other
/// (validated) parameters, or the effects on nodes differ (reboot, drain,
/// set-state, command: capability, target and decision). Dry runs happen
/// on a scratch copy of the database, removed afterwards; nothing is
/// stored in this database.
///
/// Node states are rebuilt for each trigger's moment from node history;
/// kv values, labels, budgets and the brake are today's (listed under
/// "approximated").
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ReplayArgs {
    /// The candidate: an installed pack version, NAME@VERSION (a shadowed
    /// candidate, or any other installed version).
    #[arg(long, value_name = "NAME@VERSION")]
    pub pack: String,
    /// Triggers received since: an age (7d, 12h) or a time
    /// (2026-01-31T12:00:00Z); at most 400 days back. Default: 7d
    /// (unless --ids).
    #[arg(long, value_name = "AGE|TIME")]
    pub since: Option<String>,
    /// Triggers received before: an age or a time.
    #[arg(long, value_name = "AGE|TIME")]
    pub until: Option<String>,
    /// Only this trigger type (repeatable; default: the types the
    /// candidate's rules listen to).
    #[arg(long = "type", value_name = "TRIGGER_TYPE")]
    pub types: Vec<String>,
    /// Only this rule of the candidate (`pack.name`), and its live
    /// counterpart.
    #[arg(long, value_name = "REF")]
    pub rule: Option<String>,
    /// A rule file to try with the candidate: it replaces the candidate's
    /// rule of the same name (or joins its rules). With the live version
    /// as --pack: what a changed rule would have done, nothing installed.
    #[arg(long, value_name = "FILE")]
    pub rule_file: Option<std::path::PathBuf>,
    /// A workflow file to try with the candidate: it replaces the workflow
    /// of the candidate's action whose workflow file has the same name
    /// (`ACTION=FILE` names the action, e.g.
    /// `handle_no_contact=./new.yaml`). Checked as an install checks
    /// workflows; the action's parameters stay the version's.
    #[arg(long, value_name = "[ACTION=]FILE")]
    pub workflow_file: Option<String>,
    /// These trigger instances (comma-separated ids) instead of a window.
    #[arg(long, value_delimiter = ',', value_name = "ID,ID")]
    pub ids: Vec<String>,
    /// At most this many triggers, oldest first (hard cap 100000).
    #[arg(long, default_value_t = replay::DEFAULT_LIMIT)]
    pub limit: usize,
    /// List every trigger, not only those that act differently (at most
    /// 1000 listed; the summary counts all).
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

/// `--pack NAME@VERSION` split, or why not.
pub fn split(pack: &str) -> Result<(&str, &str)> {
    let Some((name, version)) = pack.split_once('@') else {
        bail!(
            "--pack {pack:?}: give the candidate as NAME@VERSION, e.g. batchops@0.2.0 \
             (`drover pack list` shows the installed versions)"
        );
    };
    if name.is_empty() || version.is_empty() {
        bail!("--pack {pack:?}: give NAME@VERSION");
    }
    Ok((name, version))
}

/// `drover --server URL replay`: the server runs it (`POST
/// /api/v1/packs/{name}/replay`, operator, at most 10000 triggers) and
/// this prints what the local command prints.
pub fn remote(remote: &crate::remote::Remote, args: ReplayArgs) -> Result<ExitCode> {
    let (pack, version) = split(&args.pack)?;
    if args.rule_file.is_some() || args.workflow_file.is_some() {
        bail!(
            "--rule-file and --workflow-file replay on the drover host itself (the file is read \
             here, and the server replays only installed versions): run `drover replay` there \
             without --server, or install the change as a new version and replay that"
        );
    }
    let body = serde_json::json!({
        "version": version,
        "since": args.since,
        "until": args.until,
        "types": args.types,
        "rule": args.rule,
        "ids": args.ids,
        "limit": args.limit,
        "all": args.all,
    });
    let answer = remote.with_timeout(REMOTE_TIMEOUT).post(
        &format!("/api/v1/packs/{}/replay", crate::remote::segment(pack)),
        &body,
    )?;
    if args.json {
        output::json(&answer)?;
    } else {
        let result: Replay = serde_json::from_value(answer)
            .map_err(|e| anyhow::anyhow!("the server's replay is not the JSON expected: {e}"))?;
        print(&result);
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `--server` waits for a replay's answer.
const REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub fn run(db: &Path, args: ReplayArgs) -> Result<ExitCode> {
    let (pack, version) = split(&args.pack)?;
    if args.limit == 0 || args.limit > replay::MAX_LIMIT {
        bail!(
            "--limit {}: give 1 to {} triggers",
            args.limit,
            replay::MAX_LIMIT
        );
    }
    let since = match (&args.since, args.ids.is_empty()) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => Some("7d".to_owned()),
        (None, false) => None,
    };
    let since_ms = since
        .map(|s| replay::parse_time("--since", &s))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let until_ms = args
        .until
        .as_deref()
        .map(|s| replay::parse_time("--until", s))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if let (Some(s), Some(u)) = (since_ms, until_ms)
        && u <= s
    {
        bail!("--until is not after --since: nothing to replay");
    }
    if !db.exists() {
        bail!("no database at {}", db.display());
    }
    // Low priority: the live pipeline of a `drover serve` on this machine
    // goes first (Linux: a nice value for this process).
    // SAFETY: setpriority on this process only.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    let data = db.parent().unwrap_or(Path::new("."));
    let setup = Setup {
        db,
        cache_dir: &data.join("cache"),
        ssh: drover_host::ssh::SshSettings::in_dir(data.join("ssh")),
    };
    let rule_file = match &args.rule_file {
        Some(path) => Some((
            path.display().to_string(),
            drover_text::yaml::read_file(path)
                .with_context(|| format!("--rule-file {}", path.display()))?,
        )),
        None => None,
    };
    let workflow_file = args
        .workflow_file
        .as_deref()
        .map(read_workflow_file)
        .transpose()?;
    let spec = Spec {
        pack: pack.to_owned(),
        version: version.to_owned(),
        since_ms,
        until_ms,
        types: args.types,
        rule: args.rule,
        ids: args.ids,
        limit: args.limit,
        all: args.all,
        rule_file,
        workflow_file,
    };
    let progress = |n: usize| {
        if !args.json {
            eprintln!("… {n} triggers replayed");
        }
    };
    let result = replay::replay(&setup, &spec, progress)?;
    if args.json {
        output::json(&result)?;
    } else {
        print(&result);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--workflow-file [ACTION=]FILE` read. A path with `=` in it is taken
/// whole when it exists.
fn read_workflow_file(arg: &str) -> Result<replay::WorkflowFile> {
    let (action, path) = match arg.split_once('=') {
        Some((action, path)) if !Path::new(arg).exists() && !action.is_empty() => {
            (Some(action.to_owned()), path)
        }
        _ => (None, arg),
    };
    let text = drover_text::yaml::read_file(Path::new(path))
        .with_context(|| format!("--workflow-file {path}"))?;
    Ok(replay::WorkflowFile {
        action,
        path: path.to_owned(),
        text,
    })
}

/// The text of a replay's result, locally and through `--server`.
pub fn print(r: &Replay) {
    let s = &r.summary;
    println!(
        "replay of {} (live: {}) over {} trigger(s){}: {} would act differently",
        r.candidate,
        r.live.as_deref().unwrap_or("none"),
        s.triggers,
        if s.limited {
            " (stopped at --limit: more in the window)"
        } else {
            ""
        },
        s.differ,
    );
    println!(
        "  rules fired: live {}, candidate {}; {:.1} s",
        s.fired_live,
        s.fired_candidate,
        s.elapsed_ms as f64 / 1000.0
    );
    if !s.effects.is_empty() {
        let kinds: Vec<String> = s
            .effects
            .iter()
            .map(|(k, c)| format!("{k} {} allowed / {} denied", c.allowed, c.denied))
            .collect();
        println!("  candidate's planned effects: {}", kinds.join(", "));
    }
    let nodes = |label: &str, v: &[String]| {
        if !v.is_empty() {
            let mut shown: Vec<&str> = v.iter().take(20).map(String::as_str).collect();
            if v.len() > 20 {
                shown.push("…");
            }
            println!("  {label} ({}): {}", v.len(), shown.join(", "));
        }
    };
    nodes("nodes it would reboot", &s.rebooted);
    nodes("nodes it would drain", &s.drained);
    if let Some(h) = &s.worst_hour {
        println!(
            "  worst hour: {} node(s) out from {}",
            h.nodes,
            output::time(h.hour_ms)
        );
    }
    for h in s.worst_rack_hours.iter().take(3) {
        println!(
            "  worst rack hour: {} node(s) of rack {} from {}",
            h.nodes,
            if h.rack.is_empty() { "(none)" } else { &h.rack },
            output::time(h.hour_ms)
        );
    }
    for d in &s.denials {
        println!(
            "  lacks a grant: {} {} ({} time(s)): {}",
            d.capability, d.target, d.count, d.reason
        );
    }
    if s.errors > 0 {
        println!("  dry runs that could not run: {}", s.errors);
    }
    if !r.approximations.is_empty() {
        println!("approximated:");
        for a in &r.approximations {
            println!("  - {a}");
        }
    }
    for t in &r.triggers {
        print_trigger(t);
    }
}

fn print_trigger(t: &TriggerReplay) {
    println!();
    println!(
        "{} {} {} {}{}",
        if t.differs { "DIFFERS" } else { "same   " },
        t.id,
        output::time(t.received_at_ms),
        t.trigger_type,
        short_payload(&t.payload)
    );
    for d in &t.differences {
        println!("  ≠ {d}");
    }
    for n in &t.notes {
        println!("  note: {n}");
    }
    side("live", &t.live);
    side("candidate", &t.candidate);
}

fn short_payload(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.len() > 100 {
        format!(" {}…", &text[..text.floor_char_boundary(100)])
    } else {
        format!(" {text}")
    }
}

fn side(label: &str, outcomes: &[RuleOutcome]) {
    if outcomes.is_empty() {
        println!("  {label}: no rule of the pack matched");
    }
    for o in outcomes {
        let mut line = format!("  {label}: {} {}", o.rule, o.verdict);
        if let Some(a) = &o.action {
            line.push_str(&format!(" → {a}"));
        }
        if let Some(s) = &o.status {
            line.push_str(&format!(" [{s}]"));
        }
        if let Some(w) = &o.why {
            line.push_str(&format!(" ({w})"));
        }
        println!("{line}");
        for e in o.effects.iter().filter(|e| e.compared()) {
            let gate = e
                .gate
                .as_deref()
                .map(|g| format!(" by {g}"))
                .unwrap_or_default();
            println!("      {} {} {}{gate}", e.capability, e.target, e.decision);
        }
    }
}
