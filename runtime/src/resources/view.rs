//! What operators see of resource groups: the placement the cluster agreed
//! on, joined with each node's own state of its groups (`hacmp status`,
//! `hacmp sim`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::node::RgState;
use super::placement::{Place, Placement};
use crate::event::NodeId;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupView {
    pub name: String,
    /// online, offline, stopped, acquiring, releasing or error.
    pub state: &'static str,
    /// Where the placement puts it.
    pub nodes: Vec<NodeId>,
    /// The nodes where it is not offline, and how it is there.
    pub on: BTreeMap<NodeId, RgState>,
}

/// Each placed group, with its nodes' states.
pub fn views(
    placement: &Placement,
    states: &BTreeMap<NodeId, BTreeMap<String, RgState>>,
) -> Vec<GroupView> {
    placement
        .groups
        .iter()
        .map(|(g, p)| {
            let on: BTreeMap<NodeId, RgState> = states
                .iter()
                .filter_map(|(n, s)| s.get(g).map(|st| (*n, *st)))
                .collect();
            let any = |s: RgState| on.values().any(|x| *x == s);
            let nodes = match p {
                Place::Online { nodes } => nodes.clone(),
                _ => Vec::new(),
            };
            let state = if any(RgState::Error) {
                "error"
            } else if any(RgState::Releasing) {
                "releasing"
            } else if any(RgState::Acquiring) {
                "acquiring"
            } else {
                match p {
                    Place::Online { .. } => "online",
                    Place::Offline => "offline",
                    Place::Stopped { .. } => "stopped",
                }
            };
            GroupView {
                name: g.clone(),
                state,
                nodes,
                on,
            }
        })
        .collect()
}

/// One line for a placement: `web on node 2 · db offline`.
pub fn placement_line(p: &Placement) -> String {
    p.groups
        .iter()
        .map(|(g, place)| match place {
            Place::Online { nodes } if nodes.len() == 1 => format!("{g} on node {}", nodes[0]),
            Place::Online { nodes } => format!(
                "{g} on nodes {}",
                crate::event::node_list(nodes.iter().copied())
            ),
            Place::Offline => format!("{g} offline"),
            Place::Stopped { by } => format!("{g} stopped (node {by} left without takeover)"),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}
