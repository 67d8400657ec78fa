//! Rust plugins: `cargo build --release --target wasm32-wasip2` of the
//! crate `source:` names, into `target/` inside the pack.
//!
//! Rust's bindings import only the host functions the code calls, so the
//! crate builds against the whole `drover:plugin` world and needs no
//! narrowed one.

use std::path::Path;
use std::process::Command;

use drover_pack::Plugin;

use crate::BuildError;
use crate::toolchain::CARGO;

const TARGET: &str = "wasm32-wasip2";

pub fn build(root: &Path, plugin: &Plugin, krate: &Path, out: &Path) -> Result<(), BuildError> {
    let cargo = CARGO.find(&plugin.name)?;
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ])
    .arg("--manifest-path")
    .arg(krate.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(root.join("target"));
    let stdout = CARGO.run(&plugin.name, &mut cmd).map_err(|e| match e {
        BuildError::ToolFailed {
            plugin,
            tool,
            status,
            output,
        } if output.contains(TARGET) && output.contains("rustup target add") => {
            BuildError::ToolFailed {
                plugin,
                tool,
                status,
                output: format!("{output}\n(install the target with `rustup target add {TARGET}`)"),
            }
        }
        other => other,
    })?;
    // The crate's own cdylib artifact: the last .wasm cargo reports.
    let wasm = stdout
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains("\"cdylib\""))
        .filter_map(|l| {
            let start = l.find("\"filenames\":[\"")? + "\"filenames\":[\"".len();
            let rest = &l[start..];
            Some(rest[..rest.find('"')?].to_owned())
        })
        .rfind(|f| f.ends_with(".wasm"))
        .ok_or_else(|| BuildError::ToolFailed {
            plugin: plugin.name.clone(),
            tool: CARGO.program,
            status: "no component".into(),
            output: format!(
                "cargo built {} but reported no .wasm: give the crate `[lib] crate-type = \
                 [\"cdylib\"]`",
                krate.display()
            ),
        })?;
    std::fs::copy(&wasm, out).map_err(|source| BuildError::Io {
        path: wasm.into(),
        source,
    })?;
    Ok(())
}
