//! The demo's fresh database, set up the way an operator would: each step
//! is a real `drover` command, shown before it runs, so the demo doubles
//! as a tour of the CLI.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use super::DemoArgs;
use crate::cli::Cli;
use crate::context::open_store;

/// Marks a directory as the demo's own, so recreating it never deletes
/// anything else.
const MARKER: &str = ".drover-demo";
/// The secret the `batchops.no_contact` webhook checks.
pub const TOKEN_SECRET: &str = "batchops.webhook_token";
/// One node in this many never comes back from a reboot: those end in
/// intervention, with an alarm and a ticket.
const LEMON_EVERY: u32 = 50;

/// What the rest of the demo needs to know about the fleet it set up.
pub struct Demo {
    pub db: PathBuf,
    pub admin_user: &'static str,
    pub admin_password: String,
    pub webhook_token: String,
    /// Node names by rack, racks in order.
    pub racks: Vec<Vec<String>>,
    /// Nodes that never come back from a reboot.
    pub lemons: Vec<String>,
}

pub fn prepare(args: &DemoArgs) -> Result<Demo> {
    let batchops = drover_pack::load_pack_dir(&args.packs.join("batchops")).with_context(|| {
        format!(
            "cannot load the batchops pack from {}: run the demo from a drover checkout \
             with its components built (`cargo xtask demo` does both), or pass --packs DIR",
            args.packs.display()
        )
    })?;
    let pack = format!("batchops@{}", batchops.pack.version);
    let db = fresh_dir(&args.dir)?.join("drover.db");
    println!("drover demo: a fresh database in {}\n", db.display());

    let core = args.packs.join("core");
    let batch = args.packs.join("batchops");
    step(&db, &["pack", "install", path(&core), path(&batch)])?;

    let (inventory, racks, lemons) = inventory(args);
    let nodes_file = args.dir.join("nodes.yaml");
    std::fs::write(&nodes_file, inventory)
        .with_context(|| format!("cannot write {}", nodes_file.display()))?;
    step(&db, &["node", "import", path(&nodes_file)])?;

    // Only what the pack's plugins need, scoped as tightly as the story
    // allows. Looking first: ping, and uptime over ssh.
    // A command line without quoting (no argument has a space).
    let cmd = |line: &str| step(&db, &line.split_whitespace().collect::<Vec<_>>());
    let grant = |capability: &str, scope: &str| {
        step(&db, &["grant", "add", &pack, capability, "--scope", scope])
    };
    grant("probe", "*")?;
    grant("command", "cluster=batch: uptime")?;
    // What the health sensor listens to: one NATS subject, one webhook.
    grant("subscribe", "nats:batch.health,webhook:health")?;
    // What the sensor and ping saw of a node, shown on the fleet grid.
    grant("nodes.health", "cluster=batch")?;

    // Dry run: what would the pack do to a dead node? Nothing changes,
    // and without the grants to act, its plan shows the reboot denied.
    let first = racks[0][0].clone();
    let workflow = format!("node={first}");
    let dry_run = ["run", "batchops.handle_no_contact", &workflow, "--dry-run"];
    println!("# Dry run first: what would batchops do to a dead node? Nothing changes.\n");
    step(&db, &["sim", "hang", &first])?;
    step_any(&db, &dry_run)?;

    // Acting: reboots in the batch cluster; alarms and tickets.
    grant("nodes.reboot", "cluster=batch")?;
    grant("http", &format!("http://{}", super::sink::ADDR))?;

    // Budgets: one node per rack out at a time, 2% of the fleet at most.
    cmd("budget set rack-one --strategy groupsemaphore --label rack --max 1")?;
    cmd("budget set fleet --max-unavailable 2%")?;
    println!("# The same dry run, granted: the plan holds the reboot and the fleet's answer.\n");
    step_any(&db, &dry_run)?;
    step(&db, &["sim", "heal", &first])?;

    // The storm brake: above 5% of the fleet unhealthy within 2 minutes,
    // automatic reboots stop; each waits 10 s first, so a storm trips the
    // brake before its first reboot.
    cmd("brake set --threshold 5% --window 2m --settle 10s")?;
    // Short rungs, so a node that never comes back reaches intervention
    // while you watch (the default ladder allows 10 minutes per rung).
    cmd("fleet ladder set default graceful-restart:20s,force-restart:20s")?;

    let store = open_store(&db)?;
    let webhook_token = random_hex(16)?;
    println!("$ drover secret set {TOKEN_SECRET}    # the demo pipes in a generated token");
    store.secret_set(TOKEN_SECRET, &webhook_token)?;
    let admin_password = drover_api::auth::bootstrap_admin(&store)
        .context("cannot create the demo's admin user")?
        .context("the fresh demo database already has users")?;
    Ok(Demo {
        db,
        admin_user: drover_api::auth::FIRST_ADMIN,
        admin_password,
        webhook_token,
        racks,
        lemons,
    })
}

