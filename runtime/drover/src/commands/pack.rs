//! `drover pack install|list|show`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use drover_pack::Pack;
use drover_policy::Capability;
use serde_json::json;

use crate::cli::PackCmd;
use crate::context::{actor, open_runtime, open_store};
use crate::output;

pub fn run(db: &Path, cmd: PackCmd) -> Result<ExitCode> {
    match cmd {
        PackCmd::Install { dirs, json } => install(db, &dirs, json),
        PackCmd::List { json } => list(db, json),
        PackCmd::Show { pack, json } => show(db, &pack, json),
    }
}

fn install(db: &Path, dirs: &[std::path::PathBuf], as_json: bool) -> Result<ExitCode> {
    let runtime = open_runtime(db)?;
    let mut reports = Vec::new();
    for dir in dirs {
        let cannot = || format!("cannot install the pack in {}", dir.display());
        // Rules are checked first: a bad rule refuses the whole pack.
        let pack_rules = drover_engine::read_pack_rules(dir).with_context(cannot)?;
        let rules = pack_rules.references();
        let report = runtime.install(dir, &actor()).with_context(cannot)?;
        drover_engine::store_pack_rules(runtime.store(), pack_rules).with_context(cannot)?;
        if !as_json {
            let verb = if report.replaced {
                "reinstalled"
            } else {
                "installed"
            };
            println!("{verb} {}", report.pack);
            for p in &report.plugins {
                let imports = if p.imports.is_empty() {
                    "no host imports".to_string()
                } else {
                    p.imports.join(", ")
                };
                println!("  {} ({}) {}  imports: {imports}", p.name, p.kind, p.digest);
            }
            for r in &rules {
                println!("  rule {r}");
            }
        }
        reports.push(report);
    }
    if as_json {
        output::json(&reports)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(db: &Path, as_json: bool) -> Result<ExitCode> {
    let packs = open_store(db)?.list_packs()?;
    if as_json {
        let rows: Vec<_> = packs
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "version": p.version,
                    "description": p.manifest.get("description"),
                    "plugins": p.digests,
                    "installed_at": output::time(p.installed_at_ms),
                    "installed_by": p.installed_by,
                    "source_dir": p.source_dir,
                })
            })
            .collect();
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if packs.is_empty() {
        println!("no packs installed; try `drover pack install packs/core`");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![vec![
        "PACK".into(),
        "VERSION".into(),
        "PLUGINS".into(),
        "INSTALLED".into(),
        "DESCRIPTION".into(),
    ]];
    for p in &packs {
        rows.push(vec![
            p.name.clone(),
            p.version.clone(),
            p.digests.keys().cloned().collect::<Vec<_>>().join(","),
            output::time(p.installed_at_ms),
            p.manifest["description"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    output::table(&rows);
    Ok(ExitCode::SUCCESS)
}

fn show(db: &Path, spec: &str, as_json: bool) -> Result<ExitCode> {
    let store = open_store(db)?;
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let Some(installed) = store.get_pack(name, version)? else {
        bail!("no pack {spec:?} is installed (see `drover pack list`)");
    };
    let pack: Pack = serde_json::from_value(installed.manifest.clone())?;
    let grants = store.active_grants(&pack.name, &pack.version)?;
    if as_json {
        output::json(&json!({
            "pack": installed,
            "grants": grants,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} — {}", pack.reference(), pack.description);
    println!(
        "installed {} by {} from {}",
        output::time(installed.installed_at_ms),
        installed.installed_by,
        installed.source_dir
    );
    for plugin in &pack.plugins {
        let digest = installed
            .digests
            .get(&plugin.name)
            .map(String::as_str)
            .unwrap_or("?");
        println!();
        println!(
            "{}.{} ({}) {}",
            pack.name, plugin.name, plugin.kind, plugin.description
        );
        println!("  component  {digest}");
        println!(
            "  limits     timeout {:?}, memory {} MiB, output {} KiB",
            plugin.limits.timeout,
            plugin.limits.memory_bytes >> 20,
            plugin.limits.output_bytes >> 10
        );
        for line in plugin.parameters.describe() {
            println!("  param      {line}");
        }
        for cap in &plugin.capabilities {
            println!(
                "  capability {cap}: {}",
                grant_state(*cap, &plugin.name, digest, &grants)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "granted (scope)", "needs no grant", or "not granted".
fn grant_state(
    cap: Capability,
    plugin: &str,
    digest: &str,
    grants: &[drover_core::Grant],
) -> String {
    if !cap.needs_grant() {
        return "needs no grant".into();
    }
    let scopes: Vec<String> = grants
        .iter()
        .filter(|g| {
            g.capability == cap.name() && g.digests.get(plugin).map(String::as_str) == Some(digest)
        })
        .map(|g| format!("'{}' (grant {})", g.scope, g.id))
        .collect();
    if scopes.is_empty() {
        "NOT GRANTED".into()
    } else {
        format!("granted {}", scopes.join(", "))
    }
}
