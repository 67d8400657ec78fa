//! drover's plugin host: everything between a validated action request and
//! a stored [`drover_core::Execution`].
//!
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
pub mod give;
pub mod grants;
pub mod install;
mod limits;
pub mod net;
pub mod redact;
pub mod sensor;
pub mod ssh;

pub use executor::{Prepared, RunError, RunOptions, Runtime};
pub use give::{GiveError, give_grant, prepare_grant};
pub use install::{InstallError, InstallReport};
pub use sensor::{
    EmittedTrigger, PreparedSensor, SensorCall, SensorFailure, SensorFailureKind, SensorInput,
};
