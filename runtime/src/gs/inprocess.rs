//! Group services in one process: many simulated nodes, or a one-node site.
//! One mutex-protected state; every change bumps a watch channel that the
//! waiters select on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{
    BarrierOutcome, ClaimedEvent, Decision, FailureReport, GroupServices, GsError, Identity,
    NodeStatus, OperatorCommand, Step, SyncPoint, View, Wake,
};
use crate::event::{EventKind, EventRequest, NodeId, Outcome, QueuedEvent};

type FinishHook = Box<dyn Fn(u64, Outcome) + Send + Sync>;

struct Running {
    claimed: ClaimedEvent,
    /// The event's membership minus the nodes that died since.
    live: BTreeSet<NodeId>,
    arrived: BTreeMap<SyncPoint, BTreeSet<NodeId>>,
    ended: Option<Outcome>,
    /// Nodes with an unresolved unexpected status.
    failures: BTreeSet<NodeId>,
    done: BTreeSet<NodeId>,
}

#[derive(Default)]
struct State {
    alive: BTreeSet<NodeId>,
    members: BTreeSet<NodeId>,
    joining: BTreeSet<NodeId>,
    identity: Option<Identity>,
    version: u64,
    queue: Vec<QueuedEvent>,
    arrivals: u64,
    last_change: Option<Instant>,
    seq: u64,
    current: Option<Running>,
    outcomes: BTreeMap<u64, Outcome>,
    statuses: BTreeMap<NodeId, NodeStatus>,
    decisions: BTreeMap<(u64, NodeId), Decision>,
    closed: bool,
}

/// In-process group services. Cheap to clone; clones share the group.
#[derive(Clone)]
pub struct InProcess {
    inner: Arc<Inner>,
}

struct Inner {
    cluster_id: u32,
    settle: Duration,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    hook: Mutex<Option<FinishHook>>,
}

impl InProcess {
    pub fn new(cluster_id: u32, settle: Duration) -> InProcess {
        InProcess {
            inner: Arc::new(Inner {
                cluster_id,
                settle,
                state: Mutex::new(State::default()),
                changed: watch::channel(0).0,
                hook: Mutex::new(None),
            }),
        }
    }

    /// Called with every finished event, inside the group's lock order (after
    /// every live member finished it).
    pub fn on_finish(&self, hook: impl Fn(u64, Outcome) + Send + Sync + 'static) {
        *self.inner.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not wedge the cluster: the state is always
        // left consistent between statements.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every waiter (they re-check under the lock).
    fn bump(&self, _: &mut State) {
        self.inner.changed.send_modify(|v| *v += 1);
    }

    /// A node died (its process crashed, its lease lapsed): it leaves every
    /// barrier still to come, and its failure event is queued behind the
    /// current event.
    pub fn crash(&self, node: NodeId) {
        let mut s = self.lock();
        if !s.alive.remove(&node) {
            return;
        }
        s.joining.remove(&node);
        let in_event = s
            .current
            .as_ref()
            .is_some_and(|c| c.claimed.membership.contains(&node));
        let was_member = s.members.remove(&node);
        // A graceful stop not yet run becomes a failure.
        s.queue.retain(|q| {
            !(q.request.location == node
                && matches!(
                    q.request.kind,
                    EventKind::NodeStop { .. } | EventKind::NodeJoin
                ))
        });
        if let Some(c) = s.current.as_mut() {
            // Arrivals and completions count live members only.
            c.live.remove(&node);
            c.failures.remove(&node);
            c.done.remove(&node);
            for a in c.arrived.values_mut() {
                a.remove(&node);
            }
        }
        s.statuses.remove(&node);
        if was_member || in_event {
            enqueue(&mut s, EventRequest::system(EventKind::NodeFailure, node));
        }
        s.version += 1;
        self.check_finished(&mut s);
        self.bump(&mut s);
    }

    /// Takes a node in as a member without a join event (a one-node trial
    /// run of an event, where running node-up for real is not wanted).
    pub fn adopt(&self, node: NodeId, identity: &Identity) {
        let mut s = self.lock();
        s.identity.get_or_insert_with(|| identity.clone());
        s.alive.insert(node);
        s.members.insert(node);
        s.version += 1;
        self.bump(&mut s);
    }

    /// Stops every wait with `GsError::Closed`.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        self.bump(&mut s);
    }

