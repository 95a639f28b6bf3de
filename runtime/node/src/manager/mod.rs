//! The cluster manager of one node: joins the group, takes the cluster's
//! next event from it, runs this node's part of its recovery program
//! (`program`: parallel groups, barriers, failure policies; `command`: the
//! lines, the script model, the commands), and records what happened. The
//! same code drives simulated and real commands.
//!
//! A node that finds itself out of the group (its lease lapsed: the group
//! may have declared it failed and taken over what it held) fences itself:
//! it stops taking part in the event it was running (its commands are
//! killed), records that event as interrupted on this node, and joins again
//! as a new incarnation, through a node-up event.

mod command;
mod control;
mod dare;
mod program;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hacmp_compiler::Bundle;
use tokio::sync::watch;

use crate::exec::Executor;
use crate::journal::{Journal, Record, RecordKind};
use hacmp_compiler::resources::{Resource, ResourceGroup, ResourceKind};
use hacmp_gs::state::Ended;
use hacmp_gs::{
    FailureReport, GroupServices, GsError, Leaving, NodeStatus, RunningCommand, SyncPoint,
};
use hacmp_model::event::{EventKind, EventRequest, NodeId, Outcome};
use hacmp_model::manager_state::ManagerState;
use hacmp_model::{ClaimedEvent, Identity};

/// Who closes journal records: one observer of the group (in one process,
/// one journal for all nodes) or each manager (one journal per daemon).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalMode {
    Shared,
    Own,
}

/// How a manager is asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Leave through a node-down event in which this node takes part.
    Graceful { takeover: bool },
    /// Stop at once (commands are killed); the others see a failure.
    Now,
}

/// How a manager ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Its own node-down event ran (or it left before its join ran): it
    /// left the cluster.
    Left,
    /// Stopped at once.
    Stopped,
}

pub struct ManagerConfig {
    pub node: NodeId,
    pub bundle: Arc<Bundle>,
    /// Staging root under which absolute paths resolve.
    pub root: Option<PathBuf>,
    pub journal: Arc<Journal>,
    pub journal_mode: JournalMode,
    /// First reminder of a wait (barrier or operator); then at each doubling.
    pub remind_after: Duration,
    /// Join as a member at once: no node-up event.
    pub member: bool,
    /// After fencing itself, join again as a new incarnation (else stop
    /// with `Expelled`).
    pub rejoin: bool,
    /// Brings this node's resources up and down.
    pub agent: Arc<dyn crate::resources::Agent>,
    /// The keys whose signature a deployed bundle must carry.
    pub trusted: hacmp_compiler::signing::TrustedKeys,
}

/// What this node shows operators, kept between reports.
#[derive(Clone, Debug)]
struct Shown {
    state: ManagerState,
    seq: Option<u64>,
    event: Option<String>,
    at: Option<SyncPoint>,
    failure: Option<FailureReport>,
    running: Vec<RunningCommand>,
    monitor: std::collections::VecDeque<hacmp_gs::MonitorNote>,
}

pub struct Manager<G: GroupServices> {
    cfg: ManagerConfig,
    resources: crate::resources::NodeResources,
    gs: Arc<G>,
    exec: Arc<dyn Executor>,
    shown: Mutex<Shown>,
    stop: watch::Sender<Option<Stop>>,
    /// Bumped when what `status` shows changed.
    published: watch::Sender<u64>,
    /// A graceful stop was asked for.
    leaving: AtomicBool,
    /// The daemon is asked to end (`stop`), not only to leave the group.
    exiting: AtomicBool,
    /// This incarnation leaves by an operator's stop (`hacmp stop`): the
    /// daemon stays up, out of the group, until `hacmp start`.
    operator: AtomicBool,
    /// It left before its join ran.
    gone: AtomicBool,
    /// Told once the first join was answered (accepted or refused).
    joined: Mutex<Option<tokio::sync::oneshot::Sender<Result<(), GsError>>>>,
    /// The bundle this node runs: the configured one until a deploy
    /// switches it (told to subscribers).
    bundle: watch::Sender<Arc<Bundle>>,
    /// A deploy's bundle, prepared and not yet switched to: (bundle, JSON).
    pending: Mutex<Option<(Arc<Bundle>, Vec<u8>)>>,
}

