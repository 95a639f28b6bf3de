//! The warden: a small process of its own, started by `hacmpd`, that takes
//! the node's service addresses down and kills its applications' process
//! groups when the daemon misses the moment it would fence itself.
//!
//! A daemon that cannot act (SIGSTOP, a stuck system call, a long pause)
//! cannot fence itself: its node keeps the service address while the
//! others, seeing its lease lapse, take it over, and two nodes answer for
//! one address. The warden is not a thread of the daemon, so it is not
//! frozen with it.
//!
//! The daemon tells it, at each lease renewal and before it counts the
//! renewal as done, when it would fence itself (`Arm`), and `Disarm` when
//! it is out of the group (fenced by itself, left, stopped). The warden
//! acts at that moment plus half the lease's guard: still before the
//! lease can lapse in etcd (a renewal's lease runs from when it was sent,
//! a guard after the fence moment), and after the daemon, if it is alive,
//! has fenced itself and said so. A daemon that renews later than the
//! warden's moment fences itself all the same (`gs::lease`), so the
//! warden never takes down what a member still counts as held.
//!
//! What it takes down: every service address of the site wherever it is
//! on the node (not only where the daemon put it last: an address being
//! added when the daemon froze is covered), and the process groups the
//! applications' start commands left (their servers), by SIGKILL, first:
//! their connections close while the addresses are still there
//! (`exec::groups`).
//! **Decision**: file systems stay mounted (an unmount of a busy file
//! system fails, and a forced one cannot be undone); `--deadman` resets a
//! node whose daemon stays frozen, and the warden leaves the watchdog to
//! the daemon: a frozen daemon stops feeding it.
//!
//! A daemon that dies (a crash, kill -9) closes the pipe; an armed warden
//! still acts at the moment it was given (the group will declare the node
//! failed then), then exits; a disarmed one exits at once.
//!
//! The words are JSON lines on the warden's standard input; times are
//! `CLOCK_MONOTONIC`, which both processes read alike.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use hacmp_model::clock::monotonic_ns;

/// The argument that makes `hacmpd` a warden.
pub const ARG: &str = "--warden";

/// What the daemon tells its warden.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "word", rename_all = "snake_case")]
pub enum Word {
    /// Act at `at_ns` (CLOCK_MONOTONIC) unless told again before.
    Arm { at_ns: u64 },
    /// Out of the group: nothing to act on.
    Disarm,
    /// The site's service addresses (at start and after a deploy).
    Services { addresses: Vec<IpAddr> },
    /// The applications' servers' process groups now.
    Servers { groups: Vec<i32> },
}

