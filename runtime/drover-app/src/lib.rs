//! drover's application core: the one object that owns the durable store,
//! the fleet controller's library side and the plugin runtime, and the
//! operations users perform on them.
//!
//! The plugin host (`drover-host`) is a leaf: it reaches storage and the
//! fleet through its `ports` traits, which [`ports`] implements here over
//! [`Store`] and [`Fleet`]. The pipeline (`drover-engine`), the HTTP API,
//! the web UI and the CLI hold an [`App`] rather than wiring a store, a
//! fleet and a runtime together each on their own.
//!
//! - [`catalog`]: the installed packs, parsed once per catalog generation
//!   and shared by the runtime and the pipeline;
//! - [`ports`]: the host's ports over the store and the fleet;
//! - [`install`]: installing a pack (checks, workflows, one transaction);
//! - [`packs`]: promoting a pack version out of shadow mode, and rolling a
//!   pack back to the version live before;
//! - [`pack_diff`]: the difference between two installed versions of a
//!   pack, capabilities and grants first;
//! - [`grants`]: giving a grant (checked against the installed pack) and
//!   revoking one;
//! - [`rules`]: enabling and disabling a rule;
//! - [`access`]: API tokens and web users (checks, credentials);
//! - [`retention`]: how long each kind of history is kept;
//! - [`secrets`]: setting a secret (name grammar, size limit);
//! - [`kv`]: operators' kv writes (scope grammar, size limits);
//! - [`nodes`]: operators' node requests (a batch, all or nothing);
//! - [`trace`]: from a trigger instance to rules, enforcements, executions
//!   and effects, and back;
//! - [`compare`]: what a pack's live version did for a trigger next to
//!   what a candidate version would do, and how they differ;
//! - [`incidents`]: remediations with one cause (a gate that held them, or
//!   the same failure) grouped into one incident;
//! - [`shadow`]: a waiting candidate's dry runs beside the live version's
//!   real ones, per trigger, the differences first.

pub mod access;
pub mod catalog;
pub mod compare;
pub mod grants;
pub mod incidents;
pub mod install;
pub mod kv;
pub mod nodes;
pub mod pack_diff;
pub mod packs;
pub mod ports;
pub mod retention;
pub mod rules;
pub mod secrets;
pub mod shadow;
pub mod trace;
pub mod trust;

use std::path::Path;
use std::sync::Arc;

use drover_fleet::Fleet;
use drover_host::ssh::SshSettings;
use drover_host::{RunError, Runtime};
use drover_store::{Store, StoreError};

use crate::catalog::PackIndex;

pub use grants::{GiveError, RevokeError, give_grant, prepare_grant, revoke_grant};
pub use install::{ArchiveOrigin, InstallError, InstallReport};

/// The application: store, fleet and plugin runtime of one process.
pub struct App {
    store: Store,
    fleet: Fleet,
    packs: Arc<PackIndex>,
    runtime: Runtime,
}

impl App {
    /// An application over `store`, caching compiled components in
    /// `cache_dir`, with the `command` interface's ssh files from `ssh`.
    pub fn new(store: Store, cache_dir: &Path, ssh: SshSettings) -> Result<App, RunError> {
        let fleet = Fleet::new(store.clone());
        let packs = Arc::new(PackIndex::new(store.clone()));
        let ports = ports::StorePorts::new(store.clone(), fleet.clone(), packs.clone());
        let runtime = Runtime::new(Arc::new(ports), cache_dir)?.with_ssh(ssh);
        Ok(App {
            store,
            fleet,
            packs,
            runtime,
        })
    }

    /// [`App::new`] with the host's ports made by `wrap` from the store's
    /// own: a replay answers some of them itself (the simulated fleet as
    /// it was, no writes) and passes the rest on.
    pub fn with_ports(
        store: Store,
        cache_dir: &Path,
        ssh: SshSettings,
        wrap: impl FnOnce(ports::StorePorts) -> Arc<dyn drover_host::ports::Ports>,
    ) -> Result<App, RunError> {
        let fleet = Fleet::new(store.clone());
        let packs = Arc::new(PackIndex::new(store.clone()));
        let ports = wrap(ports::StorePorts::new(
            store.clone(),
            fleet.clone(),
            packs.clone(),
        ));
        let runtime = Runtime::new(ports, cache_dir)?.with_ssh(ssh);
        Ok(App {
            store,
            fleet,
            packs,
            runtime,
        })
    }

    /// [`App::new`] with the default ssh settings (the system's).
    pub fn with_defaults(store: Store, cache_dir: &Path) -> Result<App, RunError> {
        App::new(store, cache_dir, SshSettings::default())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// The installed packs as of now (reloaded when a pack changed).
    pub fn packs(&self) -> Result<Arc<catalog::Installed>, StoreError> {
        self.packs.current()
    }

    /// The plugin runtime: runs actions and sensors in the sandbox.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}
