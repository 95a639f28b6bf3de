//! Group services: what the cluster managers of one cluster share. The queue
//! and "which event is next" live here, not in each manager, so every member
//! runs the same next event. Implementations: in-process (one process, many
//! simulated nodes, or a one-node site) and etcd (real multi-node clusters).
//!
//! Every operation is asynchronous and fallible, and every wait is driven by
//! a change notification, never by polling.

pub mod etcd;
pub mod inprocess;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::event::{EventRequest, NodeId, Outcome, QueuedEvent};
use crate::state::ManagerState;

/// Why a group-services call failed.
#[derive(Clone, Debug, PartialEq)]
pub enum GsError {
    /// The group refused the node (e.g. its bundle differs).
    Refused(String),
    /// The coordination store cannot be reached; the caller must not go on
    /// blind.
    Unavailable(String),
    /// This node is no longer part of the group (it left or was declared
    /// failed).
    Expelled,
    /// The group services were shut down.
    Closed,
}

impl std::fmt::Display for GsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GsError::Refused(why) => write!(f, "refused by the cluster group: {why}"),
            GsError::Unavailable(why) => write!(f, "group services unavailable: {why}"),
            GsError::Expelled => f.write_str("this node is no longer a member of the group"),
            GsError::Closed => f.write_str("group services closed"),
        }
    }
}

impl std::error::Error for GsError {}

/// A synchronisation point of a recovery program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPoint {
    /// Barrier `n` (1-based): the one after group `n`.
    Barrier(u32),
    /// The closing barrier of every program.
    Cbarrier,
}

impl std::fmt::Display for SyncPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncPoint::Barrier(n) => write!(f, "barrier {n}"),
            SyncPoint::Cbarrier => f.write_str("cbarrier"),
        }
    }
}

/// The event every member runs next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimedEvent {
    /// Cluster-wide sequence number, from 1.
    pub seq: u64,
    pub event: QueuedEvent,
    /// Fixed when the event starts: members plus a joining node, minus a
    /// failed one.
    pub membership: Vec<NodeId>,
    /// Why it ran next (for the journal).
    pub why: String,
}

/// How a wait at a barrier ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierOutcome {
    /// Every live member arrived.
    Passed,
    /// The event was ended (aborted or skipped): stop here.
    Ended(Outcome),
}

/// The operator's choices for a command that failed under `wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Go on as if the command had succeeded.
    Continue,
    /// Run the failed command again.
    Rerun,
    /// Skip the rest of the event (the original's `clruncmd`).
    Skip,
    /// Skip the rest of the event and cancel every queued event.
    SkipAndCancel,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Continue => "continue",
            Decision::Rerun => "rerun",
            Decision::Skip => "skip",
            Decision::SkipAndCancel => "skip-and-cancel",
        }
    }
}

/// What wakes a node that waits for the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    Decision(Decision),
    Ended(Outcome),
}

/// Commands from operators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum OperatorCommand {
    /// Resume an event stopped by a failure; `node` picks one failed node
    /// (all when absent).
    Resume {
        seq: u64,
        node: Option<NodeId>,
        decision: Decision,
    },
    /// Raise an event.
    Raise { event: EventRequest },
}

/// A command whose status was not the expected one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureReport {
    pub node: NodeId,
    pub seq: u64,
    pub event: String,
    /// 1-based group of the program.
    pub group: u32,
    pub command: String,
    pub expected: String,
    /// `exit 1`, `signal 9`, `timed out`, `could not start: …`.
    pub actual: String,
    pub output_tail: Vec<String>,
    /// The policy that applies.
    pub policy: String,
}

/// What a node tells the group about itself, for `hacmp status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: NodeId,
    pub state: ManagerState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Where it waits, if it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<SyncPoint>,
    /// Commands running now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running: Vec<RunningCommand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReport>,
}

/// A command that is running, for `hacmp status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningCommand {
    pub command: String,
    /// Start, in milliseconds since the Unix epoch.
    pub since_ms: u64,
}

/// The membership as the group sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Increases with every change.
    pub version: u64,
    /// Nodes that completed their join.
    pub members: Vec<NodeId>,
    /// Nodes that joined the group and wait for their node-up event.
    pub joining: Vec<NodeId>,
}

/// What a node presents when it joins: its bundle hash and the hashes of the
/// files it was built from, so a differing node is refused with the names of
/// the files that differ.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub hash: String,
    pub sources: std::collections::BTreeMap<String, String>,
}

impl Identity {
    pub fn of(bundle: &hacmp_compiler::Bundle) -> Identity {
        Identity {
            hash: bundle.hash.clone(),
            sources: bundle.sources.clone(),
        }
    }

    /// Files whose hashes differ from `other`'s (or that only one has).
    pub fn differing(&self, other: &Identity) -> Vec<String> {
        let mut out: Vec<String> = self
            .sources
            .iter()
            .filter(|(p, h)| other.sources.get(*p) != Some(*h))
            .map(|(p, _)| p.clone())
            .collect();
        out.extend(
            other
                .sources
                .keys()
                .filter(|p| !self.sources.contains_key(*p))
                .cloned(),
        );
        out.sort();
        out.dedup();
        out
    }
}

