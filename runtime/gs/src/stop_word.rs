//! An operator's stop of a node, `s/control/<n>`: the word's types, read
//! by the group state and written by operators' commands (`control`).

use serde::{Deserialize, Serialize};

/// How an operator stops a node (redbook 5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopMode {
    /// The node releases its groups; the others do not take them over.
    Graceful,
    /// The node releases its groups; the others take them over.
    Takeover,
    /// The node stops at once, releasing what it holds without an event;
    /// the others see a failure and take over (5.3's forced stop is
    /// treated as a failure: the others cannot tell it from one).
    Forced,
}

impl StopMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StopMode::Graceful => "graceful",
            StopMode::Takeover => "takeover",
            StopMode::Forced => "forced",
        }
    }
}

/// `s/control/<n>`: an operator stopped node n.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeControl {
    pub mode: StopMode,
    /// When the stop was asked for (Unix ms).
    pub at_ms: u64,
}
