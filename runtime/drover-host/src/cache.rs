//! Compiled components on disk, one file per component digest and engine
//! configuration. Compiling costs tens of milliseconds; loading a cached
//! file is a memory map and a check, well under a millisecond.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

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
}

impl ComponentCache {
    pub fn new(dir: &Path, engine: &Engine) -> std::io::Result<ComponentCache> {
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
        })
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
        let component = Component::new(engine, wasm)?;
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
