//! Group services: what the cluster managers of one cluster share. The queue
//! and "which event is next" live here, not in each manager, so every member
//! runs the same next event.
//!
//! ```text
//!   Manager ──GroupServices──▶ Group (one per node) ──txn──▶ Store (mem | etcd)
//!                                 │  waits on                 │ feed
//!                                 ▼                           ▼
//!                               View: GroupState ◀── apply ── changes
//!                                 ▲
//!                    Coordinator: protocol::chores (claim, declare, finish)
//! ```
//!
//! The protocol is written once (`protocol`, `state`, `group`,
//! `coordinator`, `operator`) over the store interface (`store`); the
//! stores (`mem`, `etcd`) hold no protocol. Every wait is driven by a change
//! of the followed state, never by polling.

pub mod actions;
pub mod control;
pub mod coordinator;
mod dare;
mod expel;
pub mod group;
mod lease;
pub use lease::FenceHook;
pub use session::{guard as lease_guard, Renewal};
pub mod mem;
pub mod operator;
mod presence;
pub mod process;
mod protocol;
mod queue;
mod session;
pub mod state;
mod stop_word;
pub mod store;
pub mod view;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use hacmp_model::event::{EventRequest, NodeId, Outcome};
use hacmp_model::manager_state::ManagerState;
use hacmp_model::{ClaimedEvent, Identity};

/// Why a group-services call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GsError {
    /// The group refused the node or the request: why.
    Refused(String),
    /// The group runs another site: this node's bundle differs (a deploy
    /// it missed can be caught up with).
    OtherSite(String),
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
            GsError::Refused(why) | GsError::OtherSite(why) => {
                write!(f, "refused by the cluster group: {why}")
            }
            GsError::Unavailable(why) => write!(f, "group services unavailable: {why}"),
            GsError::Expelled => f.write_str("this node is no longer a member of the group"),
            GsError::Closed => f.write_str("group services closed"),
        }
    }
}

impl std::error::Error for GsError {}

impl From<store::StoreError> for GsError {
    fn from(e: store::StoreError) -> GsError {
        match e {
            store::StoreError::Unavailable(w) => GsError::Unavailable(w),
            store::StoreError::LeaseNotFound => GsError::Expelled,
            store::StoreError::Closed => GsError::Closed,
        }
    }
}

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

/// How a wait at a barrier ended.
#[derive(Clone, Debug, PartialEq)]
pub enum BarrierOutcome {
    /// Every live member arrived.
    Passed,
    /// The event was ended (aborted or skipped): stop here.
    Ended(state::Ended),
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
#[derive(Clone, Debug, PartialEq)]
pub enum Wake {
    Decision(Decision),
    Ended(state::Ended),
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
    /// How many times this command failed in this event on this node (an
    /// operator's decision answers one attempt).
    #[serde(default)]
    pub attempt: u32,
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
    /// Resource groups not offline on this node.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub groups: std::collections::BTreeMap<String, hacmp_model::placement::RgState>,
    /// What the resource monitors did lately (outside events, so in no
    /// event's journal), newest last, at most `MONITOR_NOTES`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitor: Vec<MonitorNote>,
}

/// How many monitor notes a node keeps.
pub const MONITOR_NOTES: usize = 8;

/// A resource monitor found a resource down and restarted it, or gave up
/// and moved its group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorNote {
    pub group: String,
    pub resource: String,
    pub what: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// A command that is running, for `hacmp status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningCommand {
    pub command: String,
    /// Start, in milliseconds since the Unix epoch.
    pub since_ms: u64,
    /// Its process, once started (none for simulated commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// The membership as the group sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// Increases with every change.
    pub version: u64,
    /// Nodes that completed their join.
    pub members: Vec<NodeId>,
    /// Nodes that joined the group and wait for their node-up event.
    pub joining: Vec<NodeId>,
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

/// Queues events: a node's Event Management agent, an operator.
#[async_trait]
pub trait Raiser: Send + Sync + 'static {
    async fn raise(&self, request: EventRequest) -> Result<(), GsError>;
}

/// How a graceful stop was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaving {
    /// A member: its stop event is queued; it takes part in it.
    Queued,
    /// Not yet a member: its join was withdrawn; it is out of the group.
    Gone,
}

