//! One node's resource groups: their states, and the release and acquire
//! steps that move them towards a placement. Steps are idempotent: a group
//! already online is not started again, one already offline not stopped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hacmp_compiler::resources::{ResourceGroup, ResourceKind};
use hacmp_compiler::Site;

use super::agent::{Agent, Ctx};
use super::ScriptStep;
use hacmp_model::event::NodeId;
use hacmp_model::placement::{Placement, RgState};

/// Told each transition: group, resource (none for the group itself), what
/// happened.
pub type Report<'a> = &'a (dyn Fn(&str, Option<&str>, &str) + Send + Sync);

pub struct NodeResources {
    node: NodeId,
    agent: Arc<dyn Agent>,
    state: Mutex<BTreeMap<String, RgState>>,
    /// Held by a step and by a monitor check: a check never sees a group
    /// half released.
    busy: tokio::sync::Mutex<()>,
    /// Failed checks in a row, by (group, resource).
    failures: Mutex<BTreeMap<(String, String), u32>>,
    /// Restarts in place by (group, resource), since the node started
    /// (for the metrics).
    restarts: Mutex<BTreeMap<(String, String), u64>>,
    /// Groups in maintenance as of the last step: left alone, monitors
    /// included.
    maintenance: Mutex<std::collections::BTreeSet<String>>,
    /// Out of the group: nothing is acquired until it joins again.
    fenced: std::sync::atomic::AtomicBool,
    /// The node crashed (simulated nodes): its machine is gone with what
    /// it held, so nothing of it acts again, whichever of its tasks the
    /// runtime has not cancelled yet.
    dead: std::sync::atomic::AtomicBool,
}

/// What a monitor check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Running, or the group is not online here.
    Healthy,
    /// Not running; stopped and started again (`n` of its restarts).
    Restarted(u32),
    /// Not running and its restarts are used up: the group must move.
    GiveUp,
}