    /// Waits until `f` gives an answer; `f` runs under the lock after every
    /// change. `deadline` gives `f` a time to be asked again at.
    async fn wait_for<T>(
        &self,
        mut f: impl FnMut(&mut State, &Self) -> Step<T>,
    ) -> Result<T, GsError> {
        let mut rx = self.inner.changed.subscribe();
        loop {
            let step = {
                let mut s = self.lock();
                if s.closed {
                    return Err(GsError::Closed);
                }
                f(&mut s, self)
            };
            if let Some(v) = super::pause(&mut rx, step).await? {
                return Ok(v);
            }
        }
    }

    /// Finishes the current event when every live member is done; true if
    /// it did.
    fn check_finished(&self, s: &mut State) -> bool {
        let Some(c) = s.current.as_ref() else {
            return false;
        };
        // `done` holds live members only.
        if c.done.len() < c.live.len() {
            return false;
        }
        let Some(c) = s.current.take() else {
            return false;
        };
        let outcome = c.ended.unwrap_or(if c.failures.is_empty() {
            Outcome::Completed
        } else {
            Outcome::Failed
        });
        let ev = &c.claimed.event.request;
        match ev.kind {
            EventKind::NodeJoin if s.alive.contains(&ev.location) => {
                s.joining.remove(&ev.location);
                s.members.insert(ev.location);
                s.version += 1;
            }
            EventKind::NodeStop { .. } => {
                s.members.remove(&ev.location);
                s.alive.remove(&ev.location);
                s.statuses.remove(&ev.location);
                s.version += 1;
            }
            _ => {}
        }
        if s.alive.is_empty() {
            s.identity = None;
        }
        s.outcomes.insert(c.claimed.seq, outcome);
        if s.outcomes.len() > 1024 {
            let first = *s.outcomes.keys().next().unwrap_or(&0);
            s.outcomes.remove(&first);
        }
        s.decisions.retain(|(seq, _), _| *seq != c.claimed.seq);
        if let Some(h) = self
            .inner
            .hook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            h(c.claimed.seq, outcome);
        }
        true
    }

    fn view_of(s: &State) -> View {
        View {
            version: s.version,
            members: s.members.iter().copied().collect(),
            joining: s.joining.iter().copied().collect(),
        }
    }

    /// Claims the next event if one can start now.
    fn claim(&self, s: &mut State, now: Instant) -> Step<()> {
        if s.current.is_some() || s.queue.is_empty() {
            return Step::Wait;
        }
        if let Some(t) = s.last_change {
            if now < t + self.inner.settle {
                return Step::WaitUntil(t + self.inner.settle);
            }
        }
        s.queue.sort();
        while !s.queue.is_empty() {
            let ev = s.queue.remove(0);
            let r = &ev.request;
            if r.kind == EventKind::NodeJoin && !s.alive.contains(&r.location) {
                continue;
            }
            let membership = super::event_membership(s.members.iter().copied(), r);
            if membership.is_empty() {
                continue;
            }
            s.seq += 1;
            let why = ev.why_next(s.queue.len());
            let claimed = ClaimedEvent {
                seq: s.seq,
                event: ev,
                membership: membership.iter().copied().collect(),
                why,
            };
            s.current = Some(Running {
                claimed,
                live: membership,
                arrived: BTreeMap::new(),
                ended: None,
                failures: BTreeSet::new(),
                done: BTreeSet::new(),
            });
            self.bump(s);
            return Step::Done(Ok(()));
        }
        Step::Wait
    }
}

fn enqueue(s: &mut State, request: EventRequest) {
    s.arrivals += 1;
    s.queue.push(QueuedEvent::new(request, s.arrivals));
    s.last_change = Some(Instant::now());
}

#[async_trait]
impl GroupServices for InProcess {
    fn group_name(&self) -> String {
        format!("clstrmgr_{}", self.inner.cluster_id)
    }

    async fn join(&self, node: NodeId, identity: &Identity) -> Result<(), GsError> {
        let mut s = self.lock();
        if s.closed {
            return Err(GsError::Closed);
        }
        if s.alive.contains(&node) {
            return Err(GsError::Refused(format!(
                "node {node} is already in the group"
            )));
        }
        match &s.identity {
            Some(group) if group.hash != identity.hash => {
                let files = group.differing(identity);
                return Err(GsError::Refused(format!(
                    "node {node} has a different bundle ({}) from the group's ({}); files that differ: {}",
                    short(&identity.hash),
                    short(&group.hash),
                    if files.is_empty() { "none listed (the site configuration differs)".to_string() } else { files.join(", ") }
                )));
            }
            Some(_) => {}
            None => s.identity = Some(identity.clone()),
        }
        s.alive.insert(node);
        s.joining.insert(node);
        s.version += 1;
        enqueue(&mut s, EventRequest::system(EventKind::NodeJoin, node));
        self.bump(&mut s);
        Ok(())
    }

