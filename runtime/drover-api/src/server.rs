//! The HTTP server of `drover serve`: its own accept loop around hyper's
//! HTTP/1 connections, so that what an anonymous client can hold is
//! bounded.
//!
//! - **Connections** are capped ([`Limits::max_connections`]); one past the
//!   cap is answered `503` with `Retry-After` and closed (over TLS it is
//!   just closed: answering would cost a handshake), and the server keeps
//!   serving the others.
//! - **Request heads** must arrive within [`Limits::header_timeout`] of the
//!   connection being ready for one (a new connection, or a kept-alive one
//!   between requests): a client that sends half a header, or nothing, is
//!   disconnected then.
//! - **Request bodies** must arrive within [`Limits::body_timeout`] of
//!   their head, in total: a body read after that fails with
//!   [`BodyTimeout`] (the webhook endpoint answers 408).
//! - **TLS handshakes** must finish within [`crate::tls`]'s deadline.
//!
//! Graceful shutdown stops accepting and lets each connection finish its
//! current request, as `axum::serve` does.
//!
//! A connection closes **lingering**, as nginx's does: an answer given
//! before the request's body was read (401 before a body is trusted, 413
//! for a declared length over the limit) would otherwise be lost to the
//! reset a socket closed with unread data sends; the client gets to read
//! it while what it still sends is read and dropped, bounded in time and
//! bytes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// What one client may hold of the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at most (TLS handshakes included).
    pub max_connections: usize,
    /// From a connection being ready for a request to its whole head read.
    pub header_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// `drover serve --max-connections`'s default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Connections being told 503 at once, at most; past it they are closed
/// without an answer (a flood must not become a flood of tasks).
const REJECTING: usize = 64;
/// How long a refused connection is given to read its 503.
const REJECT_LINGER: Duration = Duration::from_secs(2);
/// How long, and how much of what the client still sends, a closing
/// connection reads and drops so the client can read its last answer.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;

/// The answer past the connection cap.
fn busy() -> &'static [u8] {
    static BUSY: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let body = "{\"error\": \"drover has too many open connections (drover serve \
                    --max-connections); retry in a moment\"}\n";
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    &BUSY
}

/// A request body that did not arrive within [`Limits::body_timeout`].
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

impl BodyTimeout {
    /// Whether `e` (or what caused it) is a body timeout.
    pub fn caused(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut cur = Some(e);
        while let Some(e) = cur {
            if e.is::<BodyTimeout>() {
                return true;
            }
            cur = e.source();
        }
        false
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` completes and the open requests have finished.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let tls = tls.map(TlsAcceptor::from);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let rejecting = Arc::new(Semaphore::new(REJECTING));
    let last_warning = Arc::new(AtomicU64::new(0));
    // Dropping `signal_rx` tells connections to finish; each holds a
    // `close_rx` until it is done.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            warn_full(&last_warning, limits.max_connections);
            refuse(stream, tls.is_some(), &rejecting);
            continue;
        };
        let (app, tls, signal_tx, close_rx) = (
            app.clone(),
            tls.clone(),
            signal_tx.clone(),
            close_rx.clone(),
        );
        tokio::spawn(async move {
            match tls {
                None => connection(stream, app, limits, signal_tx).await,
                Some(acceptor) => {
                    match tokio::time::timeout(
                        crate::tls::HANDSHAKE_DEADLINE,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => connection(stream, app, limits, signal_tx).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

/// One connection: requests until the client closes, a timeout, or the
/// shutdown signal (which lets the current request finish); then a
/// lingering close.
async fn connection<I>(io: I, app: Router, limits: Limits, signal: watch::Sender<()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let req = req.map(|body| DeadlineBody::new(body, body_timeout));
        let mut app = app.clone();
        // Boxed so the connection is Unpin and gives its socket back.
        Box::pin(async move {
            // A Router is always ready.
            Ok::<_, Infallible>(
                tower_service::Service::call(&mut app, req)
                    .await
                    .unwrap_or_else(|never: Infallible| match never {}),
            )
        })
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut conn = builder.serve_connection(TokioIo::new(io), service);
    let mut stopping = std::pin::pin!(signal.closed());
    let mut stopped = false;
    loop {
        tokio::select! {
            result = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            () = &mut stopping, if !stopped => {
                stopped = true;
                Pin::new(&mut conn).graceful_shutdown();
            }
        }
    }
    let mut io = conn.into_parts().io.into_inner();
    let _ = tokio::time::timeout(LINGER, linger(&mut io, LINGER_BYTES)).await;
}

/// Closes our side, then reads and drops what the client still sends
/// (up to `limit` bytes) until it closes: closing a socket with unread
/// data resets it, and the client could lose the last answer.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(
    io: &mut I,
    limit: usize,
) -> std::io::Result<()> {
    io.shutdown().await?;
    let mut buf = [0u8; 8192];
    let mut left = limit;
    while left > 0 {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n);
    }
    Ok(())
}

/// Past the cap: a 503 and close, without holding up the accept loop.
fn refuse(mut stream: TcpStream, tls: bool, rejecting: &Arc<Semaphore>) {
    let Ok(permit) = rejecting.clone().try_acquire_owned() else {
        return;
    };
    if tls {
        return;
    }
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REJECT_LINGER, async {
            stream.write_all(busy()).await?;
            linger(&mut stream, 64 << 10).await
        })
        .await;
    });
}

/// One warning per 10 s while connections are refused.
fn warn_full(last: &AtomicU64, max: usize) {
    let now = drover_core::now_ms().max(0) as u64;
    let before = last.load(Ordering::Relaxed);
    if now.saturating_sub(before) >= 10_000
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            max_connections = max,
            "refusing connections: {max} are open (drover serve --max-connections)"
        );
    }
}

/// A request body with a deadline for all of it.
pub struct DeadlineBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Instant,
    /// Made on the first wait, so a request that never waits for its body
    /// (most have none) costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
