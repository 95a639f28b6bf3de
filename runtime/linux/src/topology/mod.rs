//! Topology: this node's adapters watched through the kernel, and the
//! standard topology events they call for (`swap_adapter`, `fail_standby`,
//! `join_standby`, `network_down`, `network_up`), queued through group
//! services like any event, with their priorities.
//!
//! ```text
//!  netlink link messages ── linux::subscribe ──▶ Watch (hold-down, rules)
//!        ──▶ Decided ──▶ Raiser (the group's queue)
//!                   └──▶ Carriers (where service addresses go, for the agent)
//! ```

pub mod heartbeat;
pub mod linux;
pub mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

use hacmp_compiler::resources::Resources;

pub use watch::{Decided, Watch};

use hacmp_gs::Raiser;
use hacmp_model::event::{EventRequest, NodeId};

/// The interface carrying each network's service addresses on this node:
/// moved by the watch when an adapter fails, read by the resource agent
/// when it puts an address up.
#[derive(Debug, Default)]
pub struct Carriers(Mutex<BTreeMap<String, String>>);

impl Carriers {
    pub fn get(&self, network: &str) -> Option<String> {
        self.lock().get(network).cloned()
    }

    fn set(&self, m: &BTreeMap<String, String>) {
        *self.lock() = m.clone();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Link states, as the kernel tells them: (interface, up); or heartbeat
/// verdicts: (interface, reachable).
pub type Links = tokio::sync::mpsc::UnboundedReceiver<(String, bool)>;

/// What the watch follows: the links at start, their changes, and the
/// heartbeats' verdicts.
pub struct Inputs {
    pub initial: Vec<(String, bool)>,
    pub links: Links,
    pub heard: Links,
}

/// Watches this node's adapters until `stop` is cancelled: the links at
/// start, every change after, and the heartbeats' verdicts. Each decided event is
/// queued through `raiser`; the carriers follow the watch.
pub async fn run(
    node: NodeId,
    res: &Resources,
    carriers: Arc<Carriers>,
    raiser: Arc<dyn Raiser>,
    inputs: Inputs,
    stop: CancellationToken,
) {
    let Inputs {
        initial,
        mut links,
        mut heard,
    } = inputs;
    let mut w = Watch::new(res, node);
    let now = Instant::now();
    // An adapter is up while its link is up and the heartbeats do not say
    // it is cut off.
    let mut link: BTreeMap<String, bool> = BTreeMap::new();
    let mut reachable: BTreeMap<String, bool> = BTreeMap::new();
    for (i, up) in initial {
        w.observe(&i, up, now);
        link.insert(i, up);
    }
    carriers.set(w.carriers());
    let mut decided = w.down_at_start();
    loop {
        for d in decided.drain(..) {
            let req = EventRequest::system(d.kind, node);
            tracing::warn!(node, event = %req.name, "topology: {}", d.why);
            if let Err(e) = raiser.raise(req).await {
                tracing::error!(node, "cannot queue the topology event: {e}");
            }
        }
        let due = w.next_due();
        tokio::select! {
            got = links.recv() => match got {
                Some((i, up)) => {
                    link.insert(i.clone(), up);
                    let ok = reachable.get(&i).copied().unwrap_or(true);
                    w.observe(&i, up && ok, Instant::now());
                }
                None => {
                    tracing::error!(node, "the kernel's link messages stopped: adapters are no longer watched");
                    return;
                }
            },
            _ = async {
                match due {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            } => {}
            Some((i, ok)) = heard.recv() => {
                reachable.insert(i.clone(), ok);
                let up = link.get(&i).copied().unwrap_or(false);
                w.observe(&i, up && ok, Instant::now());
            }
            _ = stop.cancelled() => return,
        }
        decided = w.due(Instant::now());
        carriers.set(w.carriers());
    }
}

/// Starts watching this node's adapters through the kernel, when the site
/// gives it any: the task ends when `stop` is cancelled. Without netlink
/// (an error says why) nothing is watched and the node runs on.
pub async fn spawn(
    res: &Resources,
    cluster: u32,
    node: NodeId,
    carriers: Arc<Carriers>,
    raiser: Arc<dyn Raiser>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let interfaces: Vec<String> = res
        .adapters
        .get(&node)?
        .iter()
        .map(|a| a.interface.clone())
        .collect();
    match linux::subscribe(&interfaces).await {
        Ok((initial, links)) => {
            tracing::info!(node, "watching adapters {}", interfaces.join(", "));
            let res = res.clone();
            let (tx, heard) = tokio::sync::mpsc::unbounded_channel();
            let beats = tokio::spawn(heartbeat::run(cluster, node, res.clone(), tx, stop.clone()));
            Some(tokio::spawn(async move {
                let inputs = Inputs {
                    initial,
                    links,
                    heard,
                };
                run(node, &res, carriers, raiser, inputs, stop).await;
                let _ = beats.await;
            }))
        }
        Err(e) => {
            tracing::error!(node, "adapters are not watched: {e}");
            None
        }
    }
}
