//! Compiled functions shared between components: Cranelift's incremental
//! compilation cache, kept in one SQLite file in the component cache
//! directory.
//!
//! Components built by componentize-py or componentize-js carry the whole
//! interpreter, so two Python plugins share nearly every function: with
//! this cache the second one compiles in about a third of the time, and
//! the compiled component is byte-for-byte the one a cold compile makes
//! (docs/perf.md). A key is Cranelift's hash of one function's code, the
//! compiler's version and the target's flags; a plugin's entries can only
//! ever be looked up by a function identical to its own, so one pack
//! cannot change what another's code compiles to. Like the `.cwasm` files
//! beside it, the file is trusted (the directory is drover's alone).
//!
//! The cache only saves time: when the file cannot be opened, read or
//! written, the compile goes on without it and the error is logged once.
//! During a compile, lookups read the file and new entries wait in memory;
//! [`FunctionCache::finish`] writes them in one transaction and closes the
//! file, so an idle process holds nothing of it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use wasmtime::CacheStore;

/// The file's name in the component cache directory.
pub const FILE_NAME: &str = "functions.sqlite";

/// Entries no compile has used for this long are removed by
/// [`FunctionCache::sweep`] (`drover gc`).
pub const UNUSED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long a compile waits for another process's write to the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The incremental compilation cache of one engine (see the module doc).
pub struct FunctionCache {
    path: PathBuf,
    open: Mutex<Open>,
    /// Whether a failure was logged (later ones are debug-level).
    warned: AtomicBool,
    /// Lookups that found a compiled function, and that did not.
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The state between a compile's first lookup and [`FunctionCache::finish`].
#[derive(Default)]
struct Open {
    db: Option<Connection>,
    /// Entries compiled since the last finish, not yet written.
    new: HashMap<Vec<u8>, Vec<u8>>,
    /// Keys found since the last finish, to mark used.
    found: Vec<Vec<u8>>,
}

/// What [`FunctionCache::sweep`] removed (or, dry, would remove).
#[derive(Debug, Default, Serialize)]
pub struct FunctionSweep {
    pub removed: u64,
    pub removed_bytes: u64,
    pub kept: u64,
}

impl FunctionCache {
    /// The cache in `dir` (the file is created on the first compile).
    pub fn new(dir: &Path) -> FunctionCache {
        FunctionCache {
            path: dir.join(FILE_NAME),
            open: Mutex::new(Open::default()),
            warned: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Functions found in the cache and compiled, since it was made.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Writes the entries of the compiles since the last call, marks the
    /// ones they used, and closes the file.
    pub fn finish(&self) {
        let mut open = self.lock();
        let new = std::mem::take(&mut open.new);
        let found = std::mem::take(&mut open.found);
        let db = open.db.take();
        drop(open);
        if new.is_empty() && found.is_empty() {
            return;
        }
        let result = match db {
            Some(db) => write(db, &new, &found),
            None => self.connect().and_then(|db| write(db, &new, &found)),
        };
        match result {
            Ok(()) => tracing::debug!(
                new = new.len(),
                used = found.len(),
                "wrote compiled functions"
            ),
            Err(e) => self.failed("cannot write compiled functions", &e),
        }
    }

    /// Removes the entries unused for [`UNUSED_FOR`]; with `dry_run`, only
    /// counts them. No file: nothing to do.
    pub fn sweep(&self, dry_run: bool) -> rusqlite::Result<FunctionSweep> {
        if !self.path.exists() {
            return Ok(FunctionSweep::default());
        }
        let _compiling = self.lock();
        let db = self.connect()?;
        let before = day(SystemTime::now() - UNUSED_FOR);
        let (removed, removed_bytes): (u64, u64) = db.query_row(
            "SELECT count(*), coalesce(sum(length(key) + length(value)), 0)
             FROM functions WHERE used < ?1",
            [before],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let total: u64 = db.query_row("SELECT count(*) FROM functions", [], |r| r.get(0))?;
        if !dry_run && removed > 0 {
            db.execute("DELETE FROM functions WHERE used < ?1", [before])?;
            db.execute_batch("VACUUM")?;
        }
        Ok(FunctionSweep {
            removed,
            removed_bytes,
            kept: total - removed,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // A panic while holding it leaves only cache state: go on.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the file, replacing it when it is damaged: it holds nothing
    /// that cannot be compiled again.
    fn connect(&self) -> rusqlite::Result<Connection> {
        match self.try_connect() {
            Err(e) if damaged(&e) => {
                tracing::warn!(
                    path = %self.path.display(),
                    error = %e,
                    "the function cache is damaged: starting it afresh"
                );
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = self.path.clone().into_os_string();
                    path.push(suffix);
                    let _ = std::fs::remove_file(path);
                }
                self.try_connect()
            }
            other => other,
        }
    }

    fn try_connect(&self) -> rusqlite::Result<Connection> {
        let db = Connection::open(&self.path)?;
        db.busy_timeout(BUSY_TIMEOUT)?;
        // Derived data: losing the last write to a crash costs a compile.
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS functions (
                 key BLOB PRIMARY KEY,
                 value BLOB NOT NULL,
                 used INTEGER NOT NULL
             );",
        )?;
        Ok(db)
    }

    fn lookup(&self, open: &mut Open, key: &[u8]) -> rusqlite::Result<Option<Vec<u8>>> {
        if open.db.is_none() {
            open.db = Some(self.connect()?);
        }
        let db = open.db.as_ref().expect("just opened");
        db.prepare_cached("SELECT value FROM functions WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()
    }

    fn failed(&self, what: &str, e: &rusqlite::Error) {
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(path = %self.path.display(), error = %e, "{what}");
        } else {
            tracing::warn!(
                path = %self.path.display(),
                error = %e,
                "{what}; compiling without the function cache (slower, nothing else changes)"
            );
        }
    }
}

impl std::fmt::Debug for FunctionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionCache")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let mut open = self.lock();
        if let Some(value) = open.new.get(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(Cow::Owned(value.clone()));
        }
        match self.lookup(&mut open, key) {
            Ok(Some(value)) => {
                open.found.push(key.to_vec());
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(Cow::Owned(value))
            }
            Ok(None) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                open.db = None;
                drop(open);
                self.misses.fetch_add(1, Ordering::Relaxed);
                self.failed("cannot read compiled functions", &e);
                None
            }
        }
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        self.lock().new.insert(key.to_vec(), value);
        true
    }
}

/// Writes `new` and marks `found` used today, in one transaction.
fn write(
    mut db: Connection,
    new: &HashMap<Vec<u8>, Vec<u8>>,
    found: &[Vec<u8>],
) -> rusqlite::Result<()> {
    let today = day(SystemTime::now());
    let tx = db.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO functions (key, value, used) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, used = excluded.used",
        )?;
        for (key, value) in new {
            insert.execute(params![key, value, today])?;
        }
        let mut touch =
            tx.prepare("UPDATE functions SET used = ?2 WHERE key = ?1 AND used < ?2")?;
        for key in found {
            touch.execute(params![key, today])?;
        }
    }
    tx.commit()
}

