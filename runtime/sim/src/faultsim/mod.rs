//! Deterministic fault simulation of the group protocol, in the manner of
//! FoundationDB's simulation testing: from a seed, a schedule of faults
//! (crashes of any node in any state, several at once, restarts, lease
//! lapses, partitions, store stalls shorter and longer than the time to
//! live, store outages, graceful stops with and without takeover, stops at
//! once, user events, failing commands under each policy, every operator
//! decision, deploys, networks going down and up, operators' actions on
//! groups, operators' stops of nodes in each mode and their starts) is played against real managers over the in-memory store, in
//! one thread and simulated time, so a seed replays exactly. Every change
//! the store commits and every barrier a node passes is checked against
//! the protocol's invariants (`check`); when the faults stop, the cluster
//! must settle (liveness), and the journals must agree.
//!
//! Each simulated node is a process of its own, as `hacmpd` is: its own
//! view of the group and its own coordinator, on its own connection to the
//! shared store, which a partition can cut.

pub mod check;
mod held;
mod schedule;
pub mod world;

pub use schedule::{Fault, Rng, Schedule, TimedFault};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use hacmp_gs::coordinator::GroupLink;
use hacmp_gs::group::GroupHandle;
use hacmp_gs::mem::MemStore;
use hacmp_gs::operator::Operator;
use hacmp_gs::process::{Liveness, Process};
use hacmp_gs::{Decision, GsError};
use hacmp_model::event::{EventKind, EventRequest, NodeId};
use hacmp_node::exec::sim::SimExecutor;
use hacmp_node::journal::{EventEntry, Journal};
use hacmp_node::manager::{Exit, JournalMode, Manager, Stop};
use hacmp_node::NodeBuilder;

use check::Checker;
use world::{Checked, CutStore};

/// What one run found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub violations: Vec<String>,
    pub trace: Vec<String>,
    /// Events claimed.
    pub events: usize,
    /// A digest of the trace: the same schedule gives the same digest.
    pub digest: u64,
    /// Resource steps that failed (each an unexpected status of its event).
    pub resource_failures: usize,
}

type Node = Manager<Checked<GroupHandle<CutStore>>>;

struct Proc {
    store: Arc<CutStore>,
    shared: Arc<GroupLink<CutStore>>,
    manager: Arc<Node>,
    task: JoinHandle<Result<Exit, GsError>>,
    journal: Arc<Journal>,
    stop_asked: bool,
    pid: u32,
}

struct World {
    store: Arc<MemStore>,
    checker: Arc<Mutex<Checker>>,
    /// The first site and the one deploys switch to.
    bundles: [Arc<hacmp_compiler::Bundle>; 2],
    /// The operator's key, which signed both bundles; the nodes trust it.
    trusted: hacmp_compiler::signing::TrustedKeys,
    /// The hash of the bundle the group runs, as last read: a node that
    /// starts runs it (as if its operator fetched it).
    group_runs: Option<String>,
    exec: Arc<SimExecutor>,
    /// The nodes' resources: one table, so two nodes holding one address
    /// is seen.
    agent: Arc<hacmp_node::resources::sim::SimAgent>,
    ttl: Duration,
    procs: BTreeMap<NodeId, Proc>,
    /// Journals of processes that ended, with their node.
    journals: Vec<(NodeId, Vec<EventEntry>)>,
    /// Graceful stops asked of processes that did not crash afterwards, and
    /// how each process ended.
    stops: Vec<(NodeId, Result<Exit, GsError>)>,
    violations: Vec<String>,
    /// Simulated processes: the last pid given, and those running.
    pids: u32,
    running: Arc<Mutex<std::collections::BTreeSet<u32>>>,
}