/// The site's service addresses: what a warden takes down.
pub fn service_addresses(site: &hacmp_compiler::Site) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = site
        .resources
        .groups
        .iter()
        .flat_map(|g| &g.resources)
        .filter_map(|r| match &r.kind {
            hacmp_compiler::resources::ResourceKind::ServiceIp { address, .. } => {
                Some(address.addr)
            }
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The daemon's side: the warden's pipe and process.
pub struct Warden {
    input: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
    /// Added to each fence moment: half the lease's guard.
    margin: Duration,
}

impl Warden {
    /// Starts `exe --warden` (this daemon's own binary). `guard` is the
    /// time between the daemon's fence moment and the earliest lapse of
    /// its lease.
    pub fn spawn(exe: &std::path::Path, guard: Duration) -> std::io::Result<Warden> {
        let mut child = Command::new(exe)
            .arg(ARG)
            // Out of the daemon's process group: a terminal's or an
            // operator's signal to that group does not stop it.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let input = child.stdin.take();
        if let Some(i) = &input {
            // A warden that does not read must never block the daemon.
            // SAFETY: fcntl on a descriptor we own.
            unsafe {
                let fd = i.as_raw_fd();
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Ok(Warden {
            input: Mutex::new(input),
            child: Mutex::new(child),
            margin: guard / 2,
        })
    }

    /// The warden of a node running `site` with leases of `ttl`, from this
    /// process's own binary; its pid in `pidfile`. A warden left by an
    /// earlier daemon of this node (it crashed) is made to act at once and
    /// waited for first: what that daemon held must be down before this
    /// one joins and acquires again, and that warden must not take down
    /// what this one will hold.
    pub fn start(
        site: &hacmp_compiler::Site,
        ttl: Duration,
        pidfile: &std::path::Path,
    ) -> std::io::Result<Warden> {
        end_previous(pidfile);
        let w = Warden::spawn(
            std::path::Path::new("/proc/self/exe"),
            hacmp_gs::lease_guard(ttl),
        )?;
        std::fs::write(pidfile, format!("{}\n", w.pid()))?;
        w.tell(&Word::Services {
            addresses: service_addresses(site),
        });
        Ok(w)
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).id()
    }

    /// Tells the warden a word; false when it could not (it is gone, or
    /// its pipe is full).
    pub fn tell(&self, w: &Word) -> bool {
        let Ok(mut line) = serde_json::to_vec(w) else {
            return false;
        };
        line.push(b'\n');
        let mut input = self.input.lock().unwrap_or_else(|p| p.into_inner());
        match input.as_mut().map(|i| i.write_all(&line)) {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                tracing::error!(
                    "the warden cannot be told ({e}): a frozen daemon would not be fenced"
                );
                false
            }
            None => false,
        }
    }

    /// The daemon's fence moment now (`None`: out of the group).
    pub fn fence_at(&self, at: Option<Instant>) -> bool {
        match at {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now()) + self.margin;
                self.tell(&Word::Arm {
                    at_ns: monotonic_ns().saturating_add(left.as_nanos() as u64),
                })
            }
            None => self.tell(&Word::Disarm),
        }
    }

    /// Disarms the warden and waits for it to end (the daemon leaves).
    pub fn close(&self) {
        self.tell(&Word::Disarm);
        drop(self.input.lock().unwrap_or_else(|p| p.into_inner()).take());
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Makes the warden an earlier daemon of this node left (its pid in
/// `pidfile`) act now and waits, at most 5 s, for it to end.
pub fn end_previous(pidfile: &std::path::Path) {
    let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // Only a warden: the pid may have been reused since.
    let is_warden = std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).nth(1) == Some(ARG.as_bytes()));
    if !is_warden {
        return;
    }
    tracing::warn!("the warden (pid {pid}) of this node's previous daemon still runs: it takes down what that daemon held, now");
    // SAFETY: a signal to a process we checked is a warden.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let end = Instant::now() + Duration::from_secs(5);
    // Gone, or a zombie its parent has not reaped yet.
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s.rsplit(") ").next().unwrap_or("").starts_with('Z'))
    };
    while Instant::now() < end && running() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Set by SIGUSR1: act now if armed, then end.