impl NodeResources {
    pub fn new(node: NodeId, agent: Arc<dyn Agent>) -> NodeResources {
        NodeResources {
            node,
            agent,
            state: Mutex::new(BTreeMap::new()),
            busy: tokio::sync::Mutex::new(()),
            failures: Mutex::new(BTreeMap::new()),
            restarts: Mutex::new(BTreeMap::new()),
            maintenance: Mutex::new(Default::default()),
            fenced: std::sync::atomic::AtomicBool::new(false),
            dead: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The node crashed: from now on nothing is started, stopped or
    /// checked on it (a simulated node's monitor must not restart what a
    /// crash took down). For good: a restart is a new `NodeResources`.
    pub fn crash(&self) {
        self.dead.store(true, std::sync::atomic::Ordering::SeqCst);
        self.lock().clear();
    }

    fn is_dead(&self) -> bool {
        self.dead.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Out of the group: acquiring is refused until `unfence`.
    pub fn fence(&self) {
        self.fenced.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// A member again (a new incarnation joined).
    pub fn unfence(&self) {
        self.fenced
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// One monitor check of resource `r` of group `g`, with its restarts.
    pub async fn check(
        &self,
        site: &Site,
        g: &ResourceGroup,
        r: &hacmp_compiler::resources::Resource,
        restarts: u32,
        report: Report<'_>,
    ) -> Verdict {
        let _busy = self.busy.lock().await;
        if self.is_dead() || self.state(&g.name) != RgState::Online || self.in_maintenance(&g.name)
        {
            return Verdict::Healthy;
        }
        let ctx = Ctx {
            node: self.node,
            site,
            group: g,
        };
        let key = (g.name.clone(), r.name.clone());
        let why = match self.agent.monitor(&ctx, r).await {
            Ok(true) => {
                self.failures_lock().remove(&key);
                return Verdict::Healthy;
            }
            Ok(false) => "not running".to_string(),
            Err(e) => format!("monitor failed: {e}"),
        };
        let n = {
            let mut f = self.failures_lock();
            let n = f.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        if n > restarts {
            report(
                &g.name,
                Some(&r.name),
                &format!("{why}; restarted {restarts} times: the group moves"),
            );
            return Verdict::GiveUp;
        }
        report(
            &g.name,
            Some(&r.name),
            &format!("{why}: restarting ({n} of {restarts})"),
        );
        *self
            .restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((g.name.clone(), r.name.clone()))
            .or_default() += 1;
        if let Err(e) = self.agent.stop(&ctx, r).await {
            report(&g.name, Some(&r.name), &format!("stop failed: {e}"));
        }
        match self.agent.start(&ctx, r).await {
            Ok(did) => report(&g.name, Some(&r.name), &did),
            Err(e) => report(&g.name, Some(&r.name), &format!("start failed: {e}")),
        }
        Verdict::Restarted(n)
    }

    /// Whether `group` is in maintenance, as of the last step.
    pub fn in_maintenance(&self, group: &str) -> bool {
        self.maintenance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(group)
    }

    /// Restarts in place by (group, resource), since the node started.
    pub fn restarts(&self) -> BTreeMap<(String, String), u64> {
        self.restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn failures_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), u32>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn agent(&self) -> &Arc<dyn Agent> {
        &self.agent
    }

    /// Groups not offline here.
    pub fn states(&self) -> BTreeMap<String, RgState> {
        self.lock()
            .iter()
            .filter(|(_, s)| **s != RgState::Offline)
            .map(|(g, s)| (g.clone(), *s))
            .collect()
    }

    pub fn state(&self, group: &str) -> RgState {
        self.lock().get(group).copied().unwrap_or(RgState::Offline)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RgState>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, group: &str, s: RgState, report: Report<'_>) {
        if s != RgState::Online {
            // A group brought up again starts with all its restarts.
            self.failures_lock().retain(|(g, _), _| g != group);
        }
        let old = self.lock().insert(group.to_string(), s);
        if old != Some(s) {
            report(group, None, s.as_str());
        }
    }

    /// One step towards `target`. `Err` names what failed.
    pub async fn step(
        &self,
        site: &Site,
        step: ScriptStep,
        target: &Placement,
        report: Report<'_>,
    ) -> Result<(), String> {
        let _busy = self.busy.lock().await;
        if self.is_dead() {
            return Err("this node crashed".into());
        }
        if step == ScriptStep::Acquire && self.fenced.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("this node is out of the group: it acquires nothing".into());
        }
        *self.maintenance.lock().unwrap_or_else(|p| p.into_inner()) = target.maintenance.clone();
        // Groups in maintenance are started and swapped by nothing; the
        // placement keeps them where they are, so they are released only
        // by a node that leaves the cluster.
        let order: Vec<_> = site
            .resources
            .start_order()
            .into_iter()
            .filter(|g| step == ScriptStep::Release || !target.maintenance.contains(&g.name))
            .collect();
        let mut failed = Vec::new();
        match step {
            ScriptStep::Release => {
                for g in order.into_iter().rev() {
                    if target.get(&g.name).holds(self.node)
                        || self.state(&g.name) == RgState::Offline
                    {
                        continue;
                    }
                    if let Err(e) = self.release(site, g, report).await {
                        failed.push(e);
                    }
                }
            }
            ScriptStep::Acquire => {
                for g in order {
                    if !target.get(&g.name).holds(self.node)
                        || self.state(&g.name) == RgState::Online
                    {
                        continue;
                    }
                    if let Err(e) = self.acquire(site, g, report).await {
                        failed.push(e);
                    }
                }
            }
            ScriptStep::Swap { network } => {
                let Some(net) = site.resources.network_numbered(network) else {
                    return Err(format!("the site has no network {network}"));
                };
                for g in order {
                    if self.state(&g.name) != RgState::Online {
                        continue;
                    }
                    if let Err(e) = self.swap(site, g, &net.name, report).await {
                        failed.push(e);
                    }
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Puts the group's service addresses of `network` on the adapter
    /// that carries them now: taken off every adapter, then put on that
    /// one (with a gratuitous ARP, so clients follow).
    async fn swap(
        &self,
        site: &Site,
        g: &ResourceGroup,
        network: &str,
        report: Report<'_>,
    ) -> Result<(), String> {
        let ctx = Ctx {
            node: self.node,
            site,
            group: g,
        };
        let mut failed = None;
        for r in &g.resources {
            if !matches!(&r.kind, ResourceKind::ServiceIp { network: n, .. } if n == network) {
                continue;
            }
            let moved = match self.agent.stop(&ctx, r).await {
                Ok(_) => self.agent.start(&ctx, r).await,
                Err(e) => Err(e),
            };
            match moved {
                Ok(did) => report(&g.name, Some(&r.name), &did),
                Err(e) => {
                    report(&g.name, Some(&r.name), &format!("swap failed: {e}"));
                    failed.get_or_insert(format!("group `{}`: {}: {e}", g.name, r.name));
                }
            }
        }
        match failed {
            None => Ok(()),
            Some(e) => {
                self.set(&g.name, RgState::Error, report);
                Err(e)
            }
        }
    }

    /// Takes down the groups held here that `new` drops, whose resources
    /// or policy it changes, or that it no longer lets this node hold,
    /// with their definitions in `old` (a deploy). A group whose node list
    /// is only reordered stays up: the new placement moves it if it must.
    pub async fn release_changed(
        &self,
        old: &Site,
        new: &Site,
        report: Report<'_>,
    ) -> Result<(), String> {
        let _busy = self.busy.lock().await;
        if self.is_dead() {
            return Err("this node crashed".into());
        }
        let mut failed = Vec::new();
        for g in old.resources.start_order().into_iter().rev() {
            let kept = new.resources.group(&g.name).is_some_and(|n| {
                n.resources == g.resources && n.policy == g.policy && n.nodes.contains(&self.node)
            });
            if self.state(&g.name) == RgState::Offline || kept {
                continue;
            }
            if let Err(e) = self.release(old, g, report).await {
                failed.push(e);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Takes down every group this node may hold, whatever it believes it
    /// holds: at start (what a crash left behind), and when it fences
    /// itself or stops at once (the others take over). Service addresses
    /// go first, before the applications' stop commands run: the others
    /// may already be taking them over, and clients must not reach two
    /// nodes. On a fenced node, the applications' servers are killed just
    /// before them (awaited at most 10 ms): their connections close while
    /// the addresses are there to send from, so their clients are told at
    /// once. Elsewhere (a forced stop) the stop commands stop them.
    pub async fn release_all(&self, site: &Site, report: Report<'_>) -> Result<(), String> {
        let _busy = self.busy.lock().await;
        if self.is_dead() {
            return Ok(());
        }
        if self.fenced.load(std::sync::atomic::Ordering::SeqCst) {
            self.agent.kill_servers().await;
        }
        let mine: Vec<&ResourceGroup> = site
            .resources
            .start_order()
            .into_iter()
            .rev()
            .filter(|g| g.nodes.contains(&self.node))
            .collect();
        let mut failed = Vec::new();
        for g in &mine {
            let ctx = Ctx {
                node: self.node,
                site,
                group: g,
            };
            for r in g
                .resources
                .iter()
                .filter(|r| matches!(r.kind, ResourceKind::ServiceIp { .. }))
            {
                if let Err(e) = self.stop_one(&ctx, r, report).await {
                    failed.push(e);
                }
            }
        }
        for g in mine {
            if let Err(e) = self.release(site, g, report).await {
                failed.push(e);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Stops one resource, reporting what happened.
    async fn stop_one(
        &self,
        ctx: &Ctx<'_>,
        r: &hacmp_compiler::resources::Resource,
        report: Report<'_>,
    ) -> Result<(), String> {
        let g = &ctx.group.name;
        match self.agent.stop(ctx, r).await {
            Ok(did) => {
                report(g, Some(&r.name), &did);
                Ok(())
            }
            Err(e) => {
                report(g, Some(&r.name), &format!("stop failed: {e}"));
                Err(format!("group `{g}`: {}: {e}", r.name))
            }
        }
    }

    async fn release(
        &self,
        site: &Site,
        g: &ResourceGroup,
        report: Report<'_>,
    ) -> Result<(), String> {
        self.set(&g.name, RgState::Releasing, report);
        let ctx = Ctx {
            node: self.node,
            site,
            group: g,
        };
        // Every resource is stopped even when one fails: as little as
        // possible stays up.
        let mut failed = None;
        for r in g.resources.iter().rev() {
            if let Err(e) = self.stop_one(&ctx, r, report).await {
                failed.get_or_insert(e);
            }
        }
        match failed {
            None => {
                self.set(&g.name, RgState::Offline, report);
                Ok(())
            }
            Some(e) => {
                self.set(&g.name, RgState::Error, report);
                Err(e)
            }
        }
    }

    async fn acquire(
        &self,
        site: &Site,
        g: &ResourceGroup,
        report: Report<'_>,
    ) -> Result<(), String> {
        self.set(&g.name, RgState::Acquiring, report);
        let ctx = Ctx {
            node: self.node,
            site,
            group: g,
        };
        for (i, r) in g.resources.iter().enumerate() {
            match self.agent.start(&ctx, r).await {
                Ok(did) => report(&g.name, Some(&r.name), &did),
                Err(e) => {
                    report(&g.name, Some(&r.name), &format!("start failed: {e}"));
                    // What started is taken down again: a group is whole
                    // or not at all.
                    for r in g.resources[..i].iter().rev() {
                        match self.agent.stop(&ctx, r).await {
                            Ok(did) => report(&g.name, Some(&r.name), &did),
                            Err(e) => report(&g.name, Some(&r.name), &format!("stop failed: {e}")),
                        }
                    }
                    self.set(&g.name, RgState::Error, report);
                    return Err(format!("group `{}`: {}: {e}", g.name, r.name));
                }
            }
        }
        self.set(&g.name, RgState::Online, report);
        Ok(())
    }
}
