//! Operators' actions on resource groups (`hacmp move`, `offline`,
//! `online`): checked against
//! the group's state and the site it runs, refused with the reason, then
//! queued as an event like any other (journaled, ordered, seen by every
//! node).

use hacmp_compiler::Site;

use super::operator::Operator;
use super::state::GroupState;
use super::store::Store;
use super::GsError;
use hacmp_model::event::{node_list, EventKind, EventRequest, NodeId};
use hacmp_model::placement::Place;

/// A move, as queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moving {
    pub group: String,
    pub from: NodeId,
    /// The node asked for (the group's policy picks when absent).
    pub to: Option<NodeId>,
}

/// A node named by number or by its name in the site.
pub fn node_named(site: Option<&Site>, name: &str) -> Result<NodeId, GsError> {
    if let Ok(n) = name.parse::<NodeId>() {
        return Ok(n);
    }
    let nodes = site.map(|s| s.nodes.as_slice()).unwrap_or_default();
    if let Some(n) = nodes.iter().find(|n| n.name == name) {
        return Ok(n.number);
    }
    let hint = hacmp_compiler::suggest(name, nodes.iter().map(|n| n.name.as_str()))
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    Err(GsError::Refused(if site.is_some() {
        format!("the site has no node `{name}`{hint}")
    } else {
        format!("`{name}` is not a node number (the group keeps no site to read names from)")
    }))
}

/// An operator's action runs as TE_RG_MOVE: a node must be up and the
/// site must handle it.
fn via_rg_move(s: &GroupState) -> Result<(), GsError> {
    let Some(id) = &s.identity else {
        return Err(GsError::Refused(
            "no node of the cluster is up: start it first".into(),
        ));
    };
    if !id.value.events.iter().any(|(n, _)| n == "TE_RG_MOVE") {
        return Err(GsError::Refused(
            "the site's rules have no TE_RG_MOVE rule: operators' actions on groups run through it (keep the standard rules)"
                .into(),
        ));
    }
    Ok(())
}

/// `group` is a group of the cluster (placed, or in the site it runs);
/// else the closest name.
fn known_group(
    placement: &hacmp_model::placement::Placement,
    site: Option<&Site>,
    group: &str,
) -> Result<(), GsError> {
    let known: Vec<&str> = placement
        .groups
        .keys()
        .map(String::as_str)
        .chain(
            site.into_iter()
                .flat_map(|s| s.resources.groups.iter().map(|g| g.name.as_str())),
        )
        .collect();
    if known.contains(&group) {
        return Ok(());
    }
    let hint = hacmp_compiler::suggest(group, known.into_iter())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    Err(GsError::Refused(format!(
        "the cluster has no resource group `{group}`{hint}"
    )))
}

/// Why `group` cannot be moved (to `to`) now, or the move to queue.
/// `site` is the site the group runs, when it keeps its bundle.
pub fn check_move(
    s: &GroupState,
    site: Option<&Site>,
    group: &str,
    to: Option<NodeId>,
) -> Result<Moving, GsError> {
    let refuse = |why: String| Err(GsError::Refused(why));
    via_rg_move(s)?;
    let placement = s.placement.clone().unwrap_or_default();
    known_group(&placement, site, group)?;
    let place = placement.get(group);
    let def = site.and_then(|s| s.resources.group(group));
    let from = match place {
        Place::Online { nodes } if nodes.len() == 1 && def.is_none_or(|g| g.policy != hacmp_compiler::resources::Policy::Concurrent) => nodes[0],
        Place::Online { .. } => {
            return refuse(format!(
                "`{group}` is concurrent: it is online on every node of its list that is up; there is nothing to move"
            ))
        }
        Place::Offline => {
            return refuse(format!(
                "`{group}` is offline: no node of its list may hold it now (see `hacmp status`)"
            ))
        }
        Place::Stopped { by } => {
            return refuse(format!(
                "`{group}` is offline since node {by} stopped without takeover: it comes back when a node of its list joins"
            ))
        }
    };
    let members = s.members();
    let list: Option<&[NodeId]> = def.map(|g| g.nodes.as_slice());
    match to {
        Some(t) if t == from => refuse(format!("`{group}` is already on node {t}")),
        Some(t) if list.is_some_and(|l| !l.contains(&t)) => refuse(format!(
            "node {t} is not in the node list of `{group}` ({})",
            node_list(list.unwrap_or_default().iter().copied())
        )),
        Some(t) if !members.contains(&t) => refuse(format!(
            "node {t} is not up (members: {})",
            node_list(members.iter().copied())
        )),
        None if list.is_some_and(|l| !l.iter().any(|n| *n != from && members.contains(n))) => {
            refuse(format!(
                "no other node of the node list of `{group}` ({}) is up",
                node_list(list.unwrap_or_default().iter().copied())
            ))
        }
        _ => Ok(Moving {
            group: group.to_string(),
            from,
            to,
        }),
    }
}

