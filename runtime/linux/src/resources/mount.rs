//! File systems through mount(2) and umount(2); fsck as a command (argv
//! from the site, no shell, a clean environment).

use std::ffi::CString;
use std::path::Path;
use std::time::Duration;

use rustix::mount::{MountFlags, UnmountFlags};

/// Whether something is mounted at `target` (read from the kernel's table
/// of this thread's mount namespace: a thread may have one of its own).
pub fn is_mounted(target: &Path) -> Result<bool, String> {
    let table = std::fs::read_to_string("/proc/thread-self/mountinfo")
        .or_else(|_| std::fs::read_to_string("/proc/self/mountinfo"))
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let want = target.to_string_lossy();
    Ok(table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape(m) == want))
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Flags mount(2) takes for the usual options; the rest goes to the file
/// system as data.
fn flags(fstype: &str, options: &str) -> (MountFlags, String) {
    let mut f = MountFlags::empty();
    let mut data = Vec::new();
    if fstype == "bind" || fstype == "none" {
        f |= MountFlags::BIND;
    }
    for o in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "ro" => f |= MountFlags::RDONLY,
            "rw" | "defaults" => {}
            "nosuid" => f |= MountFlags::NOSUID,
            "nodev" => f |= MountFlags::NODEV,
            "noexec" => f |= MountFlags::NOEXEC,
            "noatime" => f |= MountFlags::NOATIME,
            "nodiratime" => f |= MountFlags::NODIRATIME,
            "relatime" => f |= MountFlags::RELATIME,
            "sync" => f |= MountFlags::SYNCHRONOUS,
            "bind" => f |= MountFlags::BIND,
            "rbind" => f |= MountFlags::BIND | MountFlags::REC,
            other => data.push(other),
        }
    }
    (f, data.join(","))
}

fn cstr(what: &str, s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} `{s}` contains NUL"))
}

/// One mount or unmount at a time, held by its thread: a call whose
/// caller gave up (a fenced node's event dropped mid-mount) still finishes,
/// and the release that follows waits for it instead of finding nothing
/// mounted yet.
static IN_FLIGHT: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// Runs a blocking mount call on a thread of its own and waits for it
/// without blocking the event loop: a mount replaying a journal, or an
/// unmount flushing a large cache, can take seconds, and the loop renews
/// the lease and keeps the dead man switch alive. The thread is spawned
/// from the caller's, whose mount namespace it shares.
pub async fn off_loop<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let turn = IN_FLIGHT.clone().lock_owned().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hacmp-mount".into())
        .spawn(move || {
            let r = f();
            drop(turn);
            let _ = tx.send(r);
        })
        .map_err(|e| format!("cannot start a thread for the mount: {e}"))?;
    rx.await
        .map_err(|_| "the mount's thread ended without an answer".to_string())?
}

/// Mounts `device` at `target` (a no-op when something is mounted there).
pub fn mount(device: &Path, target: &Path, fstype: &str, options: &str) -> Result<bool, String> {
    if is_mounted(target)? {
        return Ok(false);
    }
    let (flags, data) = flags(fstype, options);
    let ty = if flags.contains(MountFlags::BIND) {
        "none"
    } else {
        fstype
    };
    let data = cstr("options", &data)?;
    rustix::mount::mount(device, target, ty, flags, data.as_c_str()).map_err(|e| {
        format!(
            "cannot mount {} on {}: {}",
            device.display(),
            target.display(),
            std::io::Error::from(e)
        )
    })?;
    Ok(true)
}

/// Unmounts `target` (a no-op when nothing is mounted there). A busy file
/// system is an error: the group's applications should have stopped.
pub fn unmount(target: &Path) -> Result<bool, String> {
    if !is_mounted(target)? {
        return Ok(false);
    }
    rustix::mount::unmount(target, UnmountFlags::empty()).map_err(|e| {
        format!(
            "cannot unmount {}: {}",
            target.display(),
            std::io::Error::from(e)
        )
    })?;
    Ok(true)
}

/// `fsck -a DEVICE`: 0 (clean) and 1 (errors corrected) let the mount go
/// on; anything else stops it.
pub async fn fsck(device: &Path, timeout: Duration) -> Result<(), String> {
    let fsck = ["/usr/sbin/fsck", "/sbin/fsck"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("no fsck command in /usr/sbin or /sbin")?;
    let mut child = tokio::process::Command::new(fsck)
        .arg("-a")
        .arg(device)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {fsck}: {e}"))?;
    let status = tokio::time::timeout(timeout, child.wait())
        .await
        .map_err(|_| format!("{fsck} {} took over {timeout:?}", device.display()))?
        .map_err(|e| format!("{fsck} lost: {e}"))?;
    match status.code() {
        Some(0 | 1) => Ok(()),
        Some(c) => Err(format!("{fsck} -a {} exited {c}", device.display())),
        None => Err(format!("{fsck} -a {} was killed", device.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mount call that takes its time leaves the event loop turning
    /// (on one thread, as in hacmpd).
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_mount_call_does_not_stop_the_event_loop() {
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        };
        let r = off_loop(|| {
            std::thread::sleep(std::time::Duration::from_millis(400));
            Ok(7)
        })
        .await;
        counter.abort();
        assert_eq!(r, Ok(7));
        assert!(ticks.load(std::sync::atomic::Ordering::SeqCst) >= 5);
        assert_eq!(
            off_loop::<()>(|| Err("busy".into())).await,
            Err("busy".to_string())
        );
    }

    /// A mount whose caller gave up still holds its turn: the next call
    /// (the release) runs after it, and sees it done.
    #[tokio::test(flavor = "current_thread")]
    async fn a_call_given_up_finishes_before_the_next_one() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            off_loop(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                d.store(true, Ordering::SeqCst);
                Ok(())
            }),
        )
        .await;
        assert!(gave_up.is_err());
        let d = done.clone();
        assert_eq!(
            off_loop(move || Ok(d.load(Ordering::SeqCst))).await,
            Ok(true)
        );
    }

    #[test]
    fn mountinfo_escapes_and_options() {
        assert_eq!(unescape("/srv/a\\040b"), "/srv/a b");
        assert_eq!(unescape("/srv\\"), "/srv\\");
        let (f, d) = flags("ext4", "noatime,ro,data=ordered");
        assert_eq!(f, MountFlags::NOATIME | MountFlags::RDONLY);
        assert_eq!(d, "data=ordered");
        assert_eq!(flags("bind", "").0, MountFlags::BIND);
    }
}
