//! Resources in memory, for the simulator and `hacmp run`: every node of
//! the process shares one table of what is up where, so an address or file
//! system brought up on a second node is caught as the conflict it would be
//! on a real network.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use hacmp_compiler::resources::{Policy, Resource, ResourceKind};

use super::agent::{Agent, Ctx};
use hacmp_model::event::NodeId;

/// What a fault makes fail on a node: a resource's start or stop
/// command, or its monitor (the resource stopped running by itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failing {
    Start,
    Stop,
    Monitor,
}

impl Failing {
    pub fn as_str(self) -> &'static str {
        match self {
            Failing::Start => "start",
            Failing::Stop => "stop",
            Failing::Monitor => "monitor",
        }
    }
}

#[derive(Default)]
pub struct SimAgent {
    /// What is up, by what makes it exclusive, and on which node.
    held: Mutex<BTreeMap<String, NodeId>>,
    /// Every attempt to bring up what another node held.
    conflicts: Mutex<Vec<String>>,
    /// (node, `group/resource`, what) that fails the next so many times.
    failing: Mutex<BTreeMap<(NodeId, String, Failing), u32>>,
}

impl SimAgent {
    pub fn new() -> SimAgent {
        SimAgent::default()
    }

    /// What is up where.
    pub fn held(&self) -> BTreeMap<String, NodeId> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Each time a resource was asked up while another node held it.
    pub fn conflicts(&self) -> Vec<String> {
        self.conflicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `what` of `resource` (`group/resource`) fail on `node` the
    /// next `times` times (0: works again). A failed start leaves the
    /// resource down, a failed stop leaves it up; a failed monitor says it
    /// is not running (a restart does not cure it).
    pub fn fail(&self, node: NodeId, resource: &str, what: Failing, times: u32) {
        let mut f = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let k = (node, resource.to_string(), what);
        if times == 0 {
            f.remove(&k);
        } else {
            f.insert(k, times);
        }
    }

    /// The `(node, group/resource)` whose monitor is still to fail.
    pub fn monitor_failures(&self) -> Vec<(NodeId, String)> {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|(_, _, w)| *w == Failing::Monitor)
            .map(|(n, r, _)| (*n, r.clone()))
            .collect()
    }

    /// Whether `what` of `r` fails now on the context's node (one of its
    /// times used).
    fn fails(&self, ctx: &Ctx<'_>, r: &Resource, what: Failing) -> bool {
        let mut f = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let k = (ctx.node, format!("{}/{}", ctx.group.name, r.name), what);
        match f.get_mut(&k) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    f.remove(&k);
                }
                true
            }
            None => false,
        }
    }

    /// The nodes holding any resource of `group`, with how many of its
    /// resources each holds.
    pub fn holders(
        &self,
        group: &hacmp_compiler::resources::ResourceGroup,
    ) -> BTreeMap<NodeId, usize> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = BTreeMap::new();
        for r in &group.resources {
            for (k, n) in held.iter() {
                if Self::names(group, r, k) {
                    *out.entry(*n).or_insert(0) += 1;
                }
            }
        }
        out
    }

    /// Whether table key `k` is resource `r` of `g` (on some node).
    fn names(g: &hacmp_compiler::resources::ResourceGroup, r: &Resource, k: &str) -> bool {
        let base = Self::exclusive(&g.name, r);
        k == base || (g.policy == Policy::Concurrent && k.starts_with(&format!("{base} on node ")))
    }

    fn exclusive(group: &str, r: &Resource) -> String {
        match &r.kind {
            ResourceKind::ServiceIp { address, .. } => format!("address {}", address.addr),
            ResourceKind::Filesystem { mount_point, .. } => format!("file system {mount_point}"),
            _ => format!("{} {group}/{}", r.kind.as_str(), r.name),
        }
    }

    fn key(ctx: &Ctx<'_>, r: &Resource) -> String {
        let exclusive = Self::exclusive(&ctx.group.name, r);
        if ctx.group.policy == Policy::Concurrent {
            format!("{exclusive} on node {}", ctx.node)
        } else {
            exclusive
        }
    }
}

#[async_trait]
impl Agent for SimAgent {
    async fn start(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<String, String> {
        if self.fails(ctx, r, Failing::Start) {
            return Err("start failed (simulated)".into());
        }
        let key = Self::key(ctx, r);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.get(&key) {
            Some(n) if *n == ctx.node => Ok(format!("{key} already up")),
            Some(n) => {
                let msg = format!("{key} is up on node {n} too");
                self.conflicts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("node {}: {msg}", ctx.node));
                Err(msg)
            }
            None => {
                held.insert(key.clone(), ctx.node);
                Ok(format!("{key} up"))
            }
        }
    }

    async fn stop(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<String, String> {
        let key = Self::key(ctx, r);
        if self.fails(ctx, r, Failing::Stop) {
            // As the Linux agent does: an application whose stop fails has
            // its server's process group killed; an address or a file
            // system stays up.
            if matches!(r.kind, ResourceKind::Application { .. }) {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                if held.get(&key) == Some(&ctx.node) {
                    held.remove(&key);
                }
                return Err("stop failed (simulated); its process group killed".into());
            }
            return Err("stop failed (simulated): still up".into());
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(&key) == Some(&ctx.node) {
            held.remove(&key);
            Ok(format!("{key} down"))
        } else {
            Ok(format!("{key} already down"))
        }
    }

    async fn monitor(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<bool, String> {
        if self.fails(ctx, r, Failing::Monitor) {
            return Ok(false);
        }
        let key = Self::key(ctx, r);
        Ok(self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            == Some(&ctx.node))
    }

    fn crash(&self, node: NodeId) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, n| *n != node);
    }
}
