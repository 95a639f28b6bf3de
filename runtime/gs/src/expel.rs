//! Expelling a silent node as soon as it must have fenced itself, instead
//! of when etcd gets round to its lease.
//!
//! etcd lets a lease lapse up to half a second late (its lessor looks for
//! expired leases twice a second), on top of the time to live: with 1 s
//! leases that is half the failover. But a node counts a renewal only once
//! its beat (`s/beat/<n>`, [`beat`]) is written, and fences
//! itself a time to live (less a guard) after sending the renewal it
//! counted last. Whoever sees a beat sees it after that renewal was sent,
//! so by its own clock a time to live after it first saw the beat, the
//! node has fenced itself (and its warden has acted): the watcher deletes
//! the node's alive key, comparing that no newer beat was written (a beat
//! it has not seen yet keeps the node in). The coordinator declares the
//! failure as for a lapsed lease. A watcher that lags (a stall of its own)
//! sees beats late, which only delays it.
//!
//! Every process that hosts a member watches (the coordinator may be the
//! silent one); only one deletion takes effect.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use std::time::Instant;

use super::protocol;
use super::state::GroupState;
use super::store::{Compare, LeaseId, Op, Revision, Store, Txn};
use super::view::{Topic, View};
use hacmp_model::event::NodeId;

/// Beats seen by this process: by node, the beat's revision and when it
/// was first seen here.
pub type Seen = BTreeMap<NodeId, (Revision, Instant)>;

/// An expulsion due: the node, its lease (revoked after) and the
/// transaction.
pub struct Due {
    pub node: NodeId,
    pub lease: LeaseId,
    pub silent_for: Duration,
    pub txn: Txn,
}

/// Records the beats first seen `now`; the expulsions due and the next
/// moment one falls due.
pub fn silent(s: &GroupState, seen: &mut Seen, now: Instant) -> (Vec<Due>, Option<Instant>) {
    seen.retain(|n, _| s.beats.contains_key(n));
    let mut due = Vec::new();
    let mut wake: Option<Instant> = None;
    for (n, b) in &s.beats {
        let Some(a) = s.alive.get(n).filter(|a| a.inc == b.value.inc) else {
            continue;
        };
        let e = seen.entry(*n).or_insert((b.modified, now));
        if e.0 != b.modified {
            *e = (b.modified, now);
        }
        let at = e.1 + Duration::from_millis(b.value.ttl_ms);
        if now >= at {
            due.push(Due {
                node: *n,
                lease: a.lease,
                silent_for: now - e.1,
                txn: expel(*n, a.inc, b.modified),
            });
        } else {
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
    }
    (due, wake)
}

/// A lease renewal made known: written while the incarnation is up.
pub fn beat(me: &protocol::Incarnation, ttl: std::time::Duration) -> Txn {
    let record = super::state::BeatRecord {
        inc: me.inc,
        ttl_ms: ttl.as_millis() as u64,
    };
    Txn::new().when(me.guard()).then(Op::put_leased(
        protocol::keys::beat(me.node),
        protocol::json(&record),
        me.lease,
    ))
}

/// Node `node`'s incarnation `inc` is out: no renewal since its beat of
/// revision `beat` for its whole time to live, so it has fenced itself.
/// Its alive key goes, as when its lease lapses (the coordinator declares
/// its failure), unless it beat again meanwhile.
pub fn expel(node: NodeId, inc: Revision, beat: Revision) -> Txn {
    Txn::new()
        .when(Compare::Created(protocol::keys::alive(node), inc))
        .when(Compare::Modified(protocol::keys::beat(node), beat))
        .then(Op::delete(protocol::keys::alive(node)))
        .then(Op::delete(protocol::keys::beat(node)))
}

/// Watches the beats of the group's members until the group (its store
/// and the state it follows) is dropped.
pub(super) async fn run<S: Store>(store: Weak<S>, view: Weak<View>) {
    let Some(v) = view.upgrade() else { return };
    let mut any = v.subscribe(Topic::Any);
    drop(v);
    let mut seen = Seen::new();
    loop {
        let (Some(store), Some(view)) = (store.upgrade(), view.upgrade()) else {
            return;
        };
        // Read under the view's lock: a beat applied meanwhile by another
        // thread is not seen before it arrived.
        let (due, wake) = view
            .read(|s| silent(s, &mut seen, tokio::time::Instant::now().into_std()))
            .unwrap_or_default();
        let mut wake = wake;
        for d in due {
            let r = store.txn(d.txn).await;
            if let Err(super::store::StoreError::Unavailable(_)) = r {
                // Tried again soon: no change of the group may come.
                let again = tokio::time::Instant::now().into_std() + Duration::from_millis(300);
                wake = Some(wake.map_or(again, |w| w.min(again)));
            }
            if let Ok(r) = r {
                if r.succeeded {
                    tracing::warn!(
                        node = d.node,
                        "node {} renewed no lease for {} since its last beat: it has fenced itself, and is expelled",
                        d.node,
                        humantime::format_duration(Duration::from_millis(d.silent_for.as_millis() as u64))
                    );
                    // Its other keys go as with a lapsed lease.
                    let _ = store.revoke(d.lease).await;
                }
            }
        }
        // Held only while it acts, never across a wait.
        drop((store, view));
        // Biased: the simulators replay a seed exactly.
        tokio::select! {
            biased;
            r = any.changed() => if r.is_err() { return },
            _ = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Alive, AliveRecord, BeatRecord, Stored};

    fn state(beat_inc: Revision, modified: Revision) -> GroupState {
        let mut s = GroupState::default();
        s.alive.insert(
            2,
            Alive {
                inc: 7,
                lease: 70,
                record: AliveRecord {
                    hash: "h".into(),
                    process: Default::default(),
                },
            },
        );
        s.beats.insert(
            2,
            Stored {
                value: BeatRecord {
                    inc: beat_inc,
                    ttl_ms: 1000,
                },
                modified,
            },
        );
        s
    }

    #[test]
    fn a_node_is_expelled_a_ttl_after_its_last_beat_was_first_seen() {
        let mut seen = Seen::new();
        let t0 = Instant::now();
        let (due, wake) = silent(&state(7, 10), &mut seen, t0);
        assert!(due.is_empty());
        assert_eq!(wake, Some(t0 + Duration::from_secs(1)));
        // A new beat restarts the count from when it is seen.
        let t1 = t0 + Duration::from_millis(400);
        let (due, wake) = silent(&state(7, 11), &mut seen, t1);
        assert!(due.is_empty());
        assert_eq!(wake, Some(t1 + Duration::from_secs(1)));
        // The same beat seen again counts from its first sight.
        let (due, _) = silent(&state(7, 11), &mut seen, t1 + Duration::from_millis(999));
        assert!(due.is_empty());
        let (due, wake) = silent(&state(7, 11), &mut seen, t1 + Duration::from_secs(1));
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].node, due[0].lease), (2, 70));
        assert_eq!(wake, None);
        assert_eq!(due[0].txn, expel(2, 7, 11));
    }

    #[test]
    fn a_beat_of_another_incarnation_expels_nobody() {
        let mut seen = Seen::new();
        let t0 = Instant::now();
        let (due, wake) = silent(&state(6, 10), &mut seen, t0 + Duration::from_secs(60));
        assert!(due.is_empty() && wake.is_none());
        let (due, _) = silent(&state(6, 10), &mut seen, t0 + Duration::from_secs(120));
        assert!(due.is_empty());
    }
}
