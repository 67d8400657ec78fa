//! The SQLite backend: one file in WAL mode, a single writer thread that
//! batches whatever is queued into one transaction (group commit) with
//! `synchronous=FULL`, and up to four read connections. Callers block
//! until their write is durable, and many concurrent callers share one
//! fsync. Each module implements one of the crate's store traits over
//! its tables; the schema is `migrations/`.

mod audit;
mod auth;
mod events;
mod executions;
mod fleet;
mod grants;
mod inquiries;
mod kv;
mod nodes;
mod packs;
mod policies;
mod retention;
mod rules;
mod secrets;
mod sensors;
mod sim;
mod stream;
mod timers;
mod trust;
mod webhooks;
mod workflows;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};

use super::secrets::SECRET_KEY_ENV;
use crate::{Pending, Result, Storage, StoreError, WriterStats};

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_events.sql")),
        M::up(include_str!("migrations/0003_timers.sql")),
        M::up(include_str!("migrations/0004_sensors.sql")),
        M::up(include_str!("migrations/0005_workflows.sql")),
        M::up(include_str!("migrations/0006_shadow.sql")),
        M::up(include_str!("migrations/0007_fleet.sql")),
        M::up(include_str!("migrations/0008_workflow_control.sql")),
        M::up(include_str!("migrations/0009_policies.sql")),
        M::up(include_str!("migrations/0010_api.sql")),
        M::up(include_str!("migrations/0011_sim.sql")),
        M::up(include_str!("migrations/0012_sensor_trust.sql")),
        M::up(include_str!("migrations/0013_pack_versions.sql")),
        M::up(include_str!("migrations/0014_pack_kv_scopes.sql")),
        M::up(include_str!("migrations/0015_webhook_signatures.sql")),
        M::up(include_str!("migrations/0016_workflow_state_parts.sql")),
        M::up(include_str!("migrations/0017_retention.sql")),
        M::up(include_str!("migrations/0018_node_health.sql")),
        M::up(include_str!("migrations/0019_node_lookups.sql")),
        M::up(include_str!("migrations/0020_execution_finding.sql")),
        M::up(include_str!("migrations/0021_traces.sql")),
        M::up(include_str!("migrations/0022_changes.sql")),
        M::up(include_str!("migrations/0023_side_by_side.sql")),
        M::up(include_str!("migrations/0024_pack_signers.sql")),
    ])
}

/// The SQLite backend. Cheap to clone; all clones share the writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: writer::Writer,
    /// Read connections: the first opened with the store, the others on
    /// first contention, so a long read (the rules stage taking a batch)
    /// does not hold up a short one (a webhook's secret, an API page).
    readers: [Mutex<Option<Connection>>; READERS],
    secrets: secrets::SecretBox,
}

/// Read connections at most.
const READERS: usize = 4;