    async fn leave(&self, node: NodeId, takeover: bool) -> Result<(), GsError> {
        let mut s = self.lock();
        if !s.alive.contains(&node) {
            return Err(GsError::Expelled);
        }
        if !s.members.contains(&node) {
            // Not yet a member: nothing to hand over.
            s.queue
                .retain(|q| !(q.request.location == node && q.request.kind == EventKind::NodeJoin));
            s.alive.remove(&node);
            s.joining.remove(&node);
            s.version += 1;
            self.bump(&mut s);
            return Ok(());
        }
        enqueue(
            &mut s,
            EventRequest::system(EventKind::NodeStop { takeover }, node),
        );
        self.bump(&mut s);
        Ok(())
    }

    async fn view(&self) -> Result<View, GsError> {
        Ok(Self::view_of(&self.lock()))
    }

    async fn watch_view(&self, after: u64) -> Result<View, GsError> {
        self.wait_for(|s, _| {
            if s.version > after {
                Step::Done(Ok(Self::view_of(s)))
            } else {
                Step::Wait
            }
        })
        .await
    }

    async fn enqueue(&self, request: EventRequest) -> Result<(), GsError> {
        let mut s = self.lock();
        if s.closed {
            return Err(GsError::Closed);
        }
        enqueue(&mut s, request);
        self.bump(&mut s);
        Ok(())
    }

    async fn queue(&self) -> Result<Vec<QueuedEvent>, GsError> {
        let mut q = self.lock().queue.clone();
        q.sort();
        Ok(q)
    }

    async fn next_event(&self, node: NodeId, after: u64) -> Result<ClaimedEvent, GsError> {
        self.wait_for(|s, this| {
            if !s.alive.contains(&node) {
                return Step::Done(Err(GsError::Expelled));
            }
            if let Some(c) = &s.current {
                if c.claimed.seq > after {
                    return Step::Done(Ok(c.claimed.clone()));
                }
                return Step::Wait;
            }
            match this.claim(s, Instant::now()) {
                Step::Done(_) => match &s.current {
                    Some(c) if c.claimed.seq > after => Step::Done(Ok(c.claimed.clone())),
                    _ => Step::Wait,
                },
                Step::Wait => Step::Wait,
                Step::WaitUntil(t) => Step::WaitUntil(t),
            }
        })
        .await
    }

    async fn barrier(
        &self,
        node: NodeId,
        seq: u64,
        at: SyncPoint,
    ) -> Result<BarrierOutcome, GsError> {
        {
            let mut s = self.lock();
            if let Some(c) = s.current.as_mut().filter(|c| c.claimed.seq == seq) {
                let arrived = c.arrived.entry(at).or_default();
                if c.live.contains(&node) {
                    arrived.insert(node);
                }
                // Only the last arrival changes anything for the waiters.
                if arrived.len() >= c.live.len() {
                    self.bump(&mut s);
                }
            }
        }
        self.wait_for(|s, _| {
            if !s.alive.contains(&node) {
                return Step::Done(Err(GsError::Expelled));
            }
            match s.current.as_ref().filter(|c| c.claimed.seq == seq) {
                None => Step::Done(Ok(BarrierOutcome::Ended(
                    s.outcomes.get(&seq).copied().unwrap_or(Outcome::Aborted),
                ))),
                Some(c) => {
                    if let Some(o) = c.ended {
                        return Step::Done(Ok(BarrierOutcome::Ended(o)));
                    }
                    let arrived = c.arrived.get(&at);
                    if c.live
                        .iter()
                        .all(|n| arrived.is_some_and(|a| a.contains(n)))
                    {
                        Step::Done(Ok(BarrierOutcome::Passed))
                    } else {
                        Step::Wait
                    }
                }
            }
        })
        .await
    }

    async fn report_failure(&self, report: FailureReport) -> Result<(), GsError> {
        let mut s = self.lock();
        if let Some(c) = s.current.as_mut().filter(|c| c.claimed.seq == report.seq) {
            c.failures.insert(report.node);
        }
        Ok(())
    }

    async fn resolve_failure(&self, node: NodeId, seq: u64) -> Result<(), GsError> {
        let mut s = self.lock();
        if let Some(c) = s.current.as_mut().filter(|c| c.claimed.seq == seq) {
            c.failures.remove(&node);
        }
        Ok(())
    }

