//! The raw bindings `wit-bindgen` generates for `wit/plugin.wit`, world
//! `action`. Everything else in this crate wraps them; reach for them only
//! when a wrapper is missing.
//!
//! Imports are plain functions under [`drover::plugin`]; a component imports
//! only the interfaces whose functions it actually calls, so nothing here
//! may call a host function on its own (no static initialisers).
//!
//! Low level escape hatch: implement [`Guest`] on your own type and export
//! it with `drover_sdk::bindings::export_guest!(MyType)`. Prefer
//! [`export_action!`](crate::export_action).
//!
//! The `sensor` world is generated in [`sensor`], a sibling module with
//! `with` pointing every shared interface (`types`, `log`, `kv`, ...) at the
//! modules below, its own `export_macro_name` and a `type_section_suffix`,
//! so the wrappers in this crate serve both worlds unchanged.

#![allow(missing_docs, clippy::all)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "action",
    // The export macro must be callable from plugin crates, which depend on
    // this crate but not on `wit-bindgen` itself.
    pub_export_macro: true,
    export_macro_name: "export_guest",
    default_bindings_module: "::drover_sdk::bindings",
    runtime_path: "::drover_sdk::__private::wit_bindgen::rt",
    with: {
        // Our own type with the same shape, so it can have a readable
        // `Display`, constructors and `From` conversions.
        "drover:plugin/types@0.1.0/error": crate::Error,
    },
    additional_type_attributes: {
        "drover:plugin/types@0.1.0/context": [#[derive(serde::Serialize)]],
        "drover:plugin/nodes@0.1.0/outcome": [#[derive(serde::Serialize)] #[serde(rename_all = "kebab-case")]],
        "drover:plugin/nodes@0.1.0/request-status": [#[derive(serde::Serialize)]],
        "drover:plugin/nodes@0.1.0/node": [#[derive(serde::Serialize)]],
        "drover:plugin/probe@0.1.0/probe-result": [#[derive(serde::Serialize)]],
        "drover:plugin/command@0.1.0/output": [#[derive(serde::Serialize)]],
    },
    additional_member_attributes: {
        "drover:plugin/nodes@0.1.0/node.labels": [#[serde(serialize_with = "crate::nodes::serialize_labels")]],
    },
});

/// World `sensor`: its own exports (`poll`, `on-message`); every shared
/// interface is the one above, so the wrappers serve both worlds.
pub mod sensor {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sensor",
        pub_export_macro: true,
        export_macro_name: "export_sensor_guest",
        default_bindings_module: "::drover_sdk::bindings::sensor",
        runtime_path: "::drover_sdk::__private::wit_bindgen::rt",
        type_section_suffix: "sensor",
        with: {
            "drover:plugin/types@0.1.0/error": crate::Error,
            "drover:plugin/types@0.1.0/context": crate::bindings::drover::plugin::types::Context,
            "drover:plugin/types@0.1.0/trigger": crate::bindings::drover::plugin::types::Trigger,
            "drover:plugin/log@0.1.0": crate::bindings::drover::plugin::log,
            "drover:plugin/kv@0.1.0": crate::bindings::drover::plugin::kv,
            "drover:plugin/secrets@0.1.0": crate::bindings::drover::plugin::secrets,
            "drover:plugin/http@0.1.0": crate::bindings::drover::plugin::http,
            "drover:plugin/probe@0.1.0": crate::bindings::drover::plugin::probe,
            "drover:plugin/command@0.1.0": crate::bindings::drover::plugin::command,
            "drover:plugin/nodes@0.1.0": crate::bindings::drover::plugin::nodes,
        },
    });
}
