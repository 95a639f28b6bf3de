//! The coordinator: the group's chores (publish the identity, declare
//! failures, end the running event, claim the next one) done by one node,
//! the lowest-numbered one that is up. Every chore is a guarded
//! transaction, so a second coordinator (two nodes that both believe they
//! are lowest for a moment) changes nothing: only one attempt takes effect.
//! When the coordinator goes down, its lease lapses and the next node takes
//! over.
//!
//! One coordinator task runs per process and group; it acts while one of
//! the process's nodes is the lowest that is up (in one process with many
//! simulated nodes, always).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::protocol::{self, Incarnation, Note};
use super::store::{Revision, Store, StoreError};
use super::view::{Topic, View};
use hacmp_model::event::NodeId;
use hacmp_model::Identity;

/// This process's link to one group: the store, the state it follows and
/// the coordinator; every node of the process shares it.
pub struct GroupLink<S: Store> {
    pub store: Arc<S>,
    pub view: Arc<View>,
    pub cluster_id: u32,
    local: Mutex<BTreeMap<NodeId, (Incarnation, Identity)>>,
    changed: Arc<Notify>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The watch of members' beats (`expel`), once a local member beats.
    expel: Mutex<Option<tokio::task::JoinHandle<()>>>,
    notes: Mutex<Option<NoteHook>>,
    /// Where resource groups go: the site's (none without groups); a
    /// deploy replaces it.
    placer: Mutex<Option<Arc<hacmp_model::placement::Placer>>>,
}

type NoteHook = Box<dyn Fn(&Note) + Send + Sync>;

impl<S: Store> GroupLink<S> {
    /// Follows the group on `store` and starts the coordinator, which
    /// places resource groups with `placer` when it claims an event.
    pub fn new(
        store: Arc<S>,
        cluster_id: u32,
        settle: Duration,
        placer: Option<Arc<hacmp_model::placement::Placer>>,
    ) -> Arc<GroupLink<S>> {
        let view = Arc::new(View::default());
        store.subscribe(super::state::SHARED, view.clone());
        let shared = Arc::new(GroupLink {
            store,
            view,
            cluster_id,
            local: Mutex::new(BTreeMap::new()),
            changed: Arc::new(Notify::new()),
            task: Mutex::new(None),
            expel: Mutex::new(None),
            notes: Mutex::new(None),
            placer: Mutex::new(placer),
        });
        let task = tokio::spawn(run(Arc::downgrade(&shared), settle));
        *shared.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        shared
    }

    pub fn group_name(&self) -> String {
        format!("clstrmgr_{}", self.cluster_id)
    }

    /// Called with what every chore that took effect did.
    pub fn on_note(&self, f: impl Fn(&Note) + Send + Sync + 'static) {
        *self.notes.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// An incarnation of this process may coordinate.
    pub(crate) fn register(&self, me: Incarnation, identity: Identity) {
        self.local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(me.node, (me, identity));
        self.changed.notify_one();
    }

    /// A local member switched bundles (a deploy): it coordinates with the
    /// new identity and places groups with the new site.
    pub fn switched(
        &self,
        node: NodeId,
        identity: Identity,
        placer: Option<Arc<hacmp_model::placement::Placer>>,
    ) {
        if let Some((_, id)) = self
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&node)
        {
            *id = identity;
        }
        *self.placer.lock().unwrap_or_else(|p| p.into_inner()) = placer;
        self.changed.notify_one();
    }

    pub(crate) fn unregister(&self, me: &Incarnation) {
        let mut l = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if l.get(&me.node).is_some_and(|(x, _)| x == me) {
            l.remove(&me.node);
        }
    }

    /// The local incarnation that coordinates, if the lowest node that is
    /// up is one of ours.
    fn coordinator(&self, s: &super::state::GroupState) -> Option<(Incarnation, Identity)> {
        let (n, a) = s.alive.iter().next()?;
        let l = self.local.lock().unwrap_or_else(|p| p.into_inner());
        l.get(n).filter(|(me, _)| me.inc == a.inc).cloned()
    }

