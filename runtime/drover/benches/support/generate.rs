//! The benchmark database: executions and audit records as a busy
//! installation accumulates them (shared by the API and UI benchmarks).

use drover_store::SqliteStore;
use rusqlite::params;

/// Inserts `n` executions (each about a node: `{"node": "n001"}` to
/// `n1000`) and 200,000 audit records in one transaction.
pub fn generate(store: &SqliteStore, n: u64) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    store
        .write(move |conn| {
            let mut stmt = conn.prepare(
                "INSERT INTO executions (id, action, pack_version, digest, parameters, status,
                    result, error, dry_run, plan, logs, actor, started_at, finished_at,
                    duration_us)
                 VALUES (?1, ?2, '0.1.0', 'sha256:0', ?5, ?3, NULL, NULL, 0, NULL, '[]',
                    'bench', ?4, ?4, 100)",
            )?;
            let start = now_ms - n * 10;
            for i in 0..n {
                let ms = start + i * 10;
                let id = ulid::Ulid::from_parts(ms, u128::from(i as u32)).to_string();
                let status = match i % 100 {
                    0 => "timeout",
                    1..=3 => "denied",
                    4..=9 => "failed",
                    _ => "succeeded",
                };
                // About one of the default fleet's 1,000 nodes, as remediations are.
                let parameters = format!(r#"{{"node":"n{:03}"}}"#, i % 1000 + 1);
                stmt.execute(params![
                    id,
                    format!("pack.a{}", i % 10),
                    status,
                    ms as i64,
                    parameters
                ])?;
            }
            conn.execute(
                "INSERT INTO audit (at, execution_id, actor, pack, plugin, capability, target,
                    decision, reason, dry_run)
                 WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 200000)
                 SELECT i, NULL, 'bench', 'demo@0.1.0', 'reboot_node', 'nodes.reboot',
                        printf('n%03d', i % 1000), CASE WHEN i % 20 = 0 THEN 'denied' ELSE 'allowed' END,
                        'bench', 0
                 FROM seq",
                [],
            )?;
            Ok(())
        })
        .expect("generate the database");
}
