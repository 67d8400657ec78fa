//! Run an argument vector on a node over ssh (`drover:plugin/command`).
//!
//! Capability `command`; the granted argv patterns decide what may run.
//! Always an effect: in a dry run it is only planned.

use crate::Error;
use crate::bindings::drover::plugin::command as wit;

pub use wit::Output;

/// Run `argv` on `node` (no shell: each element is one argument), waiting
/// at most `timeout_ms`. A non-zero exit is an `Ok`; check
/// [`Output::exit_code`].
pub fn run<S: AsRef<str>>(node: &str, argv: &[S], timeout_ms: u32) -> Result<Output, Error> {
    let argv: Vec<String> = argv.iter().map(|a| a.as_ref().to_owned()).collect();
    wit::run(node, &argv, timeout_ms)
}

impl Output {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}