    /// Starts watching the members' beats, once.
    pub(crate) fn watch_beats(shared: &Arc<GroupLink<S>>) {
        let mut e = shared.expel.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            *e = Some(tokio::spawn(super::expel::run(
                Arc::downgrade(&shared.store),
                Arc::downgrade(&shared.view),
            )));
        }
    }

    /// Stops the coordinator and the watch of beats.
    pub fn shutdown(&self) {
        for t in [&self.task, &self.expel] {
            if let Some(t) = t.lock().unwrap_or_else(|p| p.into_inner()).take() {
                t.abort();
            }
        }
    }
}

impl<S: Store> Drop for GroupLink<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The coordinator compacts the store's history every this many
/// revisions...
const COMPACT_EVERY: Revision = 10_000;
/// ...keeping this many (a follower that lags less than this resumes its
/// watch; one that lags more reads the group again).
const COMPACT_KEEP: Revision = 1_000;

async fn run<S: Store>(me: std::sync::Weak<GroupLink<S>>, settle: Duration) {
    let Some(shared) = me.upgrade() else { return };
    let mut any = shared.view.subscribe(Topic::Any);
    drop(shared);
    // The revision of our last write: a plan is made on a state that has
    // seen it, so a chore is not tried twice on a state that lags.
    let mut applied: Revision = 0;
    let mut compacted: Revision = 0;
    let mut told_unavailable = false;
    loop {
        let Some(shared) = me.upgrade() else { return };
        // The protocol is pure and reads no clock: it is given the time.
        let now = Instant::now().into_std();
        let settled_at = protocol::settled_at(shared.view.queue_changed().into_std(), settle);
        let plan = shared
            .view
            .read(|s| {
                if s.revision < applied {
                    return None;
                }
                let (inc, identity) = shared.coordinator(s)?;
                let placer = shared
                    .placer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                Some(protocol::chores(
                    s,
                    &inc,
                    &identity,
                    now,
                    settled_at,
                    placer.as_deref(),
                ))
            })
            .flatten();
        let mut wake_at = None;
        let mut backoff = None;
        // Only the coordinator compacts; the revision is the view's.
        let revision = shared.view.read(|s| s.revision).unwrap_or(0);
        if plan.is_some() && revision - compacted >= COMPACT_EVERY + COMPACT_KEEP {
            // Tried once per period, whatever the answer (another node may
            // have compacted further).
            if let Err(e) = shared.store.compact(revision - COMPACT_KEEP).await {
                tracing::debug!("compaction of the store's history: {e}");
            }
            compacted = revision - COMPACT_KEEP;
        }
        if let Some(plan) = plan {
            wake_at = plan.wake_at.map(Instant::from_std);
            for chore in plan.chores {
                match shared.store.txn(chore.txn).await {
                    Ok(r) if r.succeeded => {
                        applied = applied.max(r.revision);
                        if told_unavailable {
                            tracing::info!("{} reachable again", shared.store.describe());
                            told_unavailable = false;
                        }
                        log(&chore.note);
                        if let Some(h) = shared
                            .notes
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .as_ref()
                        {
                            h(&chore.note);
                        }
                    }
                    // Another attempt won, or the state moved: the next
                    // change brings the state this one was made against.
                    Ok(_) => {}
                    Err(StoreError::Unavailable(e)) => {
                        if !told_unavailable {
                            tracing::error!(
                                "{} unreachable ({e}): the group's chores wait for it",
                                shared.store.describe()
                            );
                            told_unavailable = true;
                        }
                        backoff = Some(Instant::now() + Duration::from_millis(300));
                        break;
                    }
                    Err(StoreError::LeaseNotFound) => break,
                    Err(StoreError::Closed) => return,
                }
            }
        }
        let notify = shared.changed.clone();
        drop(shared);
        let changed = notify.notified();
        tokio::pin!(changed);
        let until = backoff.or(wake_at);
        tokio::select! {
            biased;
            r = any.changed() => if r.is_err() { return },
            _ = &mut changed => {}
            _ = sleep_until_opt(until) => {}
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn log(note: &Note) {
    match note {
        Note::Declared { .. } | Note::Dropped { .. } => tracing::warn!("{note}"),
        Note::Claimed { .. } | Note::Identity => tracing::debug!("{note}"),
        Note::Finished { .. } => tracing::debug!("{note}"),
    }
}
