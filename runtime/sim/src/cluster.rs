//! A whole cluster in one process: the group on the in-memory store, one
//! manager per simulated node, one journal. Used by `hacmp sim`, `hacmp
//! run` and tests. The nodes run the same protocol as `hacmpd` on etcd;
//! only the store differs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hacmp_compiler::Bundle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use hacmp_compiler::signing::TrustedKeys;
use hacmp_gs::coordinator::GroupLink;
use hacmp_gs::group::GroupHandle;
use hacmp_gs::mem::MemStore;
use hacmp_gs::operator::{Operator, Resumed};
use hacmp_gs::process::Process;
use hacmp_gs::view::Topic;
use hacmp_gs::{GsError, NodeStatus, OperatorCommand, SyncPoint};
use hacmp_model::event::{EventRequest, NodeId};
use hacmp_model::ClaimedEvent;
use hacmp_node::exec::Executor;
use hacmp_node::journal::Journal;
use hacmp_node::manager::{Exit, JournalMode, Manager, Stop};
use hacmp_node::resources::sim::SimAgent;
use hacmp_node::NodeBuilder;

type Node = Manager<GroupHandle<MemStore>>;

struct NodeHandle {
    manager: Arc<Node>,
    task: JoinHandle<Result<Exit, GsError>>,
}

/// The running event, who arrived where, and who waits on a failure.
pub type Current = (ClaimedEvent, BTreeMap<SyncPoint, Vec<NodeId>>, Vec<NodeId>);

pub struct Cluster {
    store: Arc<MemStore>,
    shared: Arc<GroupLink<MemStore>>,
    operator: Arc<Operator<MemStore>>,
    bundle: Arc<Bundle>,
    /// Bundles deployed while it runs, by hash: a node started later runs
    /// the one the group runs.
    deployed: BTreeMap<String, Arc<Bundle>>,
    journal: Arc<Journal>,
    exec: Arc<dyn Executor>,
    /// Resources of every simulated node: in memory (nodes of one process
    /// cannot each hold a real address).
    agent: Arc<SimAgent>,
    /// The operator's key: deploys are signed with it, nodes trust it.
    signer: hacmp_compiler::signing::SigningKey,
    root: Option<PathBuf>,
    remind_after: Duration,
    ttl: Duration,
    nodes: BTreeMap<NodeId, NodeHandle>,
    /// The highest sequence number whose record the journal closed.
    closed: watch::Receiver<u64>,
    closer: JoinHandle<()>,
}

impl Cluster {
    pub fn new(
        bundle: Arc<Bundle>,
        exec: Arc<dyn Executor>,
        journal: Arc<Journal>,
        root: Option<PathBuf>,
        settle: Duration,
    ) -> Cluster {
        let store = MemStore::new();
        let shared = GroupLink::new(
            store.clone(),
            bundle.site.cluster.id,
            settle,
            hacmp_model::placement::placer(&bundle),
        );
        let (tx, closed) = watch::channel(0);
        let closer = tokio::spawn(close_records(shared.clone(), journal.clone(), tx));
        Cluster {
            operator: Arc::new(Operator::new(store.clone())),
            store,
            shared,
            bundle,
            deployed: BTreeMap::new(),
            journal,
            exec,
            agent: Arc::new(SimAgent::new()),
            signer: hacmp_compiler::signing::SigningKey::generate("operator")
                .expect("the system's random source"),
            root,
            remind_after: Duration::from_secs(30),
            // Crashes are seen at once (the lease is revoked); a long time
            // to live keeps renewals out of long simulated waits.
            ttl: Duration::from_secs(3600),
            nodes: BTreeMap::new(),
            closed,
            closer,
        }
    }

    /// The lease time to live of nodes started from now on.
    pub fn set_ttl(&mut self, ttl: Duration) {
        self.ttl = ttl;
    }

    /// First reminder of a long wait (then at each doubling).
    pub fn remind_after(&mut self, d: Duration) {
        self.remind_after = d;
    }

    pub fn store(&self) -> &Arc<MemStore> {
        &self.store
    }

