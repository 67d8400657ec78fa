//! `drover grant add|list|revoke`: an operator's permissions, bound to a
//! pack version and its component digests.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use drover_core::{ChangeBy, Grant};

use crate::cli::GrantCmd;
use crate::context::{actor, open_store};
use crate::output;

pub fn run(db: &Path, cmd: GrantCmd) -> Result<ExitCode> {
    match cmd {
        GrantCmd::Add {
            pack,
            capability,
            scope,
            plugin,
            reason,
            json,
        } => {
            let by = ChangeBy::new(&actor(), reason.as_deref())?;
            add(db, &pack, &capability, &scope, plugin.as_deref(), &by, json)
        }
        GrantCmd::List { pack, all, json } => list(db, pack.as_deref(), all, json),
        GrantCmd::Revoke { id, reason } => {
            revoke(db, &id, &ChangeBy::new(&actor(), reason.as_deref())?)
        }
    }
}

fn add(
    db: &Path,
    pack_ref: &str,
    capability: &str,
    scope: &str,
    only_plugin: Option<&str>,
    by: &ChangeBy,
    as_json: bool,
) -> Result<ExitCode> {
    let store = open_store(db)?;
    let grant = drover_app::give_grant(&store, pack_ref, capability, scope, only_plugin, by)?;
    print_given(&grant, as_json)?;
    Ok(ExitCode::SUCCESS)
}

/// What `drover grant add` prints, local or remote.
pub(crate) fn print_given(grant: &Grant, as_json: bool) -> Result<()> {
    if as_json {
        return output::json(grant);
    }
    println!(
        "granted {} to {} (plugins: {}) scope '{}'",
        grant.capability,
        grant.pack_ref(),
        grant.digests.keys().cloned().collect::<Vec<_>>().join(", "),
        grant.scope
    );
    println!("{}", grant.id);
    Ok(())
}

fn list(db: &Path, pack: Option<&str>, all: bool, as_json: bool) -> Result<ExitCode> {
    print_list(&open_store(db)?.list_grants(pack, all)?, as_json)?;
    Ok(ExitCode::SUCCESS)
}

/// What `drover grant list` prints, local or remote.
pub(crate) fn print_list(grants: &[Grant], as_json: bool) -> Result<()> {
    if as_json {
        return output::json(&grants);
    }
    if grants.is_empty() {
        println!("no grants");
        return Ok(());
    }
    let mut rows = vec![vec![
        "ID".into(),
        "PACK".into(),
        "CAPABILITY".into(),
        "SCOPE".into(),
        "PLUGINS".into(),
        "GRANTED".into(),
        "STATE".into(),
    ]];
    let mut problems = Vec::new();
    for g in grants {
        let problem = scope_problem(g);
        rows.push(vec![
            g.id.to_string(),
            g.pack_ref(),
            g.capability.clone(),
            g.scope.clone(),
            g.digests.keys().cloned().collect::<Vec<_>>().join(","),
            format!("{} by {}", output::time(g.created_at_ms), g.created_by),
            match (g.revoked_at_ms, &problem) {
                (Some(t), _) => format!("revoked {}", output::time(t)),
                (None, Some(_)) => "active, MATCHES NOTHING (see below)".into(),
                (None, None) => "active".into(),
            },
        ]);
        if let (None, Some(why)) = (g.revoked_at_ms, problem) {
            problems.push(format!(
                "grant {} ({} {}): {why}",
                g.id,
                g.pack_ref(),
                g.capability
            ));
        }
    }
    output::table(&rows);
    for p in problems {
        println!("{p}");
    }
    Ok(())
}

/// Why a stored grant covers less than its scope seems to say (a `command`
/// grant from before scopes named nodes matches no node), if it does.
fn scope_problem(g: &drover_core::Grant) -> Option<String> {
    let cap: drover_policy::Capability = g.capability.parse().ok()?;
    match drover_policy::Scope::parse_stored(cap, &g.scope) {
        Ok(scope) => scope.problem(),
        Err(e) => Some(format!(
            "its scope no longer parses ({e}); it matches nothing"
        )),
    }
}

fn revoke(db: &Path, id: &str, by: &ChangeBy) -> Result<ExitCode> {
    print_revoked(&drover_app::revoke_grant(&open_store(db)?, id, by)?);
    Ok(ExitCode::SUCCESS)
}

/// What `drover grant revoke` prints, local or remote.
pub(crate) fn print_revoked(g: &Grant) {
    println!(
        "revoked grant {}: {} on {} scope '{}'",
        g.id,
        g.capability,
        g.pack_ref(),
        g.scope
    );
}
