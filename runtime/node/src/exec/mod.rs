//! Executors run one command. The real one runs processes; the simulated
//! one takes statuses and durations from a scenario. Everything around them
//! (node sets, groups, barriers, failure policies) is shared.

pub mod groups;
pub mod launch;
pub mod real;
pub mod sim;
pub mod spawn;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use hacmp_model::event::NodeId;

/// Who runs a command, for logs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tags {
    pub node: NodeId,
    pub seq: u64,
    pub event: String,
    /// The event's node.
    pub location: NodeId,
    /// The command as written in the `.rp` file (or the site file).
    pub command: String,
    /// `main`, `notify`, `pre`, `post`, `recovery`.
    pub role: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CommandSpec {
    /// `argv[0]` is the site's path of the command (absolute).
    pub argv: Vec<String>,
    /// The staging root the site's paths resolve under.
    pub root: Option<std::path::PathBuf>,
    /// The content hash the bundle holds for the command: a command that
    /// differs does not run.
    pub hash: Option<String>,
    /// The whole environment: nothing else is inherited.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub timeout: Option<Duration>,
    pub warn_after: Duration,
    /// Between TERM and KILL.
    pub kill_grace: Duration,
    /// What the command starts may outlive it (an application's start
    /// command leaves its server running): its process group is not
    /// killed when it exits. Otherwise it is, so a recovery command leaves
    /// nothing behind.
    pub leave_running: bool,
    pub tags: Tags,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Status {
    Exited { code: i32 },
    Signaled { signal: i32 },
    TimedOut,
    SpawnFailed { error: String },
}

impl Status {
    /// The exit code to compare with the expected status, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            Status::Exited { code } => Some(*code),
            _ => None,
        }
    }

    /// The code recorded in the journal: the exit code, 128+signal, -1
    /// for timeouts and -2 for commands that did not start.
    pub fn journal_code(&self) -> i32 {
        match self {
            Status::Exited { code } => *code,
            Status::Signaled { signal } => 128 + signal,
            Status::TimedOut => -1,
            Status::SpawnFailed { .. } => -2,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Status::Exited { code } => format!("exit {code}"),
            Status::Signaled { signal } => format!("killed by signal {signal}"),
            Status::TimedOut => "timed out".to_string(),
            Status::SpawnFailed { error } => format!("could not start: {error}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CommandResult {
    pub status: Status,
    /// The last lines of standard output and error, interleaved.
    pub output_tail: Vec<String>,
}

/// Lines of output kept for a failure report.
pub const TAIL_LINES: usize = 20;

/// Told the process id once a command started (real commands only).
pub type OnStart = Box<dyn FnOnce(u32) + Send>;

#[async_trait]
pub trait Executor: Send + Sync + 'static {
    async fn run(&self, spec: CommandSpec, on_start: OnStart) -> CommandResult;
    /// Commands are simulated: no file is read (a deploy checks no files).
    fn simulated(&self) -> bool {
        false
    }
}
