//! The event stream behind `GET /api/v1/stream` (server-sent events).
//!
//! One tailer follows the tables by rowid (new execution requests,
//! finished executions, audit records, fleet requests) every
//! [`TAIL_EVERY`], on the blocking pool, and broadcasts each new row to
//! every subscriber. The channel is bounded ([`BACKLOG`] events): a client
//! that falls that far behind gets a `dropped` event and is disconnected
//! (it reconnects and reads the rest from the list endpoints), so a slow
//! client never makes the server buffer without limit.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use drover_store::Store;
use futures_util::Stream;
use tokio::sync::broadcast;

use crate::AppState;
use crate::auth::{Auth, need};
use crate::v1::ErrorBody;

/// How often the tailer looks for new rows.
pub const TAIL_EVERY: Duration = Duration::from_millis(250);
/// Events a subscriber may fall behind before it is dropped.
pub const BACKLOG: usize = 1024;
/// Rows read per table per look.
const BATCH: u32 = 500;

/// One event as sent: its kind (the SSE `event:`) and JSON data.
#[derive(Clone, Debug)]
pub struct Sent {
    pub kind: &'static str,
    pub json: String,
}

/// The broadcast side of the stream; cheap to clone.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Sent>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Sent>> {
        self.tx.subscribe()
    }

    /// Follows the store until the runtime stops; spawn it on the server's
    /// runtime. With no subscriber it only keeps its cursor at the end.
    pub async fn tail(self, store: Store) {
        let mut cursor = None;
        let mut tick = tokio::time::interval(TAIL_EVERY);
        loop {
            tick.tick().await;
            let store = store.clone();
            let listening = self.tx.receiver_count() > 0;
            let read = tokio::task::spawn_blocking(move || {
                let mut c = match cursor {
                    Some(c) if listening => c,
                    _ => return store.stream_cursor().map(|c| (c, Vec::new())),
                };
                store.stream_since(&mut c, BATCH).map(|events| (c, events))
            })
            .await;
            match read {
                Ok(Ok((c, events))) => {
                    cursor = Some(c);
                    for e in events {
                        let json = serde_json::to_string(&e.data).unwrap_or_default();
                        // No subscriber: nothing to do.
                        let _ = self.tx.send(Arc::new(Sent { kind: e.kind, json }));
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "the event stream cannot read the store"),
                Err(e) => tracing::warn!(error = %e, "the event stream's reader failed"),
            }
        }
    }
}

/// Server-sent events: `execution` (queued and finished), `audit` (every
/// capability use) and `node` (fleet requests). A client that falls more
/// than 1024 events behind gets `dropped` and is disconnected.
#[utoipa::path(get, path = "/api/v1/stream", tag = "events",
    responses((status = 200, description = "text/event-stream of execution, audit and node events",
               content_type = "text/event-stream", body = String),
              (status = 401, body = ErrorBody)))]
pub async fn stream(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures_util::stream::unfold(Some(state.events.subscribe()), |rx| async move {
        let mut rx = rx?;
        let event = match next(&mut rx).await? {
            Next::Event(sent) => Event::default().event(sent.kind).data(&sent.json),
            Next::Dropped(missed) => {
                let data = serde_json::json!({
                    "missed": missed,
                    "hint": "reconnect; read what you missed from the list endpoints",
                });
                return Some((
                    Ok(Event::default().event("dropped").data(data.to_string())),
                    None,
                ));
            }
        };
        Some((Ok(event), Some(rx)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// What a subscriber gets next.
#[derive(Debug)]
enum Next {
    Event(Arc<Sent>),
    /// It fell this many events behind: tell it, then disconnect it.
    Dropped(u64),
}

/// The next event for a subscriber; `None` when the stream is closed.
async fn next(rx: &mut broadcast::Receiver<Arc<Sent>>) -> Option<Next> {
    match rx.recv().await {
        Ok(sent) => Some(Next::Event(sent)),
        Err(broadcast::error::RecvError::Lagged(n)) => Some(Next::Dropped(n)),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(n: usize) -> Arc<Sent> {
        Arc::new(Sent {
            kind: "execution",
            json: n.to_string(),
        })
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_the_backlog_is_dropped_not_buffered() {
        let events = Events::default();
        let mut fast = events.subscribe();
        let mut slow = events.subscribe();
        for n in 0..BACKLOG + 10 {
            events.tx.send(sent(n)).unwrap();
            // The fast one keeps up.
            assert!(
                matches!(next(&mut fast).await, Some(Next::Event(e)) if e.json == n.to_string())
            );
        }
        // The channel held at most BACKLOG events for the slow one.
        assert!(matches!(next(&mut slow).await, Some(Next::Dropped(10))));
    }
}
