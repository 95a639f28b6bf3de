//! One node's handle on its group: the `GroupServices` a manager uses,
//! carried out with the protocol's transactions on the store and answered
//! from the followed state. A node's incarnation lives on a lease it keeps
//! renewing; when it cannot renew it within its time to live it must assume
//! the group declared it failed, and fences itself: every wait returns
//! `Expelled`, its writes no longer count, and it can only join again as a
//! new incarnation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::Instant;

use super::coordinator::GroupLink;
use super::process::{Liveness, Process};
use super::protocol::{self, keys, Incarnation};
use super::session::{JoinStep, Joining};
use super::state::{Ended, GroupState};
use super::store::{Store, StoreError, Txn, TxnResult};
use super::view::Topic;
use super::{
    BarrierOutcome, FailureReport, GroupServices, GsError, Leaving, Membership, NodeStatus,
    SyncPoint, Wake,
};
use hacmp_model::event::{EventRequest, NodeId, Outcome};
use hacmp_model::{ClaimedEvent, Identity};

/// One incarnation's lease and its keeper.
struct Session {
    me: Incarnation,
    /// True once the incarnation is out of the group.
    lost: watch::Sender<bool>,
    keeper: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

pub struct GroupHandle<S: Store> {
    shared: Arc<GroupLink<S>>,
    node: NodeId,
    ttl: Duration,
    process: Process,
    liveness: Liveness,
    session: Mutex<Option<Arc<Session>>>,
    /// Its status while out of the group by an operator's stop.
    presence: Mutex<Option<super::presence::Presence>>,
    /// Names queued events uniquely from this handle.
    counter: std::sync::atomic::AtomicU64,
    /// Told each incarnation's fence moment (the warden).
    fence_hook: Option<super::FenceHook>,
    /// How leases are renewed; with beats, renewals are made known
    /// (`s/beat/<n>`) and silent members expelled (`gs::expel`).
    renewal: super::session::Renewal,
}

impl<S: Store> GroupHandle<S> {
    pub fn new(shared: Arc<GroupLink<S>>, node: NodeId, ttl: Duration) -> GroupHandle<S> {
        GroupHandle {
            shared,
            node,
            ttl,
            process: Process::this(),
            liveness: Process::local_liveness(),
            session: Mutex::new(None),
            presence: Mutex::new(None),
            counter: std::sync::atomic::AtomicU64::new(0),
            fence_hook: None,
            renewal: super::session::Renewal::plain(ttl),
        }
    }

    /// Renews leases as `renewal` says. With beats, each renewal is written
    /// for the others to see, and this process expels members silent for
    /// their time to live (`gs::expel`), rather than waiting for the store
    /// to let their leases lapse.
    pub fn with_renewal(mut self, renewal: super::session::Renewal) -> GroupHandle<S> {
        self.renewal = renewal;
        self
    }

    /// Tells `hook` the moment this node would fence itself, at each
    /// renewal, and `None` once out of the group.
    pub fn with_fence_hook(mut self, hook: super::FenceHook) -> GroupHandle<S> {
        self.fence_hook = Some(hook);
        self
    }

    /// Another process identity (the simulators' processes share one).
    pub fn with_process(mut self, process: Process, liveness: Liveness) -> GroupHandle<S> {
        self.process = process;
        self.liveness = liveness;
        self
    }

    pub fn shared(&self) -> &Arc<GroupLink<S>> {
        &self.shared
    }

    fn session(&self) -> Option<Arc<Session>> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current incarnation, while it is in the group.
    fn me(&self) -> Result<(Incarnation, watch::Receiver<bool>), GsError> {
        match self.session() {
            Some(s) if !*s.lost.borrow() => Ok((s.me, s.lost.subscribe())),
            _ => Err(GsError::Expelled),
        }
    }

    fn put_presence(&self, p: super::presence::Presence) {
        *self.presence.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
    }

    /// The lease of the current incarnation (for the simulators' faults).
    pub fn lease(&self) -> Option<i64> {
        self.session().map(|s| s.me.lease)
    }