/// A status is written once it held this long...
const STATUS_SETTLE: Duration = Duration::from_millis(50);
/// ...or this long after it first changed.
const STATUS_LATEST: Duration = Duration::from_secs(1);

use hacmp_model::clock::unix_ms;

impl<G: GroupServices> Manager<G> {
    pub fn new(cfg: ManagerConfig, gs: Arc<G>, exec: Arc<dyn Executor>) -> Arc<Self> {
        let cfg_bundle = cfg.bundle.clone();
        Arc::new(Manager {
            resources: crate::resources::NodeResources::new(cfg.node, cfg.agent.clone()),
            cfg,
            gs,
            exec,
            shown: Mutex::new(Shown {
                state: ManagerState::Init,
                seq: None,
                event: None,
                at: None,
                failure: None,
                running: Vec::new(),
                monitor: Default::default(),
            }),
            stop: watch::channel(None).0,
            published: watch::channel(0).0,
            leaving: AtomicBool::new(false),
            exiting: AtomicBool::new(false),
            operator: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            joined: Mutex::new(None),
            bundle: watch::channel(cfg_bundle).0,
            pending: Mutex::new(None),
        })
    }

    /// The bundle this node runs now.
    pub fn bundle(&self) -> Arc<Bundle> {
        self.bundle.borrow().clone()
    }

    /// Told each bundle this node switches to (a deploy).
    pub fn bundles(&self) -> watch::Receiver<Arc<Bundle>> {
        self.bundle.subscribe()
    }

    /// A receiver told when the first join is answered.
    pub fn on_joined(&self) -> tokio::sync::oneshot::Receiver<Result<(), GsError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.joined.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    pub fn node(&self) -> NodeId {
        self.cfg.node
    }

    pub fn group(&self) -> &Arc<G> {
        &self.gs
    }

    /// Asks the manager to stop, and the daemon to end. A graceful stop
    /// has queued the node's departure when this returns (or, before the
    /// node's join ran, taken it out of the group); the manager takes part
    /// in its node-down event after the current event, then ends with
    /// `Exit::Left`.
    pub async fn stop(&self, how: Stop) {
        self.exiting.store(true, Ordering::SeqCst);
        match how {
            Stop::Now => {
                self.stop.send_replace(Some(Stop::Now));
            }
            Stop::Graceful { takeover } => self.leave(takeover).await,
        }
    }

    /// Queues this node's departure (once), in which it takes part; out of
    /// the group already, it stops at once.
    async fn leave(&self, takeover: bool) {
        if self.leaving.swap(true, Ordering::SeqCst) {
            return;
        }
        let node = self.cfg.node;
        tracing::info!(
            node,
            takeover,
            "stopping gracefully: queuing this node's node-down event"
        );
        match self.gs.leave(takeover).await {
            Ok(Leaving::Queued) => {}
            Ok(Leaving::Gone) | Err(GsError::Expelled) => {
                // Not (or no longer) a member: nothing to hand over.
                self.gone.store(true, Ordering::SeqCst);
                self.stop.send_replace(Some(Stop::Now));
            }
            Err(e) => {
                tracing::error!(
                    node,
                    "cannot queue this node's departure ({e}): stopping at once"
                );
                self.stop.send_replace(Some(Stop::Now));
            }
        }
    }

    fn stop_exit(&self) -> Exit {
        if self.gone.load(Ordering::SeqCst) {
            Exit::Left
        } else {
            Exit::Stopped
        }
    }

    fn record(&self, ev: &ClaimedEvent, kind: RecordKind, f: impl FnOnce(&mut Record)) {
        let mut r = Record::new(self.cfg.node, kind, self.cfg.journal.now_ms());
        f(&mut r);
        self.cfg.journal.record(ev.seq, r);
    }

