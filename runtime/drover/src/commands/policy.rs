//! `drover policy set|list|remove`: the operator's own scheduler policies.
//! A pack's policies govern only its own actions; a limit on another
//! pack's action (one `core.sleep` at a time, retry a vendor's action) is
//! the operator's decision, made here and audited.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use drover_core::{AuditRecord, Decision};
use drover_engine::policies::{OPERATOR, Policy, PolicyKind};
use drover_pack::ActionRef;
use serde_json::json;

use crate::context::{actor, open_app, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Add or replace an operator policy from a policy file (the format of
    /// a pack's `policies/*.yaml`); it may govern any installed action and
    /// applies to live and dry runs alike.
    Set {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Every policy in force: the packs' (each on its own actions) and the
    /// operator's.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an operator policy: `drover policy remove one_sleep`.
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

pub fn run(db: &Path, cmd: PolicyCmd) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Set { file } => {
            let text = drover_text::yaml::read_file(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let policy = Policy::parse(&file, &text, OPERATOR, None)?;
            let app = open_app(db)?;
            let action: ActionRef = policy.resource_ref.parse()?;
            app.runtime().action_plugin(&action).with_context(|| {
                format!(
                    "{}: resource_ref: {} is not an installed action (see `drover pack show`)",
                    file.display(),
                    policy.resource_ref
                )
            })?;
            let store = app.store();
            store.put_policy(OPERATOR, &policy.reference, &text)?;
            audit(store, "policy.set", &policy)?;
            println!(
                "policy {} set on {}: {}; `drover serve` applies it within a second",
                policy.reference,
                policy.resource_ref,
                describe(&policy.kind)
            );
        }
        PolicyCmd::List { json } => list(db, json)?,
        PolicyCmd::Remove { name } => {
            let store = open_store(db)?;
            let reference = format!("{OPERATOR}.{name}");
            let Some(stored) = store
                .list_policies()?
                .into_iter()
                .find(|p| p.reference == reference && p.pack == OPERATOR)
            else {
                anyhow::bail!(
                    "no operator policy {name:?} (`drover policy list` shows them; a pack's \
                     policies go with the pack)"
                );
            };
            let policy = Policy::parse(Path::new(&reference), &stored.definition, OPERATOR, None)?;
            store.delete_policy(OPERATOR, &reference)?;
            audit(&store, "policy.remove", &policy)?;
            println!("policy {reference} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(db: &Path, json: bool) -> Result<()> {
    let store = open_store(db)?;
    let mut rows = Vec::new();
    for stored in store.list_policies()? {
        let policy = Policy::parse(
            Path::new(&stored.reference),
            &stored.definition,
            &stored.pack,
            None,
        )?;
        let owner = if stored.pack == OPERATOR {
            "operator".to_owned()
        } else {
            format!("pack {}", stored.pack)
        };
        rows.push((policy, owner));
    }
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(p, owner)| {
                json!({
                    "ref": p.reference,
                    "owner": owner,
                    "action": p.resource_ref,
                    "enabled": p.enabled,
                    "policy": describe(&p.kind),
                })
            })
            .collect();
        return output::json(&items);
    }
    let mut table = vec![vec![
        "REF".to_owned(),
        "OWNER".to_owned(),
        "ACTION".to_owned(),
        "POLICY".to_owned(),
    ]];
    table.extend(rows.iter().map(|(p, owner)| {
        vec![
            p.reference.clone(),
            owner.clone(),
            p.resource_ref.clone(),
            describe(&p.kind),
        ]
    }));
    output::table(&table);
    Ok(())
}

/// The operator's change, in the audit log beside capability uses.
fn audit(store: &drover_store::Store, what: &str, policy: &Policy) -> Result<()> {
    store.append_audit(AuditRecord {
        id: 0,
        at_ms: drover_core::now_ms(),
        execution_id: None,
        actor: actor(),
        pack: OPERATOR.to_owned(),
        plugin: "policy".to_owned(),
        capability: what.to_owned(),
        target: policy.reference.clone(),
        decision: Decision::Allowed,
        reason: format!("{} on {}", describe(&policy.kind), policy.resource_ref),
        dry_run: false,
    })?;
    Ok(())
}

fn describe(kind: &PolicyKind) -> String {
    match kind {
        PolicyKind::Concurrency {
            threshold,
            cancel,
            semaphore,
            key,
        } => format!(
            "concurrency {threshold} (semaphore {semaphore}{}), excess {}",
            key.as_ref()
                .map(|k| format!(", key {k}"))
                .unwrap_or_default(),
            if *cancel { "canceled" } else { "waits" }
        ),
        PolicyKind::Retry(r) => format!(
            "retry up to {} times after {} ms",
            r.max_retries, r.delay_ms
        ),
    }
}
