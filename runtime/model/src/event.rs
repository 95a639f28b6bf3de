//! Events, their priority, and the queue order.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A node number.
pub type NodeId = u32;

/// Node numbers as people read them: sorted, runs shortened (`1–4, 7`),
/// so that a thousand nodes take a few characters.
pub fn node_list(nodes: impl IntoIterator<Item = NodeId>) -> String {
    let mut v: Vec<NodeId> = nodes.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        match j - i {
            0 => out.push_str(&v[i].to_string()),
            1 => out.push_str(&format!("{}, {}", v[i], v[j])),
            _ => out.push_str(&format!("{}–{}", v[i], v[j])),
        }
        i = j + 1;
    }
    out
}

/// What kind of happening an event is; decides its membership rule and
/// its place in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A node joins: members plus the joining node take part.
    NodeJoin,
    /// A node failed: members minus the failed node take part.
    NodeFailure,
    /// A node stops gracefully: it takes part and runs its scripts.
    NodeStop {
        takeover: bool,
    },
    AdapterSwap {
        network: u32,
    },
    StandbyJoin {
        network: u32,
    },
    StandbyFail {
        network: u32,
    },
    NetworkUp {
        network: u32,
    },
    NetworkDown {
        network: u32,
    },
    /// A dynamic reconfiguration to the bundle of this hash (redbook
    /// 2.3): `resources: false` switches every member to it
    /// (TE_DARE_TOPOLOGY), `true` then moves groups as its placement
    /// demands (TE_DARE_RESOURCE).
    Dare {
        bundle: String,
        resources: bool,
    },
    /// A resource group's monitor gave up on the event's node: the group
    /// moves elsewhere.
    GroupFailure {
        group: String,
    },
    /// An operator moves a group off the event's node (`hacmp move`), to
    /// `to` or, without it, where the group's policy puts it next.
    GroupMove {
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<NodeId>,
    },
    /// An operator takes a group offline (`hacmp offline`) or brings it
    /// back online (`hacmp online`).
    GroupIntent {
        group: String,
        offline: bool,
    },
    /// An operator clears a group's error on the event's node (`hacmp
    /// cleanup`): nothing moves; what is placed there is acquired again,
    /// what is not is released again.
    GroupCleanup {
        group: String,
    },
    /// An operator puts groups in maintenance (`on`) or takes them out
    /// (`hacmp maintenance on|off [GROUP]`).
    GroupMaintenance {
        groups: Vec<String>,
        on: bool,
    },
    /// Raised by Event Management or an operator.
    User,
}

impl EventKind {
    /// The standard event name of a kind (user events carry their own).
    pub fn system_name(&self) -> Option<&'static str> {
        Some(match self {
            EventKind::NodeJoin => "TE_JOIN_NODE",
            EventKind::NodeFailure | EventKind::NodeStop { .. } => "TE_FAIL_NODE",
            EventKind::AdapterSwap { .. } => "TE_SWAP_ADAPTER",
            EventKind::StandbyJoin { .. } => "TE_JOIN_STANDBY",
            EventKind::StandbyFail { .. } => "TE_FAIL_STANDBY",
            EventKind::NetworkUp { .. } => "TE_JOIN_NETWORK",
            EventKind::NetworkDown { .. } => "TE_FAIL_NETWORK",
            EventKind::GroupFailure { .. }
            | EventKind::GroupMove { .. }
            | EventKind::GroupIntent { .. }
            | EventKind::GroupCleanup { .. }
            | EventKind::GroupMaintenance { .. } => "TE_RG_MOVE",
            EventKind::Dare {
                resources: false, ..
            } => "TE_DARE_TOPOLOGY",
            EventKind::Dare {
                resources: true, ..
            } => "TE_DARE_RESOURCE",
            EventKind::User => return None,
        })
    }

    /// Network events order by network number, the others by node.
    fn network(&self) -> Option<u32> {
        match self {
            EventKind::AdapterSwap { network }
            | EventKind::StandbyJoin { network }
            | EventKind::StandbyFail { network }
            | EventKind::NetworkUp { network }
            | EventKind::NetworkDown { network } => Some(*network),
            _ => None,
        }
    }
}

/// The Event Management data of an event raised by a predicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmData {
    pub variable: String,
    /// The concrete instance vector that fired (no wildcards).
    pub instance: String,
    /// The value that made the predicate true (fields joined by `;`).
    pub value: String,
}

/// An event as raised, before it is queued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRequest {
    pub name: String,
    pub state: i64,
    pub location: NodeId,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub em: Option<EmData>,
}

impl EventRequest {
    pub fn system(kind: EventKind, location: NodeId) -> EventRequest {
        EventRequest {
            name: kind.system_name().unwrap_or("TE_DARE_TOPOLOGY").to_string(),
            state: 0,
            location,
            kind,
            em: None,
        }
    }

    pub fn user(
        name: impl Into<String>,
        state: i64,
        location: NodeId,
        em: Option<EmData>,
    ) -> EventRequest {
        EventRequest {
            name: name.into(),
            state,
            location,
            kind: EventKind::User,
            em,
        }
    }
}

/// An event in the queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedEvent {
    #[serde(flatten)]
    pub request: EventRequest,
    /// Priority class: 1 (node joins) … 7 (user-defined).
    pub class: u8,
    /// Arrival order in the queue, for ties.
    pub arrival: u64,
    /// When it was queued (RFC 3339), given to commands as `TIMESTAMP`.
    pub queued_at: String,
    /// For node joins, stops and failures: the incarnation of the node
    /// (the create revision of its `alive` key) the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<i64>,
}