impl World {
    fn start(&mut self, node: NodeId) {
        if self.procs.get(&node).is_some_and(|p| !p.task.is_finished()) {
            return;
        }
        self.reap(node);
        let bundle = self
            .bundles
            .iter()
            .find(|b| Some(&b.hash) == self.group_runs.as_ref())
            .unwrap_or(&self.bundles[0])
            .clone();
        let store = CutStore::new(self.store.clone());
        let shared = GroupLink::new(
            store.clone(),
            1,
            bundle.site.cluster.settle.0,
            hacmp_model::placement::placer(&bundle),
        );
        // Each start is a process of its own, which a restart can tell
        // from a running one.
        self.pids += 1;
        let process = Process {
            boot: "sim".into(),
            pid: self.pids,
            start: 0,
        };
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.pids);
        let running = self.running.clone();
        let liveness: Liveness = Arc::new(move |p: &Process| {
            (p.boot == "sim").then(|| {
                running
                    .lock()
                    .unwrap_or_else(|x| x.into_inner())
                    .contains(&p.pid)
            })
        });
        let journal = Journal::in_memory();
        let checker = self.checker.clone();
        let manager = NodeBuilder::new(
            shared.clone(),
            node,
            self.ttl,
            bundle,
            self.exec.clone(),
            self.agent.clone(),
            self.trusted.clone(),
        )
        .process(process, liveness)
        .journal(journal.clone(), JournalMode::Own)
        .remind_after(Duration::from_secs(3600))
        .build_with(|inner| Checked { inner, checker });
        let task = tokio::spawn(manager.clone().run());
        self.procs.insert(
            node,
            Proc {
                store,
                shared,
                manager,
                task,
                journal,
                stop_asked: false,
                pid: self.pids,
            },
        );
    }

    /// Reads which bundle the group runs (kept when the store does not
    /// answer).
    async fn refresh(&mut self, operator: &Operator<MemStore>) {
        if let Ok(s) = operator.state().await {
            if let Some(i) = s.identity {
                self.group_runs = Some(i.value.hash);
                return;
            }
        }
        // Its holder gone, the identity waits to be published again: the
        // bundle the group keeps says (what `hacmp bundle fetch` reads).
        if let Ok(Some(json)) = operator.running_bundle().await {
            if let Ok(b) = serde_json::from_slice::<hacmp_compiler::Bundle>(&json) {
                self.group_runs = Some(b.hash);
            }
        }
    }

    /// Collects what an ended process left.
    fn reap(&mut self, node: NodeId) {
        let Some(p) = self.procs.remove(&node) else {
            return;
        };
        self.running
            .lock()
            .unwrap_or_else(|x| x.into_inner())
            .remove(&p.pid);
        p.shared.shutdown();
        self.journals.push((node, p.journal.events()));
        if p.stop_asked {
            let r = if p.task.is_finished() {
                futures::FutureExt::now_or_never(p.task)
                    .and_then(|r| r.ok())
                    .unwrap_or(Err(GsError::Closed))
            } else {
                p.task.abort();
                Err(GsError::Closed)
            };
            self.stops.push((node, r));
        } else if p.task.is_finished() {
            // A manager ends on its own only when asked to stop, or when
            // it was started with a bundle a deploy replaced meanwhile
            // (refused: its operator starts it again with the group's).
            match futures::FutureExt::now_or_never(p.task) {
                Some(Ok(Err(GsError::OtherSite(_)))) => {}
                Some(Ok(Err(e))) => self
                    .violations
                    .push(format!("node {node}'s manager ended with an error: {e}")),
                _ => {}
            }
        } else {
            p.task.abort();
        }
    }

    fn crash(&mut self, node: NodeId, lapse: bool) {
        let Some(p) = self.procs.get_mut(&node) else {
            return;
        };
        if p.task.is_finished() {
            return;
        }
        p.task.abort();
        // A crashed machine holds nothing, and does nothing more.
        p.manager.crash();
        hacmp_node::resources::Agent::crash(&*self.agent, node);
        // A crash after a stop was asked: the stop does not count.
        p.stop_asked = false;
        if !lapse {
            if let Some(lease) = p.manager.group().inner.lease() {
                self.store.kill_lease(lease);
            }
        }
        self.reap(node);
    }

    async fn apply(&mut self, f: &Fault, operator: &Operator<MemStore>) {
        match f {
            Fault::Crash { node, lapse } => self.crash(*node, *lapse),
            Fault::CrashAll => {
                let nodes: Vec<NodeId> = self.procs.keys().copied().collect();
                for n in nodes {
                    self.crash(n, true);
                }
            }
            Fault::Restart { node } => {
                self.refresh(operator).await;
                self.start(*node)
            }
            Fault::Stop { node, takeover } => {
                if let Some(p) = self.procs.get_mut(node).filter(|p| !p.task.is_finished()) {
                    p.stop_asked = true;
                    let m = p.manager.clone();
                    let takeover = *takeover;
                    // As a signal handler does: in the background.
                    tokio::spawn(async move { m.stop(Stop::Graceful { takeover }).await });
                }
            }
            Fault::StopNow { node } => {
                if let Some(p) = self.procs.get(node) {
                    p.manager.stop(Stop::Now).await;
                }
            }
            Fault::Partition { node, ms } => {
                if let Some(p) = self.procs.get(node) {
                    let s = p.store.clone();
                    s.cut();
                    let ms = *ms;
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        s.heal();
                    });
                }
            }
            Fault::Stall { ms, expire_first } => {
                self.store.stall(Duration::from_millis(*ms), *expire_first)
            }
            Fault::Outage { ms } => self.store.outage(Duration::from_millis(*ms)),
            Fault::Raise { id, location } => {
                // The store may be down: the operator tries until it is back.
                let _ = operator.enqueue(world::work(*id, *location)).await;
            }
            Fault::Deploy { reshaped } => {
                let b = &self.bundles[usize::from(*reshaped)];
                if let Ok(json) = serde_json::to_vec(&**b) {
                    // Refused when no node is up or the group runs it.
                    let _ = operator.deploy(&b.hash, json).await;
                }
            }
            Fault::Resume { decision } => {
                resume(operator, *decision).await;
            }
            Fault::Resource {
                node,
                resource,
                what,
                times,
            } => self.agent.fail(*node, resource, *what, *times),
            Fault::Group(a) => {
                use schedule::GroupAction;
                // Refused when it cannot be done now: as an operator's.
                let _ = match a {
                    GroupAction::Move { group, to } => {
                        let to = to.map(|t| t.to_string());
                        operator.move_group(group, to.as_deref()).await.map(|_| ())
                    }
                    GroupAction::Offline { group, offline } => {
                        operator.group_intent(group, *offline).await.map(|_| ())
                    }
                    GroupAction::Maintenance { group, on } => {
                        operator.maintenance(Some(group), *on).await.map(|_| ())
                    }
                    GroupAction::Cleanup { group } => {
                        operator.cleanup_group(group, None).await.map(|_| ())
                    }
                };
            }
            Fault::Node { node, stop } => {
                let name = node.to_string();
                let _ = match stop {
                    Some(mode) => operator.stop_node(&name, *mode).await,
                    None => operator.start_node(&name).await,
                };
            }
            Fault::Network { node, up } => {
                if self.procs.get(node).is_some_and(|p| !p.task.is_finished()) {
                    let network = 1;
                    let kind = if *up {
                        EventKind::NetworkUp { network }
                    } else {
                        EventKind::NetworkDown { network }
                    };
                    let _ = operator.enqueue(EventRequest::system(kind, *node)).await;
                }
            }
        }
    }
}