/// Why `group` cannot be taken offline (or brought online) now, or the
/// node to queue the event at: the node holding it (it releases there),
/// else the lowest member.
pub fn check_intent(
    s: &GroupState,
    site: Option<&Site>,
    group: &str,
    offline: bool,
) -> Result<NodeId, GsError> {
    let refuse = |why: String| Err(GsError::Refused(why));
    via_rg_move(s)?;
    let placement = s.placement.clone().unwrap_or_default();
    known_group(&placement, site, group)?;
    match (offline, placement.offline.contains(group)) {
        (true, true) => return refuse(format!("`{group}` is already offline by an operator's word")),
        (false, false) => {
            return refuse(format!(
                "`{group}` was not taken offline by an operator (`hacmp status` says where it is and why)"
            ))
        }
        _ => {}
    }
    let holder = match placement.get(group) {
        Place::Online { nodes } => nodes.first().copied(),
        _ => None,
    };
    holder
        .or_else(|| s.members().iter().next().copied())
        .ok_or_else(|| GsError::Refused("no node of the cluster is a member yet".into()))
}

/// The node to clean `group` up on: `node` if the group is in error there,
/// else the one node where it is; why not otherwise.
pub fn check_cleanup(
    s: &GroupState,
    statuses: &[super::NodeStatus],
    group: &str,
    node: Option<NodeId>,
) -> Result<NodeId, GsError> {
    let refuse = |why: String| Err(GsError::Refused(why));
    via_rg_move(s)?;
    known_group(&s.placement.clone().unwrap_or_default(), None, group)?;
    let members = s.members();
    let in_error: Vec<NodeId> = statuses
        .iter()
        .filter(|st| members.contains(&st.node))
        .filter(|st| st.groups.get(group) == Some(&hacmp_model::placement::RgState::Error))
        .map(|st| st.node)
        .collect();
    match (node, in_error.as_slice()) {
        (Some(n), e) if e.contains(&n) => Ok(n),
        (Some(n), _) => refuse(format!("`{group}` is not in error on node {n}")),
        (None, [n]) => Ok(*n),
        (None, []) => refuse(format!(
            "`{group}` is in error on no node: nothing to clean up"
        )),
        (None, many) => refuse(format!(
            "`{group}` is in error on nodes {}: give `--node`",
            node_list(many.iter().copied())
        )),
    }
}

/// The groups to put in maintenance (`on`) or take out of it: `group`, or
/// every group of the cluster; and the node to queue the event at (the
/// lowest member). Why not, otherwise.
pub fn check_maintenance(
    s: &GroupState,
    group: Option<&str>,
    on: bool,
) -> Result<(Vec<String>, NodeId), GsError> {
    let refuse = |why: String| Err(GsError::Refused(why));
    via_rg_move(s)?;
    let Some(at) = s.members().iter().next().copied() else {
        return refuse("no node of the cluster is a member yet".into());
    };
    let placement = s.placement.clone().unwrap_or_default();
    let all: Vec<String> = placement.groups.keys().cloned().collect();
    let named: Vec<String> = match group {
        Some(g) => {
            known_group(&placement, None, g)?;
            vec![g.to_string()]
        }
        None if all.is_empty() => return refuse("the cluster has no resource group".into()),
        None => all,
    };
    let changing: Vec<String> = named
        .into_iter()
        .filter(|g| placement.maintenance.contains(g) != on)
        .collect();
    if changing.is_empty() {
        return refuse(format!(
            "{} already {}",
            group.map_or("every group is".to_string(), |g| format!("`{g}` is")),
            if on {
                "in maintenance"
            } else {
                "out of maintenance"
            }
        ));
    }
    Ok((changing, at))
}

