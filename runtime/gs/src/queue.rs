//! Queuing an event: what anyone does (nodes, agents, operators), member
//! of the group or not.

use std::time::Duration;

use super::protocol;
use super::store::{Store, StoreError};
use super::GsError;
use hacmp_model::event::{EventRequest, NodeId, QueuedEvent};

/// Queues an event under a fresh key (anyone: nodes, agents, operators).
pub(crate) async fn enqueue<S: Store + ?Sized>(
    store: &S,
    from: NodeId,
    counter: &std::sync::atomic::AtomicU64,
    request: EventRequest,
) -> Result<(), GsError> {
    let q = QueuedEvent::new(request, 0);
    loop {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let id = format!("u-{t:024}-{from}-{}-{n}", std::process::id());
        let mut delay = Duration::from_millis(100);
        let r = loop {
            match store.txn(protocol::enqueue(&id, &q)).await {
                Err(StoreError::Unavailable(e)) => {
                    tracing::warn!(
                        "{} unreachable ({e}) while queuing an event: trying again",
                        store.describe()
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => break other.map_err(GsError::from)?,
            }
        };
        if r.succeeded {
            return Ok(());
        }
    }
}
