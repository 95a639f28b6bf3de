//! Where each resource group runs: one pure, deterministic function of
//! the site's groups, the live nodes, the previous placement and the
//! event. The coordinator computes it once when it claims an event and the
//! claim carries it, so every node acts on the same answer; being pure, any
//! node (or a test) can compute it again and get the same.
//!
//! Decisions (docs/resources.md): a cascading group goes back only to its
//! first node when that node rejoins (redbook 8.2.1: a lower-priority node
//! rejoining moves nothing); a rotating group never moves because a node
//! joins, and a node holds at most one rotating group per network (a
//! second one waits offline for a free node); a graceful stop without
//! takeover leaves the node's groups stopped until a node of their list
//! joins; a group waits for the groups it comes `after` to be online.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hacmp_compiler::resources::{Fallback, Policy, ResourceGroup, Resources, Startup};

use crate::claimed::ClaimedEvent;
use crate::event::{EventKind, NodeId};
pub use crate::groups::{Place, Placement, PlacementChange, RgState};

/// What the event does to membership, as placement sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    Join(NodeId),
    /// A failure (`takeover`) or a graceful stop.
    Leave {
        node: NodeId,
        takeover: bool,
    },
    /// A group's application failed on a node beyond its restarts: move
    /// it elsewhere.
    GroupFailed {
        node: NodeId,
    },
    /// An operator moves a group (`hacmp move`) off the node holding it:
    /// to `to` when that node may hold it, else (no `to`) to the node the
    /// group's policy picks among the others.
    Moved {
        from: NodeId,
        to: Option<NodeId>,
    },
    /// An operator takes a group offline (`true`, `hacmp offline`) or
    /// brings it back (`hacmp online`): it stays offline until then.
    Intent {
        offline: bool,
    },
    /// A node lost a network (every adapter of it there is down): its
    /// groups that need the network move.
    NetworkDown {
        node: NodeId,
    },
    /// A deploy's new site (TE_DARE_RESOURCE): each group goes where the
    /// new site would put it, as at a start, except a rotating group or one
    /// that never falls back, which stays where it still may be.
    Reconfigure,
    /// Anything else: nothing moves; offline groups may come online.
    Other,
}

/// The live nodes after the event and its change.
pub fn change_of(ev: &ClaimedEvent) -> (BTreeSet<NodeId>, MembershipChange) {
    let r = &ev.event.request;
    let mut live: BTreeSet<NodeId> = ev.membership.iter().copied().collect();
    let change = match r.kind {
        EventKind::NodeJoin => MembershipChange::Join(r.location),
        EventKind::NodeFailure => {
            live.remove(&r.location);
            MembershipChange::Leave {
                node: r.location,
                takeover: true,
            }
        }
        EventKind::NodeStop { takeover } => {
            live.remove(&r.location);
            MembershipChange::Leave {
                node: r.location,
                takeover,
            }
        }
        EventKind::GroupFailure { .. } => MembershipChange::GroupFailed { node: r.location },
        EventKind::GroupMove { to, .. } => MembershipChange::Moved {
            from: r.location,
            to,
        },
        EventKind::GroupIntent { offline, .. } => MembershipChange::Intent { offline },
        EventKind::NetworkDown { .. } => MembershipChange::NetworkDown { node: r.location },
        EventKind::Dare {
            resources: true, ..
        } => MembershipChange::Reconfigure,
        _ => MembershipChange::Other,
    };
    (live, change)
}

/// The placement after an event. `before` carries the networks down as
/// the event leaves them.
pub fn place(
    res: &Resources,
    before: &Placement,
    live: &BTreeSet<NodeId>,
    change: MembershipChange,
    failed_group: Option<&str>,
) -> Placement {
    let mut offline = before.offline.clone();
    if let (MembershipChange::Intent { offline: off }, Some(g)) = (change, failed_group) {
        if off {
            offline.insert(g.to_string());
        } else {
            offline.remove(g);
        }
    }
    let mut after = Placement {
        groups: BTreeMap::new(),
        networks_down: before.networks_down.clone(),
        offline,
        maintenance: before.maintenance.clone(),
    };
    for g in res.start_order() {
        let p = place_group(res, g, before, live, change, failed_group, &after);
        after.groups.insert(g.name.clone(), p);
    }
    after
}

