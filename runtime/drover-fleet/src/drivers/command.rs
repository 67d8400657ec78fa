//! The `command` driver: drain, undrain, reboot and the up check are argv
//! the operator configures per node, e.g. a batch system's drain command.
//!
//! ```yaml
//! driver: command
//! options:
//!   drain:   [scontrol, update, "nodename={node}", state=drain, "reason=drover"]
//!   undrain: [scontrol, update, "nodename={node}", state=resume]
//!   reboot:  [ipmitool, -H, "{node}-bmc", -U, admin, -E, power, cycle]
//!   up:      [ping, -c, "1", -W, "2", "{node}"]
//!   timeout_seconds: 60
//! ```
//!
//! Each argument has `{node}` replaced by the node's name and `{action}` by
//! the power action (`GracefulRestart` or `ForceRestart`); the argv runs as
//! is, never through a shell, so a node name cannot inject syntax. A
//! non-zero exit fails with the exit code and the end of stderr; past
//! `timeout_seconds` the process group is killed. `up` answers "is the node
//! back": exit 0 is yes, any other exit is not yet.

use std::time::Duration;

use serde::Deserialize;

use crate::driver::{Driver, DriverError, NodeTarget, PowerAction};
use drover_process::{self as process, ProcessError};

/// Placeholders an argument may contain.
const PLACEHOLDERS: [&str; 2] = ["{node}", "{action}"];
const DEFAULT_TIMEOUT_SECONDS: u64 = 120;
const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;
/// How much of stderr an error message quotes.
const STDERR_TAIL: usize = 500;
/// Output kept per stream.
const OUTPUT_CAP: usize = 64 << 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    drain: Option<Vec<String>>,
    undrain: Option<Vec<String>>,
    reboot: Option<Vec<String>>,
    up: Option<Vec<String>>,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// The `command` driver; it holds no state, the options come per node.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommandDriver;

impl CommandDriver {
    fn options(&self, node: &NodeTarget) -> Result<Options, DriverError> {
        let options: Options = super::parse_options(node)?;
        let config = |message: String| DriverError::Config {
            node: node.name.to_owned(),
            message,
        };
        if options.timeout_seconds == 0 || options.timeout_seconds > MAX_TIMEOUT_SECONDS {
            return Err(config(format!(
                "timeout_seconds: {} is out of range (1 to {MAX_TIMEOUT_SECONDS})",
                options.timeout_seconds
            )));
        }
        let fields = [
            ("drain", &options.drain),
            ("undrain", &options.undrain),
            ("reboot", &options.reboot),
            ("up", &options.up),
        ];
        for (field, argv) in fields {
            let Some(argv) = argv else { continue };
            if argv.is_empty() || argv[0].is_empty() {
                return Err(config(format!(
                    "{field}: an empty argv; give the program and its arguments, \
                     e.g. {field}: [scontrol, update, \"nodename={{node}}\", ...]"
                )));
            }
            for (i, arg) in argv.iter().enumerate() {
                if let Some(unknown) = unknown_placeholder(arg) {
                    return Err(config(format!(
                        "{field}[{i}]: unknown placeholder {unknown} in {arg:?} \
                         (known: {})",
                        PLACEHOLDERS.join(", ")
                    )));
                }
            }
        }
        Ok(options)
    }

    /// Runs the configured argv `field`; a non-zero exit is an error.
    fn run(
        &self,
        node: &NodeTarget,
        field: &str,
        action: Option<PowerAction>,
        want_success: bool,
    ) -> Result<bool, DriverError> {
        let options = self.options(node)?;
        let argv = match field {
            "drain" => &options.drain,
            "undrain" => &options.undrain,
            "reboot" => &options.reboot,
            _ => &options.up,
        };
        let Some(argv) = argv else {
            return Err(DriverError::Config {
                node: node.name.to_owned(),
                message: format!(
                    "no `{field}` command: add `{field}: [program, args...]` to the node's options"
                ),
            });
        };
        let argv = substitute(argv, node.name, action);
        let shown = argv.join(" ");
        let seconds = options.timeout_seconds;
        let failed = |message: String| DriverError::Failed {
            node: node.name.to_owned(),
            message,
        };
        match process::run(&argv, Duration::from_secs(seconds), OUTPUT_CAP) {
            Ok(done) if done.status.success() => Ok(true),
            Ok(_) if !want_success => Ok(false),
            Ok(done) => {
                let stderr = done.stderr.tail_text(STDERR_TAIL);
                Err(failed(format!(
                    "{field} command `{shown}` {}{}",
                    done.describe_status(),
                    if stderr.is_empty() {
                        " (no stderr)".to_owned()
                    } else {
                        format!(": {stderr}")
                    }
                )))
            }
            Err(ProcessError::TimedOut { .. }) => Err(DriverError::Timeout {
                node: node.name.to_owned(),
                address: format!("the {field} command `{shown}` (killed)"),
                seconds,
            }),
            Err(e) => Err(failed(format!("{field} command: {e}"))),
        }
    }
}

/// The argv with its placeholders filled, one argument at a time.
fn substitute(argv: &[String], node: &str, action: Option<PowerAction>) -> Vec<String> {
    let action = match action {
        Some(PowerAction::GracefulRestart) => "GracefulRestart",
        Some(PowerAction::ForceRestart) => "ForceRestart",
        None => "",
    };
    argv.iter()
        .map(|arg| arg.replace("{node}", node).replace("{action}", action))
        .collect()
}

/// The first `{word}` in `arg` that is not a known placeholder.
fn unknown_placeholder(arg: &str) -> Option<&str> {
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let Some(close) = after.find('}') else { break };
        let word = &after[..=close];
        let inner = &word[1..word.len() - 1];
        let looks_like_one = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if looks_like_one && !PLACEHOLDERS.contains(&word) {
            return Some(word);
        }
        rest = &after[1..];
    }
    None
}

impl Driver for CommandDriver {
    fn drain(&self, node: &NodeTarget) -> Result<(), DriverError> {
        self.run(node, "drain", None, true).map(drop)
    }

    fn undrain(&self, node: &NodeTarget) -> Result<(), DriverError> {
        self.run(node, "undrain", None, true).map(drop)
    }

    fn reboot(&self, node: &NodeTarget, action: PowerAction) -> Result<(), DriverError> {
        self.run(node, "reboot", Some(action), true).map(drop)
    }

    fn is_up(&self, node: &NodeTarget) -> Result<bool, DriverError> {
        self.run(node, "up", None, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_per_argument() {
        let argv: Vec<String> = ["scontrol", "nodename={node}", "{action}", "x{node}y{node}"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            substitute(&argv, "n001", Some(PowerAction::ForceRestart)),
            ["scontrol", "nodename=n001", "ForceRestart", "xn001yn001"]
        );
    }

    #[test]
    fn unknown_placeholders_are_found() {
        assert_eq!(unknown_placeholder("nodename={nodes}"), Some("{nodes}"));
        assert_eq!(unknown_placeholder("{node}-{action}"), None);
        assert_eq!(unknown_placeholder("{\"json\": 1}"), None);
        assert_eq!(unknown_placeholder("{"), None);
        assert_eq!(unknown_placeholder("{}"), None);
    }
}
