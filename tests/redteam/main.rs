//! The red-team suite: drover's trust boundary tried as an attacker who
//! controls one pack, or who is an anonymous client of `drover serve`.
//!
//! Each module is one hole of the boundary (docs/security.md lists them,
//! where each is stopped, and the test here that proves it). The hostile
//! packs live in `tests/redteam/packs/`: outside drover's own `packs/` and
//! `tests/packs/`, so `drover pack install` shadows them by default, as it
//! would a pack from anywhere else. They are kept small and readable: they
//! document the threat model as much as they test it.
//!
//! Every test drives the real binary against real components, and asserts
//! three things: nothing happened for real, the attempt is visible (audit
//! or plan), and the operator gets a clear message.

mod command_scope;
mod requeue_recheck;
mod reserved_names;
#[path = "../support/mod.rs"]
mod support;

mod chain;
mod dry_inquiry;
mod files;
mod http_server;
mod install_atomic;
mod memory_total;
mod policy_scope;
mod redaction;
mod sensor_shadow;
mod ssrf;
mod subscriptions;
mod template_fuel;
mod upgrade_shadow;
mod webhook_replay;
mod workflow_ceiling;
mod yaml_bomb;
