//! Per-call resource limits and the process-wide call permits.

use std::sync::{Condvar, Mutex};

use wasmtime::ResourceLimiter;

/// Most table elements a plugin may grow its tables to, all tables of the
/// call together. Tables hold function references; real plugins use a few
/// thousand.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Which limit stopped a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// `desired`: what all memories together would have held.
    Memory { desired: usize },
    /// `desired`: what all tables together would have held.
    Table { desired: usize },
}

/// Enforces a plugin's memory cap and remembers a hit, so the executor can
/// tell "memory limit exceeded" from any other trap.
///
/// The cap is on the sum of all linear memories of the call's store (a
/// component may hold several core instances, each with memories of its
/// own, or one module with several): wasmtime asks about one memory at a
/// time, with that memory's current and desired size, so the limiter keeps
/// the running total. The same for table elements.
#[derive(Default)]
pub(crate) struct CallLimiter {
    pub(crate) memory_cap: usize,
    pub(crate) hit: Option<LimitHit>,
    /// Bytes of all memories, as allowed so far.
    memory_total: usize,
    /// Elements of all tables, as allowed so far.
    table_total: usize,
    /// The last growth allowed, taken back if wasmtime reports it failed.
    last_memory_grow: usize,
    last_table_grow: usize,
}

impl CallLimiter {
    pub(crate) fn new(memory_cap: usize) -> CallLimiter {
        CallLimiter {
            memory_cap,
            ..CallLimiter::default()
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current);
        let total = self.memory_total.saturating_add(grow);
        if total > self.memory_cap {
            self.hit = Some(LimitHit::Memory { desired: total });
            // Trap rather than fail the grow: a failed grow makes Rust
            // guests abort with a bare `unreachable`, which says less.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded (all memories together)",
                self.memory_cap
            ));
        }
        self.memory_total = total;
        self.last_memory_grow = grow;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_total -= std::mem::take(&mut self.last_memory_grow);
        tracing::debug!(%error, "a memory grow failed");
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current);
        let total = self.table_total.saturating_add(grow);
        if total > MAX_TABLE_ELEMENTS {
            self.hit = Some(LimitHit::Table { desired: total });
            return Err(wasmtime::format_err!(
                "table limit of {MAX_TABLE_ELEMENTS} elements exceeded (all tables together)"
            ));
        }
        self.table_total = total;
        self.last_table_grow = grow;
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_total -= std::mem::take(&mut self.last_table_grow);
        tracing::debug!(%error, "a table grow failed");
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_cap_is_on_all_memories_together() {
        let mut l = CallLimiter::new(64 * MIB);
        // Three memories of 30 MiB: each under the cap, together over it.
        assert!(l.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(l.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(l.memory_growing(0, 30 * MIB, None).is_err());
        assert_eq!(l.hit, Some(LimitHit::Memory { desired: 90 * MIB }));
        // Growing one memory counts only the growth.
        let mut l = CallLimiter::new(64 * MIB);
        assert!(l.memory_growing(0, 10 * MIB, None).unwrap());
        assert!(l.memory_growing(10 * MIB, 60 * MIB, None).unwrap());
        assert!(l.memory_growing(60 * MIB, 65 * MIB, None).is_err());
        // A grow that failed elsewhere gives its bytes back.
        let mut l = CallLimiter::new(64 * MIB);
        assert!(l.memory_growing(0, 40 * MIB, None).unwrap());
        l.memory_grow_failed(wasmtime::format_err!("no")).unwrap();
        assert!(l.memory_growing(0, 60 * MIB, None).unwrap());
        assert_eq!(l.hit, None);
    }

    #[test]
    fn the_table_limit_is_on_all_tables_together() {
        let mut l = CallLimiter::new(64 * MIB);
        assert!(l.table_growing(0, 60_000, None).unwrap());
        assert!(l.table_growing(0, 60_000, None).is_err());
        assert_eq!(l.hit, Some(LimitHit::Table { desired: 120_000 }));
    }
}
