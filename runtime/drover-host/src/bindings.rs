//! Host-side bindings generated from `wit/plugin.wit`. Imports are
//! `trappable`: a host function returns `Err` only to stop the plugin (an
//! output cap hit); refusals travel as the WIT `error` value instead.
//!
//! World `action` is generated here; world `sensor` in [`sensor`], which
//! reuses this module's interfaces (`with:`), so one set of `Host` impls
//! and one linker serve both worlds.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "action",
    imports: { default: trappable },
});

pub use drover::plugin::types::Error as PluginError;

/// World `sensor`: only its exports (`poll`, `on-message`) are new.
pub mod sensor {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "sensor",
        imports: { default: trappable },
        with: {
            "drover:plugin/types": crate::bindings::drover::plugin::types,
            "drover:plugin/log": crate::bindings::drover::plugin::log,
            "drover:plugin/kv": crate::bindings::drover::plugin::kv,
            "drover:plugin/secrets": crate::bindings::drover::plugin::secrets,
            "drover:plugin/http": crate::bindings::drover::plugin::http,
            "drover:plugin/probe": crate::bindings::drover::plugin::probe,
            "drover:plugin/command": crate::bindings::drover::plugin::command,
            "drover:plugin/nodes": crate::bindings::drover::plugin::nodes,
        },
    });
}