impl<S: Store + ?Sized> Operator<S> {
    /// Puts `group` (or every group) in maintenance, or takes it out:
    /// checked, then queued as TE_RG_MOVE. The groups it changes.
    pub async fn maintenance(&self, group: Option<&str>, on: bool) -> Result<Vec<String>, GsError> {
        let s = self.state().await?;
        let (groups, at) = check_maintenance(&s, group, on)?;
        self.enqueue(EventRequest::system(
            EventKind::GroupMaintenance {
                groups: groups.clone(),
                on,
            },
            at,
        ))
        .await?;
        Ok(groups)
    }

    /// Clears `group`'s error on a node: checked, then queued as
    /// TE_RG_MOVE there (nothing moves; its steps are tried again). The
    /// node it is queued at.
    pub async fn cleanup_group(
        &self,
        group: &str,
        node: Option<NodeId>,
    ) -> Result<NodeId, GsError> {
        let s = self.state().await?;
        let statuses = self.statuses().await?;
        let at = check_cleanup(&s, &statuses, group, node)?;
        self.enqueue(EventRequest::system(
            EventKind::GroupCleanup {
                group: group.to_string(),
            },
            at,
        ))
        .await?;
        Ok(at)
    }

    /// The site the group runs, when it keeps its bundle.
    pub(crate) async fn running_site(&self, s: &GroupState) -> Result<Option<Site>, GsError> {
        Ok(self
            .running_bundle()
            .await?
            .and_then(|b| serde_json::from_slice::<hacmp_compiler::Bundle>(&b).ok())
            .filter(|b| s.identity.as_ref().is_some_and(|i| i.value.hash == b.hash))
            .map(|b| b.site))
    }

    /// Takes `group` offline (or brings it back): checked, then queued as
    /// TE_RG_MOVE; the node it is queued at.
    pub async fn group_intent(&self, group: &str, offline: bool) -> Result<NodeId, GsError> {
        let s = self.state().await?;
        let site = self.running_site(&s).await?;
        let at = check_intent(&s, site.as_ref(), group, offline)?;
        self.enqueue(EventRequest::system(
            EventKind::GroupIntent {
                group: group.to_string(),
                offline,
            },
            at,
        ))
        .await?;
        Ok(at)
    }

    /// Checks a move against the group's state and the site it runs, and
    /// queues it (TE_RG_MOVE at the node holding the group).
    pub async fn move_group(&self, group: &str, to: Option<&str>) -> Result<Moving, GsError> {
        let s = self.state().await?;
        let site = self.running_site(&s).await?;
        let to = to.map(|t| node_named(site.as_ref(), t)).transpose()?;
        let m = check_move(&s, site.as_ref(), group, to)?;
        self.enqueue(EventRequest::system(
            EventKind::GroupMove {
                group: m.group.clone(),
                to: m.to,
            },
            m.from,
        ))
        .await?;
        Ok(m)
    }
}

/// Where a move of a group is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Queued,
    Running {
        seq: u64,
    },
    /// Neither queued nor running (done, or never queued).
    Idle,
}

/// Where an operator's action on `group` (a move, offline, online) is.
pub fn action_progress(s: &GroupState, group: &str) -> Progress {
    let ours = |k: &EventKind| {
        matches!(k, EventKind::GroupMove { group: g, .. }
            | EventKind::GroupIntent { group: g, .. }
            | EventKind::GroupCleanup { group: g } if g == group)
            || matches!(k, EventKind::GroupMaintenance { groups, .. } if groups.iter().any(|g| g == group))
    };
    if let Some(c) = &s.current {
        if ours(&c.value.event.request.kind) && !s.outcomes.contains_key(&c.value.seq) {
            return Progress::Running { seq: c.value.seq };
        }
    }
    if s.queue.values().any(|q| ours(&q.request.kind)) {
        Progress::Queued
    } else {
        Progress::Idle
    }
}
