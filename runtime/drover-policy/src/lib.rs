//! drover's capability model: what a plugin may import, and what an
//! operator's grant lets it touch.
//!
//! Every host interface a plugin can call is a [`Capability`]. A capability
//! passes three gates, and a plugin gets nothing that did not pass them all:
//!
//! 1. **Declared at install.** The pack manifest lists, per plugin, the
//!    capabilities it needs. [`undeclared_imports`] compares the
//!    component's imports with that list (plus a harmless WASI base) and
//!    names every extra import; a non-empty answer refuses the install.
//! 2. **Granted by an operator.** Capabilities that touch the outside or
//!    the fleet ([`Capability::needs_grant`]) also need a grant to the exact
//!    `pack@version`, with a [`Scope`] in the capability's grammar
//!    ([`Capability::scope_kind`], [`Scope::parse`]): which nodes, hosts,
//!    secret names or commands. The grant stores the scope's canonical
//!    text ([`Scope`]'s `Display`).
//! 3. **Checked on every call.** The host builds a [`Target`] from the
//!    call's arguments and asks each grant's scope whether it
//!    [allows](Scope::allows) it.
//!
//! Deny by default: an undeclared import is refused, a capability that
//! needs a grant and has none is refused, and an empty list of grants
//! denies every call. No scope grammar has an implicit "everything": a
//! grant covers all targets only when its scope is `*` ([`Scope::Any`]),
//! and an empty scope is an error wherever a scope is expected.
//!
//! The grammars, each documented as a table in its module: [`selector`]
//! (`nodes.*`), [`hosts`] (`http`, `probe`), [`names`] (`secrets`),
//! [`command`] with [`argv`] (`command`: nodes and argvs), [`kv`] (`kv`:
//! scopes other than the pack's own) and [`subscriptions`] (`subscribe`:
//! the NATS subjects and webhooks a sensor's host-owned subscriptions
//! open); [`scope_help`] sums each up in one line.
//!
//! This crate is pure: no I/O, no wasmtime, no SQL. Storing grants and
//! writing audit records belong to `drover-store` and `drover-host`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use drover_policy::{Capability, Scope, Target, undeclared_imports};
//!
//! // Install: a reboot plugin that also opens sockets is refused.
//! let imports = ["drover:plugin/nodes@0.1.0", "wasi:io/streams@0.2.6", "wasi:sockets/tcp@0.2.6"];
//! assert_eq!(undeclared_imports(imports, &[Capability::NodesReboot]), ["wasi:sockets/tcp@0.2.6"]);
//!
//! // Grant: reboots on rack r01 only.
//! let capability: Capability = "nodes.reboot".parse()?;
//! let scope = Scope::parse(capability, "rack = r01, !maintenance")?;
//! assert_eq!(scope.to_string(), "rack=r01,!maintenance");
//!
//! // Call: is this node covered?
//! let labels = BTreeMap::from([("rack".to_owned(), "r01".to_owned())]);
//! assert!(scope.allows(&Target::Node { name: "n001", labels: &labels }));
//! assert!(!scope.allows(&Target::Name("n001")));
//! # Ok::<(), drover_policy::PolicyError>(())
//! ```

mod capability;
mod error;
mod scope;

pub mod argv;
pub mod command;
pub mod hosts;
pub mod kv;
pub mod names;
pub mod selector;
pub mod subscriptions;

pub use argv::ArgvList;
pub use capability::{
    Capability, ScopeKind, function_capability, undeclared_functions, undeclared_imports,
};
pub use command::CommandScope;
pub use error::PolicyError;
pub use hosts::{HostList, special_use};
pub use kv::{KvGrant, KvScope};
pub use names::NameList;
pub use scope::{Scope, Target, scope_help};
pub use selector::Selector;
pub use subscriptions::SubscriptionList;