    /// An operator of the group (raises events unchecked, resumes).
    pub fn operator(&self) -> Arc<Operator<MemStore>> {
        self.operator.clone()
    }

    pub fn shared(&self) -> &Arc<GroupLink<MemStore>> {
        &self.shared
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn bundle(&self) -> &Arc<Bundle> {
        &self.bundle
    }

    /// What the simulated nodes hold.
    pub fn agent(&self) -> &Arc<SimAgent> {
        &self.agent
    }

    /// Each running node's resource groups that are not offline.
    pub fn groups(&self) -> BTreeMap<NodeId, BTreeMap<String, hacmp_model::placement::RgState>> {
        self.nodes
            .iter()
            .filter(|(_, h)| !h.task.is_finished())
            .map(|(n, h)| (*n, h.manager.groups()))
            .collect()
    }

    /// Starts a node's manager and returns once it joined (its node-up
    /// event is queued) or was refused.
    pub async fn start(&mut self, node: NodeId) -> Result<(), GsError> {
        self.launch(node, false).await
    }

    /// Starts a node that is a member at once: no node-up event runs.
    pub async fn start_member(&mut self, node: NodeId) -> Result<(), GsError> {
        self.launch(node, true).await
    }

    async fn launch(&mut self, node: NodeId, member: bool) -> Result<(), GsError> {
        if self.nodes.get(&node).is_some_and(|h| !h.task.is_finished()) {
            return Ok(());
        }
        let running = self
            .operator
            .state()
            .await
            .ok()
            .and_then(|s| s.identity.map(|i| i.value.hash));
        let bundle = running
            .and_then(|h| self.deployed.get(&h).cloned())
            .unwrap_or_else(|| self.bundle.clone());
        // Simulated nodes share this process: none can tell another's
        // process apart.
        let m = NodeBuilder::new(
            self.shared.clone(),
            node,
            self.ttl,
            bundle,
            self.exec.clone(),
            self.agent.clone(),
            TrustedKeys::Keys(Arc::new(vec![self.signer.public()])),
        )
        .process(Process::default(), Arc::new(|_: &Process| None))
        .journal(self.journal.clone(), JournalMode::Shared)
        .root(self.root.clone())
        .remind_after(self.remind_after)
        .member(member)
        .build();
        let joined = m.on_joined();
        let runner = m.clone();
        let task = tokio::spawn(async move {
            let r = runner.run().await;
            if let Err(e) = &r {
                if *e != GsError::Expelled && *e != GsError::Closed {
                    tracing::error!(node, "manager stopped: {e}");
                }
            }
            r
        });
        self.nodes.insert(node, NodeHandle { manager: m, task });
        joined.await.unwrap_or(Err(GsError::Closed))
    }

    /// Deploys `bundle` (DARE): signed by the operator's key, staged and
    /// queued as `hacmp deploy` does.
    pub async fn deploy(&mut self, bundle: Arc<Bundle>) -> Result<(), GsError> {
        let mut signed = (*bundle).clone();
        self.signer.sign(&mut signed);
        self.deploy_as_is(Arc::new(signed)).await
    }

    /// Deploys `bundle` with whatever signature it carries: what someone
    /// who can write the store, and has no trusted key, could do.
    pub async fn deploy_as_is(&mut self, bundle: Arc<Bundle>) -> Result<(), GsError> {
        let json = serde_json::to_vec(&*bundle).map_err(|e| GsError::Refused(e.to_string()))?;
        self.deployed.insert(bundle.hash.clone(), bundle.clone());
        self.operator.deploy(&bundle.hash, json).await.map(|_| ())
    }

    /// The node dies: its manager and its commands are gone at once, and
    /// the group sees it gone at once.
    pub fn crash(&mut self, node: NodeId) {
        if let Some(h) = self.nodes.remove(&node) {
            h.task.abort();
            h.manager.crash();
            hacmp_node::resources::Agent::crash(&*self.agent, node);
            if let Some(lease) = h.manager.group().lease() {
                self.store.kill_lease(lease);
            }
        }
    }

    /// The node's lease lapses while it runs (a stall, a partition from the
    /// store): the group declares it failed, and it fences itself.
    pub fn expire(&self, node: NodeId) {
        if let Some(lease) = self
            .nodes
            .get(&node)
            .and_then(|h| h.manager.group().lease())
        {
            self.store.kill_lease(lease);
        }
    }

    /// A graceful stop, with or without takeover: the node's departure is
    /// queued when this returns.
    pub async fn stop(&mut self, node: NodeId, takeover: bool) {
        if let Some(h) = self.nodes.get(&node) {
            h.manager.stop(Stop::Graceful { takeover }).await;
        }
    }

    /// Queues an event as raised (no check: the simulator raises what the
    /// scenario says).
    pub async fn raise(&self, request: EventRequest) -> Result<(), GsError> {
        self.operator.enqueue(request).await
    }

    pub async fn command(&self, c: OperatorCommand) -> Result<Option<Resumed>, GsError> {
        match c {
            OperatorCommand::Raise { event } => self.raise(event).await.map(|_| None),
            OperatorCommand::Resume {
                seq,
                node,
                decision,
            } => self.operator.resume(seq, node, decision).await.map(Some),
        }
    }

    pub async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError> {
        self.operator.statuses().await
    }

    /// Members of the group now.
    pub fn members(&self) -> Vec<NodeId> {
        self.shared
            .view
            .read_any(|s, _| s.members().iter().copied().collect())
    }

    /// The running event, who arrived where (live members only), and who
    /// waits on a failure.
    pub fn current(&self) -> Option<Current> {
        self.shared.view.read_any(|s, _| {
            let c = (*s.current.as_ref()?.value).clone();
            let live = s.live();
            let keys = s.event_keys(c.seq);
            let arrived = keys
                .map(|k| {
                    k.arrived
                        .iter()
                        .map(|(at, ns)| {
                            (
                                *at,
                                ns.iter().copied().filter(|n| live.contains(n)).collect(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let failed = keys
                .map(|k| {
                    k.failed
                        .keys()
                        .copied()
                        .filter(|n| live.contains(n))
                        .collect()
                })
                .unwrap_or_default();
            Some((c, arrived, failed))
        })
    }

    /// Waits until nothing runs or is queued, nobody waits to join, and
    /// the journal closed the record of every event that ran.
    pub async fn wait_idle(&self) -> Result<(), GsError> {
        let view = &self.shared.view;
        let mut any = view.subscribe(Topic::Any);
        let mut closed = self.closed.clone();
        loop {
            let (idle, seq) = view
                .read_any(|s, fresh| (fresh && s.idle(), s.seq.as_ref().map_or(0, |v| v.value)));
            if idle && *closed.borrow_and_update() >= seq {
                return Ok(());
            }
            tokio::select! {
                biased;
                r = any.changed() => r.map_err(|_| GsError::Closed)?,
                r = closed.changed() => r.map_err(|_| GsError::Closed)?,
            }
        }
    }

    /// Nodes whose manager runs.
    pub fn running(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, h)| !h.task.is_finished())
            .map(|(n, _)| *n)
            .collect()
    }

    /// Stops every manager at once and closes the store: the whole
    /// cluster ends together (no node sees the others go).
    pub async fn shutdown(mut self) {
        self.closer.abort();
        self.shared.shutdown();
        self.store.close();
        for (_, h) in std::mem::take(&mut self.nodes) {
            h.manager.stop(Stop::Now).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), h.task).await;
        }
    }
}

/// Closes the journal's record of each event once the group says how it
/// ended (one journal for every node of the process).
async fn close_records(
    shared: Arc<GroupLink<MemStore>>,
    journal: Arc<Journal>,
    done: watch::Sender<u64>,
) {
    let mut rx = shared.view.subscribe(Topic::Event);
    loop {
        let outcomes = shared.view.read_any(|s, _| s.outcomes.clone());
        for (seq, o) in &outcomes {
            journal.end(*seq, *o);
        }
        if let Some(last) = outcomes.keys().next_back() {
            done.send_if_modified(|v| {
                let grew = *last > *v;
                *v = (*v).max(*last);
                grew
            });
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
