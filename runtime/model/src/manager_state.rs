//! The states a cluster manager shows to operators.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerState {
    /// Starting, reading the configuration.
    Init,
    /// Joined the group, waiting for its own node-up event.
    Joining,
    /// Nothing queued.
    Stable,
    /// Events queued: waiting for the queue to settle.
    Unstable,
    /// Agreeing on the next event.
    Voting,
    /// Running a group of recovery commands.
    RpRunning,
    /// Waiting at a barrier.
    Barrier,
    /// Waiting at the closing cbarrier.
    Cbarrier,
    /// Out of the group by an operator's stop, its daemon waiting for
    /// `hacmp start`.
    Stopped,
    /// Terminated.
    Done,
}

impl ManagerState {
    /// Every state, in the order of a node's life.
    pub const ALL: [ManagerState; 10] = [
        ManagerState::Init,
        ManagerState::Joining,
        ManagerState::Stable,
        ManagerState::Unstable,
        ManagerState::Voting,
        ManagerState::RpRunning,
        ManagerState::Barrier,
        ManagerState::Cbarrier,
        ManagerState::Stopped,
        ManagerState::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ManagerState::Init => "init",
            ManagerState::Joining => "joining",
            ManagerState::Stable => "stable",
            ManagerState::Unstable => "unstable",
            ManagerState::Voting => "voting",
            ManagerState::RpRunning => "rp_running",
            ManagerState::Barrier => "barrier",
            ManagerState::Cbarrier => "cbarrier",
            ManagerState::Stopped => "stopped",
            ManagerState::Done => "done",
        }
    }
}