    /// Runs a store operation, retrying while the store is unreachable
    /// (saying so, once) and giving up when this incarnation is lost.
    async fn retry<T, F, Fut>(&self, what: &str, fenced: bool, mut f: F) -> Result<T, GsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut lost = if fenced { Some(self.me()?.1) } else { None };
        let mut delay = Duration::from_millis(100);
        let mut told = false;
        loop {
            let r = match lost.as_mut() {
                Some(l) => tokio::select! {
                    biased;
                    _ = l.wait_for(|x| *x) => return Err(GsError::Expelled),
                    r = f() => r,
                },
                None => f().await,
            };
            match r {
                Err(StoreError::Unavailable(e)) => {
                    if !told {
                        tracing::error!(
                            node = self.node,
                            "{} unreachable ({e}) while {what}: waiting for it, not going on blind",
                            self.shared.store.describe()
                        );
                        told = true;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => {
                    if told {
                        tracing::info!(
                            node = self.node,
                            "{} reachable again ({what})",
                            self.shared.store.describe()
                        );
                    }
                    return other.map_err(GsError::from);
                }
            }
        }
    }

    async fn txn(&self, what: &str, t: Txn) -> Result<TxnResult, GsError> {
        let store = self.shared.store.clone();
        self.retry(what, true, || store.txn(t.clone())).await
    }

    /// Waits until `f` answers on a fresh state, waking on `topic`. With
    /// `fenced`, gives up when this incarnation is lost.
    async fn wait<T>(
        &self,
        topic: Topic,
        fenced: bool,
        mut f: impl FnMut(&GroupState) -> Option<Result<T, GsError>>,
    ) -> Result<T, GsError> {
        let view = &self.shared.view;
        let mut rx = view.subscribe(topic);
        let mut fresh = view.subscribe(Topic::Any);
        let mut lost = if fenced { Some(self.me()?.1) } else { None };
        loop {
            let stale = match view.read(&mut f) {
                Some(Some(r)) => return r,
                Some(None) => false,
                None => true,
            };
            tokio::select! {
                biased;
                _ = wait_lost(lost.as_mut()) => return Err(GsError::Expelled),
                r = rx.changed() => r.map_err(|_| GsError::Closed)?,
                r = fresh.changed(), if stale => r.map_err(|_| GsError::Closed)?,
            }
        }
    }

    /// A new incarnation: a lease, then the alive key (and the identity
    /// when the group has none), then its join event.
    async fn begin(&self, identity: &Identity, queue_join: bool) -> Result<(), GsError> {
        if self.me().is_ok() {
            return Err(GsError::Refused(format!(
                "node {} is already in the group",
                self.node
            )));
        }
        let store = self.shared.store.clone();
        let ttl = self.ttl;
        // Granted when the join is tried, and renewed before each try: a
        // wait for an earlier incarnation may outlast it.
        let mut lease: Option<i64> = None;
        // When the lease the join is made with was last granted or renewed.
        let mut renewed;
        let mut joining = Joining::new(self.node, ttl, Instant::now().into_std());
        let patience = Instant::from_std(joining.patience());
        let give_up = |lease: Option<i64>, refused: GsError| {
            let store = store.clone();
            async move {
                if let Some(l) = lease {
                    let _ = store.revoke(l).await;
                }
                Err(refused)
            }
        };
        let (inc, lease) = loop {
            let mut rx = self.shared.view.subscribe(Topic::Membership);
            let answer = self
                .shared
                .view
                .read(|s| protocol::refusal(s, self.node, identity));
            let step = joining.step(
                answer,
                &self.process,
                |p| (self.liveness)(p),
                &self.shared.group_name(),
                identity,
                Instant::now().into_std(),
            );
            match step {
                JoinStep::Unread => {
                    rx.changed().await.map_err(|_| GsError::Closed)?;
                    continue;
                }
                JoinStep::GiveUp(why) => return give_up(lease, why).await,
                JoinStep::Wait { warn } => {
                    if let Some(w) = warn {
                        tracing::warn!(node = self.node, "{w}");
                    }
                }
                JoinStep::EndPredecessor { lease: old, warn } => {
                    tracing::warn!(node = self.node, "{warn}");
                    let _ = self.retry("joining", false, || store.revoke(old)).await;
                    continue;
                }
                JoinStep::Join => {
                    renewed = Instant::now();
                    let l = match lease {
                        Some(l)
                            if self
                                .retry("joining", false, || store.keep_alive(l))
                                .await
                                .is_ok() =>
                        {
                            l
                        }
                        _ => self.retry("joining", false, || store.grant(ttl)).await?,
                    };
                    lease = Some(l);
                    let t = self
                        .shared
                        .view
                        .read(|s| protocol::join(s, self.node, l, &self.process, identity));
                    if let Some(t) = t {
                        let r = self.retry("joining", false, || store.txn(t.clone())).await;
                        match r {
                            Ok(r) if r.succeeded => break (r.revision, l),
                            // The lease lapsed meanwhile: a new one next time.
                            Err(GsError::Expelled) => lease = None,
                            Err(e) => return Err(e),
                            // The group changed under us: look again.
                            Ok(_) => {}
                        }
                    }
                }
            }
            tokio::select! {
                biased;
                r = rx.changed() => r.map_err(|_| GsError::Closed)?,
                _ = tokio::time::sleep_until(patience), if Instant::now() < patience => {}
            }
        };
        let me = Incarnation {
            node: self.node,
            inc,
            lease,
        };
        let (lost, _) = watch::channel(false);
        let keeper = tokio::spawn(super::lease::keep(
            self.shared.clone(),
            me,
            self.ttl,
            lost.clone(),
            self.fence_hook.clone(),
            self.renewal,
            renewed,
        ));
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Session { me, lost, keeper }));
        self.shared.register(me, identity.clone());
        let t = if queue_join {
            protocol::queue_join(&me)
        } else {
            protocol::adopt(&me)
        };
        self.txn("joining", t).await?;
        // Seen by this process's view before anything is decided on it.
        self.wait(Topic::Membership, true, |s| {
            s.is_up(me.node, me.inc).then_some(Ok(()))
        })
        .await
    }