/// The operations a cluster manager needs from its group, for one node.
/// One implementation ([`group::GroupHandle`]) over any [`store::Store`].
#[async_trait]
pub trait GroupServices: Send + Sync + 'static {
    /// `clstrmgr_<cluster id>`.
    fn group_name(&self) -> String;

    fn node(&self) -> NodeId;

    /// Joins the group as a new incarnation of the node and queues its join
    /// event. Refused when the node's bundle differs from the group's.
    async fn join(&self, identity: &Identity) -> Result<(), GsError>;

    /// Joins as a member at once, with no join event (a one-node trial run
    /// of an event, where running node-up for real is not wanted).
    async fn adopt(&self, identity: &Identity) -> Result<(), GsError>;

    /// A graceful stop: queues the node's departure, in which it takes part.
    async fn leave(&self, takeover: bool) -> Result<Leaving, GsError>;

    /// Ends this incarnation at once: the group sees it gone.
    async fn close(&self);

    /// Resolves when this incarnation is no longer in the group (its lease
    /// lapsed or it fenced itself), never while it is.
    async fn lost(&self);

    async fn view(&self) -> Result<Membership, GsError>;

    async fn enqueue(&self, request: EventRequest) -> Result<(), GsError>;

    /// How many events are queued.
    async fn queued(&self) -> Result<usize, GsError>;

    /// The next event after `after` (a sequence number) that the group
    /// claimed. Every member gets the same one.
    async fn next_event(&self, after: u64) -> Result<std::sync::Arc<ClaimedEvent>, GsError>;

    /// Arrives at a synchronisation point and waits for every live member of
    /// the event (or for the event to end).
    async fn barrier(&self, seq: u64, at: SyncPoint) -> Result<BarrierOutcome, GsError>;

    /// Records an unexpected status (the event's outcome becomes `failed`
    /// unless it is resolved).
    async fn report_failure(&self, report: FailureReport) -> Result<(), GsError>;

    /// This node's failure was resolved (a re-run succeeded, or the operator
    /// said go on as if it had succeeded).
    async fn resolve_failure(&self, seq: u64) -> Result<(), GsError>;

    /// Ends the event for everyone (the `abort` policy).
    async fn end_event(&self, seq: u64, outcome: Outcome) -> Result<(), GsError>;

    /// This node is done with the event (after the cbarrier, or after
    /// stopping). The event ends when every live member is done.
    async fn finish(&self, seq: u64) -> Result<(), GsError>;

    /// The outcome of an event once it ended.
    async fn outcome(&self, seq: u64) -> Result<Outcome, GsError>;

    /// Waits for the operator's answer to failure `attempt` of this node.
    async fn wait_decision(&self, seq: u64, attempt: u32) -> Result<Wake, GsError>;

    /// Reports what this node shows: as a member, on its incarnation's
    /// lease; out of the group, only while `stay_shown` holds it up.
    async fn report(&self, status: NodeStatus) -> Result<(), GsError>;

    /// Shows this node's status (written before this returns, when the
    /// store answers) and keeps it shown while its daemon is out of the
    /// group by an operator's stop; `None`: no longer (its status goes).
    async fn stay_shown(&self, status: Option<NodeStatus>);

    /// The operator's stop of this node in force (`None`: none): at once
    /// when `known` is `None`, else once it differs from `known`'s.
    /// Answered out of the group too.
    async fn control(
        &self,
        known: Option<Option<control::StopMode>>,
    ) -> Result<Option<control::StopMode>, GsError>;

    async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError>;

    /// The bundle staged for a deploy under `hash` (JSON), if any.
    async fn staged_bundle(&self, hash: &str) -> Result<Option<Vec<u8>>, GsError>;

    /// Switches this node to the bundle `identity` names (`bundle`, its
    /// JSON): as a member, its alive record, the group's identity and the
    /// group's bundle; out of the group, only what it will join with.
    async fn switch_bundle(
        &self,
        identity: &Identity,
        bundle: Vec<u8>,
        placer: Option<std::sync::Arc<hacmp_model::placement::Placer>>,
    ) -> Result<(), GsError>;

    /// The hash of the bundle the group runs (its identity), as last seen.
    async fn group_bundle_hash(&self) -> Result<Option<String>, GsError>;

    /// The bundle the group keeps (JSON), if any.
    async fn running_bundle(&self) -> Result<Option<Vec<u8>>, GsError>;

    /// Keeps the group's bundle (JSON) in the store while the group runs
    /// the one of `hash` (best effort: for operators' diffs and fetches).
    async fn publish_bundle(&self, hash: &str, bundle: Vec<u8>) -> Result<(), GsError>;
}