static NOW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn act_now(_: libc::c_int) {
    NOW.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The warden's state: what it was told.
#[derive(Default, Debug)]
struct Told {
    at_ns: Option<u64>,
    addresses: Vec<IpAddr>,
    groups: Vec<i32>,
}

impl Told {
    fn apply(&mut self, w: Word) {
        match w {
            Word::Arm { at_ns } => self.at_ns = Some(at_ns),
            Word::Disarm => self.at_ns = None,
            Word::Services { addresses } => self.addresses = addresses,
            Word::Servers { groups } => self.groups = groups,
        }
    }
}

/// Reads what is there on the non-blocking input; false at its end.
fn drain(input: &mut std::fs::File, buf: &mut Vec<u8>, told: &mut Told) -> bool {
    let mut chunk = [0u8; 4096];
    let open = loop {
        match input.read(&mut chunk) {
            Ok(0) => break false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    while let Some(end) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=end).collect();
        match serde_json::from_slice::<Word>(&line) {
            Ok(w) => told.apply(w),
            Err(e) => eprintln!("hacmpd warden: a word it does not know ({e}): ignored"),
        }
    }
    // A line never ends: do not grow for it.
    if buf.len() > 1 << 20 {
        buf.clear();
    }
    open
}

/// Waits until the input is readable or `timeout_ms` passed (-1: forever).
fn wait_readable(fd: i32, timeout_ms: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one pollfd we own.
    unsafe { libc::poll(&mut p, 1, timeout_ms) };
}

/// The warden's main: reads words on standard input until it ends, acts
/// when an armed moment passes. Its exit status: 0.
pub fn run() -> u8 {
    // Terminal and unit signals are the daemon's to handle: the warden
    // outlives its daemon until what it was told is done.
    // SAFETY: setting dispositions to ignore has no preconditions.
    unsafe {
        for sig in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::signal(libc::SIGUSR1, act_now as *const () as libc::sighandler_t);
    }
    let daemon = std::os::unix::process::parent_id();
    // SAFETY: dup of standard input into a descriptor the File owns.
    let mut input = unsafe {
        use std::os::fd::FromRawFd;
        let fd = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            eprintln!("hacmpd warden: no input");
            return 2;
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        std::fs::File::from_raw_fd(fd)
    };
    let mut told = Told::default();
    let mut buf = Vec::new();
    let mut open = true;
    loop {
        if NOW.load(std::sync::atomic::Ordering::SeqCst) {
            if open {
                drain(&mut input, &mut buf, &mut told);
            }
            if told.at_ns.is_some() {
                act(daemon, &told, "a new daemon of this node starts");
            }
            return 0;
        }
        let now = monotonic_ns();
        match told.at_ns {
            Some(at) if at <= now => {
                // What the daemon said before the moment counts.
                if open {
                    open = drain(&mut input, &mut buf, &mut told);
                }
                if told.at_ns.is_some_and(|at| at <= monotonic_ns()) {
                    act(
                        daemon,
                        &told,
                        "the moment the daemon must have fenced itself by passed without a renewal",
                    );
                    told.at_ns = None;
                }
            }
            Some(at) => {
                let ms = (at - now).div_ceil(1_000_000).min(i32::MAX as u64) as i32;
                if open {
                    wait_readable(input.as_raw_fd(), ms);
                    open = drain(&mut input, &mut buf, &mut told);
                } else {
                    // A sleep a signal interrupts (SIGUSR1).
                    // SAFETY: poll on no descriptor is a sleep.
                    unsafe { libc::poll(std::ptr::null_mut(), 0, ms) };
                }
            }
            None if open => {
                wait_readable(input.as_raw_fd(), -1);
                open = drain(&mut input, &mut buf, &mut told);
            }
            None => return 0,
        }
    }
}

/// The daemon missed its moment (or a new daemon of the node starts): the
/// node lets go of what others will take over. Acts first, says so after:
/// a standard error that fails must not stop it.
fn act(daemon: u32, told: &Told, why: &str) {
    use std::io::Write;
    // Their connections close while the addresses are still there.
    hacmp_node::exec::groups::kill(&told.groups);
    let mut said = Vec::new();
    if !told.addresses.is_empty() {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => {
                for a in &told.addresses {
                    match rt.block_on(crate::resources::ip::remove_everywhere(*a)) {
                        Ok(0) => {}
                        Ok(n) => said.push(format!("{a} taken down ({n} interface(s))")),
                        Err(e) => said.push(e),
                    }
                }
            }
            Err(e) => said.push(format!("cannot take the addresses down: {e}")),
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "hacmpd warden: {why} (daemon pid {daemon}): the service addresses {:?} taken down and the process groups {:?} killed, before the group declares this node failed",
        told.addresses, told.groups
    );
    for line in said {
        let _ = writeln!(err, "hacmpd warden: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_apply() {
        let mut t = Told::default();
        for w in [
            Word::Services {
                addresses: vec!["10.0.0.1".parse().unwrap()],
            },
            Word::Servers { groups: vec![42] },
            Word::Arm { at_ns: 7 },
        ] {
            let line = serde_json::to_string(&w).unwrap();
            t.apply(serde_json::from_str(&line).unwrap());
        }
        assert_eq!(t.at_ns, Some(7));
        assert_eq!(t.groups, vec![42]);
        assert_eq!(t.addresses.len(), 1);
        t.apply(Word::Disarm);
        assert_eq!(t.at_ns, None);
    }

    #[test]
    fn drain_reads_whole_lines_and_keeps_a_partial_one() {
        let (r, mut w) = std::io::pipe().unwrap();
        let fd: std::os::fd::OwnedFd = r.into();
        let mut f = std::fs::File::from(fd);
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let (mut t, mut buf) = (Told::default(), Vec::new());
        w.write_all(b"{\"word\":\"arm\",\"at_ns\":5}\nnot a word\n{\"word\":\"dis")
            .unwrap();
        assert!(drain(&mut f, &mut buf, &mut t));
        assert_eq!(t.at_ns, Some(5));
        w.write_all(b"arm\"}\n").unwrap();
        drop(w);
        // (A process another test forks holds a copy of the write end
        // until it executes: the end comes when that copy closes.)
        let end = Instant::now() + Duration::from_secs(30);
        while drain(&mut f, &mut buf, &mut t) {
            assert!(Instant::now() < end, "the end is never seen");
            wait_readable(f.as_raw_fd(), 100);
        }
        assert_eq!(t.at_ns, None);
    }
}