    /// The running event's end as this node sees it, or `None` while it runs.
    fn ended(s: &GroupState, seq: u64) -> Option<Ended> {
        protocol::ended_of(s, seq)
    }
}

async fn wait_lost(l: Option<&mut watch::Receiver<bool>>) {
    match l {
        Some(l) => {
            let _ = l.wait_for(|x| *x).await;
        }
        None => std::future::pending().await,
    }
}

#[async_trait]
impl<S: Store> GroupServices for GroupHandle<S> {
    fn group_name(&self) -> String {
        self.shared.group_name()
    }

    fn node(&self) -> NodeId {
        self.node
    }

    async fn join(&self, identity: &Identity) -> Result<(), GsError> {
        self.begin(identity, true).await
    }

    async fn adopt(&self, identity: &Identity) -> Result<(), GsError> {
        self.begin(identity, false).await
    }

    async fn leave(&self, takeover: bool) -> Result<Leaving, GsError> {
        let (me, _) = self.me()?;
        let member = self
            .wait(Topic::Membership, true, |s| {
                Some(Ok(s
                    .roster
                    .get(&me.node)
                    .is_some_and(|r| r.value.inc == me.inc)))
            })
            .await?;
        if member {
            self.txn("leaving", protocol::queue_stop(&me, takeover))
                .await?;
            return Ok(Leaving::Queued);
        }
        let r = self.txn("leaving", protocol::withdraw(&me)).await?;
        if r.succeeded {
            self.close().await;
            Ok(Leaving::Gone)
        } else {
            // Its join started meanwhile: it is a participant now.
            self.txn("leaving", protocol::queue_stop(&me, takeover))
                .await?;
            Ok(Leaving::Queued)
        }
    }

    async fn close(&self) {
        let s = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(s) = s {
            self.shared.unregister(&s.me);
            s.lost.send_replace(true);
            s.keeper.abort();
            let _ =
                tokio::time::timeout(Duration::from_secs(3), self.shared.store.revoke(s.me.lease))
                    .await;
        }
    }

    async fn lost(&self) {
        if let Ok((_, mut l)) = self.me() {
            let _ = l.wait_for(|x| *x).await;
        }
    }

    async fn view(&self) -> Result<Membership, GsError> {
        self.wait(Topic::Membership, false, |s| {
            Some(Ok(Membership {
                version: s.revision as u64,
                members: s.members().iter().copied().collect(),
                joining: s.joining().into_iter().collect(),
            }))
        })
        .await
    }

    async fn enqueue(&self, request: EventRequest) -> Result<(), GsError> {
        super::queue::enqueue(&*self.shared.store, self.node, &self.counter, request).await
    }

    async fn queued(&self) -> Result<usize, GsError> {
        self.wait(Topic::Queue, false, |s| Some(Ok(s.queue.len())))
            .await
    }

    async fn next_event(&self, after: u64) -> Result<Arc<ClaimedEvent>, GsError> {
        // Only events this incarnation takes part in.
        let (me, _) = self.me()?;
        self.wait(Topic::Event, true, |s| {
            s.current
                .as_ref()
                .filter(|c| {
                    c.value.seq > after && c.value.incarnations.get(&me.node) == Some(&me.inc)
                })
                .map(|c| Ok(c.value.clone()))
        })
        .await
    }