    /// Reports this node's status to the group (best effort).
    /// Reports this node's status to the group, in the background: the
    /// manager never waits for it, and a burst of changes is written once.
    fn publish(&self) {
        self.published.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// What this node shows operators now.
    pub fn status(&self) -> NodeStatus {
        let s = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        NodeStatus {
            node: self.cfg.node,
            state: s.state,
            seq: s.seq,
            event: s.event.clone(),
            at: s.at,
            running: s.running.clone(),
            failure: s.failure.clone(),
            groups: self.resources.states(),
            monitor: s.monitor.iter().cloned().collect(),
        }
    }

    /// The state of this node's manager, as `hacmp status` shows it.
    pub fn state(&self) -> ManagerState {
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).state
    }

    /// The node crashed (a simulated node): its resources went with its
    /// machine, and nothing of it, not a monitor its runtime has yet to
    /// cancel, touches them again.
    pub fn crash(&self) {
        self.resources.crash();
    }

    /// Monitor restarts in place by (group, resource), since it started.
    pub fn monitor_restarts(&self) -> std::collections::BTreeMap<(String, String), u64> {
        self.resources.restarts()
    }

    /// The resource groups this node may hold, as it stands now.
    pub fn groups(&self) -> std::collections::BTreeMap<String, hacmp_model::placement::RgState> {
        self.resources.states()
    }

    /// Checks each monitored resource of the groups online here at its
    /// interval. One whose restarts are used up raises TE_RG_MOVE at this
    /// node, once until the group has left the node: the group moves.
    async fn monitors(self: Arc<Self>) {
        let mut switched = self.bundles();
        loop {
            let bundle = self.bundle();
            tokio::select! {
                biased;
                _ = self.clone().monitor(bundle) => return,
                r = switched.changed() => if r.is_err() { return },
            }
        }
    }

    /// The monitors of one bundle's groups.
    async fn monitor(self: Arc<Self>, bundle: Arc<Bundle>) {
        let node = self.cfg.node;
        let now = tokio::time::Instant::now();
        let mut due: Vec<(
            &ResourceGroup,
            &Resource,
            Duration,
            u32,
            tokio::time::Instant,
        )> = Vec::new();
        for g in bundle
            .site
            .resources
            .groups
            .iter()
            .filter(|g| g.nodes.contains(&node))
        {
            for r in &g.resources {
                let m = match &r.kind {
                    ResourceKind::Application {
                        monitor: Some(m), ..
                    }
                    | ResourceKind::Custom {
                        monitor: Some(m), ..
                    } => m,
                    _ => continue,
                };
                let every = m.interval.0.max(Duration::from_millis(100));
                due.push((g, r, every, m.restarts, now + every));
            }
        }
        let mut raised: std::collections::BTreeSet<String> = Default::default();
        let report = |g: &str, r: Option<&str>, what: &str| {
            tracing::warn!(
                node,
                group = g,
                resource = r.unwrap_or(""),
                "monitor: {what}"
            );
            // Shown by `hacmp status` (the events' journal has no place
            // for what happens between events).
            let mut s = self.shown.lock().unwrap_or_else(|p| p.into_inner());
            if s.monitor.len() == hacmp_gs::MONITOR_NOTES {
                s.monitor.pop_front();
            }
            s.monitor.push_back(hacmp_gs::MonitorNote {
                group: g.to_string(),
                resource: r.unwrap_or("").to_string(),
                what: what.to_string(),
                at_ms: unix_ms(),
            });
        };
        while let Some(next) = due.iter().map(|d| d.4).min() {
            tokio::time::sleep_until(next).await;
            let now = tokio::time::Instant::now();
            for d in due.iter_mut().filter(|d| d.4 <= now) {
                let (g, r, every, restarts) = (d.0, d.1, d.2, d.3);
                d.4 = now + every;
                let verdict = self
                    .resources
                    .check(&bundle.site, g, r, restarts, &report)
                    .await;
                self.publish();
                if self.resources.state(&g.name) != hacmp_model::placement::RgState::Online {
                    raised.remove(&g.name);
                }
                if verdict != crate::resources::Verdict::GiveUp || !raised.insert(g.name.clone()) {
                    continue;
                }
                let ev = EventRequest::system(
                    EventKind::GroupFailure {
                        group: g.name.clone(),
                    },
                    node,
                );
                if bundle.rule(&ev.name, 0).is_none() {
                    tracing::error!(node, group = %g.name, "the rules have no {} rule: group `{}` cannot move (add the standard rule)", ev.name, g.name);
                } else if let Err(e) = self.gs.enqueue(ev).await {
                    tracing::error!(node, group = %g.name, "cannot raise TE_RG_MOVE: {e}");
                    raised.remove(&g.name);
                }
            }
        }
    }