/// The placement for a claimed event.
pub fn place_event(res: &Resources, before: &Placement, ev: &ClaimedEvent) -> Placement {
    let (live, change) = change_of(ev);
    let r = &ev.event.request;
    let failed = match &r.kind {
        EventKind::GroupFailure { group }
        | EventKind::GroupMove { group, .. }
        | EventKind::GroupIntent { group, .. } => Some(group.as_str()),
        _ => None,
    };
    let mut before = networks_after(res, before, r, change);
    if let EventKind::GroupMaintenance { groups, on } = &r.kind {
        for g in groups {
            if *on {
                before.maintenance.insert(g.clone());
            } else {
                before.maintenance.remove(g);
            }
        }
    }
    place(res, &before, &live, change, failed)
}

/// `before` with its networks down as the event leaves them: a node's
/// network goes down or up with its events, and a node that joins or
/// leaves starts again with all up (its adapters report anew).
pub fn networks_after(
    res: &Resources,
    before: &Placement,
    r: &crate::event::EventRequest,
    change: MembershipChange,
) -> Placement {
    let mut before = before.clone();
    match (&r.kind, change) {
        (_, MembershipChange::Join(n)) | (_, MembershipChange::Leave { node: n, .. }) => {
            before.networks_down.remove(&n);
        }
        (EventKind::NetworkDown { network }, _) => {
            if let Some(net) = res.network_numbered(*network) {
                before
                    .networks_down
                    .entry(r.location)
                    .or_default()
                    .insert(net.name.clone());
            }
        }
        (EventKind::NetworkUp { network }, _) => {
            if let Some(net) = res.network_numbered(*network) {
                let down = before.networks_down.entry(r.location).or_default();
                down.remove(&net.name);
                if down.is_empty() {
                    before.networks_down.remove(&r.location);
                }
            }
        }
        _ => {}
    }
    before
}

fn place_group(
    res: &Resources,
    g: &ResourceGroup,
    before: &Placement,
    live: &BTreeSet<NodeId>,
    change: MembershipChange,
    failed_group: Option<&str>,
    after: &Placement,
) -> Place {
    let prev = before.get(&g.name);
    if after.maintenance.contains(&g.name) {
        // Left where it is; but a node that leaves takes it down with it
        // (nobody else starts it while maintenance is on).
        return match prev {
            Place::Online { nodes } if nodes.iter().any(|n| !live.contains(n)) => {
                let kept: Vec<NodeId> =
                    nodes.iter().copied().filter(|n| live.contains(n)).collect();
                if kept.is_empty() {
                    Place::Offline
                } else {
                    Place::Online { nodes: kept }
                }
            }
            other => other.clone(),
        };
    }
    if after.offline.contains(&g.name) {
        return Place::Offline;
    }
    // A node where this group just failed, or that an operator moves it
    // off, may not hold it.
    let named = failed_group == Some(g.name.as_str());
    let barred = match change {
        MembershipChange::GroupFailed { node } | MembershipChange::Moved { from: node, .. }
            if named =>
        {
            Some(node)
        }
        _ => None,
    };
    let net = g.network();
    let eligible: Vec<NodeId> = g
        .nodes
        .iter()
        .copied()
        .filter(|n| live.contains(n) && Some(*n) != barred && before.reaches(*n, net))
        .collect();
    if let Place::Stopped { by } = prev {
        // Only the survivors of the stop leave it alone: any node of its
        // list that joins later claims it by the normal priorities
        // (redbook 5.2.2 step 5), the stopped node or another.
        let lifted = matches!(change, MembershipChange::Join(x) if g.nodes.contains(&x))
            || !g.nodes.contains(by);
        if !lifted {
            return prev.clone();
        }
    }
    let deps_online = g
        .after
        .iter()
        .all(|d| res.group(d).is_none() || matches!(after.get(d), Place::Online { .. }));
    if !deps_online {
        return Place::Offline;
    }
    if let MembershipChange::Moved { to: Some(t), .. } = change {
        if named && g.policy != Policy::Concurrent {
            // The node named, if it may hold the group; else it stays.
            let free =
                g.policy != Policy::Rotating || !busy(res, before, after, t, net) || prev.holds(t);
            return if eligible.contains(&t) && free {
                Place::one(t)
            } else {
                prev.clone()
            };
        }
    }
    if g.policy == Policy::Concurrent {
        return if eligible.is_empty() {
            Place::Offline
        } else {
            Place::Online { nodes: eligible }
        };
    }
    let held = match prev {
        Place::Online { nodes } => nodes.first().copied(),
        _ => None,
    };
    match held {
        // A running rotating group never moves because a node joins
        // (8.1.1: "nothing happens" when a node rejoins).
        Some(n) if eligible.contains(&n) && g.policy == Policy::Rotating => Place::one(n),
        Some(n) if eligible.contains(&n) => {
            let primary = g.nodes.first().copied();
            let back_home = g.policy == Policy::Cascading
                && g.fallback == Fallback::OnRejoin
                && matches!(change, MembershipChange::Join(x) if Some(x) == primary && x != n);
            let first = eligible.first().copied();
            let reordered = g.policy == Policy::Cascading
                && g.fallback == Fallback::OnRejoin
                && change == MembershipChange::Reconfigure
                && first != Some(n);
            if back_home {
                Place::one(primary.expect("checked"))
            } else if reordered {
                Place::one(first.expect("n is eligible"))
            } else {
                Place::one(n)
            }
        }
        Some(n) => {
            if change
                == (MembershipChange::Leave {
                    node: n,
                    takeover: false,
                })
            {
                return Place::Stopped { by: n };
            }
            choose(res, g, &eligible, change, before, after, false)
        }
        None => choose(res, g, &eligible, change, before, after, true),
    }
}

