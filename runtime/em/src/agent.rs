//! The Event Management agent of a node: samples the monitor and reads the
//! feed at an interval, evaluates the rules for this node's instances, and
//! queues the events they raise.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hacmp_compiler::Bundle;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::feed::FeedReader;
use super::monitor::Monitor;
use super::Observation;
use hacmp_gs::Raiser;
use hacmp_model::event::NodeId;

pub struct AgentConfig {
    pub node: NodeId,
    pub interval: Duration,
    /// Sample this machine (off for nodes simulated on one machine).
    pub sample: bool,
    pub feed: Option<PathBuf>,
    /// Where the agent tells what it is doing (metrics).
    pub stats: Arc<AgentStats>,
}

/// What the agent did, for metrics.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// (rule, instance) pairs armed and disarmed.
    pub armed: std::sync::atomic::AtomicUsize,
    pub disarmed: std::sync::atomic::AtomicUsize,
    /// The last monitor sample's duration, in microseconds.
    pub sample_us: std::sync::atomic::AtomicU64,
    pub samples: std::sync::atomic::AtomicU64,
}

/// Runs until `stop` is cancelled; sampling happens on a blocking thread so that
/// a hung file system cannot stall the node.
pub async fn run<R: Raiser + ?Sized>(
    bundle: Arc<Bundle>,
    gs: Arc<R>,
    cfg: AgentConfig,
    stop: CancellationToken,
) {
    let mut engine = Engine::for_bundle(&bundle, Some(cfg.node));
    if engine.rules().is_empty() {
        return;
    }
    let catalog = bundle.site.full_catalog();
    let monitor = cfg
        .sample
        .then(|| Monitor::new(engine.rules(), cfg.node))
        .filter(|m| !m.is_empty());
    let mut monitor = monitor.map(|m| Arc::new(std::sync::Mutex::new(m)));
    let mut feed = cfg.feed.as_ref().map(|p| FeedReader::open(p, false));
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampling: Option<tokio::task::JoinHandle<Vec<Observation>>> = None;
    loop {
        tokio::select! {
            biased;
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let mut observations = Vec::new();
        if let Some(m) = &mut monitor {
            match &mut sampling {
                Some(h) if !h.is_finished() => tracing::warn!(
                    node = cfg.node,
                    "the previous sample is still running (a hung file system?); skipping one"
                ),
                _ => {
                    if let Some(h) = sampling.take() {
                        if let Ok(o) = h.await {
                            observations.extend(o);
                        }
                    }
                    let m = m.clone();
                    let stats = cfg.stats.clone();
                    sampling = Some(tokio::task::spawn_blocking(move || {
                        let t = std::time::Instant::now();
                        let o = m.lock().unwrap_or_else(|p| p.into_inner()).sample();
                        use std::sync::atomic::Ordering::Relaxed;
                        stats
                            .sample_us
                            .store(t.elapsed().as_micros() as u64, Relaxed);
                        stats.samples.fetch_add(1, Relaxed);
                        o
                    }));
                    // Usually quick: take this sample now.
                    if let Some(h) = sampling.as_mut() {
                        if let Ok(Ok(o)) = tokio::time::timeout(cfg.interval / 2, h).await {
                            observations.extend(o);
                            sampling = None;
                        }
                    }
                }
            }
        }
        if let Some(f) = &mut feed {
            let (obs, errs) = f.poll(&catalog);
            for e in errs {
                tracing::error!(node = cfg.node, "feed line skipped: {e}");
            }
            observations.extend(obs);
        }
        for o in &observations {
            let (raised, _) = engine.observe(o);
            let (armed, disarmed) = engine.arming();
            cfg.stats
                .armed
                .store(armed, std::sync::atomic::Ordering::Relaxed);
            cfg.stats
                .disarmed
                .store(disarmed, std::sync::atomic::Ordering::Relaxed);
            for ev in raised {
                tracing::info!(node = cfg.node, event = %ev.name, instance = ?ev.em.as_ref().map(|e| &e.instance), "condition true: raising the event");
                if let Err(e) = gs.raise(ev).await {
                    tracing::error!(node = cfg.node, "cannot queue the event: {e}");
                }
            }
        }
    }
}
