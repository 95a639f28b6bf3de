//! `hacmpd`: the node daemon of a real cluster, coordinated through etcd.

use std::path::PathBuf;
use std::sync::Arc;

use hacmp_linux::deadman::Deadman;
use hacmp_linux::resources::LinuxAgent;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hacmp_em::agent::{self, AgentConfig};
use hacmp_etcd::EtcdStore;
use hacmp_gs::coordinator::GroupLink;
use hacmp_gs::group::GroupHandle;
use hacmp_gs::GsError;
use hacmp_node::exec::real::RealExecutor;
use hacmp_node::journal::Journal;
use hacmp_node::manager::{Exit, JournalMode, Stop};
use hacmp_node::NodeBuilder;
use tokio::signal::unix::{signal, SignalKind};

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

/// Exit statuses: 0 left the cluster (or stopped at once), 1 refused or
/// bad site, 2 usage or I/O, 3 lost the group for good (restart it).
pub fn run(args: &DaemonArgs) -> u8 {
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
    let loaded = match load(&args.site, None, args.root.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hacmpd: refusing to start: {e}");
            return e.code;
        }
    };
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
                eprintln!("hacmpd: refusing to start: `{}`: {e}", args.site.display());
                return crate::exit::FINDINGS;
            }
        }
    }
    if !bundle.site.nodes.is_empty() && !bundle.site.nodes.iter().any(|n| n.number == args.node) {
        eprintln!("hacmpd: node {} is not a node of the site", args.node);
        return 2;
    }
    if let Err(e) = args.tls.tls().options(&args.etcd) {
        eprintln!("hacmpd: refusing to start: {e}");
        return 2;
    }
    if args.deadman.is_some() {
        if let Err(e) = hacmp_linux::deadman::timeout_for(args.ttl) {
            eprintln!("hacmpd: refusing to start: {e}");
            return 2;
        }
    }
    let journal = match Journal::in_dir(&state_dir) {
        Ok(j) => j,
        Err(e) => {
            eprintln!(
                "hacmpd: cannot write the journal into `{}`: {e}",
                state_dir.display()
            );
            return 2;
        }
    };
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
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hacmpd: {e}");
            return 2;
        }
    };
    // Opened last: once open, the watchdog counts, and every way out must
    // disarm it.
    let deadman = match args.deadman.as_deref().map(|p| Deadman::open(p, args.ttl)) {
        Some(Err(e)) => {
            eprintln!("hacmpd: refusing to start: {e}");
            return 2;
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    rt.block_on(async {
        // Kept alive from this runtime's thread: if it stalls, so do the
        // keepalives.
        let (deadman_stop, deadman_rx) = tokio::sync::watch::channel(false);
        let deadman = deadman.map(|d| {
            tracing::info!(
                node = args.node,
                timeout_s = d.timeout(),
                "dead man switch armed"
            );
            tokio::spawn(d.keep(deadman_rx))
        });
        let code = serve(args, bundle, loaded.root, journal, state_dir).await;
        let _ = deadman_stop.send(true);
        if let Some(d) = deadman {
            let _ = d.await;
        }
        code
    })
}

/// Runs the node until it leaves, stops or is refused; the exit status.
async fn serve(
    args: &DaemonArgs,
    bundle: Arc<hacmp_compiler::Bundle>,
    root: Option<PathBuf>,
    journal: Arc<Journal>,
    state_dir: PathBuf,
) -> u8 {
    // From now on SIGTERM and SIGINT are this daemon's to handle (a stop
    // while connecting waits for the handler below, and leaves cleanly).
    let signals = (
        signal(SignalKind::terminate()).ok(),
        signal(SignalKind::interrupt()).ok(),
    );
    let store = match EtcdStore::connect(&args.etcd, bundle.site.cluster.id, &args.tls.tls()).await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hacmpd: cannot use etcd at {}: {e}", args.etcd.join(","));
            return 2;
        }
    };
    let settle = args.settle.unwrap_or(bundle.site.cluster.settle.0);
    let exec: Arc<RealExecutor> = Arc::new(RealExecutor::new());
    let shared = GroupLink::new(
        store.clone(),
        bundle.site.cluster.id,
        settle,
        hacmp_model::placement::placer(&bundle),
    );
    // Takes the node's addresses and servers down if this daemon freezes.
    let warden = match hacmp_linux::warden::Warden::start(
        &bundle.site,
        args.ttl,
        &state_dir.join("warden.pid"),
    ) {
        Ok(w) => {
            tracing::info!(node = args.node, pid = w.pid(), "warden started");
            Some(Arc::new(w))
        }
        Err(e) => {
            eprintln!("hacmpd: cannot start the warden: {e}");
            return 2;
        }
    };
    let mut linux = LinuxAgent::new(bundle.clone(), exec.clone(), root.clone());
    if let Some(w) = &warden {
        let w = w.clone();
        linux = linux.with_server_hook(Arc::new(move |groups| {
            w.tell(&hacmp_linux::warden::Word::Servers { groups });
        }));
    }
    if !bundle.site.resources.is_empty() && !hacmp_linux::resources::privileged() {
        tracing::warn!(node = args.node, "not running as root: service addresses and file systems cannot be changed; their groups will go to error");
    }
    let carriers = Arc::new(hacmp_linux::topology::Carriers::default());
    let mut node = NodeBuilder::new(
        shared.clone(),
        args.node,
        args.ttl,
        bundle.clone(),
        exec,
        Arc::new(linux.with_carriers(carriers.clone())),
        hacmp_compiler::signing::TrustedKeys::Dir(args.trusted_keys.clone()),
    )
    .renewal(hacmp_gs::Renewal::beating(args.ttl, args.deadman.is_some()))
    .journal(journal.clone(), JournalMode::Own)
    .root(root.clone());
    if let Some(w) = &warden {
        let w = w.clone();
        node = node.fence_hook(Arc::new(move |at| {
            w.fence_at(at);
        }));
    }
    let manager = node.build();
    let gs = manager.group().clone();
    let counted = Arc::new(hacmp_node::metrics::Metrics::default());
    {
        let c = counted.clone();
        journal.on_end(move |e| c.event_ended(e));
    }
    let agent_stats = Arc::new(hacmp_em::agent::AgentStats::default());
    let seen = crate::http::Seen {
        metrics: counted.clone(),
        agent: agent_stats.clone(),
        store: {
            let store = store.clone();
            Arc::new(move || store.request_stats())
        },
    };
    let http_active = crate::serve::Active::default();
    let servers: Vec<_> = [
        (args.metrics.clone(), crate::http::Pages::Metrics),
        (args.http.clone(), crate::http::Pages::All),
    ]
    .into_iter()
    .filter_map(|(addr, pages)| Some((addr?, pages)))
    .map(|(addr, pages)| {
        tokio::spawn(crate::http::serve(
            addr,
            pages,
            seen.clone(),
            manager.clone(),
            shared.clone(),
            http_active.clone(),
        ))
    })
    .collect();
    let (agent_stop, agent_rx) = tokio::sync::watch::channel(false);
    let acfg = {
        let (node, interval, sample, feed, stats) = (
            args.node,
            args.monitor_interval,
            !args.no_monitor,
            state_dir.join("feed.jsonl"),
            agent_stats.clone(),
        );
        move || AgentConfig {
            node,
            interval,
            sample,
            feed: Some(feed.clone()),
            stats: stats.clone(),
        }
    };
    // Each bundle a deploy switches this node to is kept: a restart
    // starts from it.
    let keeper = {
        let (mut bundles, dir, node) = (manager.bundles(), state_dir.clone(), args.node);
        let warden = warden.clone();
        tokio::spawn(async move {
            while bundles.changed().await.is_ok() {
                let b = bundles.borrow_and_update().clone();
                if let Some(w) = &warden {
                    w.tell(&hacmp_linux::warden::Word::Services {
                        addresses: hacmp_linux::warden::service_addresses(&b.site),
                    });
                }
                if let Err(e) = crate::kept::keep(&dir, &b) {
                    tracing::warn!(
                        node,
                        "cannot keep bundle {} in `{}`: {e}",
                        &b.hash[..12],
                        dir.display()
                    );
                }
            }
        })
    };
    let agent = tokio::spawn(watchers(
        manager.bundles(),
        args.node,
        gs.clone(),
        carriers.clone(),
        acfg,
        agent_rx,
    ));
    let takeover = args.takeover;
    let stopper = manager.clone();
    let signals = tokio::spawn(async move {
        let (Some(mut term), Some(mut int)) = signals else {
            return;
        };
        let mut first = true;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if first {
                first = false;
                crate::systemd::stopping("stopping gracefully");
                tracing::warn!("stopping gracefully{}: after the current event, this node takes part in its node-down, then exits; a second signal stops at once", if takeover { " with takeover" } else { "" });
                // Queued now; the manager leaves after the current event.
                let s = stopper.clone();
                tokio::spawn(async move { s.stop(Stop::Graceful { takeover }).await });
            } else {
                tracing::warn!("stopping at once");
                stopper.stop(Stop::Now).await;
                return;
            }
        }
    });
    tracing::info!(node = args.node, group = %shared.group_name(), bundle = %&bundle.hash[..12], etcd = %args.etcd.join(","), "hacmpd started");
    // Ready for systemd once the node joined or waits to (its node-up
    // behind others, or an operator's stop); refused, it exits instead.
    let notifier = {
        let joined = manager.on_joined();
        let node = args.node;
        tokio::spawn(async move {
            if let Ok(Ok(())) = joined.await {
                crate::systemd::ready(&format!("node {node} in the cluster"));
            }
        })
    };
    let watchdog = crate::systemd::watchdog();
    let result = manager.run().await;
    crate::systemd::stopping("leaving");
    notifier.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    for t in servers {
        t.abort();
    }
    let _ = agent_stop.send(true);
    let _ = agent.await;
    signals.abort();
    keeper.abort();
    shared.shutdown();
    if let Some(w) = &warden {
        w.close();
    }
    match result {
        Ok(Exit::Left) => {
            tracing::info!("left the cluster");
            0
        }
        Ok(Exit::Stopped) => 0,
        Err(GsError::Refused(why)) => {
            eprintln!("hacmpd: {why}");
            1
        }
        Err(e) => {
            eprintln!("hacmpd: {e}");
            3
        }
    }
}

