//! `hacmpd`: the node daemon of a real cluster, coordinated through etcd.
//! `run` checks what it is given and starts the runtime; `serve` runs the
//! node until it leaves; `error` is why it ended, as the exit table says.

mod error;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hacmp_linux::deadman::Deadman;
use hacmp_node::journal::Journal;
use tokio_util::sync::CancellationToken;

pub use error::DaemonError;

use crate::bundle::{init_logging, load};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// The journal when standard error is the journal (under systemd),
    /// else human.
    Auto,
    Human,
    Json,
    /// The journal, with priorities and fields (`journalctl NODE=2`).
    Journal,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// The site file (or a compiled bundle).
    #[arg(long)]
    pub site: PathBuf,
    /// This node's number.
    #[arg(long)]
    pub node: u32,
    /// Staging root: where the absolute paths of a compiled bundle resolve
    /// (a site file gives its own with `[paths] root`).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// etcd endpoints, comma-separated (`http://10.0.0.1:2379,...`); every
    /// one is used.
    #[arg(long, env = "HACMP_ETCD", value_delimiter = ',', required = true)]
    pub etcd: Vec<String>,
    #[command(flatten)]
    pub tls: crate::ops::TlsArgs,
    /// Journal, feed and restart state.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Lease time to live: a node silent this long has failed. Whole
    /// seconds, as etcd counts them.
    #[arg(long, default_value = "5s", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Queue settle interval (default: the site's).
    #[arg(long, value_parser = crate::ops::parse_duration)]
    pub settle: Option<Duration>,
    /// On SIGTERM, stop gracefully with takeover (the others take over).
    #[arg(long)]
    pub takeover: bool,
    /// Event Management sampling interval.
    #[arg(long, default_value = "1s", value_parser = crate::ops::parse_duration)]
    pub monitor_interval: Duration,
    /// Do not sample this machine (its variables come from the feed only).
    #[arg(long)]
    pub no_monitor: bool,
    /// How to log (default: the journal under systemd, else human).
    #[arg(long, value_enum, default_value = "auto")]
    pub log_format: LogFormat,
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Serve Prometheus metrics at `ADDR` (`GET /metrics` only), e.g. `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// A watchdog device (`/dev/watchdog`) kept alive while the daemon
    /// runs, the original's dead man switch: a node frozen longer than its
    /// timeout (two thirds of the TTL less 250 ms, whole seconds) resets
    /// before the others take over what it holds. Disarmed on exit.
    #[arg(long, value_name = "DEVICE")]
    pub deadman: Option<PathBuf>,
    /// Serve a read-only status page at `ADDR` (`/`, `/status.json`,
    /// `/metrics`), e.g. `127.0.0.1:9465`. Off by default; use a loopback
    /// address unless the page may be seen from elsewhere.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// The public keys (`*.pub`) whose signature a bundle must carry to be
    /// staged, switched to or run; root's, writable by root only. Read
    /// again at each deploy.
    #[arg(
        long,
        env = "HACMP_TRUSTED_KEYS",
        value_name = "DIR",
        default_value = hacmp_compiler::signing::TRUSTED_KEYS
    )]
    pub trusted_keys: PathBuf,
}

/// etcd grants leases in whole seconds: a TTL between them would be
/// rounded, and the node would fence itself by one time to live while the
/// group declares it failed by another.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    let d = crate::ops::parse_duration(s)?;
    if d.subsec_nanos() != 0 || d.is_zero() {
        return Err(format!(
            "etcd leases count whole seconds: give one or more (`{}s`)",
            d.as_secs().max(1)
        ));
    }
    Ok(d)
}

/// Exit statuses: 0 left the cluster (or stopped at once), then as
/// `DaemonError::exit_code`: 1 refused or bad site, 2 usage or I/O, 3 lost
/// the group for good (restart it).
pub fn run(args: &DaemonArgs) -> u8 {
    match start(args) {
        Ok(()) => crate::exit::OK,
        Err(e) => {
            eprintln!("hacmpd: {e}");
            e.exit_code()
        }
    }
}

fn start(args: &DaemonArgs) -> Result<(), DaemonError> {
    let journal = match args.log_format {
        LogFormat::Journal => true,
        LogFormat::Auto => crate::systemd::stderr_is_journal(),
        LogFormat::Human | LogFormat::Json => false,
    };
    let verbose = args.verbose.max(1);
    if !(journal && crate::systemd::log_to_journal(crate::bundle::log_filter(verbose))) {
        init_logging(verbose, matches!(args.log_format, LogFormat::Json), true);
        if journal {
            tracing::warn!("the journal cannot be reached: logging to standard error");
        }
    }
    raise_file_limit();
    let refusing =
        |e: &dyn std::fmt::Display| DaemonError::Usage(format!("refusing to start: {e}"));
    let loaded = load(&args.site, None, args.root.as_deref()).map_err(|e| {
        let why = format!("refusing to start: {e}");
        if e.code == crate::exit::FINDINGS {
            DaemonError::Site(why)
        } else {
            DaemonError::Usage(why)
        }
    })?;
    let trusted = hacmp_compiler::signing::TrustedKeys::Dir(args.trusted_keys.clone());
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("hacmp-state/node{}", args.node)));
    let given_hash = loaded.bundle.hash.clone();
    let (loaded, why) = crate::kept::choose(&args.site, loaded, &state_dir, &trusted);
    if let Some(why) = why {
        tracing::warn!(node = args.node, "{why}");
    }
    let from_kept = loaded.bundle.hash != given_hash;
    let bundle = Arc::new(loaded.bundle);
    // A bundle file runs only if a trusted key signed it (its own site may
    // make it a lab's: it is root's file on this node). A site file is
    // compiled here from root's files: nothing to vouch for.
    if args.site.extension().is_some_and(|e| e == "json") && !from_kept {
        match hacmp_compiler::signing::admit(&bundle, &bundle.site, &trusted) {
            Ok(how) => tracing::info!(node = args.node, "bundle `{}`: {how}", args.site.display()),
            Err(e) => {
                return Err(DaemonError::Site(format!(
                    "refusing to start: `{}`: {e}",
                    args.site.display()
                )))
            }
        }
    }
    if !bundle.site.nodes.is_empty() && !bundle.site.nodes.iter().any(|n| n.number == args.node) {
        return Err(DaemonError::Usage(format!(
            "node {} is not a node of the site",
            args.node
        )));
    }
    args.tls
        .tls()
        .options(&args.etcd)
        .map_err(|e| refusing(&e))?;
    if args.deadman.is_some() {
        hacmp_linux::deadman::timeout_for(args.ttl).map_err(|e| refusing(&e))?;
    }
    let journal = Journal::in_dir(&state_dir).map_err(|e| {
        DaemonError::Usage(format!(
            "cannot write the journal into `{}`: {e}",
            state_dir.display()
        ))
    })?;
    if let Err(e) = crate::kept::keep(&state_dir, &bundle) {
        tracing::warn!(
            node = args.node,
            "cannot keep the bundle in `{}`: {e}",
            state_dir.display()
        );
    }
    // What the last run left unfinished on this node is closed as
    // interrupted: its commands were killed with the daemon.
    for b in journal.close_interrupted(args.node) {
        tracing::warn!(node = args.node, "interrupted by the last stop: event #{} {} at node {} did not end on this node (recorded as interrupted); rejoining as a new node-up", b.seq, b.name, b.location);
    }
    // One thread: a daemon waits far more than it computes, and a wake-up
    // stays on the thread that sees it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Usage(e.to_string()))?;
    // Opened last: once open, the watchdog counts, and every way out must
    // disarm it.
    let deadman = match args.deadman.as_deref().map(|p| Deadman::open(p, args.ttl)) {
        Some(Err(e)) => return Err(refusing(&e)),
        Some(Ok(d)) => Some(d),
        None => None,
    };
    rt.block_on(async {
        // The one stop every part follows: the daemon's parts end on a
        // child of it (`serve`), the dead man switch on the token itself,
        // after them.
        let stop = CancellationToken::new();
        // Kept alive from this runtime's thread: if it stalls, so do the
        // keepalives.
        let deadman = deadman.map(|d| {
            tracing::info!(
                node = args.node,
                timeout_s = d.timeout(),
                "dead man switch armed"
            );
            tokio::spawn(d.keep(stop.clone()))
        });
        let ended = serve::serve(
            args,
            bundle,
            loaded.root,
            journal,
            state_dir,
            stop.child_token(),
        )
        .await;
        stop.cancel();
        if let Some(d) = deadman {
            let _ = d.await;
        }
        ended
    })
}

/// Raises the soft limit on open files to the hard one (a unit's default
/// soft limit is 1,024): commands, etcd and the journal must never run out.
/// The HTTP servers take at most `serve::Limits::PAGES.connections`
/// descriptors together, whatever their clients do, so the rest is the
/// event path's.
fn raise_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let below = match (lim.current, lim.maximum) {
        (Some(cur), Some(max)) => cur < max,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!("cannot raise the open-file limit: {e}");
        }
    }
}
