//! Structured logs (`drover:plugin/log`), stored with the execution.
//!
//! Capability `log`, never needs a grant. Logs count towards the
//! execution's output cap (default 1 MiB, result included); going over it
//! stops the plugin with a clear error.

use crate::bindings::drover::plugin::log as wit;

pub use wit::Level;

/// Log `message` at `level`.
pub fn log(level: Level, message: &str) {
    wit::log(level, message);
}

/// Log at `trace`.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Log at `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at `info`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log at `error`.
pub fn error(message: &str) {
    log(Level::Error, message);
}
