//! The stop tree: one [`Stop`] at the root of `drover serve`, a child for
//! each part (the HTTP server, the pipeline and each of its threads, the
//! fleet controller). Stopping a node stops everything under it, and
//! whoever waits wakes at once: threads sleeping between polls and async
//! tasks alike, so nothing needs a flag checked every few milliseconds.
//!
//! Built on `tokio_util`'s `CancellationToken` (the tree and the async
//! side); [`Stop::sleep`] lets plain threads wait on the same token.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// A node of the stop tree. Clones are the same node.
#[derive(Clone, Debug, Default)]
pub struct Stop(CancellationToken);

/// Wakes a parked thread when the token it polls is cancelled.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl Stop {
    /// A new root.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// A node under this one: stopped with it, or on its own.
    pub fn child(&self) -> Stop {
        Stop(self.0.child_token())
    }

    /// Stops this node and everything under it.
    pub fn stop(&self) {
        self.0.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves when this node is stopped (for async tasks).
    pub async fn stopped(&self) {
        self.0.cancelled().await
    }

    /// Sleeps up to `timeout`, returning early when this node is stopped.
    /// Returns whether it is stopped.
    pub fn sleep(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let waiting = self.0.cancelled();
        let mut waiting = std::pin::pin!(waiting);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if waiting.as_mut().poll(&mut cx) == Poll::Ready(()) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Spurious wake-ups only go round the loop again.
            std::thread::park_timeout(deadline - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_thread_wakes_when_an_ancestor_stops() {
        let root = Stop::new();
        let part = root.child();
        let thread = part.child();
        let sleeper = std::thread::spawn(move || {
            let started = Instant::now();
            let stopped = thread.sleep(Duration::from_secs(60));
            (stopped, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        root.stop();
        let (stopped, slept) = sleeper.join().unwrap();
        assert!(stopped);
        assert!(slept < Duration::from_secs(30), "woke at once, not at 60 s");
        assert!(part.is_stopped());
    }

    #[test]
    fn stopping_a_child_leaves_the_parent_and_siblings_running() {
        let root = Stop::new();
        let (a, b) = (root.child(), root.child());
        a.stop();
        assert!(a.is_stopped());
        assert!(!root.is_stopped() && !b.is_stopped());
        assert!(
            !b.sleep(Duration::from_millis(5)),
            "times out when not stopped"
        );
        assert!(
            a.sleep(Duration::from_secs(60)),
            "a stopped node does not sleep"
        );
    }
}
