//! Per-call resource limits and the process-wide call permits.

use std::sync::{Condvar, Mutex};

use wasmtime::ResourceLimiter;

/// Most table elements a plugin may grow a table to. Tables hold function
/// references; real plugins use a few thousand.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Which limit stopped a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Memory { desired: usize },
    Table { desired: usize },
}

/// Enforces a plugin's memory cap and remembers a hit, so the executor can
/// tell "memory limit exceeded" from any other trap.
pub(crate) struct CallLimiter {
    pub(crate) memory_cap: usize,
    pub(crate) hit: Option<LimitHit>,
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.hit = Some(LimitHit::Memory { desired });
            // Trap rather than fail the grow: a failed grow makes Rust
            // guests abort with a bare `unreachable`, which says less.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded",
                self.memory_cap
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit = Some(LimitHit::Table { desired });
            return Err(wasmtime::format_err!(
                "table limit of {MAX_TABLE_ELEMENTS} elements exceeded"
            ));
        }
        Ok(true)
    }
}

/// A counting semaphore: instantiating beyond the pooling allocator's slots
/// fails at once instead of waiting, so callers queue here first.
pub(crate) struct Permits {
    free: Mutex<u32>,
    freed: Condvar,
}

pub(crate) struct Permit<'a>(&'a Permits);

impl Permits {
    pub(crate) fn new(n: u32) -> Permits {
        Permits {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}