    async fn barrier(&self, seq: u64, at: SyncPoint) -> Result<BarrierOutcome, GsError> {
        let (me, _) = self.me()?;
        self.txn(&format!("arriving at {at}"), protocol::arrive(&me, seq, at))
            .await?;
        self.wait(Topic::Barrier, true, |s| {
            if let Some(e) = Self::ended(s, seq) {
                return Some(Ok(BarrierOutcome::Ended(e)));
            }
            s.passed(at).then_some(Ok(BarrierOutcome::Passed))
        })
        .await
    }

    async fn report_failure(&self, report: FailureReport) -> Result<(), GsError> {
        let (me, _) = self.me()?;
        self.txn("reporting a failure", protocol::failed(&me, &report))
            .await
            .map(|_| ())
    }

    async fn resolve_failure(&self, seq: u64) -> Result<(), GsError> {
        let (me, _) = self.me()?;
        self.txn("resolving a failure", protocol::resolved(&me, seq))
            .await
            .map(|_| ())
    }

    async fn end_event(&self, seq: u64, outcome: Outcome) -> Result<(), GsError> {
        let (me, _) = self.me()?;
        let ended = Ended {
            outcome,
            by: format!("policy abort on node {}", me.node),
            decision: None,
            cancelled: Vec::new(),
        };
        self.txn(
            "ending the event",
            protocol::end(Some(&me), seq, &ended, &[]),
        )
        .await
        .map(|_| ())
    }

    async fn finish(&self, seq: u64) -> Result<(), GsError> {
        let (me, _) = self.me()?;
        self.txn("finishing the event", protocol::done(&me, seq))
            .await
            .map(|_| ())
    }

    async fn outcome(&self, seq: u64) -> Result<Outcome, GsError> {
        self.wait(Topic::Event, false, |s| {
            if let Some(o) = s.outcomes.get(&seq) {
                return Some(Ok(*o));
            }
            let last = s.seq.as_ref().map_or(0, |v| v.value);
            if s.running(seq).is_some() || seq > last {
                return None;
            }
            // Older than what the store keeps.
            tracing::warn!(
                node = self.node,
                "the outcome of event #{seq} is no longer kept"
            );
            Some(Ok(Outcome::Aborted))
        })
        .await
    }

    async fn wait_decision(&self, seq: u64, attempt: u32) -> Result<Wake, GsError> {
        let node = self.node;
        self.wait(Topic::Event, true, |s| {
            if let Some(e) = Self::ended(s, seq) {
                return Some(Ok(Wake::Ended(e)));
            }
            s.event_keys(seq)
                .and_then(|k| k.decisions.get(&node))
                .filter(|d| d.attempt == attempt)
                .map(|d| Ok(Wake::Decision(d.decision)))
        })
        .await
    }

    async fn report(&self, status: NodeStatus) -> Result<(), GsError> {
        // Shown on its own lease from the moment an operator's stop takes
        // the node out (its incarnation's lease is about to go).
        if let Some(p) = &*self.presence.lock().unwrap_or_else(|p| p.into_inner()) {
            p.show(protocol::json(&status));
            return Ok(());
        }
        // Best effort: a status that cannot be written is not worth a wait.
        let Ok((me, _)) = self.me() else {
            return Ok(());
        };
        let t = Txn::new()
            .when(me.guard())
            .then(super::store::Op::put_leased(
                keys::status(me.node),
                protocol::json(&status),
                me.lease,
            ));
        self.shared
            .store
            .txn(t)
            .await
            .map(|_| ())
            .map_err(GsError::from)
    }

    async fn stay_shown(&self, status: Option<NodeStatus>) {
        let old = self
            .presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match (status, old) {
            (Some(st), Some(p)) => {
                p.show(protocol::json(&st));
                self.put_presence(p);
            }
            (Some(st), None) => {
                let store = self.shared.store.clone();
                let p = super::presence::Presence::start(
                    store,
                    self.node,
                    self.ttl,
                    protocol::json(&st),
                )
                .await;
                self.put_presence(p);
            }
            (None, Some(p)) => p.end(&*self.shared.store).await,
            (None, None) => {}
        }
    }

    async fn control(
        &self,
        known: Option<Option<super::control::StopMode>>,
    ) -> Result<Option<super::control::StopMode>, GsError> {
        let node = self.node;
        self.wait(Topic::Membership, false, |s| {
            let now = s.control.get(&node).map(|c| c.mode);
            (Some(now) != known).then_some(Ok(now))
        })
        .await
    }

    async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError> {
        super::operator::statuses(&*self.shared.store).await
    }

