//! drover's plugin host: everything between a validated action request and
//! a stored [`drover_core::Execution`]: the sandbox, the capability
//! modules, the install checks and the compiled cache. It is a leaf: it
//! reaches storage and the fleet only through the [`ports`] traits the
//! application implements, so it knows no database and no controller.
//!
//! - [`ports`]: what the sandbox reaches outside itself (packs, grants,
//!   kv, secrets, audit, executions, nodes).
//! - [`engine`]: the one wasmtime `Engine` (epoch deadlines, pooling
//!   allocator) and the `Linker` with every host interface.
//! - [`cache`]: compiled components, cached on disk per digest and engine.
//! - [`install`]: the install-time checks (imports within the manifest's
//!   capabilities, exports match the world) before a pack is recorded.
//! - [`grants`]: the per-call grant check and its reasons.
//! - [`caps`]: one module per WIT host interface, each owning its grant
//!   check, audit and dry-run behaviour.
//! - [`call`]: the per-call sandbox state and how a call's end is classified
//!   (succeeded, failed, denied, timeout).
//! - [`executor`]: ties it together: look up, validate, run, store.
//! - [`sensor`]: one `poll` / `on-message` call of a sensor, in the same
//!   sandbox as an action.
//! - [`ssh`]: the OpenSSH client argv the `command` interface runs.
//! - [`net`]: where `http` and `probe` connect (resolved once, special-use
//!   addresses only when granted by address).
//! - [`redact`]: what is masked in everything recorded about a call.

mod bindings;
pub mod cache;
pub mod call;
mod caps;
pub mod engine;
pub mod executor;
pub mod functions;
pub mod grants;
pub mod install;
mod limits;
pub mod net;
pub mod ports;
pub mod redact;
pub mod sensor;
pub mod ssh;

pub use executor::{Prepared, RunError, RunOptions, Runtime};
pub use install::{CheckError, CheckedComponent, CheckedPack, InstalledPlugin};
pub use ports::{PortError, PortResult, Ports};
pub use sensor::{
    EmittedTrigger, PreparedSensor, SensorCall, SensorFailure, SensorFailureKind, SensorInput,
};
