//! Finding and running the toolchains plugins are built with.
//!
//! Each toolchain is a program on `PATH` (componentize-js, an npm package,
//! is also looked for where npm installs it without `-g`: see
//! [`Tool::find_npm`]); when it is missing the build fails naming it and
//! the exact command that installs the version drover is tested with. When it fails, its own output is the message (the end
//! of it when long: a Python traceback ends with the line that matters).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BuildError;

/// A program a build runs.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// The command name looked up on `PATH`.
    pub program: &'static str,
    /// The command that installs it.
    pub install: &'static str,
}

/// Python: componentize-py, pinned to the version drover is tested with.
pub const COMPONENTIZE_PY: Tool = Tool {
    program: "componentize-py",
    install: "python3 -m pip install componentize-py==0.25.1",
};

/// JavaScript: componentize-js (npm), pinned to the version drover is
/// tested with, installed where [`Tool::find_npm`] looks without
/// `DROVER_COMPONENTIZE_JS` or a `node_modules` beside the pack. (Not
/// `jco componentize`: jco 1.35 fails to read any WIT path.)
pub const COMPONENTIZE_JS: Tool = Tool {
    program: "componentize-js",
    install: "npm install --prefix ~/.cache/drover/npm @bytecodealliance/componentize-js@0.23.0",
};

/// The variable naming the componentize-js executable to use.
pub const COMPONENTIZE_JS_ENV: &str = "DROVER_COMPONENTIZE_JS";

/// Rust: cargo, with the wasm32-wasip2 target.
pub const CARGO: Tool = Tool {
    program: "cargo",
    install: "curl https://sh.rustup.rs -sSf | sh && rustup target add wasm32-wasip2",
};

/// The most of a failing tool's output shown.
const MAX_OUTPUT: usize = 8 * 1024;

impl Tool {
    /// Its path on `PATH`, or [`BuildError::ToolMissing`] for `plugin`.
    pub fn find(self, plugin: &str) -> Result<PathBuf, BuildError> {
        find_on_path(self.program).ok_or_else(|| self.missing(plugin, "not on PATH".into()))
    }

    /// An npm-installed tool for a pack in `pack_root`, looked for in this
    /// order: the executable `env` names (an error if it is not one); the
    /// nearest `node_modules/.bin` in `pack_root` or a directory above it
    /// (`npm install` run in or above the pack); drover's own npm prefix
    /// ([`npm_prefix`], where the install hint and `cargo xtask` put it);
    /// `PATH`.
    pub fn find_npm(
        self,
        plugin: &str,
        env: &str,
        pack_root: &Path,
    ) -> Result<PathBuf, BuildError> {
        if let Some(named) = std::env::var_os(env).filter(|v| !v.is_empty()) {
            let named = PathBuf::from(named);
            return if is_executable(&named) {
                Ok(named)
            } else {
                Err(self.missing(
                    plugin,
                    format!("{env}={} is not an executable file", named.display()),
                ))
            };
        }
        let bin = Path::new("node_modules").join(".bin").join(self.program);
        pack_root
            .ancestors()
            .map(|dir| dir.join(&bin))
            .chain(npm_prefix().map(|prefix| prefix.join(&bin)))
            .find(|candidate| is_executable(candidate))
            .or_else(|| find_on_path(self.program))
            .ok_or_else(|| {
                self.missing(
                    plugin,
                    format!(
                        "not in {env}, node_modules/.bin beside the pack, {} or PATH",
                        npm_prefix()
                            .map(|p| p.join(&bin).display().to_string())
                            .unwrap_or_else(|| "~/.cache/drover/npm".into())
                    ),
                )
            })
    }

    fn missing(self, plugin: &str, looked: String) -> BuildError {
        BuildError::ToolMissing {
            plugin: plugin.to_owned(),
            tool: self.program,
            looked,
            install: self.install,
        }
    }

    /// Runs `cmd` (made from [`Tool::find`]'s path) to completion; its
    /// output when it fails. Returns its stdout.
    pub fn run(self, plugin: &str, cmd: &mut Command) -> Result<String, BuildError> {
        tracing::debug!(?cmd, "running");
        let output = cmd.output().map_err(|e| BuildError::ToolFailed {
            plugin: plugin.to_owned(),
            tool: self.program,
            status: "could not start".into(),
            output: e.to_string(),
        })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        // cargo's machine-readable lines (`--message-format=json-*`) are
        // for the build, not for people: its diagnostics are on stderr.
        let human: String = stdout
            .lines()
            .filter(|l| !l.starts_with("{\"reason\":"))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut text = format!("{}\n{}", stderr.trim_end(), human.trim_end())
            .trim()
            .to_owned();
        if text.len() > MAX_OUTPUT {
            let mut cut = text.len() - MAX_OUTPUT;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text = format!("[… {cut} bytes before]\n{}", &text[cut..]);
        }
        Err(BuildError::ToolFailed {
            plugin: plugin.to_owned(),
            tool: self.program,
            status: output.status.to_string(),
            output: text,
        })
    }
}

/// drover's npm prefix, `$HOME/.cache/drover/npm`: per user, so neither
/// root nor a global install is needed (`npm install --prefix` there).
pub fn npm_prefix() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(Path::new(&home).join(".cache/drover/npm"))
}

/// `program` on `PATH` (an executable file), if any.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_its_install_command() {
        let tool = Tool {
            program: "drover-no-such-tool",
            install: "apt-get install drover-no-such-tool",
        };
        assert_eq!(
            tool.find("ping").unwrap_err().to_string(),
            "plugin ping needs drover-no-such-tool, which is not installed (not on PATH): \
             install it with `apt-get install drover-no-such-tool`"
        );
    }

    #[test]
    fn a_failing_tool_shows_its_output() {
        let sh = find_on_path("sh").unwrap();
        let tool = Tool {
            program: "sh",
            install: "",
        };
        let err = tool
            .run(
                "p",
                Command::new(sh).args(["-c", "echo 'Traceback: boom' >&2; exit 3"]),
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "plugin p: sh failed (exit status: 3):\nTraceback: boom"
        );
    }
}
