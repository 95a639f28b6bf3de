//! A daemon's status while it is out of the group by an operator's stop:
//! written on a lease of its own (not an incarnation's), kept alive while
//! the daemon runs, so `hacmp status` shows the node `stopped` (and `hacmp
//! start` has a daemon to bring back) until the daemon ends, and not after.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::protocol::keys;
use super::store::{LeaseId, Op, Store, StoreError, Txn};
use hacmp_model::event::NodeId;

pub(crate) struct Presence {
    status: watch::Sender<Vec<u8>>,
    lease: Arc<Mutex<Option<LeaseId>>>,
    keeper: tokio::task::JoinHandle<()>,
}

impl Presence {
    /// Shows `first` (JSON) at once when the store answers (else as soon
    /// as it does), then keeps it shown.
    pub(crate) async fn start<S: Store>(
        store: Arc<S>,
        node: NodeId,
        ttl: Duration,
        first: Vec<u8>,
    ) -> Presence {
        let mut lease = store.grant(ttl).await.ok();
        let mut written = false;
        if let Some(l) = lease {
            let t = Txn::new().then(Op::put_leased(keys::status(node), first.clone(), l));
            match store.txn(t).await {
                Ok(_) => written = true,
                Err(StoreError::LeaseNotFound) => lease = None,
                Err(_) => {}
            }
        }
        let (status, rx) = watch::channel(first);
        let held = Arc::new(Mutex::new(lease));
        let keeper = tokio::spawn(keep(store, node, ttl, rx, held.clone(), written));
        Presence {
            status,
            lease: held,
            keeper,
        }
    }

    /// The status to show (JSON).
    pub(crate) fn show(&self, status: Vec<u8>) {
        self.status.send_replace(status);
    }

    /// Ends it: the status goes with its lease.
    pub(crate) async fn end<S: Store>(self, store: &S) {
        self.keeper.abort();
        let lease = *self.lease.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = lease {
            let _ = tokio::time::timeout(Duration::from_secs(3), store.revoke(l)).await;
        }
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// Writes each status under the lease and renews it at a third of its time
/// to live; a lease lost (etcd unreachable past it) is granted again and
/// the status written again.
async fn keep<S: Store>(
    store: Arc<S>,
    node: NodeId,
    ttl: Duration,
    mut status: watch::Receiver<Vec<u8>>,
    held: Arc<Mutex<Option<LeaseId>>>,
    mut written: bool,
) {
    let every = (ttl / 3).max(Duration::from_millis(50));
    let mut lease: Option<LeaseId> = *held.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if lease.is_none() {
            lease = store.grant(ttl).await.ok();
            *held.lock().unwrap_or_else(|p| p.into_inner()) = lease;
            written = false;
        }
        if let (Some(l), false) = (lease, written) {
            let value = status.borrow_and_update().clone();
            if !value.is_empty() {
                let t = Txn::new().then(Op::put_leased(keys::status(node), value, l));
                match store.txn(t).await {
                    Ok(_) => written = true,
                    Err(StoreError::LeaseNotFound) => lease = None,
                    Err(_) => {}
                }
            }
        }
        // Biased: the simulators replay a seed exactly.
        tokio::select! {
            biased;
            r = status.changed() => {
                if r.is_err() {
                    return;
                }
                written = false;
            }
            _ = tokio::time::sleep(every) => {
                if let Some(l) = lease {
                    if let Err(StoreError::LeaseNotFound) = store.keep_alive(l).await {
                        lease = None;
                    }
                }
            }
        }
    }
}
