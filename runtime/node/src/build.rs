//! One way to build a node: its handle on the group (lease, renewals,
//! fence hook, process) and its manager (bundle, journal, executor,
//! resource agent, trusted keys), with the daemon's defaults. `hacmpd`,
//! the in-process cluster and the fault simulation all build their nodes
//! here, so the simulators run the daemon's wiring and differ only in
//! what they give it.
//!
//! ```text
//!   GroupLink ──▶ NodeBuilder::new(link, node, ttl, bundle, exec, agent, trusted)
//!                   .renewal · .fence_hook · .process · .journal · …
//!                   .build()          ──▶ Manager<GroupHandle<S>>
//!                   .build_with(wrap) ──▶ Manager<G>  (a wrapped handle)
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hacmp_compiler::signing::TrustedKeys;
use hacmp_compiler::Bundle;
use hacmp_gs::coordinator::GroupLink;
use hacmp_gs::group::GroupHandle;
use hacmp_gs::process::{Liveness, Process};
use hacmp_gs::store::Store;
use hacmp_gs::{FenceHook, GroupServices, Renewal};
use hacmp_model::event::NodeId;

use crate::exec::Executor;
use crate::journal::Journal;
use crate::manager::{JournalMode, Manager, ManagerConfig};
use crate::resources::Agent;

pub struct NodeBuilder<S: Store> {
    link: Arc<GroupLink<S>>,
    ttl: Duration,
    renewal: Option<Renewal>,
    fence_hook: Option<FenceHook>,
    process: Option<(Process, Liveness)>,
    cfg: ManagerConfig,
    exec: Arc<dyn Executor>,
}

impl<S: Store> NodeBuilder<S> {
    /// Node `node` of the group `link` follows, on leases of time to live
    /// `ttl`, running `bundle`: its commands run by `exec`, its resources
    /// brought up by `agent`, a deploy admitted when signed by one of
    /// `trusted`. The rest as the daemon has it: an in-memory journal of
    /// its own, renewals every third of the time to live, this process, the
    /// first reminder of a wait after 30 s, a node-up to join, and a new
    /// incarnation after fencing.
    pub fn new(
        link: Arc<GroupLink<S>>,
        node: NodeId,
        ttl: Duration,
        bundle: Arc<Bundle>,
        exec: Arc<dyn Executor>,
        agent: Arc<dyn Agent>,
        trusted: TrustedKeys,
    ) -> NodeBuilder<S> {
        NodeBuilder {
            link,
            ttl,
            renewal: None,
            fence_hook: None,
            process: None,
            cfg: ManagerConfig {
                node,
                bundle,
                root: None,
                journal: Journal::in_memory(),
                journal_mode: JournalMode::Own,
                remind_after: Duration::from_secs(30),
                member: false,
                rejoin: true,
                agent,
                trusted,
            },
            exec,
        }
    }

    /// How its leases are renewed (`Renewal::beating` for `hacmpd`).
    pub fn renewal(mut self, renewal: Renewal) -> Self {
        self.renewal = Some(renewal);
        self
    }

    /// Told each moment it would fence itself (the warden).
    pub fn fence_hook(mut self, hook: FenceHook) -> Self {
        self.fence_hook = Some(hook);
        self
    }

    /// Which process it is, and how it tells whether another runs (the
    /// simulators: nodes of one process, or simulated processes).
    pub fn process(mut self, process: Process, liveness: Liveness) -> Self {
        self.process = Some((process, liveness));
        self
    }

    /// Where its events are recorded, and whether it closes them itself.
    pub fn journal(mut self, journal: Arc<Journal>, mode: JournalMode) -> Self {
        self.cfg.journal = journal;
        self.cfg.journal_mode = mode;
        self
    }

    /// The staging root under which absolute paths resolve.
    pub fn root(mut self, root: Option<PathBuf>) -> Self {
        self.cfg.root = root;
        self
    }

    /// The first reminder of a long wait (then at each doubling).
    pub fn remind_after(mut self, d: Duration) -> Self {
        self.cfg.remind_after = d;
        self
    }

    /// Join as a member at once, without a node-up event.
    pub fn member(mut self, member: bool) -> Self {
        self.cfg.member = member;
        self
    }

    /// Its manager, on its own handle on the group.
    pub fn build(self) -> Arc<Manager<GroupHandle<S>>> {
        self.build_with(|h| h)
    }

    /// Its manager, on its handle as `wrap` makes it (the fault simulation
    /// checks every call the manager makes).
    pub fn build_with<G: GroupServices>(
        self,
        wrap: impl FnOnce(GroupHandle<S>) -> G,
    ) -> Arc<Manager<G>> {
        let mut handle = GroupHandle::new(self.link, self.cfg.node, self.ttl);
        if let Some(r) = self.renewal {
            handle = handle.with_renewal(r);
        }
        if let Some(h) = self.fence_hook {
            handle = handle.with_fence_hook(h);
        }
        if let Some((p, l)) = self.process {
            handle = handle.with_process(p, l);
        }
        Manager::new(self.cfg, Arc::new(wrap(handle)), self.exec)
    }
}
