//! Setup shared by the plugin-host benchmarks: a temporary database, a
//! runtime over it with `packs/core` installed, and `core.noop` prepared
//! the way the executor runs it.

#![allow(dead_code, reason = "each bench target uses a different part")]

use std::path::{Path, PathBuf};

use drover_app::App;
use drover_core::ExecStatus;
use drover_host::{Prepared, RunOptions};
use drover_pack::ActionRef;
use drover_store::Store;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A runtime with `packs/core` installed, in a temporary directory that
/// is removed when this is dropped.
pub struct Env {
    pub app: App,
    /// `core.noop`, prepared once as a long-running process would.
    pub noop: Prepared,
    /// `core.noop`'s parameters, already validated.
    pub params: Value,
    pub opts: RunOptions,
    /// The runtime's compiled-component cache.
    pub cache_dir: PathBuf,
    pub dir: TempDir,
}

/// The repository root (this crate is `runtime/drover-app`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Env {
    /// Panics with what to do when the plugin components are not built.
    pub fn new() -> Env {
        let pack = repo_root().join("packs/core");
        let noop = pack.join("components/core_noop.wasm");
        assert!(
            noop.is_file(),
            "{} is missing: build the plugin components first with `cargo xtask plugins` \
             (or run the benchmarks with `cargo xtask bench`)",
            noop.display()
        );
        // The database lives on the same file system as a real one would
        // (not tmpfs), so commits pay for a real fsync.
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let store = Store::open(&dir.path().join("drover.db")).expect("open the database");
        let cache_dir = dir.path().join("cache");
        let app = App::with_defaults(store, &cache_dir).expect("start the runtime");
        app.install(&pack, "bench").expect("install packs/core");
        let noop = app
            .runtime()
            .prepare(&ActionRef::new("core", "noop"))
            .expect("prepare core.noop");
        let params = noop
            .plugin
            .parameters
            .validate(json!({}))
            .expect("core.noop takes no parameters");
        let opts = RunOptions {
            dry_run: false,
            actor: "user:bench".into(),
            timeout: None,
        };
        let env = Env {
            app,
            noop,
            params,
            opts,
            cache_dir,
            dir,
        };
        let exec = env.execute();
        assert_eq!(
            exec.status,
            ExecStatus::Succeeded,
            "core.noop did not succeed: {:?}",
            exec.error
        );
        env
    }

    /// One `core.noop` execution in a fresh sandbox, not stored.
    pub fn execute(&self) -> drover_core::Execution {
        self.app
            .runtime()
            .execute(&self.noop, self.params.clone(), &self.opts)
            .expect("execute core.noop")
    }
}