/// Runs one `drover` command in this process, as if typed, against `db`.
pub fn drover(db: &Path, args: &[&str]) -> Result<ExitCode> {
    let argv = ["drover", "--db", path(db)]
        .into_iter()
        .chain(args.iter().copied());
    let mut cli = Cli::try_parse_from(argv)?;
    // The demo works on its own database, whatever DROVER_SERVER says.
    cli.server = None;
    crate::commands::dispatch(cli)
}

/// Shows a setup command, runs it, and insists that it worked.
fn step(db: &Path, args: &[&str]) -> Result<()> {
    if step_any(db, args)? != ExitCode::SUCCESS {
        bail!("demo setup failed at `drover {}`", args.join(" "));
    }
    Ok(())
}

/// Shows a command and runs it; an error stops the demo, an exit code
/// (a dry run's execution that failed) is the caller's to judge.
fn step_any(db: &Path, args: &[&str]) -> Result<ExitCode> {
    println!("$ drover {}", args.join(" "));
    let code = drover(db, args)?;
    println!();
    Ok(code)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("demo paths are UTF-8")
}

/// Creates `dir`, or empties the demo database out of it; refuses a
/// directory that is not the demo's.
fn fresh_dir(dir: &Path) -> Result<&Path> {
    let marker = dir.join(MARKER);
    let is_empty = || std::fs::read_dir(dir).map(|mut d| d.next().is_none());
    if dir.exists() && !marker.exists() && !is_empty()? {
        bail!(
            "{} exists and is not a drover demo directory (no {MARKER} in it); \
             pass --dir with a new or demo directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&marker, "drover demo state; recreated by `drover demo`\n")?;
    // The component cache stays: it is keyed by digest, and saves compiles.
    for name in [
        "drover.db",
        "drover.db-wal",
        "drover.db-shm",
        "drover.db.key",
    ] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e)
                    .with_context(|| format!("cannot remove {name} in {}", dir.display()));
            }
            _ => {}
        }
    }
    Ok(dir)
}

/// The inventory YAML and the node names by rack: racks r01…, nodes
/// b<rack>s<slot>, all in cluster batch, rebooting in 10 s; every
/// `LEMON_EVERY`th node never comes back.
fn inventory(args: &DemoArgs) -> (String, Vec<Vec<String>>, Vec<String>) {
    let width = |n: u32| n.to_string().len().max(2);
    let per_rack = args.nodes.div_ceil(args.racks);
    let (rw, sw) = (width(args.racks), width(per_rack));
    let mut yaml =
        String::from("# The demo's simulated fleet (written by `drover demo`).\nnodes:\n");
    let mut racks = vec![Vec::new(); args.racks as usize];
    let mut lemons = Vec::new();
    for i in 0..args.nodes {
        let (rack, slot) = (i % args.racks + 1, i / args.racks + 1);
        let name = format!("b{rack:0rw$}s{slot:0sw$}");
        let lemon = i % LEMON_EVERY == LEMON_EVERY - 1;
        let no_return = if lemon { 1.0 } else { 0.0 };
        if lemon {
            lemons.push(name.clone());
        }
        yaml.push_str(&format!(
            "  - {{name: {name}, labels: {{rack: r{rack:0rw$}, cluster: batch}}, driver: sim, \
             options: {{reboot_seconds: 10, no_return_rate: {no_return}, seed: {}}}}}\n",
            args.seed
        ));
        racks[(rack - 1) as usize].push(name);
    }
    (yaml, racks, lemons)
}

fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read /dev/urandom for the webhook token")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
