//! The dead man switch: a watchdog device (`/dev/watchdog`) the daemon
//! keeps alive while it runs. A node frozen (SIGSTOP, a hung kernel thread,
//! a stalled runtime) cannot fence itself: it would hold its service
//! addresses and file systems while the others, seeing its lease lapse,
//! take them over. With the switch the machine resets first.
//!
//! The reset must come before the takeover. The others act at the earliest
//! a time to live after the node's last renewal, which while renewals
//! succeed is at most a renewal interval (a third of the time to live: a
//! daemon with the switch renews that often, `gs::Renewal::beating`)
//! before its last keepalive: the watchdog's timeout is at most two thirds
//! of the time to live, less a quarter second, in whole seconds as
//! watchdogs count. (A node frozen while etcd is already failing its
//! renewals, two faults at once, may be reset later than that: stopping
//! the keepalives whenever renewals fail would reset every node at each
//! etcd outage, which a running node survives by fencing itself.) A
//! graceful exit disarms the watchdog (the magic close, `V`); a crash,
//! even a panic, leaves it armed — the node may still hold addresses —
//! and a daemon started again in time takes it over.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `_IOWR('W', 6, int)` of `linux/watchdog.h`.
const WDIOC_SETTIMEOUT: libc::c_ulong = 0xC004_5706;

/// The longest watchdog timeout that resets a frozen node before the
/// others can take over: two thirds of the time to live less a quarter
/// second, in whole seconds; none below one second.
pub fn timeout_for(ttl: Duration) -> Result<u32, String> {
    let most = ttl
        .mul_f64(2.0 / 3.0)
        .saturating_sub(Duration::from_millis(250));
    let secs = most.as_secs();
    if secs == 0 {
        return Err(format!(
            "the dead man switch needs a lease time to live of at least 2 s (watchdogs count whole seconds, and the reset must come within two thirds of it); --ttl is {}",
            humantime::format_duration(ttl)
        ));
    }
    Ok(u32::try_from(secs).unwrap_or(u32::MAX))
}

/// An armed watchdog.
pub struct Deadman {
    file: File,
    path: PathBuf,
    timeout: u32,
}

impl Deadman {
    /// Opens the device and sets its timeout for `ttl`. A regular file (a
    /// test's stand-in) is written all the same, with a warning. Once the
    /// device is open it counts: every failure here disarms it.
    pub fn open(path: &Path, ttl: Duration) -> Result<Deadman, String> {
        let want = timeout_for(ttl)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open the watchdog `{}`: {e}", path.display()))?;
        let device = file
            .metadata()
            .map(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()))
            .unwrap_or(false);
        let mut d = Deadman {
            file,
            path: path.to_path_buf(),
            timeout: want,
        };
        let set = if device {
            d.set_timeout(want)
        } else {
            tracing::warn!(
                "`{}` is not a watchdog device: it is written to, but nothing resets this machine",
                path.display()
            );
            Ok(())
        };
        match set.and_then(|()| {
            d.pet()
                .map_err(|e| format!("cannot write to the watchdog `{}`: {e}", path.display()))
        }) {
            Ok(()) => Ok(d),
            Err(e) => {
                d.disarm();
                Err(e)
            }
        }
    }

    /// WDIOC_SETTIMEOUT; the driver answers with the timeout it took,
    /// which must not be longer.
    fn set_timeout(&mut self, want: u32) -> Result<(), String> {
        let mut t = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
        // SAFETY: the ioctl reads and writes one int we own.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), WDIOC_SETTIMEOUT as _, &mut t) };
        if r != 0 {
            return Err(format!(
                "cannot set the timeout of the watchdog `{}` to {want} s: {}",
                self.path.display(),
                std::io::Error::last_os_error()
            ));
        }
        match u32::try_from(t) {
            Ok(t) if (1..=want).contains(&t) => {
                self.timeout = t;
                Ok(())
            }
            _ => Err(format!(
                "the watchdog `{}` took a timeout of {t} s; the lease time to live needs at most {want} s: raise --ttl",
                self.path.display()
            )),
        }
    }

    /// The watchdog's timeout in seconds.
    pub fn timeout(&self) -> u32 {
        self.timeout
    }

    /// How often it is kept alive: four times per timeout.
    pub fn every(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout)) / 4
    }

    pub fn pet(&mut self) -> std::io::Result<()> {
        self.file.write_all(b".")
    }

    /// The magic close: a driver that allows it stops counting.
    pub fn disarm(&mut self) {
        if let Err(e) = self.file.write_all(b"V") {
            tracing::error!(
                "cannot disarm the watchdog `{}` ({e}): this machine resets in {} s",
                self.path.display(),
                self.timeout
            );
        }
    }

    /// Keeps the watchdog alive until `stop` is cancelled, then disarms it. A
    /// failed write is said once; the next ones are tried all the same.
    pub async fn keep(mut self, stop: tokio_util::sync::CancellationToken) {
        let mut told = false;
        let mut tick = tokio::time::interval(self.every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    match self.pet() {
                        Ok(()) => told = false,
                        Err(e) if !told => {
                            told = true;
                            tracing::error!("cannot keep the watchdog `{}` alive ({e}): this machine resets in {} s", self.path.display(), self.timeout);
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        self.disarm();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_resets_a_frozen_node_before_the_others_take_over() {
        let s = Duration::from_secs;
        assert_eq!(timeout_for(s(5)), Ok(3));
        assert_eq!(timeout_for(s(2)), Ok(1));
        assert_eq!(timeout_for(s(30)), Ok(19));
        assert!(timeout_for(Duration::from_millis(1500))
            .unwrap_err()
            .contains("at least 2 s"));
        for ms in (2000..60_000).step_by(250) {
            let ttl = Duration::from_millis(ms);
            let t = Duration::from_secs(u64::from(timeout_for(ttl).unwrap()));
            // The daemon's renewals with the switch.
            let every = hacmp_gs::Renewal::beating(ttl, true).every;
            assert!(t + every < ttl, "{ms} ms");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn kept_alive_four_times_per_timeout_then_disarmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, "").unwrap();
        let d = Deadman::open(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(d.timeout(), 3);
        assert_eq!(d.every(), Duration::from_millis(750));
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(d.keep(stop.clone()));
        tokio::time::sleep(Duration::from_millis(3100)).await;
        // One pet at open, then at 0, 750, 1500, 2250, 3000 ms.
        assert_eq!(std::fs::read(&path).unwrap(), b"......");
        stop.cancel();
        task.await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"......V");
    }

    #[test]
    fn a_missing_device_is_an_error() {
        let e = Deadman::open(Path::new("/nonexistent/watchdog"), Duration::from_secs(5))
            .err()
            .unwrap();
        assert!(
            e.contains("cannot open the watchdog `/nonexistent/watchdog`"),
            "{e}"
        );
    }
}
