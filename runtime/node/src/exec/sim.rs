//! Simulated commands: status and duration from a scenario.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{CommandResult, CommandSpec, Executor, Status};
use hacmp_model::event::NodeId;

/// What a scenario says about some runs of a command.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The command as written (`node_up`, `/usr/sbin/cluster/local/x arg`),
    /// or its program's file name.
    pub command: String,
    /// Only on this node (all when absent).
    #[serde(default)]
    pub node: Option<NodeId>,
    /// Only during this event (all when absent).
    #[serde(default)]
    pub event: Option<String>,
    /// Only during events at this node (all when absent).
    #[serde(default)]
    pub location: Option<NodeId>,
    #[serde(default)]
    pub status: Option<i32>,
    #[serde(default, with = "opt_duration")]
    pub duration: Option<Duration>,
    /// Applies to the first `times` matching runs only (all when absent),
    /// e.g. a failure that a re-run does not repeat.
    #[serde(default)]
    pub times: Option<u32>,
}

mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&hacmp_stdlib::Duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<hacmp_stdlib::Duration>::deserialize(d)?.map(|d| d.0))
    }
}

pub struct SimExecutor {
    overrides: Vec<Override>,
    used: Mutex<Vec<u32>>,
    default_duration: Duration,
}

impl SimExecutor {
    pub fn new(overrides: Vec<Override>, default_duration: Duration) -> SimExecutor {
        let used = Mutex::new(vec![0; overrides.len()]);
        SimExecutor {
            overrides,
            used,
            default_duration,
        }
    }

    fn matches(o: &Override, spec: &CommandSpec) -> bool {
        let program = spec.argv.first().map(String::as_str).unwrap_or("");
        let base = program.rsplit('/').next().unwrap_or(program);
        (o.command == spec.tags.command || o.command == program || o.command == base)
            && o.node.is_none_or(|n| n == spec.tags.node)
            && o.event.as_ref().is_none_or(|e| *e == spec.tags.event)
            && o.location.is_none_or(|l| l == spec.tags.location)
    }
}

#[async_trait]
impl Executor for SimExecutor {
    fn simulated(&self) -> bool {
        true
    }

    async fn run(&self, spec: CommandSpec, _on_start: super::OnStart) -> CommandResult {
        let mut status = 0;
        let mut duration = self.default_duration;
        {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            // The last matching override with runs left wins.
            if let Some(i) = (0..self.overrides.len()).rev().find(|i| {
                let o = &self.overrides[*i];
                Self::matches(o, &spec) && o.times.is_none_or(|t| used[*i] < t)
            }) {
                used[i] += 1;
                let o = &self.overrides[i];
                status = o.status.unwrap_or(0);
                duration = o.duration.unwrap_or(duration);
            }
        }
        if let Some(t) = spec.timeout.filter(|t| *t < duration) {
            tokio::time::sleep(t).await;
            return CommandResult {
                status: Status::TimedOut,
                output_tail: vec![format!(
                    "simulated: still running after {}ms",
                    t.as_millis()
                )],
            };
        }
        if !duration.is_zero() {
            tokio::time::sleep(duration).await;
        }
        CommandResult {
            status: Status::Exited { code: status },
            output_tail: vec![format!("simulated: {} exited {status}", spec.tags.command)],
        }
    }
}
