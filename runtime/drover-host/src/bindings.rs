//! Host-side bindings generated from `wit/plugin.wit`. Imports are
//! `trappable`: a host function returns `Err` only to stop the plugin (an
//! output cap hit); refusals travel as the WIT `error` value instead.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "action",
    imports: { default: trappable },
});

pub use drover::plugin::types::Error as PluginError;
