//! A node's part in a deploy (DARE): in reconfig_topology_start it prepares
//! (reads the staged bundle and checks it can run it), in
//! reconfig_topology_complete it switches. See `gs::dare` for the protocol.

use std::sync::Arc;

use hacmp_compiler::Bundle;

use super::Manager;
use crate::journal::RecordKind;
use crate::resources::node::Report;
use hacmp_gs::{GroupServices, GsError};
use hacmp_model::event::{EventKind, Outcome};
use hacmp_model::{ClaimedEvent, Identity};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DareStep {
    Prepare,
    Switch,
}

impl DareStep {
    pub fn as_str(self) -> &'static str {
        match self {
            DareStep::Prepare => "prepare",
            DareStep::Switch => "switch",
        }
    }
}

/// The DARE step of a standard script in a deploy's event.
pub fn step(script: &str, ev: &ClaimedEvent) -> Option<DareStep> {
    if !matches!(
        ev.event.request.kind,
        EventKind::Dare {
            resources: false,
            ..
        }
    ) {
        return None;
    }
    match script {
        "reconfig_topology_start" => Some(DareStep::Prepare),
        "reconfig_topology_complete" => Some(DareStep::Switch),
        _ => None,
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

impl<G: GroupServices> Manager<G> {
    /// One DARE step; what it did, or why it could not.
    pub(super) async fn dare_step(
        &self,
        ev: &ClaimedEvent,
        step: DareStep,
        report: Report<'_>,
    ) -> Result<Option<String>, String> {
        let EventKind::Dare { bundle: target, .. } = &ev.event.request.kind else {
            return Err("not a deploy".into());
        };
        let current = self.bundle();
        if current.hash == *target {
            return Ok(Some(format!("already on bundle {}", short(target))));
        }
        match step {
            DareStep::Prepare => self.prepare(target).await,
            DareStep::Switch => self.switch(target, &current, report).await,
        }
        .map(Some)
    }

    async fn prepare(&self, target: &str) -> Result<String, String> {
        let json = self
            .gs
            .staged_bundle(target)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "bundle {} is not staged (deployed over, or withdrawn)",
                    short(target)
                )
            })?;
        let new: Bundle = serde_json::from_slice(&json)
            .map_err(|e| format!("the staged bundle is not a bundle: {e}"))?;
        if !new.verify() || new.hash != target {
            return Err("the staged bundle does not match its hash".into());
        }
        self.runnable(&new)?;
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some((Arc::new(new), json));
        Ok(format!("bundle {} prepared", short(target)))
    }

    async fn switch(
        &self,
        target: &str,
        current: &Arc<Bundle>,
        report: Report<'_>,
    ) -> Result<String, String> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some((new, json)) = pending.filter(|(b, _)| b.hash == target) else {
            return Err(format!(
                "bundle {} was not prepared on this node",
                short(target)
            ));
        };
        self.install(current, new, json, report).await
    }

    /// Whether this node can run `new`: signed by a key it trusts (unless
    /// the site it runs is a lab's), the same cluster, a node of its site,
    /// and every command installed with the content it was built from
    /// (simulated nodes check no files).
    fn runnable(&self, new: &Bundle) -> Result<(), String> {
        let node = self.cfg.node;
        let current = self.bundle();
        let admitted = hacmp_compiler::signing::admit(new, &current.site, &self.cfg.trusted)?;
        tracing::info!(node, bundle = short(&new.hash), "admitted: {admitted}");
        if new.site.cluster.id != current.site.cluster.id {
            return Err(format!(
                "the new site is cluster {}, this node runs cluster {}",
                new.site.cluster.id, current.site.cluster.id
            ));
        }
        if !new.site.nodes.is_empty() && !new.site.nodes.iter().any(|n| n.number == node) {
            return Err(format!(
                "node {node} is not a node of the new site: stop it before the deploy"
            ));
        }
        let differing = if self.exec.simulated() {
            Vec::new()
        } else {
            differing_commands(new, self.cfg.root.as_deref())
        };
        if !differing.is_empty() {
            return Err(format!(
                "this node's files differ from the new bundle's: {} (install them on every node first)",
                differing.join(", ")
            ));
        }
        Ok(())
    }

    /// Runs `new` from now on: the groups the new site changes or drops
    /// are taken down with the definitions they were brought up with
    /// (TE_DARE_RESOURCE brings them up again where the new placement
    /// says), the group is told, then the agent and the manager follow.
    async fn install(
        &self,
        current: &Arc<Bundle>,
        new: Arc<Bundle>,
        json: Vec<u8>,
        report: Report<'_>,
    ) -> Result<String, String> {
        let released = self
            .resources
            .release_changed(&current.site, &new.site, report)
            .await;
        let identity = Identity::of(&new);
        self.gs
            .switch_bundle(&identity, json, hacmp_model::placement::placer(&new))
            .await
            .map_err(|e| format!("cannot switch in the group: {e}"))?;
        self.cfg.agent.switch(&new);
        let to = new.hash.clone();
        self.bundle.send_replace(new);
        let mut did = format!(
            "switched from bundle {} to {}",
            short(&current.hash),
            short(&to)
        );
        tracing::warn!(node = self.cfg.node, "{did}");
        if let Err(e) = released {
            did.push_str(&format!(" (releasing changed groups: {e})"));
        }
        Ok(did)
    }

    /// Out of the group when it was deployed a new site (cut off or fenced
    /// during the deploy), this node takes the bundle the group keeps when
    /// it can run it, instead of being refused: it was a member, and every
    /// member switches. A node started with another site is refused
    /// instead: its operator decides.
    pub(super) async fn catch_up(&self, group: &str) -> Result<String, String> {
        let current = self.bundle();
        if current.hash == group {
            return Err("the group runs this node's bundle".into());
        }
        let json = self
            .gs
            .running_bundle()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the group keeps no bundle")?;
        let new: Bundle = serde_json::from_slice(&json)
            .map_err(|e| format!("the group's bundle is not a bundle: {e}"))?;
        if !new.verify() {
            return Err("the group's bundle does not match its hash".into());
        }
        // What the group keeps must be what it runs (not a bundle left
        // from before, nor one replaced since it was read).
        if new.hash != group {
            return Err(format!(
                "the group keeps bundle {} but runs {}",
                short(&new.hash),
                short(group)
            ));
        }
        self.runnable(&new)?;
        let report = super::noting(self.cfg.node, "catching up with a deploy");
        self.install(&current, Arc::new(new), json, &report).await
    }
}

