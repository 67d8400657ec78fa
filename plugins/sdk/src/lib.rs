//! Write drover actions and sensors in Rust.
//!
//! `drover-sdk` owns the guest side of `wit/plugin.wit` (worlds `action`
//! and `sensor`, the latter through [`export_sensor!`]):
//! the generated bindings ([`bindings`]), thin wrappers for each host
//! interface ([`log`], [`kv`], [`secrets`], [`http`], [`nodes`], [`probe`],
//! [`command`]), the shared [`Error`] type, and [`export_action!`], which
//! turns a typed Rust function into the component's `run` export. It never
//! calls the host on its own, so a plugin's component imports exactly the
//! interfaces its code calls, and its manifest must declare exactly those.
//!
//! # Example
//!
//! `Cargo.toml` (in the `plugins/` workspace; the crate's `lib` name is the
//! component's file name):
//!
//! ```toml
//! [package]
//! name = "mypack-restart"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! name = "mypack_restart"
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! drover-sdk = { path = "../../sdk" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! //! `mypack.restart`: reboot a node unless it was rebooted recently.
//! use drover_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Input {
//!     node: String,
//!     #[serde(default = "default_reason")]
//!     reason: String,
//! }
//!
//! fn default_reason() -> String {
//!     "requested by mypack.restart".into()
//! }
//!
//! fn run(input: Input, ctx: &Context) -> Result<Value, Error> {
//!     let key = format!("rebooted/{}", input.node);
//!     if kv::get(&key)?.is_some() {
//!         log::info(&format!("{} was rebooted in the last hour, skipping", input.node));
//!         return Ok(json!({"node": input.node, "skipped": true}));
//!     }
//!     // A `denied` from the host propagates unchanged with `?`.
//!     let status = nodes::reboot(&input.node, &input.reason)?;
//!     kv::set(&key, &ctx.execution_id, Some(3600))?;
//!     Ok(json!({"node": input.node, "outcome": status.outcome, "detail": status.detail}))
//! }
//!
//! drover_sdk::export_action!(run);
//! ```
//!
//! Build it for `wasm32-wasip2` (`cargo xtask plugins` at the repo root, or
//! `cargo build --release --target wasm32-wasip2` in `plugins/`): the
//! output, `mypack_restart.wasm`, is already a component. Its manifest
//! entry declares `capabilities: [log, kv, nodes.reboot]`. See
//! `docs/pack-authoring.md` for manifests, capabilities and grants.
//!
//! # Input and output
//!
//! The host validates parameters against the manifest, then
//! [`export_action!`] deserialises them into your input type with serde
//! (use [`Value`](serde_json::Value) or an empty struct for an action with
//! no parameters); a mismatch is returned as [`Error::Invalid`] before
//! your code runs. The output is any `Serialize` value, sent as JSON.
//!
//! # Failing
//!
//! Return `Err(Error::...)`: the variant is the failure kind the operator
//! sees. A panic is a bug: it traps, and the host reports the panic
//! message it captured from stderr.

pub mod bindings;
pub mod command;
mod error;
pub mod http;
pub mod kv;
pub mod log;
pub mod nodes;
pub mod probe;
pub mod secrets;

// Lets the generated code and the macros below name this crate as
// `::drover_sdk` from inside it too.
extern crate self as drover_sdk;

pub use bindings::drover::plugin::types::Context;
pub use bindings::drover::plugin::types::Trigger;
pub use error::Error;
pub use serde_json;

/// Everything most actions need: `use drover_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{Context, Error, Trigger, command, http, kv, log, nodes, probe, secrets};
    pub use serde_json::{Value, json};
}

/// Export `$run` as this component's action.
///
/// `$run` is a function (or closure) `fn(I, &Context) -> Result<O, Error>` where
/// `I: serde::de::DeserializeOwned` and `O: serde::Serialize`. Invoke the
/// macro once per crate, at the top level:
///
/// ```no_run
/// use drover_sdk::prelude::*;
///
/// fn run(input: Value, _ctx: &Context) -> Result<Value, Error> {
///     Ok(input)
/// }
///
/// drover_sdk::export_action!(run);
/// ```
#[macro_export]
macro_rules! export_action {
    ($run:expr) => {
        const _: () = {
            struct DroverAction;

            impl $crate::bindings::Guest for DroverAction {
                fn run(
                    input: ::std::string::String,
                    ctx: $crate::Context,
                ) -> ::core::result::Result<::std::string::String, $crate::Error> {
                    $crate::__private::run_action($run, &input, &ctx)
                }
            }

    $crate::bindings::export_guest!(DroverAction with_types_in $crate::bindings);
        };
    };
}

impl Trigger {
    /// A trigger of type `trigger_type` (`pack.name`, declared in the
    /// sensor's own pack) with `payload` serialised as JSON.
    pub fn new(trigger_type: &str, payload: impl serde::Serialize) -> Result<Trigger, Error> {
        Ok(Trigger {
            trigger_type: trigger_type.to_owned(),
            payload: serde_json::to_string(&payload).map_err(|e| {
                Error::failed(format!("cannot serialise a {trigger_type} payload: {e}"))
            })?,
        })
    }
}

