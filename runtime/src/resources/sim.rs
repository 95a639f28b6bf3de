//! Resources in memory, for the simulator and `hacmp run`: every node of
//! the process shares one table of what is up where, so an address or file
//! system brought up on a second node is caught as the conflict it would be
//! on a real network.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use hacmp_compiler::resources::{Policy, Resource, ResourceKind};

use super::agent::{Agent, Ctx};
use crate::event::NodeId;

#[derive(Default)]
pub struct SimAgent {
    /// What is up, by what makes it exclusive, and on which node.
    held: Mutex<BTreeMap<String, NodeId>>,
    /// Every attempt to bring up what another node held.
    conflicts: Mutex<Vec<String>>,
    /// (node, resource) whose start fails, for fault scenarios.
    failing: Mutex<BTreeSet<(NodeId, String)>>,
    /// (node, resource) that stopped running by itself: its monitor says so
    /// until it is started again.
    died: Mutex<BTreeSet<(NodeId, String)>>,
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

    /// Makes the start of `resource` fail on `node` (or work again).
    pub fn set_failing(&self, node: NodeId, resource: &str, failing: bool) {
        let mut f = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if failing {
            f.insert((node, resource.to_string()));
        } else {
            f.remove(&(node, resource.to_string()));
        }
    }

    /// The resource stops running on `node` (an application that
    /// crashed): its monitor fails until it is started again.
    pub fn kill(&self, node: NodeId, resource: &str) {
        self.died
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((node, resource.to_string()));
    }

    fn key(ctx: &Ctx<'_>, r: &Resource) -> String {
        let exclusive = match &r.kind {
            ResourceKind::ServiceIp { address, .. } => format!("address {}", address.addr),
            ResourceKind::Filesystem { mount_point, .. } => format!("file system {mount_point}"),
            _ => format!("{} {}/{}", r.kind.as_str(), ctx.group.name, r.name),
        };
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
        if self
            .failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(ctx.node, r.name.clone()))
        {
            return Err("simulated failure".into());
        }
        self.died
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(ctx.node, r.name.clone()));
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
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(&key) == Some(&ctx.node) {
            held.remove(&key);
            Ok(format!("{key} down"))
        } else {
            Ok(format!("{key} already down"))
        }
    }

    async fn monitor(&self, ctx: &Ctx<'_>, r: &Resource) -> Result<bool, String> {
        if self
            .died
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(ctx.node, r.name.clone()))
        {
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