impl QueuedEvent {
    pub fn new(request: EventRequest, arrival: u64) -> QueuedEvent {
        let class = match request.kind {
            EventKind::NodeJoin => 1,
            EventKind::NodeFailure | EventKind::NodeStop { .. } => 2,
            _ => hacmp_stdlib::priority_class(&request.name),
        };
        QueuedEvent {
            request,
            class,
            arrival,
            queued_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            incarnation: None,
        }
    }

    /// A membership event about one incarnation of a node.
    pub fn of_incarnation(kind: EventKind, node: NodeId, incarnation: i64) -> QueuedEvent {
        QueuedEvent {
            incarnation: Some(incarnation),
            ..QueuedEvent::new(EventRequest::system(kind, node), 0)
        }
    }

    /// Whether this network event makes `older` moot: a later up or down
    /// of the same node's same network. Only the latest state runs (by
    /// priority an up would run before a down queued earlier, and leave
    /// the network taken for down).
    pub fn supersedes(&self, older: &QueuedEvent) -> bool {
        let net = |q: &QueuedEvent| match q.request.kind {
            EventKind::NetworkDown { network } | EventKind::NetworkUp { network } => {
                Some((q.request.location, network))
            }
            _ => None,
        };
        self.arrival > older.arrival && net(older).is_some() && net(self) == net(older)
    }

    /// Whether operators may cancel it: never a node join, failure or
    /// stop, nor a topology event (both say what the cluster is); only
    /// user-defined events.
    pub fn cancellable(&self) -> bool {
        self.request.kind == EventKind::User
    }

    /// The sort key: class, then node (or network) number, then arrival.
    fn key(&self) -> (u8, u32, u64) {
        let n = self.request.kind.network().unwrap_or(self.request.location);
        (self.class, n, self.arrival)
    }

    /// Why this event is the next one, for the journal.
    pub fn why_next(&self, others: usize) -> String {
        let class = match self.class {
            1 => "node join (class 1)",
            2 => "node failure (class 2)",
            3 => "adapter swap or standby change (class 3)",
            4 => "network up (class 4)",
            5 => "network down (class 5)",
            6 => "reconfiguration (class 6)",
            _ => "user-defined event (class 7)",
        };
        if others == 0 {
            format!("the only queued event: {class}")
        } else {
            let by = match self.request.kind.network() {
                Some(n) => format!("network {n}"),
                None => format!("node {}", self.request.location),
            };
            format!(
                "highest priority of {} queued: {class}, then lowest number ({by}), then arrival",
                others + 1
            )
        }
    }
}

impl Ord for QueuedEvent {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for QueuedEvent {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Eq for QueuedEvent {}

/// How an event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Ran to the cbarrier; every command as expected (or resolved).
    Completed,
    /// Unexpected statuses that were not resolved, or stopped by `abort`.
    Failed,
    /// Never ran to its end: cancelled or the cluster stopped.
    Aborted,
    /// The operator skipped the rest of it.
    Skipped,
    /// Every node taking part stopped taking part (failed, or fenced
    /// itself) before it ended; or, in a node's own journal, this node did.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Aborted => "aborted",
            Outcome::Skipped => "skipped",
            Outcome::Interrupted => "interrupted",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_lists_shorten_runs() {
        use super::node_list;
        assert_eq!(node_list([]), "");
        assert_eq!(node_list([3]), "3");
        assert_eq!(node_list([2, 1]), "1, 2");
        assert_eq!(node_list([5, 1, 2, 3, 4, 7, 9, 10, 11, 7]), "1–5, 7, 9–11");
        assert_eq!(node_list(1..=1000), "1–1000");
    }

    use super::*;

    fn q(kind: EventKind, location: NodeId, arrival: u64) -> QueuedEvent {
        QueuedEvent::new(EventRequest::system(kind, location), arrival)
    }

    #[test]
    fn joins_before_failures_before_network_before_user_events() {
        let mut v = [
            QueuedEvent::new(EventRequest::user("UE_A", 0, 1, None), 0),
            q(EventKind::NetworkDown { network: 1 }, 1, 1),
            q(EventKind::NodeFailure, 3, 2),
            q(EventKind::NetworkUp { network: 2 }, 1, 3),
            q(EventKind::NodeJoin, 5, 4),
            q(EventKind::NodeJoin, 4, 5),
            q(EventKind::AdapterSwap { network: 1 }, 2, 6),
        ];
        v.sort();
        let order: Vec<(&str, NodeId)> = v
            .iter()
            .map(|e| (e.request.name.as_str(), e.request.location))
            .collect();
        assert_eq!(
            order,
            [
                ("TE_JOIN_NODE", 4),
                ("TE_JOIN_NODE", 5),
                ("TE_FAIL_NODE", 3),
                ("TE_SWAP_ADAPTER", 2),
                ("TE_JOIN_NETWORK", 1),
                ("TE_FAIL_NETWORK", 1),
                ("UE_A", 1),
            ]
        );
    }

    #[test]
    fn network_events_order_by_network_then_arrival() {
        let mut v = [
            q(EventKind::NetworkUp { network: 2 }, 1, 0),
            q(EventKind::NetworkUp { network: 1 }, 9, 1),
            q(EventKind::NetworkUp { network: 1 }, 3, 2),
        ];
        v.sort();
        let order: Vec<u64> = v.iter().map(|e| e.arrival).collect();
        assert_eq!(order, [1, 2, 0]);
    }
}