    async fn end_event(&self, seq: u64, outcome: Outcome) -> Result<(), GsError> {
        let mut s = self.lock();
        if let Some(c) = s.current.as_mut().filter(|c| c.claimed.seq == seq) {
            c.ended.get_or_insert(outcome);
        }
        self.bump(&mut s);
        Ok(())
    }

    async fn finish(&self, node: NodeId, seq: u64) -> Result<(), GsError> {
        let mut s = self.lock();
        if let Some(c) = s.current.as_mut().filter(|c| c.claimed.seq == seq) {
            if c.live.contains(&node) {
                c.done.insert(node);
            }
        }
        if self.check_finished(&mut s) {
            self.bump(&mut s);
        }
        Ok(())
    }

    async fn outcome(&self, seq: u64) -> Result<Outcome, GsError> {
        self.wait_for(|s, _| match s.outcomes.get(&seq) {
            Some(o) => Step::Done(Ok(*o)),
            None if s.current.as_ref().is_some_and(|c| c.claimed.seq == seq) || seq > s.seq => {
                Step::Wait
            }
            None => Step::Done(Ok(Outcome::Aborted)),
        })
        .await
    }

    async fn wait_decision(&self, node: NodeId, seq: u64) -> Result<Wake, GsError> {
        self.wait_for(|s, _| {
            if !s.alive.contains(&node) {
                return Step::Done(Err(GsError::Expelled));
            }
            if let Some(d) = s.decisions.remove(&(seq, node)) {
                return Step::Done(Ok(Wake::Decision(d)));
            }
            match s.current.as_ref().filter(|c| c.claimed.seq == seq) {
                None => Step::Done(Ok(Wake::Ended(
                    s.outcomes.get(&seq).copied().unwrap_or(Outcome::Aborted),
                ))),
                Some(c) => match c.ended {
                    Some(o) => Step::Done(Ok(Wake::Ended(o))),
                    None => Step::Wait,
                },
            }
        })
        .await
    }

    async fn command(&self, command: OperatorCommand) -> Result<(), GsError> {
        let mut s = self.lock();
        match command {
            OperatorCommand::Raise { event } => {
                enqueue(&mut s, event);
            }
            OperatorCommand::Resume {
                seq,
                node,
                decision,
            } => {
                let Some(c) = s.current.as_mut().filter(|c| c.claimed.seq == seq) else {
                    return Err(GsError::Refused(format!("event {seq} is not running")));
                };
                let waiting = super::resume_targets(c.failures.iter().copied(), node, seq)?;
                match decision {
                    Decision::Skip | Decision::SkipAndCancel => {
                        c.ended.get_or_insert(Outcome::Skipped);
                        if decision == Decision::SkipAndCancel {
                            s.queue.clear();
                        }
                    }
                    Decision::Continue | Decision::Rerun => {
                        for n in waiting {
                            s.decisions.insert((seq, n), decision);
                        }
                    }
                }
            }
        }
        self.bump(&mut s);
        Ok(())
    }

    async fn report(&self, status: NodeStatus) -> Result<(), GsError> {
        // Statuses are read on demand; nobody waits on them.
        let mut s = self.lock();
        if s.alive.contains(&status.node) {
            s.statuses.insert(status.node, status);
        }
        Ok(())
    }

    async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError> {
        Ok(self.lock().statuses.values().cloned().collect())
    }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

impl InProcess {
    /// Whether nothing is running or queued and no node waits to join.
    pub fn is_idle(&self) -> bool {
        let s = self.lock();
        s.current.is_none() && s.queue.is_empty() && s.joining.is_empty()
    }

    /// Waits until the cluster is idle.
    pub async fn wait_idle(&self) -> Result<(), GsError> {
        self.wait_for(|s, _| {
            if s.current.is_none() && s.queue.is_empty() && s.joining.is_empty() {
                Step::Done(Ok(()))
            } else {
                Step::Wait
            }
        })
        .await
    }

    /// The running event, if any, and which sync point each live member
    /// reached (for reports of who waits where).
    pub fn current(&self) -> Option<(ClaimedEvent, BTreeMap<SyncPoint, Vec<NodeId>>, Vec<NodeId>)> {
        let s = self.lock();
        s.current.as_ref().map(|c| {
            (
                c.claimed.clone(),
                c.arrived
                    .iter()
                    .map(|(k, v)| (*k, v.iter().copied().collect()))
                    .collect(),
                c.failures.iter().copied().collect(),
            )
        })
    }
}