/// Whether `e` says the file is not a (sound) SQLite database.
fn damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Days since the Unix epoch.
fn day(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtime::component::Component;
    use wasmtime::{Config, Engine};

    use super::*;

    /// A component of packs/core (`cargo xtask plugins` builds them).
    fn core(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../packs/core/components")
            .join(format!("{name}.wasm"));
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask plugins` first", path.display()))
    }

    /// Compiles `wasm` as a fresh process would: a new engine, and a new
    /// cache over `dir` (none when `dir` is None). Returns the compiled
    /// bytes and the cache's (hits, misses).
    fn compile(dir: Option<&Path>, wasm: &[u8]) -> (Vec<u8>, (u64, u64)) {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let functions = dir.map(|d| Arc::new(FunctionCache::new(d)));
        if let Some(f) = &functions {
            config.enable_incremental_compilation(f.clone()).unwrap();
        }
        let engine = Engine::new(&config).unwrap();
        let bytes = Component::new(&engine, wasm)
            .and_then(|c| c.serialize())
            .expect("compiles");
        let counts = functions.map_or((0, 0), |f| {
            f.finish();
            f.counts()
        });
        (bytes, counts)
    }

    fn rows(dir: &Path, sql: &str) -> i64 {
        Connection::open(dir.join(FILE_NAME))
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_later_compile_reuses_functions_and_makes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (echo, noop) = (core("core_echo"), core("core_noop"));
        let (cold, _) = compile(None, &echo);
        let (first, (_, compiled)) = compile(Some(dir.path()), &echo);
        assert!(compiled > 0);
        assert_eq!(first, cold, "the cache changes nothing compiled");
        assert_eq!(
            rows(dir.path(), "SELECT count(*) FROM functions"),
            compiled as i64
        );

        // Another process, the same component: nearly every function
        // found (a few are hashed differently in each engine).
        let (again, (hits, misses)) = compile(Some(dir.path()), &echo);
        assert_eq!(again, cold);
        assert!(
            misses * 4 < compiled,
            "{hits} hits, {misses} of {compiled} compiled again"
        );
        // Another component shares the Rust standard library's functions.
        let (other, (hits, misses)) = compile(Some(dir.path()), &noop);
        assert!(hits > 0 && misses > 0, "{hits} hits, {misses} misses");
        assert_eq!(other, compile(None, &noop).0);
    }

    #[test]
    fn an_unreadable_file_or_a_bad_entry_only_costs_time() {
        let echo = core("core_echo");
        let (cold, _) = compile(None, &echo);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "not a database ".repeat(1000)).unwrap();
        let (bytes, _) = compile(Some(dir.path()), &echo);
        assert_eq!(bytes, cold);
        assert!(
            rows(dir.path(), "SELECT count(*) FROM functions") > 0,
            "made afresh"
        );

        // Every stored function replaced by garbage: each is compiled
        // again, and the good entry replaces the bad one.
        let dir = tempfile::tempdir().unwrap();
        compile(Some(dir.path()), &echo);
        Connection::open(dir.path().join(FILE_NAME))
            .unwrap()
            .execute("UPDATE functions SET value = x'ff00ff'", [])
            .unwrap();
        let (bytes, _) = compile(Some(dir.path()), &echo);
        assert_eq!(bytes, cold);
        // (Bar the few that engine hashes differently: never looked up.)
        let bad = rows(
            dir.path(),
            "SELECT count(*) FROM functions WHERE value = x'ff00ff'",
        );
        let all = rows(dir.path(), "SELECT count(*) FROM functions");
        assert!(bad * 4 < all, "{bad} of {all} left bad");
    }

    #[test]
    fn sweep_removes_functions_unused_for_thirty_days() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FunctionCache::new(dir.path());
        assert_eq!(cache.sweep(false).unwrap().kept, 0, "no file yet");
        compile(Some(dir.path()), &core("core_echo"));
        let total = rows(dir.path(), "SELECT count(*) FROM functions") as u64;
        let old = day(SystemTime::now() - UNUSED_FOR) - 1;
        Connection::open(dir.path().join(FILE_NAME))
            .unwrap()
            .execute("UPDATE functions SET used = ?1 WHERE rowid % 2 = 0", [old])
            .unwrap();
        let stale = rows(
            dir.path(),
            &format!("SELECT count(*) FROM functions WHERE used = {old}"),
        );
        let dry = cache.sweep(true).unwrap();
        assert_eq!(
            (dry.removed, dry.kept),
            (stale as u64, total - stale as u64)
        );
        assert!(dry.removed_bytes > 0);
        assert_eq!(
            rows(dir.path(), "SELECT count(*) FROM functions") as u64,
            total
        );
        let done = cache.sweep(false).unwrap();
        assert_eq!((done.removed, done.kept), (dry.removed, dry.kept));
        assert_eq!(
            rows(dir.path(), "SELECT count(*) FROM functions") as u64,
            dry.kept
        );
    }
}
