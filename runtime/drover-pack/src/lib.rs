//! drover packs: from a directory on disk to a validated [`Pack`] and the
//! component bytes it names.
//!
//! A pack is a directory with a `pack.yaml` manifest and built WebAssembly
//! components, one per plugin (action or sensor). This crate owns:
//!
//! - the manifest format and its error messages ([`parse_manifest`]), which
//!   always say `file:line:column: field.path: what is wrong and what to write`;
//! - the validated model ([`Pack`], [`Plugin`], [`Limits`]), stored as JSON;
//! - reading a pack directory and its component files ([`load_pack_dir`]),
//!   checking each is a WebAssembly *component*, and their [`Digest`]s;
//! - plugin parameters ([`Parameters`]): JSON Schema validation with
//!   defaults, and `key=value` command-line parsing;
//! - plugin references, `core.echo` ([`ActionRef`]);
//! - pack archives, `NAME-VERSION.dpk` ([`archive`]), and their SSH
//!   signatures ([`signing`]).
//!
//! It does not compile or run components, check their imports against the
//! declared capabilities (that needs wasmtime: `drover-host`), or store
//! anything.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//!
//! let text = "\
//! name: core
//! version: 0.1.0
//! plugins:
//!   echo:
//!     kind: action
//!     component: components/core_echo.wasm
//!     parameters:
//!       message: {type: string, required: true}
//!     capabilities: [log]
//! ";
//! let pack = drover_pack::parse_manifest(Path::new("pack.yaml"), text)?;
//! assert_eq!(pack.reference(), "core@0.1.0");
//! let echo = pack.plugin("echo").unwrap();
//! let args = vec!["message=hi".to_string()];
//! let input = echo.parameters.validate(echo.parameters.parse_cli_args(&args)?)?;
//! assert_eq!(input, serde_json::json!({"message": "hi"}));
//!
//! let bad = drover_pack::parse_manifest(Path::new("pack.yaml"), &text.replace("kind:", "knd:"));
//! assert_eq!(
//!     bad.unwrap_err().to_string(),
//!     "pack.yaml:5:5: plugins.echo.knd: unknown key \"knd\"; did you mean \"kind\"? (valid keys: \
//!      kind, description, component, source, timeout, memory, output, idempotent, parameters, capabilities, \
//!      poll_interval, subscriptions, config, runner, entry, max_steps)",
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod archive;
mod digest;
mod error;
mod fields;
mod manifest;
mod pack;
mod params;
mod reference;
pub mod signing;
mod source;

pub use digest::{Digest, DigestError};
pub use error::PackError;
pub use manifest::parse_manifest;
pub use pack::{
    Language, Limits, MAX_NAME_LEN, Pack, Plugin, PluginKind, PluginSource, RESERVED_NAMES,
    SensorSpec, Subscription, TriggerType, WebhookAuth, WorkflowEntry, is_name, reserved_name,
};
pub use params::{JSON_TYPES, ParamError, Parameter, Parameters};
pub use reference::{ActionRef, ActionRefError};
pub use source::{ComponentFile, MANIFEST_FILE, PackSource, load_pack_dir};
