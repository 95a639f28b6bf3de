//! Which process an incarnation is, so that a daemon restarted on the same
//! machine recognises its predecessor: a predecessor whose process is gone
//! (a kill -9, a crash) is ended at once instead of waiting for its lease
//! to lapse, and one still running is another daemon with the same node
//! number, refused at once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A process: the machine's boot, its pid, and when it started (so a
/// reused pid is not taken for it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// This boot of this machine (`/proc/sys/kernel/random/boot_id`).
    #[serde(default)]
    pub boot: String,
    #[serde(default)]
    pub pid: u32,
    /// Start time, in clock ticks since boot.
    #[serde(default)]
    pub start: u64,
}

/// Whether the process of an alive record still runs: `None` when that
/// cannot be told from here (another machine).
pub type Liveness = Arc<dyn Fn(&Process) -> Option<bool> + Send + Sync>;

fn start_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from after its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Process {
    /// This process.
    pub fn this() -> Process {
        let pid = std::process::id();
        Process {
            boot: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            pid,
            start: start_of(pid).unwrap_or(0),
        }
    }

    /// Processes of this machine, told apart by /proc.
    pub fn local_liveness() -> Liveness {
        let me = Process::this();
        Arc::new(move |p: &Process| {
            if me.boot.is_empty() || p.boot != me.boot || p.pid == 0 {
                return None;
            }
            Some(start_of(p.pid) == Some(p.start))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_a_reused_pid_does_not_count() {
        let live = Process::local_liveness();
        let me = Process::this();
        assert_eq!(live(&me), Some(true));
        assert_eq!(
            live(&Process {
                start: me.start + 1,
                ..me.clone()
            }),
            Some(false)
        );
        assert_eq!(
            live(&Process {
                boot: "another machine".into(),
                ..me
            }),
            None
        );
    }
}