    async fn group_bundle_hash(&self) -> Result<Option<String>, GsError> {
        // Read out of the group too (a refused rejoin asks).
        self.wait(Topic::Membership, false, |s| {
            Some(Ok(s.runs().map(str::to_string)))
        })
        .await
    }

    async fn running_bundle(&self) -> Result<Option<Vec<u8>>, GsError> {
        let key = super::dare::BUNDLE;
        let store = self.shared.store.clone();
        let (_, kvs) = self
            .retry("reading the group's bundle", false, || {
                store.get_prefix(key)
            })
            .await?;
        Ok(kvs.into_iter().find(|kv| kv.key == key).map(|kv| kv.value))
    }

    async fn staged_bundle(&self, hash: &str) -> Result<Option<Vec<u8>>, GsError> {
        let key = super::dare::staged(hash);
        let store = self.shared.store.clone();
        let (_, kvs) = self
            .retry("reading the staged bundle", true, || store.get_prefix(&key))
            .await?;
        Ok(kvs.into_iter().find(|kv| kv.key == key).map(|kv| kv.value))
    }

    async fn switch_bundle(
        &self,
        identity: &Identity,
        bundle: Vec<u8>,
        placer: Option<std::sync::Arc<hacmp_model::placement::Placer>>,
    ) -> Result<(), GsError> {
        let Ok((me, _)) = self.me() else {
            // Out of the group: it joins with the new identity.
            self.shared.switched(self.node, identity.clone(), placer);
            return Ok(());
        };
        let process = self
            .wait(Topic::Membership, true, |s| {
                Some(Ok(s.alive.get(&me.node).map(|a| a.record.process.clone())))
            })
            .await?
            .unwrap_or_default();
        let record = super::state::AliveRecord {
            hash: identity.hash.clone(),
            process,
        };
        let r = self
            .txn(
                "switching bundles",
                super::dare::switch(&me, &record, identity, bundle),
            )
            .await?;
        if !r.succeeded {
            return Err(GsError::Expelled);
        }
        self.shared.switched(me.node, identity.clone(), placer);
        Ok(())
    }

    async fn publish_bundle(&self, hash: &str, bundle: Vec<u8>) -> Result<(), GsError> {
        if bundle.len() > super::dare::MAX_BUNDLE {
            return Ok(());
        }
        let at = self
            .wait(Topic::Membership, false, |s| {
                Some(Ok(s
                    .identity
                    .as_ref()
                    .filter(|i| i.value.hash == hash)
                    .map(|i| i.modified)))
            })
            .await?;
        if let Some(rev) = at {
            self.txn("publishing the bundle", super::dare::publish(rev, bundle))
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl<S: Store> super::Raiser for GroupHandle<S> {
    async fn raise(&self, request: EventRequest) -> Result<(), GsError> {
        GroupServices::enqueue(self, request).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::coordinator::GroupLink;
    use crate::mem::MemStore;
    use crate::store::Change;
    use crate::GroupServices;
    use crate::Renewal;

    /// The cadence the failover times rest on: a beating member renews
    /// (and beats) at once when it joins, then every half of its time to
    /// live, and no more often.
    #[tokio::test(start_paused = true)]
    async fn a_beating_member_beats_at_once_then_every_half_ttl() {
        let store = MemStore::new();
        let beats = Arc::new(Mutex::new(Vec::new()));
        {
            let beats = beats.clone();
            store.on_commit(move |_, changes| {
                let beat = changes.iter().any(
                    |c| matches!(c, Change::Put(kv) if kv.key.ends_with(&protocol::keys::beat(1))),
                );
                if beat {
                    beats.lock().unwrap().push(Instant::now());
                }
            });
        }
        let ttl = Duration::from_secs(2);
        let link = GroupLink::new(store.clone(), 1, Duration::from_millis(10), None);
        let handle = GroupHandle::new(link, 1, ttl).with_renewal(Renewal::beating(ttl, false));
        handle
            .join(&hacmp_model::Identity::default())
            .await
            .unwrap();
        let joined = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let beats = beats.lock().unwrap().clone();
        assert!(beats[0] <= joined, "the first beat comes with the join");
        let gaps: Vec<Duration> = beats.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.len() >= 9 && gaps.iter().all(|g| *g >= ttl / 2),
            "beats every half TTL: {gaps:?}"
        );
        assert!(
            gaps.iter()
                .all(|g| *g < ttl / 2 + Duration::from_millis(50)),
            "{gaps:?}"
        );
    }
}
