//! [`PackError`]: everything that can be wrong with a pack on disk.
//!
//! Every message names the file and, when known, the line, column and field
//! path, in the shape compilers use so editors can jump to it:
//! `packs/core/pack.yaml:9:14: plugins.echo.timeout: invalid duration "5 parsecs" (write e.g. 30s, 2m, 1h)`.

use std::fmt;
use std::path::PathBuf;

/// Why a pack could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The manifest is not well-formed YAML.
    #[error("{}: invalid YAML: {message}", Place { origin, line: *line, column: *column, path: "" })]
    Yaml {
        /// The manifest file.
        origin: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// The parser's complaint.
        message: String,
    },
    /// The manifest is YAML but breaks a rule of the format.
    #[error("{}: {message}", Place { origin, line: *line, column: *column, path })]
    Invalid {
        /// The manifest file.
        origin: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// Dotted path of the offending field, e.g. `plugins.echo.timeout`;
        /// empty for the document as a whole.
        path: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A plugin's component file does not exist.
    #[error(
        "{pack}.{plugin}: component {} does not exist; build it with `cargo xtask build` \
         (bundled packs) or your pack's own build",
        path.display()
    )]
    MissingComponent {
        /// The pack name.
        pack: String,
        /// The plugin name.
        plugin: String,
        /// Where the component was looked for.
        path: PathBuf,
    },
    /// A plugin's component file is not a WebAssembly component.
    #[error("{} is not a WebAssembly component: {detail}", path.display())]
    NotAComponent {
        /// The file.
        path: PathBuf,
        /// What it is instead and how to fix it.
        detail: String,
    },
}

impl PackError {
    /// `(line, column)` of the problem in the manifest, when known (1-based).
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            PackError::Yaml { line, column, .. } | PackError::Invalid { line, column, .. } => {
                line.zip(*column)
            }
            _ => None,
        }
    }
}

/// `file:line:column: path` (each part only when known).
struct Place<'a> {
    origin: &'a PathBuf,
    line: Option<usize>,
    column: Option<usize>,
    path: &'a str,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.path.is_empty() && self.path != "." {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}
