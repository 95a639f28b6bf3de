//! What operators see of resource groups: the placement the cluster agreed
//! on, joined with each node's own state of its groups (`hacmp status`,
//! `hacmp sim`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::journal::EventEntry;
use hacmp_model::event::NodeId;
use hacmp_model::placement::RgState;
use hacmp_model::placement::{Place, Placement};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupView {
    pub name: String,
    /// online, offline, stopped, acquiring, releasing or error.
    pub state: &'static str,
    /// Where the placement puts it.
    pub nodes: Vec<NodeId>,
    /// The nodes where it is not offline, and how it is there.
    pub on: BTreeMap<NodeId, RgState>,
    /// The node whose graceful stop without takeover left it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<NodeId>,
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
                    // Online only where every node it is placed on holds
                    // it: a placement is an intent, not a fact.
                    Place::Online { nodes } => {
                        if nodes.iter().all(|n| on.get(n) == Some(&RgState::Online)) {
                            "online"
                        } else {
                            "offline"
                        }
                    }
                    Place::Offline => "offline",
                    Place::Stopped { .. } => "stopped",
                }
            };
            GroupView {
                name: g.clone(),
                state,
                nodes,
                on,
                stopped_by: match p {
                    Place::Stopped { by } => Some(*by),
                    _ => None,
                },
            }
        })
        .collect()
}

/// Each event's groups as it left them (by sequence number): its
/// placement joined with what the nodes' journal records say they reached,
/// so a group whose acquire failed is `error`, never `online`. A node
/// left out of an event holds nothing any more; a node with no record in
/// these events at all (another daemon's journal) is taken at the
/// placement's word.
pub fn after_events(events: &[EventEntry]) -> BTreeMap<u64, Vec<GroupView>> {
    let seen: BTreeSet<NodeId> = events
        .iter()
        .flat_map(|e| e.records.iter().map(|r| r.node))
        .collect();
    after_events_seen(events, &seen)
}

/// As [`after_events`], for events that keep only their resource records:
/// `seen` is every node with a record in any of them.
pub fn after_events_seen(
    events: &[EventEntry],
    seen: &BTreeSet<NodeId>,
) -> BTreeMap<u64, Vec<GroupView>> {
    let mut states: BTreeMap<NodeId, BTreeMap<String, RgState>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for e in events {
        states.retain(|n, _| e.membership.contains(n));
        for r in e.records.iter().filter(|r| r.is_group_change()) {
            let (Some(g), Some(d)) = (r.command.as_deref(), r.detail.as_deref()) else {
                continue;
            };
            let Some(st) = RgState::parse(d) else {
                continue;
            };
            let mine = states.entry(r.node).or_default();
            if st == RgState::Offline {
                mine.remove(g);
            } else {
                mine.insert(g.to_string(), st);
            }
        }
        let Some(p) = e.placement.as_ref() else {
            continue;
        };
        let mut known = states.clone();
        for (g, place) in &p.groups {
            if let Place::Online { nodes } = place {
                for n in nodes.iter().filter(|n| !seen.contains(n)) {
                    known
                        .entry(*n)
                        .or_default()
                        .insert(g.clone(), RgState::Online);
                }
            }
        }
        out.insert(e.seq, views(p, &known));
    }
    out
}

/// One line for groups as they are: `web on node 2 · db error on node 1 ·
/// app offline`.
pub fn line(groups: &[GroupView]) -> String {
    groups
        .iter()
        .map(|g| {
            let at = match g.nodes.as_slice() {
                [] => String::new(),
                [n] => format!(" on node {n}"),
                ns => format!(
                    " on nodes {}",
                    hacmp_model::event::node_list(ns.iter().copied())
                ),
            };
            match (g.state, g.stopped_by) {
                ("online", _) => format!("{}{at}", g.name),
                ("offline", _) if !at.is_empty() => format!("{} offline (placed{at})", g.name),
                ("stopped", Some(by)) => {
                    format!("{} stopped (node {by} left without takeover)", g.name)
                }
                (state, _) => format!("{} {state}{at}", g.name),
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Record, RecordKind};

    fn event(seq: u64, membership: &[NodeId], place: Place, said: &[(NodeId, &str)]) -> EventEntry {
        let mut p = Placement::default();
        p.groups.insert("web".into(), place);
        EventEntry {
            seq,
            name: "TE_FAIL_NODE".into(),
            state: 0,
            location: 1,
            why: String::new(),
            queued_at: String::new(),
            membership: membership.to_vec(),
            placement: Some(p),
            outcome: None,
            records: said
                .iter()
                .map(|(n, what)| {
                    let mut r = Record::new(*n, RecordKind::Resource, 0);
                    r.command = Some("web".into());
                    r.detail = Some(what.to_string());
                    r
                })
                .collect(),
        }
    }

    /// The line says what the nodes reached, not what was placed: a failed
    /// acquire is `error`, an acquire that never ran is `offline (placed
    /// …)`, a crashed holder holds nothing, a stop says who stopped it.
    #[test]
    fn groups_are_shown_as_the_nodes_left_them() {
        let on = |n| Place::Online { nodes: vec![n] };
        let events = vec![
            event(1, &[1, 2], on(1), &[(1, "acquiring"), (1, "online")]),
            event(2, &[2], on(2), &[(2, "acquiring"), (2, "error")]),
            event(3, &[2, 3], on(3), &[(2, "releasing"), (2, "offline")]),
            event(4, &[3], Place::Stopped { by: 3 }, &[(3, "offline")]),
            event(5, &[1, 2], on(1), &[]),
        ];
        let after = after_events(&events);
        let lines: Vec<String> = (1..=5).map(|s| line(&after[&s])).collect();
        assert_eq!(
            lines,
            [
                "web on node 1",
                "web error on node 2",
                "web offline (placed on node 3)",
                "web stopped (node 3 left without takeover)",
                // Node 1 left after event 1: what it held then is gone.
                "web offline (placed on node 1)",
            ]
        );
        assert_eq!(after[&2][0].state, "error");
    }
}
