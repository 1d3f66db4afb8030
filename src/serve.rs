//! The HTTP listener: accepts connections while fewer than `server.max_connections` are open,
//! serves each with hyper (HTTP/1, or HTTP/2 for clients that start with its preface) under a
//! header-read timeout and an idle timeout, and on shutdown stops accepting, lets the requests
//! in flight finish, and waits for every connection to close.
//!
//! `axum::serve` has neither timeouts nor a limit: clients that open connections and send a
//! request line a byte at a time (slowloris) hold them open for ever, and once the process runs
//! out of file descriptors no one else is accepted. Here a client must send its headers within
//! `header_read_timeout_secs` (also the longest a kept-alive connection waits for its next
//! request), a connection with nothing read or written for `idle_timeout_secs` is closed, and
//! past the limit new connections wait in the listen backlog until one closes.
//!
//! This file knows sockets and HTTP framing only; routes, limits on requests (body size, time)
//! and everything above them are the router's.

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;

/// Serves `router` on `listener` until `shutdown` completes, then drains (see the module doc).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let timeouts = Timeouts {
        header_read: Duration::from_secs(config.header_read_timeout_secs),
        idle: Duration::from_secs(config.idle_timeout_secs),
    };
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    let mut saturated = false;
    loop {
        let permit = tokio::select! {
            permit = permit(&permits, config.max_connections, &mut saturated) => permit,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(connection(stream, service, timeouts, stop.clone(), permit));
    }
    // No more accepts; connections finish the request they are on and close.
    drop(listener);
    stop.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
}

/// A free connection slot, waiting while all are taken; says so when the limit is first
/// reached (`saturated` remembers that until a slot is free at once again).
async fn permit(permits: &Arc<Semaphore>, limit: usize, saturated: &mut bool) -> OwnedSemaphorePermit {
    if let Ok(permit) = permits.clone().try_acquire_owned() {
        *saturated = false;
        return permit;
    }
    if !*saturated {
        *saturated = true;
        tracing::warn!(limit, "connection limit reached (server.max_connections): new connections wait");
    }
    metrics::counter!("afterdesk_http_connection_waits_total").increment(1);
    match permits.clone().acquire_owned().await {
        Ok(permit) => permit,
        // The semaphore is never closed.
        Err(_) => std::future::pending().await,
    }
}

/// After a failed accept: a client that gave up is nothing; anything else (out of file
/// descriptors) is logged and waited out, so the loop does not spin.
pub(crate) async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it closes; on `stop`, finishes its request in flight first.
async fn connection(
    stream: TcpStream,
    service: TowerToHyperService<axum::Router>,
    timeouts: Timeouts,
    stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let io = TokioIo::new(IdleTimeout::new(stream, timeouts));
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.header_read);
    let mut served = pin!(builder.serve_connection_with_upgrades(io, service));
    let result = tokio::select! {
        result = served.as_mut() => result,
        () = stop.cancelled() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// A socket that fails with `TimedOut` once nothing was read or written for `idle` (before the
/// first byte: for the header-read timeout, so a client that sends nothing is closed as soon as
/// one that sends too little).
struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    fn new(inner: S, timeouts: Timeouts) -> Self {
        Self { inner, idle: timeouts.idle, deadline: Box::pin(tokio::time::sleep(timeouts.header_read)) }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// Called when the socket is not ready: an error once the deadline passed (else the
    /// deadline wakes the task).
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "connection idle too long")),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => this.check(cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => Poll::Ready(this.wrote(result)),
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => Poll::Ready(this.wrote(result)),
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.check(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> IdleTimeout<S> {
    fn wrote(&mut self, result: io::Result<usize>) -> io::Result<usize> {
        if matches!(result, Ok(written) if written > 0) {
            self.progressed();
        }
        result
    }
}
