//! Real processes: executed directly (no shell), no standard input, in their
//! own process group, with exactly the environment given; output captured
//! line by line into the log; `warn_after` reported at each doubling; on
//! timeout the whole process group gets TERM, then KILL after a grace period.
//!
//! The end of a command is seen through a pidfd, before the process is
//! reaped: while the leader is a zombie its process-group id cannot be
//! reused, so what is left of the group can be killed safely. No child
//! outlives its command: leftovers are killed, the leader is always reaped,
//! and a command dropped half-way (its node crashed, the daemon stopped)
//! takes its group with it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::time::Instant;

use super::spawn::{try_reap, Ended};
use super::{CommandResult, CommandSpec, Executor, Status, Tags, TAIL_LINES};

/// Longest line kept in the tail; longer lines are cut.
const MAX_LINE: usize = 4096;
/// How long output may still arrive after the group is gone (a process
/// outside the group may hold the pipe open).
const DRAIN: Duration = Duration::from_secs(2);

/// Runs real processes; one per manager, or shared by the nodes of a
/// process.
#[derive(Default)]
pub struct RealExecutor {
    hashes: super::launch::Hashes,
    /// Process groups of the commands running now.
    groups: Mutex<std::collections::BTreeSet<i32>>,
}

impl RealExecutor {
    pub fn new() -> RealExecutor {
        RealExecutor::default()
    }

    /// Stops every command running: TERM to each process group, KILL to
    /// what is left after `grace` (a runtime that is asked to stop).
    pub async fn terminate_all(&self, grace: Duration) {
        let groups: Vec<i32> = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        if groups.is_empty() {
            return;
        }
        for g in &groups {
            killpg(*g, libc::SIGTERM);
        }
        let end = Instant::now() + grace;
        while Instant::now() < end {
            let left = self.groups.lock().unwrap_or_else(|p| p.into_inner()).len();
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for g in &groups {
            killpg(*g, libc::SIGKILL);
        }
    }
}

/// Kills a process group unless disarmed: a command future dropped half-way
/// leaves nothing running. Either way the group is no longer counted.
struct GroupGuard<'a> {
    pgid: i32,
    armed: bool,
    groups: &'a Mutex<std::collections::BTreeSet<i32>>,
}

impl Drop for GroupGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            killpg(self.pgid, libc::SIGKILL);
        }
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.pgid);
    }
}

/// Signals a process group (none for 0 or 1).
pub fn killpg(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: plain syscall; a vanished group gives ESRCH, which is fine.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Reaps a command's process: at its end, or, if the command is dropped
/// half-way, killed and reaped in the background (a zombie keeps its pid,
/// so the kill cannot reach another process).
struct Reaper {
    pid: i32,
    reaped: bool,
}

impl Reaper {
    /// After its pidfd became readable: it has exited.
    fn reap(&mut self) -> std::io::Result<Option<Ended>> {
        let r = try_reap(self.pid);
        self.reaped = !matches!(r, Ok(None));
        r
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: a signal to our own child, not reaped yet.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        if !matches!(try_reap(self.pid), Ok(None)) {
            return;
        }
        let pid = self.pid;
        // Dead in a moment: reaped by a thread that waits for it.
        std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: waitpid on our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        });
    }
}

type Tail = Arc<Mutex<VecDeque<String>>>;

async fn read_lines(stream: impl AsyncRead + Unpin, tags: Tags, which: &'static str, tail: Tail) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        // Shown as escapes: a command cannot move the cursor or forge a
        // log line with what it prints.
        let mut line = hacmp_compiler::render::visible(&String::from_utf8_lossy(&buf)).into_owned();
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        tracing::info!(
            target: "hacmp::output",
            node = tags.node,
            seq = tags.seq,
            event = %tags.event,
            command = %tags.command,
            role = tags.role,
            stream = which,
            "{line}"
        );
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }
}

