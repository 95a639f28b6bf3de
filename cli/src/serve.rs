//! Serving HTTP/1 with limits that keep a server from being used against
//! the process it runs in: a cap on connections (the one past it is closed
//! at once, never queued), one request per connection, a deadline for the
//! whole exchange (a client that sends its headers a byte at a time is cut
//! off, whatever it does between the bytes), a bound on the request head,
//! and an accept loop that backs off when the process is out of
//! descriptors instead of spinning. hyper does the protocol; this holds
//! the limits.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// How much a server takes from its clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub connections: usize,
    /// The whole exchange, from accept to the last byte written.
    pub deadline: Duration,
    /// The request line and headers (hyper's smallest is 8 KiB).
    pub head: usize,
}

impl Limits {
    /// For read-only pages and metrics.
    pub const PAGES: Limits = Limits {
        connections: 64,
        deadline: Duration::from_secs(5),
        head: 8 * 1024,
    };
}

/// How long the accept loop waits after an error (no descriptor left).
const BACK_OFF: Duration = Duration::from_millis(100);

/// A response with a body of bytes.
pub type Reply = Response<Full<Bytes>>;

/// `status` with `body` of `kind`, never cached.
pub fn reply(status: u16, kind: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let h = r.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        h.insert(hyper::header::CONTENT_TYPE, v);
    }
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Connections being served, shared with whoever wants to see them.
pub type Active = Arc<AtomicUsize>;

/// Serves `listener` with `handle` until the task is dropped.
pub async fn serve<H, F>(listener: TcpListener, limits: Limits, active: Active, handle: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and the like: the next accept fails the same way
                // at once, so wait instead of spinning.
                tracing::warn!("HTTP: cannot accept a connection: {e}");
                tokio::time::sleep(BACK_OFF).await;
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= limits.connections {
            // Refused at once: closing costs the client a reconnect, and
            // this process nothing.
            drop(stream);
            continue;
        }
        let guard = Slot::take(&active);
        let handle = handle.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let service = hyper::service::service_fn(move |req| {
                let f = handle(req);
                async move { Ok::<_, Infallible>(f.await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.deadline)
                .max_buf_size(limits.head.max(8 * 1024))
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // Past the deadline the connection is dropped, whatever state
            // it is in.
            let _ = tokio::time::timeout(limits.deadline, conn).await;
        });
    }
}

/// One counted connection; uncounted when dropped.
struct Slot(Active);

impl Slot {
    fn take(active: &Active) -> Slot {
        active.fetch_add(1, Ordering::SeqCst);
        Slot(active.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
