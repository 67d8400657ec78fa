//! [`BuildError`]: why `drover pack build` or `drover pack new` stopped.

use std::path::PathBuf;

/// Why a pack's sources could not be built, or a pack not scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The manifest itself is invalid.
    #[error(transparent)]
    Pack(#[from] drover_pack::PackError),
    /// The manifest is valid text, but what it names on disk is not usable.
    #[error("{}{}: {field}: {message}", manifest.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Manifest {
        manifest: PathBuf,
        line: Option<usize>,
        field: String,
        message: String,
    },
    /// The toolchain a plugin needs is not installed.
    #[error(
        "plugin {plugin} needs {tool}, which is not installed ({looked}): install it with \
         `{install}`"
    )]
    ToolMissing {
        plugin: String,
        tool: &'static str,
        /// Where it was looked for.
        looked: String,
        install: &'static str,
    },
    /// The toolchain ran and failed.
    #[error("plugin {plugin}: {tool} failed ({status}):\n{output}")]
    ToolFailed {
        plugin: String,
        tool: &'static str,
        status: String,
        /// What it printed (its last lines when long).
        output: String,
    },
    /// `drover pack new` was given something it cannot create.
    #[error("{0}")]
    Scaffold(String),
}
