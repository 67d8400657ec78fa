//! Old history written straight into a database, as a site that has run
//! for months has it: what the retention tests and the retention bench
//! (`runtime/drover/benches/retention.rs`) start from.
#![allow(dead_code)]

use std::path::Path;

use rusqlite::params;

pub const DAY_MS: i64 = 86_400_000;

/// The names the history speaks of: a webhook trigger type, the rule that
/// matched it, the action it ran, and a workflow action.
pub struct Names {
    pub trigger_type: &'static str,
    pub rule: &'static str,
    pub action: &'static str,
    pub workflow: &'static str,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Writes, 40 days old, `roots` top-level executions (every tenth a
/// workflow with two children) and as many processed trigger instances,
/// each with its enforcement, and with `audit` an audit record per
/// execution. Returns the execution rows written.
pub fn seed_old_history(db: &Path, roots: u64, names: &Names, audit: bool) -> u64 {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    let start = now_ms() - 40 * DAY_MS;
    let mut rows = 0;
    {
        let mut exec = tx
            .prepare(
                "INSERT INTO executions (id, action, pack_version, digest, parameters, status,
                     result, dry_run, logs, actor, started_at, finished_at, duration_us, parent,
                     task)
                 VALUES (?1, ?2, '0.1.0', 'sha256:0', '{\"node\": \"b7s01\"}', 'succeeded',
                     '{\"ok\": true}', 0, '[]', ?3, ?4, ?4, 100, ?5, ?6)",
            )
            .unwrap();
        let mut trigger = tx
            .prepare(
                "INSERT INTO trigger_instances (id, trigger_type, payload, source, received_at,
                     state, matched)
                 VALUES (?1, ?2, '{\"node\": \"b7s01\"}', 'webhook', ?3, 'processed', 1)",
            )
            .unwrap();
        let mut enforcement = tx
            .prepare(
                "INSERT INTO enforcements (id, trigger_instance_id, rule_ref, execution_id, state, at)
                 VALUES (?1, ?2, ?3, ?4, 'scheduled', ?5)",
            )
            .unwrap();
        let mut audited = tx
            .prepare(
                "INSERT INTO audit (at, execution_id, actor, pack, plugin, capability, target,
                     decision, reason, dry_run)
                 VALUES (?1, ?2, 'rule', 'demo@0.1.0', 'reboot_node', 'nodes.reboot', 'b7s01',
                     'allowed', '', 0)",
            )
            .unwrap();
        let actor = format!("rule:{}", names.rule);
        for i in 0..roots {
            let ms = start + i as i64 * 2;
            let id = |n: u128| ulid::Ulid::from_parts(ms as u64, n).to_string();
            let root = id(0);
            let workflow = i % 10 == 0;
            let action = if workflow {
                names.workflow
            } else {
                names.action
            };
            exec.execute(params![
                root,
                action,
                actor,
                ms,
                None::<String>,
                None::<String>
            ])
            .unwrap();
            rows += 1;
            if workflow {
                for (n, task) in [(1, "check"), (2, "act")] {
                    exec.execute(params![id(n), names.action, actor, ms, root, task])
                        .unwrap();
                    rows += 1;
                }
            }
            trigger
                .execute(params![id(10), names.trigger_type, ms])
                .unwrap();
            enforcement
                .execute(params![id(11), id(10), names.rule, root, ms])
                .unwrap();
            if audit {
                audited.execute(params![ms, root]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    rows
}
