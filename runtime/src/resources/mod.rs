//! Highly available resources at run time: where groups go (`placement`,
//! pure), what a node does in the standard event scripts (`step`), a node's
//! groups and their states (`node`), and the agents that bring resources
//! up and down: in memory for the simulator (`sim`), on Linux for
//! `hacmpd` (`linux`).
//!
//! ```text
//!  claim ── placer(site) ──▶ PlacementChange { before, after } in the event
//!  node_up / node_down / … script ── step ──▶ NodeResources::{release, acquire} ── Agent
//! ```

pub mod agent;
pub mod linux;
pub mod node;
pub mod placement;
pub mod sim;
pub mod view;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use agent::{Agent, Ctx};
pub use node::{NodeResources, RgState, Verdict};
pub use placement::{change_of, place, place_event, Change, Place, Placement};

use crate::event::NodeId;
use crate::gs::protocol::Placer;
use crate::gs::ClaimedEvent;

/// Where groups were before an event and where it puts them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementChange {
    pub before: Placement,
    pub after: Placement,
}

/// The placement function of a bundle's site, or none when it has no
/// groups. A TE_DARE_RESOURCE for another bundle (its switch did not
/// happen) moves nothing.
pub fn placer(bundle: &hacmp_compiler::Bundle) -> Option<Arc<Placer>> {
    if bundle.site.resources.is_empty() {
        return None;
    }
    let res = bundle.site.resources.clone();
    let hash = bundle.hash.clone();
    Some(Arc::new(
        move |before: &Placement, ev: &ClaimedEvent| match &ev.event.request.kind {
            crate::event::EventKind::Dare { bundle, .. } if *bundle != hash => before.clone(),
            _ => place_event(&res, before, ev),
        },
    ))
}

/// What a standard event script does with resources on one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Take down what this node must no longer hold.
    Release,
    /// Bring up what the placement gives this node.
    Acquire,
    /// Put this node's service addresses of a network on the adapter that
    /// now carries them (an adapter failed; redbook A.1).
    Swap { network: u32 },
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Release => "release",
            Step::Acquire => "acquire",
            Step::Swap { .. } => "swap",
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
pub fn step(script: &str, ev: &ClaimedEvent, node: NodeId) -> Option<Step> {
    let at_event_node = ev.event.request.location == node;
    Some(match script {
        "swap_adapter" if at_event_node => match ev.event.request.kind {
            crate::event::EventKind::AdapterSwap { network } => Step::Swap { network },
            _ => return None,
        },
        "network_down" if at_event_node => Step::Release,
        "network_down_complete" | "network_up_complete" => Step::Acquire,
        "node_up" if at_event_node => Step::Acquire,
        "node_up" => Step::Release,
        "node_down" => Step::Release,
        "node_up_complete" | "node_down_complete" => Step::Acquire,
        "reconfig_resource_release" => Step::Release,
        "reconfig_resource_acquire" | "reconfig_resource_complete" => Step::Acquire,
        "rg_move_release" => Step::Release,
        "rg_move_acquire" | "rg_move_complete" => Step::Acquire,
        _ => return None,
    })
}