/// Whether `n` holds a rotating group of network `net` in `p`.
fn rotating_on(res: &Resources, p: &Placement, n: NodeId, net: Option<&str>) -> bool {
    p.groups.iter().any(|(name, place)| {
        place.holds(n)
            && res
                .group(name)
                .is_some_and(|o| o.policy == Policy::Rotating && o.network() == net)
    })
}

/// Whether `n` holds a rotating group of `net` after this event as far as
/// it is known: the groups placed so far, and those still to place that
/// stay where they were.
fn busy(
    res: &Resources,
    before: &Placement,
    after: &Placement,
    n: NodeId,
    net: Option<&str>,
) -> bool {
    rotating_on(res, after, n, net)
        || before.groups.iter().any(|(name, place)| {
            !after.groups.contains_key(name)
                && place.holds(n)
                && res
                    .group(name)
                    .is_some_and(|o| o.policy == Policy::Rotating && o.network() == net)
        })
}

/// A node for a group that has none.
fn choose(
    res: &Resources,
    g: &ResourceGroup,
    eligible: &[NodeId],
    change: MembershipChange,
    before: &Placement,
    after: &Placement,
    from_offline: bool,
) -> Place {
    let Some(&first) = eligible.first() else {
        return Place::Offline;
    };
    match g.policy {
        Policy::Cascading => {
            let home = g.nodes.first().copied();
            if from_offline && g.startup == Startup::Home && home != Some(first) {
                return Place::Offline;
            }
            Place::one(first)
        }
        Policy::Rotating => {
            // One rotating group per network on a node (5.2 step 3: a
            // joining node takes "the first resource group per network"):
            // a group finds a node without one, the joining node first,
            // or waits offline until such a node joins. On a swap network
            // a standby adapter holds one service address; on an alias
            // network the same rule keeps groups spread.
            let net = g.network();
            let free = |n: &NodeId| !busy(res, before, after, *n, net);
            if from_offline && g.startup == Startup::Home {
                return match g.nodes.first() {
                    Some(h) if eligible.contains(h) && free(h) => Place::one(*h),
                    _ => Place::Offline,
                };
            }
            let joining = match change {
                MembershipChange::Join(x) if eligible.contains(&x) => Some(x),
                _ => None,
            };
            joining
                .filter(free)
                .or_else(|| eligible.iter().copied().find(free))
                .map_or(Place::Offline, Place::one)
        }
        Policy::Concurrent => Place::Online {
            nodes: eligible.to_vec(),
        },
    }
}

/// Where resource groups go for an event, from where they were: given by
/// the site (`placer`), pure, so the claim fixes one answer.
pub type Placer = dyn Fn(&Placement, &ClaimedEvent) -> Placement + Send + Sync;

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

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
