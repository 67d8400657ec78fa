//! The answer to a write that was queued rather than waited for.

use std::sync::mpsc::Receiver;

use crate::{Result, StoreError};

/// Counts of a backend's transactions and of the writes batched into them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (or rolled back), one fsync each.
    pub transactions: u64,
    /// Writes run inside them.
    pub writes: u64,
}

/// A write queued on the backend; [`Pending::wait`] blocks until it is
/// durable (or has failed).
pub struct Pending<R> {
    rx: Receiver<Result<R>>,
}

impl<R> Pending<R> {
    /// A pending write whose outcome will arrive on `rx`.
    pub fn new(rx: Receiver<Result<R>>) -> Pending<R> {
        Pending { rx }
    }

    /// Blocks until the write is durable.
    pub fn wait(self) -> Result<R> {
        self.rx.recv().map_err(|_| StoreError::WriterGone)?
    }
}