#[async_trait]
impl Executor for RealExecutor {
    async fn run(&self, spec: CommandSpec, on_start: super::OnStart) -> CommandResult {
        let tags = spec.tags.clone();
        let Some(program) = spec.argv.first() else {
            return CommandResult {
                status: Status::SpawnFailed {
                    error: "empty command".into(),
                },
                output_tail: Vec::new(),
            };
        };
        let checked = match super::launch::open_checked(
            spec.root.as_deref(),
            program,
            spec.hash.as_deref(),
            &self.hashes,
        ) {
            Ok(f) => f,
            Err(error) => {
                tracing::error!(node = tags.node, event = %tags.event, command = %tags.command, "not started: {error}");
                return CommandResult {
                    status: Status::SpawnFailed { error },
                    output_tail: Vec::new(),
                };
            }
        };
        let child = match checked.spawn(&spec.argv, &spec.env, &spec.cwd) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(node = tags.node, event = %tags.event, command = %tags.command, "could not start: {e}");
                return CommandResult {
                    status: Status::SpawnFailed {
                        error: e.to_string(),
                    },
                    output_tail: Vec::new(),
                };
            }
        };
        // The child has its own copy; ours is not needed any more.
        drop(checked);
        let pid = child.pid;
        let mut reaper = Reaper { pid, reaped: false };
        on_start(pid as u32);
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid);
        let mut guard = GroupGuard {
            pgid: pid,
            armed: true,
            groups: &self.groups,
        };
        let tail: Tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut readers = Vec::new();
        for (fd, which) in [(child.stdout, "stdout"), (child.stderr, "stderr")] {
            if let Ok(r) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
                readers.push(tokio::spawn(read_lines(
                    r,
                    tags.clone(),
                    which,
                    tail.clone(),
                )));
            }
        }

        let start = Instant::now();
        let mut next_warn = spec.warn_after.max(Duration::from_millis(1));
        let deadline = spec.timeout.map(|t| start + t);
        let mut timed_out = false;
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open, the
        // same descriptor, until the AsyncFd is dropped.
        let exited = match unsafe {
            AsyncFd::register_with_interest(child.pidfd, tokio::io::Interest::READABLE)
        } {
            Ok(e) => e,
            Err(e) => {
                return CommandResult {
                    status: Status::SpawnFailed {
                        error: format!("cannot watch the process: {e}"),
                    },
                    output_tail: Vec::new(),
                }
            }
        };
        loop {
            tokio::select! {
                r = exited.readable() => { let _ = r; break; }
                _ = tokio::time::sleep_until(start + next_warn) => {
                    tracing::warn!(node = tags.node, event = %tags.event, command = %tags.command,
                        "still running after {}s", start.elapsed().as_secs());
                    next_warn *= 2;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or(start)), if deadline.is_some() && !timed_out => {
                    timed_out = true;
                    tracing::error!(node = tags.node, event = %tags.event, command = %tags.command,
                        "timed out after {}s: terminating its process group", start.elapsed().as_secs());
                    killpg(pid, libc::SIGTERM);
                    tokio::select! {
                        r = exited.readable() => { let _ = r; break; }
                        _ = tokio::time::sleep(spec.kill_grace) => killpg(pid, libc::SIGKILL),
                    }
                }
            }
        }
        // The leader is a zombie: its group id is still ours.
        if !spec.leave_running || timed_out {
            killpg(pid, libc::SIGKILL);
        }
        let status = reaper.reap();
        guard.armed = false;
        for r in readers {
            let abort = r.abort_handle();
            if tokio::time::timeout(DRAIN, r).await.is_err() {
                abort.abort();
            }
        }
        let status = match status {
            _ if timed_out => Status::TimedOut,
            Ok(Some(Ended::Exited(code))) => Status::Exited { code },
            Ok(Some(Ended::Signaled(signal))) => Status::Signaled { signal },
            Ok(None) => Status::SpawnFailed {
                error: "lost the process: it had not exited".into(),
            },
            Err(e) => Status::SpawnFailed {
                error: format!("lost the process: {e}"),
            },
        };
        let output_tail = tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        CommandResult {
            status,
            output_tail,
        }
    }
}
