//! Highly available resources at run time: where groups go
//! (`hacmp_model::placement`, pure), what a node does in the standard event
//! scripts (`step`), a node's groups and their states (`node`), and the
//! agents that bring resources up and down: in memory for the simulator
//! (`sim`), on Linux for `hacmpd` (`hacmp_linux::resources`).
//!
//! ```text
//!  claim ── placer(site) ──▶ PlacementChange { before, after } in the event
//!  node_up / node_down / … script ── step ──▶ NodeResources::{release, acquire} ── Agent
//! ```

pub mod agent;
pub mod node;
pub mod sim;
pub mod view;

pub use agent::{Agent, Ctx};
pub use hacmp_model::placement::{
    change_of, place, place_event, placer, MembershipChange, Place, Placement, PlacementChange,
    RgState,
};
pub use node::{NodeResources, Verdict};

use hacmp_model::event::NodeId;
use hacmp_model::ClaimedEvent;

/// What a standard event script does with resources on one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptStep {
    /// Take down what this node must no longer hold.
    Release,
    /// Bring up what the placement gives this node.
    Acquire,
    /// Put this node's service addresses of a network on the adapter that
    /// now carries them (an adapter failed; redbook A.1).
    Swap { network: u32 },
}

impl ScriptStep {
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptStep::Release => "release",
            ScriptStep::Acquire => "acquire",
            ScriptStep::Swap { .. } => "swap",
        }
    }
}

/// The step of a standard script on `node` in an event. The programs
/// separate the steps by barriers, so every release of an event is done on
/// every node before any acquire that follows it: in node_up the members
/// release what the joining node takes back, then it acquires; in node_down
/// the leaving node releases, then the survivors acquire; in network_down
/// the node that lost the network releases what needs it, then the others
/// acquire; swap_adapter moves the event node's service addresses.
pub fn step(script: &str, ev: &ClaimedEvent, node: NodeId) -> Option<ScriptStep> {
    let at_event_node = ev.event.request.location == node;
    Some(match script {
        "swap_adapter" if at_event_node => match ev.event.request.kind {
            hacmp_model::event::EventKind::AdapterSwap { network } => ScriptStep::Swap { network },
            _ => return None,
        },
        "network_down" if at_event_node => ScriptStep::Release,
        "network_down_complete" | "network_up_complete" => ScriptStep::Acquire,
        "node_up" if at_event_node => ScriptStep::Acquire,
        "node_up" => ScriptStep::Release,
        "node_down" => ScriptStep::Release,
        "node_up_complete" | "node_down_complete" => ScriptStep::Acquire,
        "reconfig_resource_release" => ScriptStep::Release,
        "reconfig_resource_acquire" | "reconfig_resource_complete" => ScriptStep::Acquire,
        "rg_move_release" => ScriptStep::Release,
        "rg_move_acquire" | "rg_move_complete" => ScriptStep::Acquire,
        _ => return None,
    })
}