    /// Takes down every group this node may hold (at start: what a crash
    /// left; when fenced or stopped at once: the others take over).
    async fn release_all(&self, why: &str) {
        let bundle = self.bundle();
        let site = &bundle.site;
        if site.resources.is_empty() {
            return;
        }
        let node = self.cfg.node;
        let report = noting(node, why);
        if let Err(e) = self.resources.release_all(site, &report).await {
            tracing::error!(node, "releasing resources ({why}): {e}");
        }
        self.publish();
    }

    /// Writes the latest status (best effort) once it held for
    /// `STATUS_SETTLE`, or every `STATUS_LATEST` while it keeps changing: a
    /// wait, a long command or a failure shows at once, and a run of quick
    /// events does not add a write to every step of every node.
    async fn publisher(self: Arc<Self>) {
        let mut rx = self.published.subscribe();
        while rx.changed().await.is_ok() {
            let latest = tokio::time::Instant::now() + STATUS_LATEST;
            loop {
                tokio::select! {
                    biased;
                    r = rx.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(STATUS_SETTLE) => break,
                    _ = tokio::time::sleep_until(latest) => break,
                }
            }
            if let Err(e) = self.gs.report(self.status()).await {
                tracing::debug!(node = self.cfg.node, "status not reported: {e}");
            }
        }
    }

    async fn set_state(
        &self,
        state: ManagerState,
        ev: Option<&ClaimedEvent>,
        at: Option<SyncPoint>,
        failure: Option<FailureReport>,
    ) {
        if let Some(ev) = ev {
            self.record(ev, RecordKind::State, |r| {
                r.detail = Some(state.as_str().to_string())
            });
        }
        {
            let mut s = self.shown.lock().unwrap_or_else(|p| p.into_inner());
            s.state = state;
            s.seq = ev.map(|e| e.seq);
            s.event = ev.map(|e| e.event.request.name.clone());
            s.at = at;
            s.failure = failure;
        }
        self.publish();
    }

    /// Runs until the node leaves or is stopped. Errors: refused at join,
    /// expelled (when not rejoining), group services gone.
    pub async fn run(self: Arc<Self>) -> Result<Exit, GsError> {
        // Ended with the run, even one that is dropped (they hold the
        // manager, and with it the lease's keeper).
        let publisher = Watcher(tokio::spawn(self.clone().publisher()));
        let monitors = Watcher(tokio::spawn(self.clone().monitors()));
        let r = self.clone().incarnations().await;
        drop((monitors, publisher));
        self.gs.close().await;
        r
    }

