//! The event every member runs next, as the coordinator claimed it.

use serde::{Deserialize, Serialize};

use crate::event::{NodeId, QueuedEvent};

/// The event every member runs next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimedEvent {
    /// Cluster-wide sequence number, from 1.
    pub seq: u64,
    pub event: QueuedEvent,
    /// Fixed when the event starts: members plus a joining node, minus a
    /// failed one.
    pub membership: Vec<NodeId>,
    /// The incarnation of each member taking part: a node that restarts
    /// is not a member of the events its earlier incarnation took part in.
    #[serde(default)]
    pub incarnations: std::collections::BTreeMap<NodeId, i64>,
    /// Why it ran next (for the journal).
    pub why: String,
    /// Where resource groups are before and after it (none when the site
    /// has no resource groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::groups::PlacementChange>,
    /// `HACMP_MEMBERSHIP`, made once for every node that takes it.
    #[serde(skip)]
    pub membership_env: std::sync::OnceLock<String>,
}