impl<G: GroupServices> Manager<G> {
    /// Before an event that is not a deploy's: a node that joined while a
    /// deploy switched the others takes the group's bundle (during the
    /// deploy's own event the members switch one by one); a node that
    /// cannot is refused, with the reason in the journal.
    pub(super) async fn follow_group(&self, ev: &ClaimedEvent) -> Result<(), GsError> {
        if matches!(ev.event.request.kind, EventKind::Dare { .. }) {
            return Ok(());
        }
        let node = self.cfg.node;
        let group = match self.gs.group_bundle_hash().await {
            Ok(g) => g,
            Err(e) => {
                self.close_own(ev, Outcome::Interrupted);
                return Err(e);
            }
        };
        let Some(group) = group.filter(|g| *g != self.bundle().hash) else {
            return Ok(());
        };
        match self.catch_up(&group).await {
            Ok(did) => {
                tracing::warn!(node, seq = ev.seq, "the group runs another bundle: {did}");
                Ok(())
            }
            Err(e) => {
                let why = format!("the group runs another bundle, which this node cannot run: {e}");
                self.record(ev, RecordKind::Stopped, |r| r.detail = Some(why.clone()));
                self.close_own(ev, Outcome::Interrupted);
                Err(GsError::Refused(format!("node {node}: {why}")))
            }
        }
    }
}

/// The commands of `new` (absolute paths that are not programs) whose
/// content under `root` is not the content the bundle was built from.
fn differing_commands(new: &Bundle, root: Option<&std::path::Path>) -> Vec<String> {
    new.sources
        .iter()
        .filter(|(p, _)| p.starts_with('/') && !new.programs.contains_key(*p))
        .filter(|(p, h)| hacmp_compiler::rootfs::hash(root, p).ok().as_ref() != Some(*h))
        .map(|(p, _)| p.clone())
        .collect()
}
