//! `log`: plugin log lines, stored with the execution.

use drover_core::LogLevel;

use crate::bindings::drover::plugin::log::{Host, Level};
use crate::call::CallCtx;

impl Host for CallCtx {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        CallCtx::log(self, level, message)
    }
}