/// The tables [`SqliteStore::rehearsal_copy`] leaves out: history, and
/// what belongs to sessions and the running service, not to what a dry
/// run reads.
pub const REHEARSAL_SKIPS: &[&str] = &[
    "trigger_instances",
    "enforcements",
    "execution_requests",
    "executions",
    "audit",
    "workflow_runs",
    "workflow_state_parts",
    "inquiries",
    "fleet_requests",
    "node_history",
    "node_health",
    "semaphore_slots",
    "rule_state",
    "timer_state",
    "sensor_status",
    "sessions",
    "api_tokens",
    "users",
    "webhook_signatures",
];

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, brings its schema
    /// up to date and starts the writer thread. The secrets key is the
    /// value of `DROVER_SECRET_KEY` when set, else it lives in `<path>.key`,
    /// created on first use with mode 0600.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let created = create_private(path)?;
        if created {
            // Only possible before the file has its first page (which the
            // WAL switch below writes): lets the collector give deleted
            // history's pages back to the file system (retention.rs).
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        let mut conn = open_connection(path, false)?;
        migrations().to_latest(&mut conn)?;
        let reader = open_connection(path, true)?;
        let env_key = std::env::var(SECRET_KEY_ENV).ok();
        let secrets = secrets::SecretBox::open(&key_path(path), env_key.as_deref())?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: writer::Writer::start(conn),
                readers: [
                    Mutex::new(Some(reader)),
                    Mutex::new(None),
                    Mutex::new(None),
                    Mutex::new(None),
                ],
                secrets,
            }),
        })
    }

    /// A scratch database at `dest` (which must not exist) holding what a
    /// dry run reads of the database at `live`: packs and their
    /// components, rules, policies, grants, kv, secrets (with `live`'s key
    /// file), the fleet's nodes, budgets and settings, simulated faults.
    /// History is left out ([`REHEARSAL_SKIPS`]: trigger instances,
    /// executions, audit, workflow runs, fleet requests...), so the copy
    /// stays small whatever the history, and what runs on it (a replay's
    /// dry runs, with their workflow rows and audit records) is stored
    /// there, never in `live`. Every table not skipped is copied, so a
    /// table added later is copied too. `live` is read in one read
    /// transaction (a consistent copy; its writers go on meanwhile).
    pub fn rehearsal_copy(live: &Path, dest: &Path) -> Result<SqliteStore> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        let live_key = key_path(live);
        if live_key.exists() {
            use std::os::unix::fs::PermissionsExt;
            let key = key_path(dest);
            std::fs::copy(&live_key, &key).map_err(io(&key))?;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .map_err(io(&key))?;
        }
        // The schema, up to date, then the copy on a connection of its own
        // (ATTACH cannot run inside the writer's transactions).
        drop(SqliteStore::open(dest)?);
        {
            let live_text = live.to_str().ok_or_else(|| StoreError::Io {
                path: live.to_owned(),
                source: std::io::Error::other("the path is not UTF-8"),
            })?;
            let mut conn = open_connection(dest, false)?;
            // Tables are copied in name order, components before packs.
            conn.pragma_update(None, "foreign_keys", "OFF")?;
            conn.execute("ATTACH DATABASE ?1 AS live", [live_text])?;
            let tx = conn.transaction()?;
            let tables: Vec<String> = tx
                .prepare(
                    "SELECT name FROM main.sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for table in tables
                .iter()
                .filter(|t| !REHEARSAL_SKIPS.contains(&t.as_str()))
            {
                tx.execute_batch(&format!(
                    "DELETE FROM main.\"{table}\";
                     INSERT INTO main.\"{table}\" SELECT * FROM live.\"{table}\";"
                ))?;
            }
            tx.commit()?;
            conn.execute("DETACH DATABASE live", [])?;
        }
        SqliteStore::open(dest)
    }

    /// In a scratch copy made by [`SqliteStore::rehearsal_copy`]: gives
    /// pack version `name@version` another manifest, so that what runs on
    /// the copy runs it (`drover replay --workflow-file`: a changed
    /// workflow tried on past triggers, nothing installed). False when the
    /// version is not there. A live database's manifests change only by
    /// installing, which checks them; the caller checks this one.
    pub fn rehearse_manifest(
        &self,
        name: &str,
        version: &str,
        manifest: &serde_json::Value,
    ) -> Result<bool> {
        let (name, version, manifest) = (name.to_owned(), version.to_owned(), manifest.to_string());
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE packs SET manifest = ?3 WHERE name = ?1 AND version = ?2",
                rusqlite::params![name, version, manifest],
            )? > 0)
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` inside the next group-commit transaction and waits until it
    /// is durable. `f` runs in a savepoint: its error rolls back only its
    /// own changes.
    pub fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.inner.writer.submit(f)?.wait()
    }

    /// Like [`SqliteStore::write`] but returns at once; [`Pending::wait`] blocks
    /// until the write is durable. Lets one thread keep many writes in flight.
    pub fn write_pipelined<R, F>(&self, f: F) -> Result<Pending<R>>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.inner.writer.submit(f)
    }

    /// Like [`SqliteStore::write_pipelined`], but calls `then` with the outcome
    /// once the write is durable (or failed), on the writer thread; `then`
    /// must be quick (wake a task, send on a channel) and must not write.
    /// Lets async code wait for durability without holding a thread.
    pub fn write_then<R, F, T>(&self, f: F, then: T) -> Result<()>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
        T: FnOnce(Result<R>) + Send + 'static,
    {
        self.inner.writer.submit_then(f, then)
    }

    /// Runs a read on a free read connection (opening another, up to
    /// [`READERS`], when all are busy; else waiting for the first). Sees
    /// every committed write.
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        use std::sync::TryLockError;
        for slot in &self.inner.readers {
            let mut guard = match slot.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            if guard.is_none() {
                *guard = Some(open_connection(&self.inner.path, true)?);
            }
            return f(guard.as_ref().expect("opened above"));
        }
        let guard = self.inner.readers[0]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(guard
            .as_ref()
            .expect("the first reader is opened with the store"))
    }
}

impl Storage for SqliteStore {
    fn writer_stats(&self) -> WriterStats {
        self.inner.writer.stats()
    }
}

/// Creates the database file, readable by its owner only (0600), unless
/// it exists. SQLite gives the `-wal` and `-shm` files it makes the mode
/// of the database file, so they are 0600 too. An existing database that
/// others may read is used as it is, with a warning. True when created.
fn create_private(path: &Path) -> Result<bool> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "{}: the database (executions, kv, password hashes, sealed secrets) is \
                     readable by others (mode {:o}); `chmod 600 {}` makes it private",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
            Ok(false)
        }
        Err(e) => Err(io(e)),
    }
}

pub(crate) fn key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".key");
    db.with_file_name(name)
}

pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Pragmas live outside migrations: journal_mode cannot change inside a
    // transaction. FULL: a commit that returned survives power loss, which
    // is what an acknowledged trigger or a recorded effect promises.
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Every write runs in a savepoint (writer.rs), whose sub-journal would
    // otherwise be a temporary file written page by page: in memory it
    // costs no syscalls. It only serves rolling a savepoint back; crash
    // safety is the WAL's, unchanged.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn a_new_database_and_its_wal_and_shm_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let store = SqliteStore::open(&path).unwrap();
        store.kv_set("core", "k", "v", None).unwrap();
        for suffix in ["", "-wal", "-shm", ".key"] {
            let file = dir.path().join(format!("d.db{suffix}"));
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }

    #[test]
    fn reopening_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/drover.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.kv_set("core", "k", "v", None).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.kv_get("core", "k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn a_failing_write_rolls_back_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        let err = store.write(|conn| {
            conn.execute(
                "INSERT INTO kv (scope, key, value) VALUES ('p', 'a', '1')",
                [],
            )?;
            Err::<(), _>(StoreError::Corrupt("boom".into()))
        });
        assert!(err.is_err());
        store.kv_set("p", "b", "2", None).unwrap();
        assert_eq!(store.kv_get("p", "a").unwrap(), None);
        assert_eq!(store.kv_get("p", "b").unwrap().as_deref(), Some("2"));
    }
}
