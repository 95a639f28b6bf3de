//! Where resource groups are and in what state: the data that travels in
//! claimed events and status (`placement` computes it).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::NodeId;

/// Where one group is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Place {
    /// No live node may hold it (or those it comes after are offline).
    Offline,
    /// On these nodes: one, or every live member of a concurrent group.
    Online { nodes: Vec<NodeId> },
    /// Its node stopped without takeover: the survivors leave it offline
    /// until a node of its list joins.
    Stopped { by: NodeId },
}

impl Place {
    pub fn holds(&self, n: NodeId) -> bool {
        matches!(self, Place::Online { nodes } if nodes.contains(&n))
    }

    pub(crate) fn one(n: NodeId) -> Place {
        Place::Online { nodes: vec![n] }
    }
}

/// Every group's place, by name, and the networks down on each node (they
/// decide where groups may go as much as membership does, so they travel
/// with the placement from event to event).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    #[serde(flatten)]
    pub groups: BTreeMap<String, Place>,
    /// Node number to the names of its networks that are down. The key
    /// starts with `~`, which no group name may.
    #[serde(
        rename = "~networks_down",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub networks_down: BTreeMap<NodeId, BTreeSet<String>>,
    /// Groups an operator took offline (`hacmp offline`): they stay
    /// offline through failures, joins and a restart of the whole cluster
    /// until brought online.
    #[serde(
        rename = "~offline",
        default,
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub offline: BTreeSet<String>,
    /// Groups in maintenance (`hacmp maintenance on`): nothing starts,
    /// stops, moves or monitors them until it is off.
    #[serde(
        rename = "~maintenance",
        default,
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub maintenance: BTreeSet<String>,
}

impl Placement {
    pub fn get(&self, group: &str) -> &Place {
        self.groups.get(group).unwrap_or(&Place::Offline)
    }

    /// Whether `n` may hold a group whose service network is `net`.
    pub fn reaches(&self, n: NodeId, net: Option<&str>) -> bool {
        net.is_none_or(|net| !self.networks_down.get(&n).is_some_and(|d| d.contains(net)))
    }

    /// The groups placed on `n`.
    pub fn on(&self, n: NodeId) -> BTreeSet<&str> {
        self.groups
            .iter()
            .filter(|(_, p)| p.holds(n))
            .map(|(g, _)| g.as_str())
            .collect()
    }
}

/// Where groups were before an event and where it puts them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementChange {
    pub before: Placement,
    pub after: Placement,
}

/// A group's state on one node, as `hacmp status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RgState {
    Offline,
    Acquiring,
    Online,
    Releasing,
    /// A resource failed to start or stop: see the journal.
    Error,
}

impl RgState {
    /// The state a journal record names (`None`: the record says
    /// something else).
    pub fn parse(s: &str) -> Option<RgState> {
        [
            RgState::Offline,
            RgState::Acquiring,
            RgState::Online,
            RgState::Releasing,
            RgState::Error,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RgState::Offline => "offline",
            RgState::Acquiring => "acquiring",
            RgState::Online => "online",
            RgState::Releasing => "releasing",
            RgState::Error => "error",
        }
    }
}