/// An operator's decision on the running event, if a node waits for one.
async fn resume(operator: &Operator<MemStore>, decision: Decision) -> bool {
    let Ok(s) = operator.state().await else {
        return false;
    };
    let Some(c) = &s.current else { return false };
    let seq = c.value.seq;
    let waiting = s
        .event_keys(seq)
        .is_some_and(|k| k.ended.is_none() && k.failed.keys().any(|n| s.live().contains(n)));
    waiting && operator.resume(seq, None, decision).await.is_ok()
}

/// An operator starts every node an operator stopped.
async fn start_stopped(operator: &Operator<MemStore>) {
    let Ok(s) = operator.state().await else {
        return;
    };
    for n in s.control.keys() {
        let _ = operator.start_node(&n.to_string()).await;
    }
}

/// Plays a schedule; what it found.
pub fn run(schedule: &Schedule) -> Report {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Report {
                violations: vec![format!("cannot start a runtime: {e}")],
                ..Report::default()
            }
        }
    };
    rt.block_on(play(schedule))
}

async fn play(schedule: &Schedule) -> Report {
    let store = MemStore::new();
    let checker = Arc::new(Mutex::new(Checker::default()));
    {
        let c = checker.clone();
        store.on_commit(move |rev, changes| {
            c.lock()
                .unwrap_or_else(|p| p.into_inner())
                .commit(rev, changes)
        });
    }
    let agent = Arc::new(hacmp_node::resources::sim::SimAgent::new());
    let held = Arc::new(Mutex::new(held::Held::new(
        agent.clone(),
        world::site(schedule.nodes, schedule.policy).site.resources,
    )));
    {
        let h = held.clone();
        store.on_commit(move |rev, changes| {
            h.lock()
                .unwrap_or_else(|p| p.into_inner())
                .commit(rev, changes)
        });
    }
    let signer = hacmp_compiler::signing::SigningKey::generate("operator")
        .expect("the system's random source");
    let mut w = World {
        store: store.clone(),
        checker: checker.clone(),
        bundles: {
            let mut first = world::site(schedule.nodes, schedule.policy);
            let mut reshaped = world::reshaped(&first);
            signer.sign(&mut first);
            signer.sign(&mut reshaped);
            [Arc::new(first), Arc::new(reshaped)]
        },
        trusted: hacmp_compiler::signing::TrustedKeys::Keys(Arc::new(vec![signer.public()])),
        group_runs: None,
        exec: Arc::new(SimExecutor::new(
            schedule.failing.clone(),
            Duration::from_millis(200),
        )),
        agent,
        ttl: Duration::from_millis(schedule.ttl_ms),
        procs: BTreeMap::new(),
        journals: Vec::new(),
        stops: Vec::new(),
        violations: Vec::new(),
        pids: 0,
        running: Arc::new(Mutex::new(Default::default())),
    };
    let operator = Operator::new(store.clone());
    let t0 = Instant::now();
    for n in 1..=schedule.nodes {
        w.start(n);
    }
    for s in &schedule.steps {
        tokio::time::sleep_until(t0 + Duration::from_millis(s.at_ms)).await;
        w.apply(&s.fault, &operator).await;
    }
    // The faults stop. A node still stopping gets the time to; then every
    // node that is down starts again, an operator answers every wait, and
    // the cluster must settle with every node a member (what was queued
    // while no node was up runs then).
    tokio::time::sleep(Duration::from_secs(30)).await;
    start_stopped(&operator).await;
    w.refresh(&operator).await;
    for n in 1..=schedule.nodes {
        w.start(n);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let settled = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let running: Vec<NodeId> = w
            .procs
            .iter()
            .filter(|(_, p)| !p.task.is_finished())
            .map(|(n, _)| *n)
            .collect();
        if let Ok(s) = operator.state().await {
            let members: Vec<NodeId> = s.members().iter().copied().collect();
            if s.idle() && members == running {
                break true;
            }
        }
        resume(&operator, Decision::Continue).await;
        start_stopped(&operator).await;
        // A node refused for a bundle a deploy replaced starts again with
        // the group's, as its operator would.
        let refused: Vec<NodeId> = w
            .procs
            .iter()
            .filter(|(_, p)| p.task.is_finished() && !p.stop_asked)
            .map(|(n, _)| *n)
            .collect();
        if !refused.is_empty() {
            w.refresh(&operator).await;
            for n in refused {
                w.start(n);
            }
        }
        if Instant::now() >= deadline {
            break false;
        }
    };
    // One bundle: every running node runs the one the group runs.
    if settled {
        if let Ok(s) = operator.state().await {
            let group = s.runs().unwrap_or_default().to_string();
            for (n, p) in w.procs.iter().filter(|(_, p)| !p.task.is_finished()) {
                let mine = p.manager.bundle().hash.clone();
                if mine != group {
                    w.violations.push(format!(
                        "node {n} runs bundle {} while the group runs {}",
                        &mine[..12],
                        &group[..group.len().min(12)]
                    ));
                }
            }
        }
    }
    // Let every manager write its journal.
    tokio::time::sleep(Duration::from_secs(1)).await;
    if !settled {
        let state = operator
            .state()
            .await
            .map(|s| {
                let short = |h: &str| h[..h.len().min(12)].to_string();
                let bundles: BTreeMap<NodeId, String> = s
                    .alive
                    .iter()
                    .map(|(n, a)| (*n, short(&a.record.hash)))
                    .collect();
                format!(
                    "members {:?}, joining {:?}, running {:?}, queued {}, the group's bundle {:?}, the nodes' {:?}",
                    s.members(),
                    s.joining(),
                    s.current
                        .as_ref()
                        .map(|c| (c.value.seq, c.value.event.request.name.clone())),
                    s.queue.len(),
                    s.runs().map(short),
                    bundles
                )
            })
            .unwrap_or_default();
        w.violations.push(format!(
            "liveness: the cluster did not settle within 10 minutes after the last fault ({state})"
        ));
    }
    let nodes: Vec<NodeId> = w.procs.keys().copied().collect();
    for n in nodes {
        w.reap(n);
    }
    for (n, r) in &w.stops {
        match r {
            Ok(Exit::Left) | Ok(Exit::Stopped) => {}
            other => w.violations.push(format!(
                "node {n} was asked to stop gracefully and ended with {other:?}"
            )),
        }
    }
    let mut c = checker.lock().unwrap_or_else(|p| p.into_inner());
    // Each process's journal, as one node's (its incarnations in turn).
    let journals: Vec<(check::Inc, Vec<EventEntry>)> = w
        .journals
        .iter()
        .map(|(n, e)| ((*n, 0), e.clone()))
        .collect();
    c.finish(&journals);
    let mut violations = std::mem::take(&mut w.violations);
    violations.extend(c.violations.iter().cloned());
    violations.extend(
        held.lock()
            .unwrap_or_else(|p| p.into_inner())
            .violations
            .iter()
            .cloned(),
    );
    violations.extend(
        w.agent
            .conflicts()
            .into_iter()
            .map(|c| format!("resources: {c}")),
    );
    store.close();
    let digest = c.trace.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, l| {
        l.bytes()
            .fold(h, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    });
    Report {
        violations,
        trace: c.trace.clone(),
        events: c.claims.len(),
        digest,
        resource_failures: c.resource_failures,
    }
}

/// A smaller schedule that still fails: steps and failing commands are
/// removed one at a time while some invariant still breaks.
pub fn minimize(schedule: &Schedule) -> Schedule {
    minimize_by(schedule, |s| !run(s).violations.is_empty())
}

/// A smaller schedule for which `fails` still holds.
pub fn minimize_by(schedule: &Schedule, fails: impl Fn(&Schedule) -> bool) -> Schedule {
    let run = |s: &Schedule| Report {
        violations: if fails(s) {
            vec![String::new()]
        } else {
            Vec::new()
        },
        ..Report::default()
    };
    let mut best = schedule.clone();
    loop {
        let mut smaller = false;
        let mut i = 0;
        while i < best.steps.len() {
            let mut t = best.clone();
            t.steps.remove(i);
            if !run(&t).violations.is_empty() {
                best = t;
                smaller = true;
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < best.failing.len() {
            let mut t = best.clone();
            t.failing.remove(i);
            if !run(&t).violations.is_empty() {
                best = t;
                smaller = true;
            } else {
                i += 1;
            }
        }
        if !smaller {
            return best;
        }
    }
}
