//! The running daemon: its node built (`NodeBuilder`), its parts started
//! on one tracker, and one ordered stop once the node has left:
//!
//! ```text
//!   manager.run() ends ── stop.cancel() ──▶ parts end, awaited (signals,
//!       HTTP, Event Management and the adapter watch, the bundle keeper,
//!       systemd's notifier and watchdog)
//!                     ──▶ the group link (coordinator, beat watch)
//!                     ──▶ the warden, last of what holds addresses
//!   (then `run`: the dead man switch)
//! ```

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hacmp_em::agent::{self, AgentConfig};
use hacmp_etcd::EtcdStore;
use hacmp_gs::coordinator::GroupLink;
use hacmp_gs::group::GroupHandle;
use hacmp_linux::resources::LinuxAgent;
use hacmp_node::exec::real::RealExecutor;
use hacmp_node::journal::Journal;
use hacmp_node::manager::{Exit, JournalMode, Manager, Stop};
use hacmp_node::NodeBuilder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{DaemonArgs, DaemonError};

/// Runs `part` on `tasks` until it ends or `stop` is cancelled.
fn part(
    tasks: &TaskTracker,
    stop: &CancellationToken,
    part: impl Future<Output = ()> + Send + 'static,
) {
    let stop = stop.clone();
    tasks.spawn(async move {
        tokio::select! {
            biased;
            _ = stop.cancelled() => {}
            _ = part => {}
        }
    });
}

pub(super) async fn serve(
    args: &DaemonArgs,
    bundle: Arc<hacmp_compiler::Bundle>,
    root: Option<PathBuf>,
    journal: Arc<Journal>,
    state_dir: PathBuf,
    stop: CancellationToken,
) -> Result<(), DaemonError> {
    // From now on SIGTERM and SIGINT are this daemon's to handle (a stop
    // while connecting waits for the handler below, and leaves cleanly).
    let signals = (
        signal(SignalKind::terminate()).ok(),
        signal(SignalKind::interrupt()).ok(),
    );
    let store = EtcdStore::connect(&args.etcd, bundle.site.cluster.id, &args.tls.tls())
        .await
        .map_err(|e| {
            DaemonError::Usage(format!("cannot use etcd at {}: {e}", args.etcd.join(",")))
        })?;
    let settle = args.settle.unwrap_or(bundle.site.cluster.settle.0);
    let exec: Arc<RealExecutor> = Arc::new(RealExecutor::new());
    let link = GroupLink::new(
        store.clone(),
        bundle.site.cluster.id,
        settle,
        hacmp_model::placement::placer(&bundle),
    );
    // Takes the node's addresses and servers down if this daemon freezes.
    let warden =
        hacmp_linux::warden::Warden::start(&bundle.site, args.ttl, &state_dir.join("warden.pid"))
            .map_err(|e| DaemonError::Usage(format!("cannot start the warden: {e}")))?;
    tracing::info!(node = args.node, pid = warden.pid(), "warden started");
    let warden = Arc::new(warden);
    let mut linux = LinuxAgent::new(bundle.clone(), exec.clone(), root.clone());
    {
        let w = warden.clone();
        linux = linux.with_server_hook(Arc::new(move |groups| {
            w.tell(&hacmp_linux::warden::Word::Servers { groups });
        }));
    }
    if !bundle.site.resources.is_empty() && !hacmp_linux::resources::privileged() {
        tracing::warn!(node = args.node, "not running as root: service addresses and file systems cannot be changed; their groups will go to error");
    }
    let carriers = Arc::new(hacmp_linux::topology::Carriers::default());
    let manager = {
        let w = warden.clone();
        NodeBuilder::new(
            link.clone(),
            args.node,
            args.ttl,
            bundle.clone(),
            exec,
            Arc::new(linux.with_carriers(carriers.clone())),
            hacmp_compiler::signing::TrustedKeys::Dir(args.trusted_keys.clone()),
        )
        .renewal(hacmp_gs::Renewal::beating(args.ttl, args.deadman.is_some()))
        .fence_hook(Arc::new(move |at| {
            w.fence_at(at);
        }))
        .journal(journal.clone(), JournalMode::Own)
        .root(root)
        .build()
    };
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
    let tasks = TaskTracker::new();
    let http_active = crate::serve::Active::default();
    for (addr, pages) in [
        (args.metrics.clone(), crate::http::Pages::Metrics),
        (args.http.clone(), crate::http::Pages::All),
    ] {
        if let Some(addr) = addr {
            part(
                &tasks,
                &stop,
                crate::http::serve(
                    addr,
                    pages,
                    seen.clone(),
                    manager.clone(),
                    link.clone(),
                    http_active.clone(),
                ),
            );
        }
    }
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
    part(
        &tasks,
        &stop,
        keep_bundles(
            manager.bundles(),
            state_dir.clone(),
            args.node,
            warden.clone(),
        ),
    );
    // Ends by itself once `stop` is cancelled, after its own parts.
    tasks.spawn(watchers(
        manager.bundles(),
        args.node,
        gs.clone(),
        carriers.clone(),
        acfg,
        stop.clone(),
    ));
    part(
        &tasks,
        &stop,
        on_signals(signals, manager.clone(), args.takeover, tasks.clone()),
    );
    tracing::info!(node = args.node, group = %link.group_name(), bundle = %&bundle.hash[..12], etcd = %args.etcd.join(","), "hacmpd started");
    // Ready for systemd once the node joined or waits to (its node-up
    // behind others, or an operator's stop); refused, it exits instead.
    {
        let joined = manager.on_joined();
        let node = args.node;
        part(&tasks, &stop, async move {
            if let Ok(Ok(())) = joined.await {
                crate::systemd::ready(&format!("node {node} in the cluster"));
            }
        });
    }
    if let Some(w) = crate::systemd::watchdog() {
        part(&tasks, &stop, w);
    }
    let result = manager.run().await;
    crate::systemd::stopping("leaving");
    stop.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            node = args.node,
            "parts of the daemon still running 10 s after it left: exiting without them"
        );
    }
    link.shutdown();
    warden.close();
    match result? {
        Exit::Left => tracing::info!("left the cluster"),
        Exit::Stopped => {}
    }
    Ok(())
}

