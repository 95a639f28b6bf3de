//! Operators' stop and start of a node from any node (`hacmp stop NODE
//! --mode ...`, `hacmp start NODE`; the original's C-SPOC, redbook 2.3).
//!
//! An operator's stop is a word in the store, `s/control/<n>`, that holds
//! until `hacmp start` takes it back: the node's own daemon acts on it
//! (the same departure as its `SIGTERM`, in the mode chosen now), then stays
//! up out of the group, shown as `stopped`, and joins again (a node-up)
//! when the word is taken back. A daemon that starts while its node is
//! stopped stays out too: a machine rebooted during maintenance does not
//! come back into the cluster by itself.

use super::actions::node_named;
use super::operator::Operator;
use super::protocol::keys::control as key;
use super::state::GroupState;
use super::store::{Compare, Op, Store, Txn};
use super::{GsError, NodeStatus};
use hacmp_model::event::NodeId;
use hacmp_model::manager_state::ManagerState;

pub use super::stop_word::{NodeControl, StopMode};

/// Where an operator's stop or start of a node is, as the group and the
/// node's status show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeProgress {
    /// Its daemon is out of the group, waiting for `hacmp start`.
    Stopped,
    /// A member of the group, its join done.
    Member,
    /// On its way out or in.
    Moving,
    /// No daemon of the node is running.
    Down,
}

/// Where node `n` is now.
pub fn node_progress(s: &GroupState, statuses: &[NodeStatus], n: NodeId) -> NodeProgress {
    let status = statuses.iter().find(|st| st.node == n);
    if s.members().contains(&n) {
        return NodeProgress::Member;
    }
    match status.map(|st| st.state) {
        Some(ManagerState::Stopped) if !s.alive.contains_key(&n) => NodeProgress::Stopped,
        None if !s.alive.contains_key(&n) => NodeProgress::Down,
        _ => NodeProgress::Moving,
    }
}

/// Why node `n` cannot be stopped now.
pub fn check_stop(s: &GroupState, statuses: &[NodeStatus], n: NodeId) -> Result<(), GsError> {
    if let Some(c) = s.control.get(&n) {
        return Err(GsError::Refused(format!(
            "node {n} is already stopped by an operator ({}): `hacmp start {n}` brings it back",
            c.mode.as_str()
        )));
    }
    if node_progress(s, statuses, n) == NodeProgress::Down {
        return Err(GsError::Refused(format!(
            "node {n} is not up: no hacmpd runs it (start its daemon, or `hacmp status` for the nodes that are up)"
        )));
    }
    Ok(())
}

/// Why node `n` cannot be started now.
pub fn check_start(s: &GroupState, n: NodeId) -> Result<(), GsError> {
    if s.control.contains_key(&n) {
        Ok(())
    } else {
        Err(GsError::Refused(format!(
            "node {n} was not stopped by an operator: nothing to start (a node whose daemon is down joins when its hacmpd starts)"
        )))
    }
}

impl<S: Store + ?Sized> Operator<S> {
    /// Stops `node` (by number or name) in `mode`: checked, then the word
    /// is put for its daemon. The node's number.
    pub async fn stop_node(&self, node: &str, mode: StopMode) -> Result<NodeId, GsError> {
        let s = self.state().await?;
        let site = self.running_site(&s).await?;
        let n = node_named(site.as_ref(), node)?;
        known_node(site.as_ref(), n)?;
        check_stop(&s, &self.statuses().await?, n)?;
        let c = NodeControl {
            mode,
            at_ms: hacmp_model::clock::unix_ms(),
        };
        let t = Txn::new()
            .when(Compare::Missing(key(n)))
            .then(Op::put(key(n), super::protocol::json(&c)));
        if !self.txn(t).await?.succeeded {
            return Err(GsError::Refused(format!(
                "node {n} was stopped by another operator meanwhile"
            )));
        }
        Ok(n)
    }

    /// Takes an operator's stop of `node` back: its daemon joins again.
    pub async fn start_node(&self, node: &str) -> Result<NodeId, GsError> {
        let s = self.state().await?;
        let site = self.running_site(&s).await?;
        let n = node_named(site.as_ref(), node)?;
        check_start(&s, n)?;
        self.txn(Txn::new().then(Op::delete(key(n)))).await?;
        Ok(n)
    }
}

/// A node number the site names (when the group keeps its site).
fn known_node(site: Option<&hacmp_compiler::Site>, n: NodeId) -> Result<(), GsError> {
    match site {
        Some(site) if !site.nodes.iter().any(|x| x.number == n) => Err(GsError::Refused(format!(
            "the site has no node {n} (its nodes: {})",
            hacmp_model::event::node_list(site.nodes.iter().map(|x| x.number))
        ))),
        _ => Ok(()),
    }
}
