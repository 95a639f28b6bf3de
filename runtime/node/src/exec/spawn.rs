//! Starting a checked command without copying the daemon: `clone` with
//! `CLONE_VM | CLONE_VFORK` (what `posix_spawn` does), the child running
//! only system calls on memory the parent prepared, then `execve`.
//!
//! Written by hand for a reason: a fork copies the parent's page tables
//! and makes every page of it copy-on-write until the child executes, so
//! its cost grows with the daemon's memory (256 `true` took 1.4× plain
//! spawning from a 10 MB process and 4.7× from a 100 MB one), and std's
//! `Command` forks as soon as a pre-exec step is asked for. `posix_spawn`
//! cannot set the parent-death signal nor keep a script's descriptor
//! open, which the protections of [`super::launch`] need.
//!
//! In the child, between `clone` and `execve`: no allocation, no lock, no
//! Rust runtime; the signal handlers the daemon installed are reset first
//! (the child has its own table: no `CLONE_SIGHAND`), with every signal
//! blocked until just before `execve`. The parent's thread waits until the
//! child executed or exited; a failure is reported through memory they
//! share, and the child is reaped at once.

use std::ffi::{c_char, c_int, c_void, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// What to start: a checked descriptor and what it runs with.
pub struct Request<'a> {
    /// The checked file, executed as `/proc/self/fd/N`.
    pub exe: RawFd,
    /// A script: its interpreter opens the descriptor after `execve`, so
    /// it stays open.
    pub script: bool,
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
}

/// A started command: its own process group (its pid), not yet reaped.
pub struct Child {
    pub pid: i32,
    /// Readable once the process exited.
    pub pidfd: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// What the child reads, prepared by the parent.
struct Prepared {
    path: CString,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    cwd: CString,
    null: RawFd,
    out: RawFd,
    err: RawFd,
    keep: RawFd,
    parent: libc::pid_t,
    /// Written by the child when a step fails: its errno.
    errno: AtomicI32,
}

fn cstring(s: &str) -> std::io::Result<CString> {
    CString::new(s)
        .map_err(|_| std::io::Error::other(format!("`{}` holds a NUL byte", s.escape_debug())))
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2 writes two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors from pipe2.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The parent reads without blocking; the child's end stays blocking.
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(r.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(r.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    Ok((r, w))
}

/// Starts the command: in its own process group, standard input from
/// `/dev/null`, output and errors into pipes, nothing else inherited,
/// SIGKILL when this process dies.
pub fn spawn(req: &Request<'_>) -> std::io::Result<Child> {
    let args: Vec<CString> = req
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<_, _>>()?;
    let env: Vec<CString> = req
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    let cwd = CString::new(req.cwd.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("the working directory holds a NUL byte"))?;
    let null = OwnedFd::from(std::fs::OpenOptions::new().read(true).open("/dev/null")?);
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let p = Prepared {
        path: cstring(&format!("/proc/self/fd/{}", req.exe))?,
        argv: args
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect(),
        envp: env
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect(),
        cwd,
        null: null.as_raw_fd(),
        out: out_w.as_raw_fd(),
        err: err_w.as_raw_fd(),
        keep: if req.script { req.exe } else { -1 },
        // SAFETY: getpid has no preconditions.
        parent: unsafe { libc::getpid() },
        errno: AtomicI32::new(0),
    };
    // The child's stack: only a few system calls deep.
    let mut stack = vec![0u8; 64 * 1024];
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    let mut pidfd: c_int = -1;
    // SAFETY: every signal is blocked while the child shares our memory
    // (a handler of ours must not run on its stack); the child only reads
    // `p`, which outlives it (this thread waits: CLONE_VFORK), and calls
    // async-signal-safe functions; `pidfd` receives a new descriptor.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child,
            top as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            &p as *const Prepared as *mut c_void,
            &mut pidfd as *mut c_int,
        );
        let e = std::io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(if e.raw_os_error() == Some(libc::EINVAL) {
                std::io::Error::other(format!(
                    "cannot start commands ({e}): Linux 5.3 or later is needed (pidfd)"
                ))
            } else {
                e
            });
        }
        pid
    };
    drop(stack);
    if pidfd < 0 {
        // A kernel before 5.2 ignores CLONE_PIDFD: the child runs, but
        // cannot be watched. End it.
        let mut status = 0;
        // SAFETY: our own child, not reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        return Err(std::io::Error::other(
            "cannot watch a command (no pidfd): Linux 5.3 or later is needed",
        ));
    }
    // SAFETY: CLONE_PIDFD gave us this descriptor.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let failed = p.errno.load(Ordering::SeqCst);
    if failed != 0 {
        // It exited before executing anything: reap it now.
        let mut status = 0;
        // SAFETY: our own child, not reaped yet.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err(std::io::Error::from_raw_os_error(failed));
    }
    drop((null, out_w, err_w));
    Ok(Child {
        pid,
        pidfd,
        stdout: out_r,
        stderr: err_r,
    })
}

/// The child, from `clone` to `execve`.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `Prepared`, alive while the parent's
    // thread waits for this child to execute or exit. Only async-signal-
    // safe calls on integers and on memory prepared before the clone.
    unsafe {
        let p = &*(arg as *const Prepared);
        let fail = |p: &Prepared| -> c_int {
            p.errno.store(*libc::__errno_location(), Ordering::SeqCst);
            libc::_exit(127)
        };
        // The daemon's handlers must not run here; what it ignores stays
        // ignored but SIGPIPE (as std's Command does).
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..=64 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            let h = old.sa_sigaction;
            if h != libc::SIG_DFL && (h != libc::SIG_IGN || sig == libc::SIGPIPE) {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        if libc::setpgid(0, 0) != 0 {
            return fail(p);
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return fail(p);
        }
        // The parent may have died before the prctl.
        if libc::getppid() != p.parent {
            *libc::__errno_location() = libc::ESRCH;
            return fail(p);
        }
        if libc::dup2(p.null, 0) < 0 || libc::dup2(p.out, 1) < 0 || libc::dup2(p.err, 2) < 0 {
            return fail(p);
        }
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            return fail(p);
        }
        close_all_at_exec();
        // The kernel executes the descriptor before closing it; a
        // script's interpreter opens it after, so it stays open.
        if p.keep >= 0 && libc::fcntl(p.keep, libc::F_SETFD, 0) != 0 {
            return fail(p);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(p.path.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
        fail(p)
    }
}

/// Marks every descriptor above standard error close-on-exec.
fn close_all_at_exec() {
    // SAFETY: plain syscalls on integers.
    unsafe {
        if libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) == 0 {
            return;
        }
        // Before Linux 5.11: one by one, as far as the limit goes.
        let max = libc::sysconf(libc::_SC_OPEN_MAX).clamp(1024, 65536) as i32;
        for fd in 3..max {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// How a reaped process ended.
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// Reaps `pid` if it has exited; `None` while it runs.
pub fn try_reap(pid: i32) -> std::io::Result<Option<Ended>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == 0 {
            return Ok(None);
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(Some(if libc::WIFEXITED(status) {
            Ended::Exited(libc::WEXITSTATUS(status))
        } else {
            Ended::Signaled(libc::WTERMSIG(status))
        }));
    }
}
