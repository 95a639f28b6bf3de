//! The group's state as one process follows it: fed by the store, read by
//! every node of the process and by its coordinator. Each kind of change
//! wakes only the waiters it concerns (a barrier's waiters wake once, when
//! it completes, not at every arrival).

use std::sync::Mutex;

use tokio::sync::watch;
use tokio::time::Instant;

use super::state::{GroupState, Touched};
use super::store::{Change, Feed, FeedSink};

/// What a waiter waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Alive keys, the roster, the identity.
    Membership,
    Queue,
    /// The running event, its end, outcomes, failures, decisions.
    Event,
    /// A sync point of the running event completed (or the event ended).
    Barrier,
    /// Anything (the coordinator).
    Any,
}

struct Inner {
    state: GroupState,
    /// False from a lost feed to the next full read: nothing is decided
    /// on a state that may be stale.
    fresh: bool,
    /// When a queued event last arrived (for the settle interval).
    queue_changed: Instant,
}

pub struct View {
    inner: Mutex<Inner>,
    membership: watch::Sender<u64>,
    queue: watch::Sender<u64>,
    event: watch::Sender<u64>,
    barrier: watch::Sender<u64>,
    any: watch::Sender<u64>,
    /// Per node: its alive key changed (what a node's lease keeper
    /// follows, so a join wakes one keeper, not all).
    alive: Mutex<std::collections::BTreeMap<hacmp_model::event::NodeId, watch::Sender<u64>>>,
}

impl Default for View {
    fn default() -> Self {
        View {
            inner: Mutex::new(Inner {
                state: GroupState::default(),
                fresh: false,
                queue_changed: Instant::now(),
            }),
            membership: watch::channel(0).0,
            queue: watch::channel(0).0,
            event: watch::channel(0).0,
            barrier: watch::channel(0).0,
            any: watch::channel(0).0,
            alive: Mutex::new(Default::default()),
        }
    }
}

impl View {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sender(&self, t: Topic) -> &watch::Sender<u64> {
        match t {
            Topic::Membership => &self.membership,
            Topic::Queue => &self.queue,
            Topic::Event => &self.event,
            Topic::Barrier => &self.barrier,
            Topic::Any => &self.any,
        }
    }

    /// A receiver of a topic's changes: subscribe before reading the state,
    /// so no change between the two is missed.
    pub fn subscribe(&self, t: Topic) -> watch::Receiver<u64> {
        self.sender(t).subscribe()
    }

    /// A receiver told when node `n`'s alive key changes (or the feed is
    /// read afresh).
    pub fn subscribe_alive(&self, n: hacmp_model::event::NodeId) -> watch::Receiver<u64> {
        self.alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(n)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Reads the state; `None` while it may be stale.
    pub fn read<T>(&self, f: impl FnOnce(&GroupState) -> T) -> Option<T> {
        let g = self.lock();
        g.fresh.then(|| f(&g.state))
    }

    /// Reads the state even when it may be stale (for reports).
    pub fn read_any<T>(&self, f: impl FnOnce(&GroupState, bool) -> T) -> T {
        let g = self.lock();
        f(&g.state, g.fresh)
    }

    pub fn queue_changed(&self) -> Instant {
        self.lock().queue_changed
    }

    fn wake(&self, t: Touched) {
        let bump = |s: &watch::Sender<u64>| s.send_modify(|v| *v = v.wrapping_add(1));
        if !t.alive.is_empty() {
            let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
            for n in &t.alive {
                if let Some(s) = alive.get(n) {
                    bump(s);
                }
            }
        }
        if t.membership {
            bump(&self.membership);
        }
        if t.queue {
            bump(&self.queue);
        }
        if t.event {
            bump(&self.event);
            // Waiters at a barrier also stop when the event ends.
            bump(&self.barrier);
        } else if t.barrier {
            bump(&self.barrier);
        }
        bump(&self.any);
    }
}

impl FeedSink for View {
    fn deliver(&self, feed: Feed) {
        let touched = {
            let mut g = self.lock();
            match feed {
                Feed::Reset { revision, kvs } => {
                    g.fresh = true;
                    g.queue_changed = Instant::now();
                    let mut t = g.state.reset(revision, &kvs);
                    // Keys gone while the feed was lost are news too.
                    t.alive = self
                        .alive
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .keys()
                        .copied()
                        .collect();
                    t
                }
                Feed::Changes { revision, changes } => {
                    if changes
                        .iter()
                        .any(|c| matches!(c, Change::Put(kv) if kv.key.starts_with(super::protocol::keys::QUEUE)))
                    {
                        g.queue_changed = Instant::now();
                    }
                    g.state.apply(revision, &changes)
                }
                Feed::Lost => {
                    g.fresh = false;
                    Touched::default()
                }
            }
        };
        self.wake(touched);
    }
}
