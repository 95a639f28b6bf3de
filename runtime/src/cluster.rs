//! A whole cluster in one process: the in-process group, one manager per
//! simulated node, one journal. Used by `hacmp sim`, `hacmp run` and tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hacmp_compiler::Bundle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::event::{EventRequest, NodeId};
use crate::exec::Executor;
use crate::gs::inprocess::InProcess;
use crate::gs::{GroupServices, GsError, OperatorCommand};
use crate::journal::Journal;
use crate::manager::{Exit, JournalMode, Manager, ManagerConfig, Stop};

struct NodeHandle {
    stop: watch::Sender<Option<Stop>>,
    task: JoinHandle<Result<Exit, GsError>>,
}

pub struct Cluster {
    gs: Arc<InProcess>,
    bundle: Arc<Bundle>,
    journal: Arc<Journal>,
    exec: Arc<dyn Executor>,
    root: Option<PathBuf>,
    remind_after: Duration,
    nodes: BTreeMap<NodeId, NodeHandle>,
}

impl Cluster {
    pub fn new(
        bundle: Arc<Bundle>,
        exec: Arc<dyn Executor>,
        journal: Arc<Journal>,
        root: Option<PathBuf>,
        settle: Duration,
    ) -> Cluster {
        let gs = Arc::new(InProcess::new(bundle.site.cluster.id, settle));
        let j = journal.clone();
        gs.on_finish(move |seq, outcome| j.end(seq, outcome));
        Cluster {
            gs,
            bundle,
            journal,
            exec,
            root,
            remind_after: Duration::from_secs(30),
            nodes: BTreeMap::new(),
        }
    }

    /// First reminder of a long wait (then at each doubling).
    pub fn remind_after(&mut self, d: Duration) {
        self.remind_after = d;
    }

    pub fn gs(&self) -> &Arc<InProcess> {
        &self.gs
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn bundle(&self) -> &Arc<Bundle> {
        &self.bundle
    }

    /// Starts a node's manager and returns once it joined (its node-up
    /// event is queued) or was refused.
    pub async fn start(&mut self, node: NodeId) -> Result<(), GsError> {
        self.launch(node, false).await
    }

    /// Starts a node that is a member already: no node-up event runs.
    pub async fn start_member(&mut self, node: NodeId) -> Result<(), GsError> {
        self.gs.adopt(node, &crate::gs::Identity::of(&self.bundle));
        self.launch(node, true).await
    }

    async fn launch(&mut self, node: NodeId, member: bool) -> Result<(), GsError> {
        if self.nodes.get(&node).is_some_and(|h| !h.task.is_finished()) {
            return Ok(());
        }
        let cfg = ManagerConfig {
            node,
            bundle: self.bundle.clone(),
            root: self.root.clone(),
            journal: self.journal.clone(),
            journal_mode: JournalMode::Shared,
            remind_after: self.remind_after,
            member,
        };
        let m = Manager::new(cfg, self.gs.clone(), self.exec.clone());
        let joined = m.on_joined();
        let (tx, rx) = watch::channel(None);
        let task = tokio::spawn(async move {
            let r = m.run(rx).await;
            if let Err(e) = &r {
                if *e != GsError::Expelled && *e != GsError::Closed {
                    tracing::error!(node, "manager stopped: {e}");
                }
            }
            r
        });
        self.nodes.insert(node, NodeHandle { stop: tx, task });
        joined.await.unwrap_or(Err(GsError::Closed))
    }

    /// The node dies: its manager and its commands are gone at once; the
    /// others see a failure.
    pub fn crash(&mut self, node: NodeId) {
        if let Some(h) = self.nodes.remove(&node) {
            h.task.abort();
        }
        self.gs.crash(node);
    }

    /// A graceful stop, with or without takeover.
    pub fn stop(&mut self, node: NodeId, takeover: bool) {
        if let Some(h) = self.nodes.get(&node) {
            let _ = h.stop.send(Some(Stop::Graceful { takeover }));
        }
    }

    pub async fn raise(&self, request: EventRequest) -> Result<(), GsError> {
        self.gs.enqueue(request).await
    }

    pub async fn command(&self, c: OperatorCommand) -> Result<(), GsError> {
        self.gs.command(c).await
    }

    pub async fn wait_idle(&self) -> Result<(), GsError> {
        self.gs.wait_idle().await
    }

    /// Nodes whose manager runs.
    pub fn running(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, h)| !h.task.is_finished())
            .map(|(n, _)| *n)
            .collect()
    }

    /// Stops every manager at once and closes the group.
    pub async fn shutdown(mut self) {
        for (_, h) in std::mem::take(&mut self.nodes) {
            let _ = h.stop.send(Some(Stop::Now));
            let _ = tokio::time::timeout(Duration::from_secs(5), h.task).await;
        }
        self.gs.close();
    }
}
