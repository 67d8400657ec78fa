//! Finding and running the toolchains plugins are built with.
//!
//! Each toolchain is a program on `PATH`; when it is missing the build
//! fails naming it and the exact command that installs the version drover
//! is tested with. When it fails, its own output is the message (the end
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
        find_on_path(self.program).ok_or(BuildError::ToolMissing {
            plugin: plugin.to_owned(),
            tool: self.program,
            install: self.install,
        })
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