/// Keeps each bundle a deploy switches the node to in `dir`, and tells the
/// warden its service addresses.
async fn keep_bundles(
    mut bundles: tokio::sync::watch::Receiver<Arc<hacmp_compiler::Bundle>>,
    dir: PathBuf,
    node: u32,
    warden: Arc<hacmp_linux::warden::Warden>,
) {
    while bundles.changed().await.is_ok() {
        let b = bundles.borrow_and_update().clone();
        warden.tell(&hacmp_linux::warden::Word::Services {
            addresses: hacmp_linux::warden::service_addresses(&b.site),
        });
        if let Err(e) = crate::kept::keep(&dir, &b) {
            tracing::warn!(
                node,
                "cannot keep bundle {} in `{}`: {e}",
                &b.hash[..12],
                dir.display()
            );
        }
    }
}

/// SIGTERM or SIGINT: a graceful stop (queued on `tasks`: the manager
/// leaves after the current event); a second: at once.
async fn on_signals(
    signals: (Option<Signal>, Option<Signal>),
    manager: Arc<Manager<GroupHandle<EtcdStore>>>,
    takeover: bool,
    tasks: TaskTracker,
) {
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
            let m = manager.clone();
            tasks.spawn(async move { m.stop(Stop::Graceful { takeover }).await });
        } else {
            tracing::warn!("stopping at once");
            manager.stop(Stop::Now).await;
            return;
        }
    }
}

/// Event Management and the adapter watch of the bundle the node runs,
/// started again with the new one when a deploy switches it, until `stop`
/// is cancelled.
async fn watchers(
    mut bundles: tokio::sync::watch::Receiver<Arc<hacmp_compiler::Bundle>>,
    node: u32,
    gs: Arc<GroupHandle<EtcdStore>>,
    carriers: Arc<hacmp_linux::topology::Carriers>,
    cfg: impl Fn() -> AgentConfig,
    stop: CancellationToken,
) {
    let mut bundle = bundles.borrow_and_update().clone();
    loop {
        // This bundle's parts, ended with it or with the daemon.
        let this = stop.child_token();
        let em = tokio::spawn(agent::run(bundle.clone(), gs.clone(), cfg(), this.clone()));
        let topology = hacmp_linux::topology::spawn(
            &bundle.site.resources,
            bundle.site.cluster.id,
            node,
            carriers.clone(),
            gs.clone(),
            this.clone(),
        )
        .await;
        let next = tokio::select! {
            r = bundles.changed() => r.ok().map(|_| bundles.borrow_and_update().clone()),
            _ = stop.cancelled() => None,
        };
        this.cancel();
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
