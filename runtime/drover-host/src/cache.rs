//! Compiled components on disk, one file per component digest and engine
//! configuration. Compiling costs tens of milliseconds for a Rust
//! component and ten seconds for a Python one; loading a cached file is a
//! memory map and a check, well under a millisecond.
//!
//! The component bytes themselves live once, by digest, in the store
//! (`blobs`); these files are derived from them and can always be made
//! again, so [`ComponentCache::sweep`] may delete any file no installed
//! pack version references (`drover gc`), and a deleted or lost file is
//! compiled again on next use.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::functions::{FunctionCache, FunctionSweep};

/// Where a component came from on load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache file.
    Hit,
    /// Compiled now (first use, or the file was stale or unreadable) and
    /// written to the cache.
    Compiled,
}

/// The on-disk cache of compiled components. The directory must be
/// writable by drover alone: loading a cached file trusts its contents.
pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    /// Components compiled by this process: install-time compile-once is
    /// observed through it (tests, the install report), not by timing.
    compiles: AtomicU64,
    /// The engine's incremental cache, when it has one: written after each
    /// compile, swept with the files.
    functions: Option<Arc<FunctionCache>>,
}

/// What [`ComponentCache::sweep`] removed (or, dry, would remove).
#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    /// Compiled files no installed version references, or made by another
    /// engine (an older drover, another configuration).
    pub removed: Vec<String>,
    /// Bytes of the removed files.
    pub removed_bytes: u64,
    /// Compiled files kept (referenced, this engine's).
    pub kept: usize,
    /// Functions shared between compiles (the incremental cache) that no
    /// compile used for 30 days.
    pub functions: FunctionSweep,
}

/// A temporary file older than this is a leftover of a compile that was
/// killed; a younger one may be a compile in progress.
const STALE_TMP: Duration = Duration::from_secs(3600);

impl ComponentCache {
    /// The cache in `dir` for `engine`, whose incremental cache (in the
    /// same directory) is `functions` if it has one.
    pub fn new(
        dir: &Path,
        engine: &Engine,
        functions: Option<Arc<FunctionCache>>,
    ) -> std::io::Result<ComponentCache> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        // The hash covers the wasmtime version, the engine's configuration
        // and the target: a file made by any other engine is never loaded.
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(ComponentCache {
            dir: dir.to_owned(),
            engine_key: format!("{:016x}", h.finish()),
            compiles: AtomicU64::new(0),
            functions,
        })
    }

    /// How many components this cache compiled since it was opened.
    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// Removes a digest's compiled file (a refused install's: nothing will
    /// run it). Absent is fine.
    pub fn remove(&self, digest: &str) {
        let path = self.path(digest);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!(path = %path.display(), "removed a compiled component"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a compiled component")
            }
        }
    }

    /// Removes the compiled files whose digest is not in `keep` (digests
    /// `sha256:<hex>`), those of other engines, and temporary files of
    /// killed compiles; with `dry_run`, only says which. Files that are
    /// not the cache's own (other names) are left alone.
    pub fn sweep(&self, keep: &HashSet<String>, dry_run: bool) -> std::io::Result<SweepReport> {
        let keep: HashSet<&str> = keep
            .iter()
            .map(|d| d.strip_prefix("sha256:").unwrap_or(d))
            .collect();
        let mut report = SweepReport::default();
        let mut names: Vec<(String, std::fs::Metadata)> = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Not followed: a link is judged (and removed) as a link.
            let meta = entry.metadata()?;
            names.push((name, meta));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, meta) in names {
            let Some((hex, engine, tmp)) = parse_name(&name) else {
                continue;
            };
            let remove = if tmp {
                meta.modified()
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .is_some_and(|age| age > STALE_TMP)
            } else {
                engine != self.engine_key || !keep.contains(hex)
            };
            if !remove {
                report.kept += usize::from(!tmp);
                continue;
            }
            if !dry_run {
                match std::fs::remove_file(self.dir.join(&name)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            report.removed_bytes += meta.len();
            report.removed.push(name);
        }
        if let Some(functions) = &self.functions {
            report.functions = functions.sweep(dry_run).map_err(|e| {
                std::io::Error::other(format!("{}: {e}", functions.path().display()))
            })?;
        }
        Ok(report)
    }

    /// The cache file of a digest (`sha256:<hex>`).
    pub fn path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join(format!("{hex}-{}.cwasm", self.engine_key))
    }

    /// Compiles `wasm` and writes the result to the cache.
    pub fn compile(
        &self,
        engine: &Engine,
        digest: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<Component> {
        let before = self.functions.as_ref().map(|f| f.counts());
        let component = Component::new(engine, wasm);
        if let Some(functions) = &self.functions {
            functions.finish();
        }
        let component = component?;
        self.compiles.fetch_add(1, Ordering::Relaxed);
        match (before, self.functions.as_ref().map(|f| f.counts())) {
            (Some((hits, misses)), Some((hits_now, misses_now))) => tracing::info!(
                digest,
                bytes = wasm.len(),
                functions_reused = hits_now - hits,
                functions_compiled = misses_now - misses,
                "compiled a component"
            ),
            _ => tracing::info!(digest, bytes = wasm.len(), "compiled a component"),
        }
        let bytes = component.serialize()?;
        let path = self.path(digest);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| wasmtime::format_err!("{}: {e}", path.display()))?;
        Ok(component)
    }

    /// Loads a digest's compiled component, compiling it from `wasm()` when
    /// the cache has no usable file.
    pub fn load(
        &self,
        engine: &Engine,
        digest: &str,
        wasm: impl FnOnce() -> wasmtime::Result<Vec<u8>>,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.path(digest);
        if path.exists() {
            // SAFETY: the file was written by `compile` above into a
            // directory only drover can write, keyed by this engine's
            // compatibility hash; wasmtime checks its header as well.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "recompiling a stale cache file")
                }
            }
        }
        let c = self.compile(engine, digest, &wasm()?)?;
        Ok((c, CacheOutcome::Compiled))
    }
}

