//! Event-script definitions: what a bare command name in a `.rp` file runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// What happens when a command's exit status is not the expected one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// The failed node stops before the next barrier until an operator
    /// resumes (the original's behaviour), reporting loudly meanwhile.
    #[default]
    Wait,
    /// Every node stops at the next barrier; the event is failed.
    Abort,
    /// Log, then go on as if the command had succeeded.
    Continue,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Wait => "wait",
            FailurePolicy::Abort => "abort",
            FailurePolicy::Continue => "continue",
        }
    }
}

/// One event script. Commands (`notify`, `pre`, `post`, `recovery`) are
/// written like a `.rp` command: an absolute path and arguments separated by
/// blanks, run without a shell.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventScript {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_after: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<FailurePolicy>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Event scripts by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventScripts(pub BTreeMap<String, EventScript>);

impl EventScripts {
    pub fn from_toml(text: &str) -> Result<EventScripts, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn get(&self, name: &str) -> Option<&EventScript> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
