//! The change feed behind the live parts of the UI.
//!
//! One thread reads [`Store::changes`] and the pending-inquiries marker
//! every [`POLL`] while at least one browser is connected, and broadcasts
//! what changed: `executions` (a new execution was stored, or the queue
//! moved), `nodes` (a node changed state, or a fleet request was made,
//! moved or ended) or `inquiries` (an inquiry was asked or ended). `/ui/events` streams these as server-sent events;
//! htmx's SSE extension turns each into a re-fetch of the fragment that
//! shows it, so what a browser shows is always rendered by the same code
//! as a full page. Polling two cheap queries per interval costs the same
//! for one browser or a hundred, and sees changes made by any process
//! (`drover run` in a shell as much as the server's workers). Each live
//! fragment also re-fetches when its event stream (re)opens, which covers
//! what changed between rendering the page and subscribing.

use std::convert::Infallible;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use drover_store::{Changes, Store};
use futures_util::Stream;
use tokio::sync::broadcast;

use crate::WebState;

/// How often the store is asked what changed while someone watches.
pub const POLL: Duration = Duration::from_millis(250);

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Executions,
    Nodes,
    Inquiries,
}

impl Change {
    /// The SSE event name.
    pub fn name(self) -> &'static str {
        match self {
            Change::Executions => "executions",
            Change::Nodes => "nodes",
            Change::Inquiries => "inquiries",
        }
    }
}

/// A handle on the feed; cheap to clone. The polling thread ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Feed {
    tx: Arc<broadcast::Sender<Change>>,
}

impl Feed {
    pub fn start(store: Store) -> Feed {
        let (tx, _) = broadcast::channel(64);
        let tx = Arc::new(tx);
        let weak = Arc::downgrade(&tx);
        let spawned = std::thread::Builder::new()
            .name("drover-web-feed".into())
            .spawn(move || poll(store, weak));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the web UI's change feed; pages will not update live");
        }
        Feed { tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}

fn poll(store: Store, tx: Weak<broadcast::Sender<Change>>) {
    // The last state seen. Kept while nobody watches, so what changed in
    // between is announced to the next watcher (a page rendered before its
    // event stream opened would otherwise miss it); before the first read
    // everything counts as changed. A spurious refresh costs one fragment.
    let mut last: Option<Changes> = None;
    let mut last_inquiries: Option<(u64, Option<String>)> = None;
    loop {
        std::thread::sleep(POLL);
        let Some(tx) = tx.upgrade() else { return };
        if tx.receiver_count() == 0 {
            continue;
        }
        let now = match store.changes() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "web UI change feed cannot read the store");
                continue;
            }
        };
        let (executions, nodes) = match &last {
            None => (true, true),
            Some(prev) => (
                prev.newest_execution != now.newest_execution
                    || prev.queued != now.queued
                    || prev.running != now.running,
                prev.nodes != now.nodes || prev.requests != now.requests,
            ),
        };
        if executions {
            let _ = tx.send(Change::Executions);
        }
        if nodes {
            let _ = tx.send(Change::Nodes);
        }
        last = Some(now);
        match store.pending_inquiries_marker() {
            Ok(marker) => {
                if last_inquiries.as_ref() != Some(&marker) {
                    let _ = tx.send(Change::Inquiries);
                }
                last_inquiries = Some(marker);
            }
            Err(e) => tracing::warn!(error = %e, "web UI change feed cannot read the inquiries"),
        }
    }
}

/// `GET /ui/events`: the feed as server-sent events.
pub async fn events(
    State(state): State<WebState>,
    _: crate::auth::Page<crate::auth::need::Viewer>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.feed.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let name = match rx.recv().await {
            Ok(change) => change.name(),
            // A slow reader missed some: what matters is that it re-reads.
            Err(broadcast::error::RecvError::Lagged(_)) => "executions",
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().event(name).data(name)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