/// The membership of an event, fixed when it starts: the members, plus the
/// node that joins, minus the node that failed (on a graceful stop the
/// leaving node is still a member and takes part).
pub fn event_membership(
    members: impl IntoIterator<Item = NodeId>,
    request: &EventRequest,
) -> std::collections::BTreeSet<NodeId> {
    let mut m: std::collections::BTreeSet<NodeId> = members.into_iter().collect();
    match request.kind {
        crate::event::EventKind::NodeJoin => {
            m.insert(request.location);
        }
        crate::event::EventKind::NodeFailure => {
            m.remove(&request.location);
        }
        _ => {}
    }
    m
}

/// What a wait's condition says after looking at the group's state.
pub(crate) enum Step<T> {
    Done(Result<T, GsError>),
    /// Look again after the next change.
    Wait,
    /// Look again after the next change or at this time.
    WaitUntil(tokio::time::Instant),
}

/// Carries out a step: `Some` when done; `None` once it is time to look
/// again.
pub(crate) async fn pause<T>(
    rx: &mut tokio::sync::watch::Receiver<u64>,
    step: Step<T>,
) -> Result<Option<T>, GsError> {
    match step {
        Step::Done(r) => r.map(Some),
        Step::Wait => rx
            .changed()
            .await
            .map(|_| None)
            .map_err(|_| GsError::Closed),
        Step::WaitUntil(t) => {
            tokio::select! {
                r = rx.changed() => r.map(|_| None).map_err(|_| GsError::Closed),
                _ = tokio::time::sleep_until(t) => Ok(None),
            }
        }
    }
}

/// The failed nodes of event `seq` that an operator's resume applies to
/// (`node`, or all), or why there are none.
pub fn resume_targets(
    failed: impl IntoIterator<Item = NodeId>,
    node: Option<NodeId>,
    seq: u64,
) -> Result<Vec<NodeId>, GsError> {
    let waiting: Vec<NodeId> = failed
        .into_iter()
        .filter(|n| node.is_none_or(|x| x == *n))
        .collect();
    if waiting.is_empty() {
        return Err(GsError::Refused(match node {
            Some(n) => format!("node {n} is not waiting on a failed command of event {seq}"),
            None => format!("no node is waiting on a failed command of event {seq}"),
        }));
    }
    Ok(waiting)
}

/// The operations the cluster manager needs from its group.
#[async_trait]
pub trait GroupServices: Send + Sync + 'static {
    /// `clstrmgr_<cluster id>`.
    fn group_name(&self) -> String;

    /// Joins the group; queues the node's join event. Refused when the
    /// node's bundle differs from the group's.
    async fn join(&self, node: NodeId, identity: &Identity) -> Result<(), GsError>;

    /// A graceful stop: queues the node's departure, in which it takes part.
    async fn leave(&self, node: NodeId, takeover: bool) -> Result<(), GsError>;

    async fn view(&self) -> Result<View, GsError>;

    /// The first view with a version above `after`.
    async fn watch_view(&self, after: u64) -> Result<View, GsError>;

    async fn enqueue(&self, request: EventRequest) -> Result<(), GsError>;

    async fn queue(&self) -> Result<Vec<QueuedEvent>, GsError>;

    /// The next event after `after` (a sequence number): waits for the
    /// previous event to finish and the queue to settle, then claims the
    /// highest-priority event. Every member gets the same one.
    async fn next_event(&self, node: NodeId, after: u64) -> Result<ClaimedEvent, GsError>;

    /// Arrives at a synchronisation point and waits for every live member of
    /// the event (or for the event to end).
    async fn barrier(
        &self,
        node: NodeId,
        seq: u64,
        at: SyncPoint,
    ) -> Result<BarrierOutcome, GsError>;

    /// Records an unexpected status (the event's outcome becomes `failed`
    /// unless it is resolved).
    async fn report_failure(&self, report: FailureReport) -> Result<(), GsError>;

    /// A failure was resolved (a re-run succeeded, or the operator said go
    /// on as if it had succeeded).
    async fn resolve_failure(&self, node: NodeId, seq: u64) -> Result<(), GsError>;

    /// Ends the event for everyone (the `abort` policy).
    async fn end_event(&self, seq: u64, outcome: Outcome) -> Result<(), GsError>;

    /// This node is done with the event (after the cbarrier, or after
    /// stopping). The next event starts when every live member is done.
    async fn finish(&self, node: NodeId, seq: u64) -> Result<(), GsError>;

    /// The outcome of an event once every live member finished it.
    async fn outcome(&self, seq: u64) -> Result<Outcome, GsError>;

    /// Waits for the operator's decision on a failed command of `node`.
    async fn wait_decision(&self, node: NodeId, seq: u64) -> Result<Wake, GsError>;

    async fn command(&self, command: OperatorCommand) -> Result<(), GsError>;

    async fn report(&self, status: NodeStatus) -> Result<(), GsError>;

    async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError>;
}