/// `<hex>-<engine>.cwasm` → (hex, engine, false); `<hex>-<engine>.tmp<pid>`
/// → (hex, engine, true); anything else is not the cache's.
fn parse_name(name: &str) -> Option<(&str, &str, bool)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let tmp = match ext {
        "cwasm" => false,
        e if e
            .strip_prefix("tmp")
            .is_some_and(|pid| pid.bytes().all(|b| b.is_ascii_digit())) =>
        {
            true
        }
        _ => return None,
    };
    let (hex, engine) = stem.split_once('-')?;
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (ok(hex, 64) && ok(engine, 16)).then_some((hex, engine, tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path) -> (ComponentCache, Engine) {
        let engine = Engine::default();
        (ComponentCache::new(dir, &engine, None).unwrap(), engine)
    }

    /// The smallest component.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn compiles_are_counted_and_a_cached_file_is_not_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let (c, engine) = cache(dir.path());
        let digest = format!("sha256:{}", "a".repeat(64));
        let (_, first) = c.load(&engine, &digest, || Ok(EMPTY.to_vec())).unwrap();
        let (_, second) = c
            .load(&engine, &digest, || panic!("compiled twice"))
            .unwrap();
        assert_eq!((first, second), (CacheOutcome::Compiled, CacheOutcome::Hit));
        assert_eq!(c.compiles(), 1);
        c.remove(&digest);
        assert!(!c.path(&digest).exists());
    }

    #[test]
    fn sweep_removes_only_unreferenced_files_of_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (c, engine) = cache(dir.path());
        let kept = format!("sha256:{}", "a".repeat(64));
        let gone = format!("sha256:{}", "b".repeat(64));
        for d in [&kept, &gone] {
            c.compile(&engine, d, EMPTY).unwrap();
        }
        // Another engine's file of a kept digest, a stranger's file, and a
        // fresh temporary file (a compile in progress).
        let other = dir
            .path()
            .join(format!("{}-{}.cwasm", "a".repeat(64), "0".repeat(16)));
        std::fs::write(&other, b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let tmp = dir
            .path()
            .join(format!("{}-{}.tmp42", "c".repeat(64), "1".repeat(16)));
        std::fs::write(&tmp, b"x").unwrap();
        let keep: HashSet<String> = [kept.clone()].into();
        let dry = c.sweep(&keep, true).unwrap();
        assert_eq!(dry.removed.len(), 2, "{dry:?}");
        assert!(c.path(&gone).exists(), "a dry run removes nothing");
        let done = c.sweep(&keep, false).unwrap();
        assert_eq!(done.removed, dry.removed);
        assert_eq!(done.kept, 1);
        assert!(c.path(&kept).exists());
        assert!(!c.path(&gone).exists());
        assert!(!other.exists());
        assert!(dir.path().join("notes.txt").exists());
        assert!(tmp.exists());
    }
}
