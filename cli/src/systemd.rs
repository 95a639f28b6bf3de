//! `hacmpd` under systemd: logs to the journal with priorities and fields
//! (`journalctl -u hacmpd@2 -p warning`, `journalctl NODE=2`) when its
//! standard error is the journal; tells the service manager when it is
//! ready (`Type=notify`) and that its runtime still turns (`WatchdogSec=`).
//! Outside systemd every call here does nothing.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use sd_notify::NotifyState;

/// Whether standard error is connected to the journal: systemd says so in
/// `JOURNAL_STREAM` (`device:inode` of the stream it gave), which a child
/// with redirected output inherits, so the stream itself is compared.
pub fn stderr_is_journal() -> bool {
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM").ok().and_then(|v| {
        let (d, i) = v.split_once(':')?;
        Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?))
    }) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Logs to the journal: each event with its priority (error 3, warn 4,
/// info 5, debug 6) and its fields as journal fields (`NODE`, `SEQ`,
/// `GROUP`, `EVENT`, ...). False when the journal cannot be reached.
pub fn log_to_journal(filter: tracing_subscriber::EnvFilter) -> bool {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let Ok(layer) = tracing_journald::layer() else {
        return false;
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer.with_field_prefix(None))
        .try_init()
        .is_ok()
}

/// Tells the service manager (if any) that the node is up: joined, or
/// waiting to join (behind a node-down, or stopped by an operator).
pub fn ready(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells the service manager (if any) that the daemon is stopping.
pub fn stopping(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// Pings the service manager's watchdog at half its period, from the
/// daemon's runtime: a runtime that stops turning stops the pings and
/// systemd restarts the daemon. `None` without a watchdog; the daemon
/// runs it as one of its parts.
pub fn watchdog() -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let period = sd_notify::watchdog_enabled()?;
    let every = (period / 2).max(Duration::from_millis(100));
    tracing::info!(
        "systemd watchdog: {} (pinged every {})",
        humantime::format_duration(period),
        humantime::format_duration(every)
    );
    Some(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let _ = sd_notify::notify(&[NotifyState::Watchdog]);
        }
    })
}