/// Export `$poll` and `$on_message` as this component's sensor.
///
/// - `$poll`: `fn(C) -> Result<Vec<Trigger>, Error>`, called on the
///   sensor's `poll_interval` with its `config` from pack.yaml (an absent
///   config reads as `{}`), `C: serde::de::DeserializeOwned`;
/// - `$on_message`: `fn(&str, P) -> Result<Vec<Trigger>, Error>`, called
///   for each message of a host-owned subscription with its source (e.g.
///   `nats:drover.nodes`) and payload, `P: serde::de::DeserializeOwned`.
///
/// ```no_run
/// use drover_sdk::prelude::*;
///
/// fn poll(_config: Value) -> Result<Vec<Trigger>, Error> {
///     Ok(vec![Trigger::new("mypack.tick", json!({}))?])
/// }
///
/// fn on_message(_source: &str, _payload: Value) -> Result<Vec<Trigger>, Error> {
///     Ok(Vec::new())
/// }
///
/// drover_sdk::export_sensor!(poll, on_message);
/// ```
#[macro_export]
macro_rules! export_sensor {
    ($poll:expr, $on_message:expr) => {
        const _: () = {
            struct DroverSensor;

            impl $crate::bindings::sensor::Guest for DroverSensor {
                fn poll(
                    config: ::std::string::String,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Trigger>, $crate::Error> {
                    $crate::__private::run_poll($poll, &config)
                }

                fn on_message(
                    source: ::std::string::String,
                    payload: ::std::string::String,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Trigger>, $crate::Error> {
                    $crate::__private::run_on_message($on_message, &source, &payload)
                }
            }

            $crate::bindings::sensor::export_sensor_guest!(DroverSensor with_types_in $crate::bindings::sensor);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    //! Support for the macros; not part of the API.

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::{Context, Error, Trigger};

    pub use wit_bindgen;

    /// Parse the config (`null` reads as `{}`), call `poll`.
    pub fn run_poll<C: DeserializeOwned>(
        poll: impl FnOnce(C) -> Result<Vec<Trigger>, Error>,
        config: &str,
    ) -> Result<Vec<Trigger>, Error> {
        let config = if config.trim() == "null" {
            "{}"
        } else {
            config
        };
        let config = serde_json::from_str(config)
            .map_err(|e| Error::invalid(format!("the sensor config does not fit: {e}")))?;
        poll(config)
    }

    /// Parse the payload, call `on_message`.
    pub fn run_on_message<P: DeserializeOwned>(
        on_message: impl FnOnce(&str, P) -> Result<Vec<Trigger>, Error>,
        source: &str,
        payload: &str,
    ) -> Result<Vec<Trigger>, Error> {
        let payload = serde_json::from_str(payload)
            .map_err(|e| Error::invalid(format!("a message from {source} does not fit: {e}")))?;
        on_message(source, payload)
    }

    /// Parse `input`, call `run`, serialise its output.
    pub fn run_action<I, O>(
        run: impl FnOnce(I, &Context) -> Result<O, Error>,
        input: &str,
        ctx: &Context,
    ) -> Result<String, Error>
    where
        I: DeserializeOwned,
        O: Serialize,
    {
        let input = serde_json::from_str(input)
            .map_err(|e| Error::invalid(format!("input does not fit {}: {e}", ctx.action)))?;
        let output = run(input, ctx)?;
        serde_json::to_string(&output)
            .map_err(|e| Error::failed(format!("cannot serialise the output: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::__private::run_action;
    use crate::{Context, Error};

    fn ctx() -> Context {
        Context {
            execution_id: "01J0000000000000000000000".into(),
            action: "core.echo".into(),
            pack_version: "0.1.0".into(),
            dry_run: false,
        }
    }

    #[derive(serde::Deserialize)]
    struct Input {
        message: String,
    }

    fn echo(input: Input, _ctx: &Context) -> Result<Value, Error> {
        Ok(json!({"message": input.message}))
    }

    #[test]
    fn input_is_parsed_and_output_serialised() {
        let out = run_action(echo, r#"{"message":"hi"}"#, &ctx()).unwrap();
        assert_eq!(out, r#"{"message":"hi"}"#);
    }

    #[test]
    fn bad_input_is_invalid_and_names_the_problem() {
        let err = run_action(echo, r#"{"msg":"hi"}"#, &ctx()).unwrap_err();
        let Error::Invalid(message) = &err else {
            panic!("expected invalid, got {err:?}");
        };
        assert!(message.contains("missing field `message`"), "{message}");
        assert!(message.contains("core.echo"), "{message}");
    }

    #[test]
    fn errors_from_the_action_pass_through_unchanged() {
        let denied = |_: Value, _: &Context| -> Result<Value, Error> {
            Err(Error::denied("no grant for nodes.reboot on node-7"))
        };
        let err = run_action(denied, "{}", &ctx()).unwrap_err();
        assert_eq!(
            err,
            Error::Denied("no grant for nodes.reboot on node-7".into())
        );
        assert_eq!(
            err.to_string(),
            "denied: no grant for nodes.reboot on node-7"
        );
    }

    #[test]
    fn wit_types_serialise_as_plain_json() {
        let node = crate::nodes::Node {
            name: "node-7".into(),
            state: "ready".into(),
            labels: vec![("rack".into(), "r1".into())],
        };
        assert_eq!(
            serde_json::to_value(&node).unwrap(),
            json!({"name": "node-7", "state": "ready", "labels": {"rack": "r1"}})
        );
        let status = crate::nodes::RequestStatus {
            outcome: crate::nodes::Outcome::Queued,
            detail: "req-1".into(),
        };
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"outcome": "queued", "detail": "req-1"})
        );
    }
}
