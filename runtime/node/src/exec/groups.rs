//! Killing the process groups a node's servers run in, and waiting until
//! they have exited: a killed server's connections close while its service
//! address is still on the node to send from, so its clients are told at
//! once. With the address taken down first, a request in flight waits for
//! the client's own timeout (the failover benchmark's client, with a read
//! timeout of 300 ms, met one in 9 of 10 partition rounds).
//!
//! Used by the warden (a frozen daemon's node) and by the daemon when it
//! has fenced itself: both act before the others
//! can take over, within the lease's guard, so the wait is short and
//! bounded.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The longest wait for the killed processes to exit: a process stuck in
/// the kernel does not hold the addresses up longer. A small part of the
/// half guard between the warden's moment and the earliest the others can
/// take over (25 ms with 1 s leases); a killed process normally exits in
/// well under a millisecond.
pub const EXIT_WAIT: Duration = Duration::from_millis(10);

/// Kills `groups` (SIGKILL) and waits, at most [`EXIT_WAIT`], until their
/// processes have exited. Blocking.
pub fn kill(groups: &[i32]) {
    kill_within(groups, EXIT_WAIT);
}

fn kill_within(groups: &[i32], bound: Duration) {
    let end = Instant::now() + bound;
    // Never init's group or "this group".
    let groups: Vec<i32> = groups.iter().copied().filter(|g| *g > 1).collect();
    if groups.is_empty() {
        return;
    }
    for g in &groups {
        super::real::killpg(*g, libc::SIGKILL);
    }
    await_exit(&groups, end);
}

/// Waits, until `end` at most, for the processes of `groups` to exit.
fn await_exit(groups: &[i32], end: Instant) {
    let mut fds: Vec<OwnedFd> = running_in(groups, end)
        .into_iter()
        .filter_map(|pid| {
            // SAFETY: pidfd_open returns a new descriptor, or -1.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            // SAFETY: a descriptor just opened, owned by nothing else.
            (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
        })
        .collect();
    while !fds.is_empty() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut polled: Vec<libc::pollfd> = fds
            .iter()
            .map(|f| libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: poll on descriptors we own, as many as the array holds.
        let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, ms) };
        if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
        // A pidfd is readable once its process has exited.
        let mut exited = polled.iter().map(|p| p.revents != 0);
        fds.retain(|_| !exited.next().unwrap_or(false));
    }
}

/// The processes of `groups` that have not exited (a zombie has), found
/// by `end` (the scan of a busy machine's processes counts in the bound).
fn running_in(groups: &[i32], end: Instant) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .take_while(|_| Instant::now() < end)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // After the command name (which may hold anything): state,
            // parent, process group.
            let mut f = stat[stat.rfind(')').map_or(0, |i| i + 1)..].split_whitespace();
            let state = f.next();
            let pgrp = f.nth(1).and_then(|g| g.parse::<i32>().ok());
            state != Some("Z") && pgrp.is_some_and(|g| groups.contains(&g))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn a_killed_group_is_awaited_until_its_processes_exit() {
        // A group of two: a shell and the sleep it runs.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let end = Instant::now() + Duration::from_secs(30);
        while running_in(&[pgid], end).len() < 2 {
            assert!(Instant::now() < end, "the group never had two processes");
            std::thread::yield_now();
        }
        assert!(running_in(&[i32::MAX], end).is_empty());
        // (A bound a busy machine cannot miss; the daemon's is 10 ms.)
        kill_within(&[pgid, 0, 1], Duration::from_secs(30));
        // Both exited: the shell is a zombie until reaped here, its sleep
        // is reaped by whoever adopted it.
        let left = running_in(&[pgid], end);
        let _ = child.wait();
        assert!(left.is_empty(), "still running after the wait: {left:?}");
    }
}