/// Event Management and the adapter watch of the bundle the node runs,
/// started again with the new one when a deploy switches it, until `stop`.
async fn watchers(
    mut bundles: tokio::sync::watch::Receiver<Arc<hacmp_compiler::Bundle>>,
    node: u32,
    gs: Arc<GroupHandle<EtcdStore>>,
    carriers: Arc<hacmp_linux::topology::Carriers>,
    cfg: impl Fn() -> AgentConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut bundle = bundles.borrow_and_update().clone();
    loop {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let em = tokio::spawn(agent::run(bundle.clone(), gs.clone(), cfg(), rx.clone()));
        let topology = hacmp_linux::topology::spawn(
            &bundle.site.resources,
            bundle.site.cluster.id,
            node,
            carriers.clone(),
            gs.clone(),
            rx,
        )
        .await;
        let next = tokio::select! {
            r = bundles.changed() => r.ok().map(|_| bundles.borrow_and_update().clone()),
            _ = stop.wait_for(|s| *s) => None,
        };
        let _ = tx.send(true);
        let _ = em.await;
        if let Some(t) = topology {
            let _ = t.await;
        }
        match next {
            Some(b) => {
                tracing::info!(node, bundle = %&b.hash[..12], "Event Management and the adapter watch follow the new bundle");
                bundle = b;
            }
            None => return,
        }
    }
}

/// Raises the soft limit on open files to the hard one (a unit's default
/// soft limit is 1,024): commands, etcd and the journal must never run out.
/// The HTTP servers take at most `serve::Limits::PAGES.connections`
/// descriptors together, whatever their clients do, so the rest is the
/// event path's.
fn raise_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!(
                    "cannot raise the open-file limit: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}
