//! `hacmpd`: the node daemon of a real cluster, coordinated through etcd.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hacmp_runtime::em::agent::{self, AgentConfig};
use hacmp_runtime::exec::real::RealExecutor;
use hacmp_runtime::gs::etcd::{EtcdConfig, EtcdGs};
use hacmp_runtime::gs::GsError;
use hacmp_runtime::journal::{read_journal, Journal};
use hacmp_runtime::manager::{Exit, JournalMode, Manager, ManagerConfig, Stop};
use tokio::signal::unix::{signal, SignalKind};

use crate::bundle::{init_logging, load};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// The site file (or a compiled bundle).
    #[arg(long)]
    pub site: PathBuf,
    /// This node's number.
    #[arg(long)]
    pub node: u32,
    /// etcd endpoints, comma-separated (`http://10.0.0.1:2379,...`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub etcd: Vec<String>,
    /// Journal, feed and restart state.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Lease time to live: a node silent this long has failed.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub ttl: Duration,
    /// Queue settle interval (default: the site's).
    #[arg(long, value_parser = parse_duration)]
    pub settle: Option<Duration>,
    /// On SIGTERM, stop gracefully with takeover (the others take over).
    #[arg(long)]
    pub takeover: bool,
    /// Event Management sampling interval.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub monitor_interval: Duration,
    /// Do not sample this machine (its variables come from the feed only).
    #[arg(long)]
    pub no_monitor: bool,
    #[arg(long, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    hacmp_stdlib::Duration::parse(s).map(|d| d.0)
}

/// Exit statuses: 0 left the cluster, 1 refused or bad site, 2 usage or
/// I/O, 3 expelled or lost the group (restart it).
pub fn run(args: &DaemonArgs) -> u8 {
    init_logging(
        args.verbose.max(1),
        matches!(args.log_format, LogFormat::Json),
    );
    let loaded = match load(&args.site, None, None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hacmpd: refusing to start: {e}");
            return 1;
        }
    };
    let bundle = Arc::new(loaded.bundle);
    if !bundle.site.nodes.is_empty() && !bundle.site.nodes.iter().any(|n| n.number == args.node) {
        eprintln!("hacmpd: node {} is not a node of the site", args.node);
        return 2;
    }
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("hacmp-state/node{}", args.node)));
    // What the last run left unfinished.
    let journal_file = state_dir.join("journal.jsonl");
    if let Ok((_, interrupted)) = read_journal(&journal_file) {
        for (seq, name, location) in interrupted {
            tracing::warn!(node = args.node, "interrupted by the last stop: event #{seq} {name} at node {location} did not end on this node; rejoining as a new node-up");
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
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hacmpd: {e}");
            return 2;
        }
    };
    rt.block_on(async {
        let cfg = EtcdConfig {
            endpoints: args.etcd.clone(),
            cluster_id: bundle.site.cluster.id,
            node: args.node,
            ttl: args.ttl,
            settle: args.settle.unwrap_or(bundle.site.cluster.settle.0),
        };
        let gs = match EtcdGs::connect(&cfg).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("hacmpd: cannot reach etcd at {}: {e}", args.etcd.join(","));
                return 3;
            }
        };
        let mcfg = ManagerConfig {
            node: args.node,
            bundle: bundle.clone(),
            root: loaded.root.clone(),
            journal: journal.clone(),
            journal_mode: JournalMode::Own,
            remind_after: Duration::from_secs(30),
            member: false,
        };
        let manager = Manager::new(mcfg, gs.clone(), Arc::new(RealExecutor));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
        let (agent_stop, agent_rx) = tokio::sync::watch::channel(false);
        let acfg = AgentConfig { node: args.node, interval: args.monitor_interval, sample: !args.no_monitor, feed: Some(state_dir.join("feed.jsonl")) };
        let agent = tokio::spawn(agent::run(bundle.clone(), gs.clone(), acfg, agent_rx));
        let takeover = args.takeover;
        let signals = tokio::spawn(async move {
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else { return };
            let mut first = true;
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if first {
                    tracing::warn!("stopping gracefully{}; a second signal stops at once", if takeover { " with takeover" } else { "" });
                    let _ = stop_tx.send(Some(Stop::Graceful { takeover }));
                    first = false;
                } else {
                    tracing::warn!("stopping at once");
                    let _ = stop_tx.send(Some(Stop::Now));
                    return;
                }
            }
        });
        tracing::info!(node = args.node, group = %hacmp_runtime::gs::GroupServices::group_name(&*gs), bundle = %&bundle.hash[..12], "hacmpd started");
        let result = manager.run(stop_rx).await;
        let _ = agent_stop.send(true);
        let _ = agent.await;
        signals.abort();
        gs.close().await;
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
    })
}