    async fn incarnations(self: Arc<Self>) -> Result<Exit, GsError> {
        let node = self.cfg.node;
        let mut stop = self.stop.subscribe();
        let mut first = true;
        // After the first incarnation: a refusal may be a deploy missed.
        let mut rejoining = false;
        self.release_all("starting: a node holds nothing until placed")
            .await;
        loop {
            // An operator's stop holds until `hacmp start`, across restarts
            // of the daemon.
            if let Some(exit) = self.while_stopped(&mut stop).await? {
                return Ok(exit);
            }
            self.set_state(ManagerState::Init, None, None, None).await;
            let bundle = self.bundle();
            let identity = Identity::of(&bundle);
            let joined = tokio::select! {
                biased;
                _ = stop_now(&mut stop) => return Ok(self.stop_exit()),
                j = async {
                    if self.cfg.member {
                        self.gs.adopt(&identity).await
                    } else {
                        self.gs.join(&identity).await
                    }
                } => j,
            };
            if first {
                first = false;
                if let Some(tx) = self.joined.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = tx.send(joined.clone());
                }
            }
            // Stopped by an operator meanwhile: out until started.
            if joined.is_err() && self.gs.control(None).await.is_ok_and(|c| c.is_some()) {
                continue;
            }
            if let Err(GsError::Refused(why) | GsError::OtherSite(why)) = &joined {
                // A member cut off during a deploy catches up with it; any
                // other refusal stands.
                let group = self.gs.group_bundle_hash().await.ok().flatten();
                if let Some(group) = group.filter(|g| rejoining && *g != bundle.hash) {
                    match self.catch_up(&group).await {
                        Ok(did) => {
                            tracing::warn!(
                                node,
                                "refused with the old bundle ({why}): {did}; joining again"
                            );
                            continue;
                        }
                        Err(e) => tracing::error!(node, "cannot take the group's bundle: {e}"),
                    }
                }
            }
            joined?;
            self.show_joined().await;
            rejoining = true;
            // The group keeps the bundle it runs, for operators' diffs and
            // for `hacmp bundle fetch`.
            if let Ok(json) = serde_json::to_vec(&*bundle) {
                if let Err(e) = self.gs.publish_bundle(&bundle.hash, json).await {
                    tracing::debug!(node, "bundle not published: {e}");
                }
            }
            // From now on, the moment this incarnation is out of the group
            // (fenced), its resources go down, wherever the event loop
            // waits: the others may take them over next.
            self.resources.unfence();
            let _fence = Watcher(tokio::spawn({
                let me = self.clone();
                async move {
                    me.gs.lost().await;
                    me.resources.fence();
                    me.release_all("fenced: out of the group").await;
                }
            }));
            if !self.cfg.member {
                tracing::info!(node, group = %self.gs.group_name(), "joined; waiting for this node's node-up event");
                self.set_state(ManagerState::Joining, None, None, None)
                    .await;
            }
            let control = Watcher(tokio::spawn(self.clone().follow_control()));
            let ran = self.events(&mut stop).await;
            tracing::debug!(node, "this incarnation's events ended: {ran:?}");
            drop((control, _fence));
            // Out of the group (fenced, stopped at once, or left: its own
            // node-down may have ended before its release step ran):
            // whatever it still holds is being taken over by the others.
            self.release_all("out of the group").await;
            if self.stopped_by_operator(&ran).await {
                continue;
            }
            match ran {
                Err(GsError::Expelled) => {
                    if self.leaving.load(Ordering::SeqCst) || !self.cfg.rejoin {
                        self.set_state(ManagerState::Done, None, None, None).await;
                        return if self.leaving.load(Ordering::SeqCst) {
                            Ok(Exit::Stopped)
                        } else {
                            Err(GsError::Expelled)
                        };
                    }
                    tracing::warn!(node, "joining the group again as a new incarnation");
                }
                other => return other,
            }
        }
    }

    /// One incarnation's events, until it leaves, stops or is lost.
    async fn events(&self, stop: &mut watch::Receiver<Option<Stop>>) -> Result<Exit, GsError> {
        let node = self.cfg.node;
        let mut last = 0;
        let mut member = self.cfg.member;
        loop {
            if member {
                let queued = self.gs.queued().await.map(|q| q > 0).unwrap_or(false);
                let s = if queued {
                    ManagerState::Unstable
                } else {
                    ManagerState::Stable
                };
                self.set_state(s, None, None, None).await;
            }
            let ev = tokio::select! {
                biased;
                _ = stop_now(stop) => {
                    self.set_state(ManagerState::Done, None, None, None).await;
                    return Ok(self.stop_exit());
                }
                ev = self.gs.next_event(last) => ev?,
            };
            last = ev.seq;
            self.cfg.journal.begin(&ev);
            self.set_state(ManagerState::Voting, Some(&ev), None, None)
                .await;
            tracing::info!(node, seq = ev.seq, event = %ev.event.request.name, location = ev.event.request.location,
                membership = ?ev.membership, "event: {}", ev.why);
            let ran = tokio::select! {
                biased;
                _ = stop_now(stop) => None,
                _ = self.gs.lost() => Some(Err(GsError::Expelled)),
                r = async {
                    self.follow_group(&ev).await?;
                    self.run_event(&ev).await
                } => Some(r),
            };
            let ran = match ran {
                None => {
                    self.record(&ev, RecordKind::Stopped, |r| {
                        r.detail = Some("the node stopped at once".into())
                    });
                    self.close_own(&ev, Outcome::Interrupted);
                    self.set_state(ManagerState::Done, None, None, None).await;
                    return Ok(self.stop_exit());
                }
                Some(r) => r.and(self.gs.finish(ev.seq).await),
            };
            if let Err(e) = ran {
                if e == GsError::Expelled {
                    self.record(&ev, RecordKind::Stopped, |r| {
                        r.detail = Some(
                            "fenced: this node is out of the group; its commands were stopped"
                                .into(),
                        )
                    });
                    self.close_own(&ev, Outcome::Interrupted);
                }
                return Err(e);
            }
            // The event ended for the group before this node goes on (a
            // leaving node is out of the group only then).
            let outcome = self.gs.outcome(ev.seq).await.unwrap_or(Outcome::Aborted);
            if self.cfg.journal_mode == JournalMode::Own {
                self.cfg.journal.end(ev.seq, outcome);
            }
            let r = &ev.event.request;
            if r.location == node {
                match r.kind {
                    EventKind::NodeJoin => member = true,
                    EventKind::NodeStop { .. } => {
                        self.set_state(ManagerState::Done, None, None, None).await;
                        tracing::info!(node, "left the cluster");
                        return Ok(Exit::Left);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Closes the event in a journal this manager owns, with how it ended
    /// on this node.
    fn close_own(&self, ev: &ClaimedEvent, outcome: Outcome) {
        if self.cfg.journal_mode == JournalMode::Own {
            self.cfg.journal.end(ev.seq, outcome);
        }
    }

    /// Records an early end of the event: who ended it, the operator's
    /// decision, the events it cancelled.
    fn record_end(&self, ev: &ClaimedEvent, e: &Ended, at: &str) {
        if let Some(d) = e.decision {
            self.record(ev, RecordKind::Decision, |r| {
                r.detail = Some(d.as_str().to_string())
            });
        }
        for q in &e.cancelled {
            self.record(ev, RecordKind::Cancelled, |r| {
                r.detail = Some(format!(
                    "{} at node {} (queued {})",
                    q.request.name, q.request.location, q.queued_at
                ))
            });
        }
        self.record(ev, RecordKind::Stopped, |r| {
            r.detail = Some(format!("event {} {at} ({})", e.outcome.as_str(), e.by))
        });
    }

    /// Shows `command` as running until the guard is dropped: when it
    /// ends, and also when the event is cut short (the node fenced itself,
    /// stopped at once, or its task ended), so a status never shows a
    /// command that is not running.
    fn running_start(&self, command: &str) -> Running<'_, G> {
        let since = unix_ms();
        self.shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .running
            .push(RunningCommand {
                command: command.to_string(),
                since_ms: since,
                pid: None,
            });
        Running {
            manager: self,
            command: command.to_string(),
            since,
        }
    }
}

/// A command shown as running (see `Manager::running_start`).
struct Running<'a, G: GroupServices> {
    manager: &'a Manager<G>,
    command: String,
    since: u64,
}

impl<G: GroupServices> Running<'_, G> {
    fn pid(&self, pid: u32) {
        let mut s = self.manager.shown.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = s
            .running
            .iter_mut()
            .find(|c| c.command == self.command && c.since_ms == self.since)
        {
            c.pid = Some(pid);
        }
    }
}

impl<G: GroupServices> Drop for Running<'_, G> {
    fn drop(&mut self) {
        self.manager
            .shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .running
            .retain(|c| !(c.command == self.command && c.since_ms == self.since));
        self.manager.publish();
    }
}

/// Logs a resource transition outside events, with why it happens.
fn noting(node: NodeId, why: &str) -> impl Fn(&str, Option<&str>, &str) + '_ {
    move |g, r, what| {
        tracing::info!(
            node,
            group = g,
            resource = r.unwrap_or(""),
            "{what} ({why})"
        )
    }
}

/// Aborts its task when dropped (a manager stopped or crashed leaves no
/// watcher behind).
struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves once a stop-now is asked for.
async fn stop_now(stop: &mut watch::Receiver<Option<Stop>>) {
    let _ = stop.wait_for(|s| *s == Some(Stop::Now)).await;
}
