//! The daemon's read-only HTTP endpoint (`hacmpd --http ADDR`, or
//! `--metrics ADDR`): `/` a status page that updates itself, `/status.json`
//! the same JSON as `hacmp status --format json`, `/metrics` Prometheus
//! text. Requests are small and bounded in size and time; nothing is ever
//! changed through it.

use std::sync::Arc;

use hacmp_gs::coordinator::GroupLink;
use hacmp_gs::group::GroupHandle;
use hacmp_gs::GroupServices;
use hacmp_node::manager::Manager;
use hacmp_node::metrics::{Gauges, Metrics};
use std::sync::atomic::Ordering::Relaxed;

use crate::serve::{reply, Active, Limits, Reply};

/// Where the counts come from: the events, the Event Management agent and
/// the store.
#[derive(Clone)]
pub struct Seen {
    pub metrics: Arc<Metrics>,
    pub agent: Arc<hacmp_em::agent::AgentStats>,
    pub store: Arc<dyn Fn() -> (u64, u64, f64) + Send + Sync>,
}

/// What an address serves: `--metrics` only `/metrics`; `--http` the
/// page, its JSON and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    Metrics,
    All,
}

/// Serves until the task is aborted, within `Limits::PAGES`. A listener
/// that cannot be bound is reported and the daemon goes on without it.
pub async fn serve<S: hacmp_gs::store::Store>(
    addr: String,
    pages: Pages,
    seen: Seen,
    manager: Arc<Manager<GroupHandle<S>>>,
    shared: Arc<GroupLink<S>>,
    active: Active,
) {
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot serve on {addr}: {e}");
            return;
        }
    };
    match pages {
        Pages::All => {
            tracing::info!("status page on http://{addr}/, metrics on http://{addr}/metrics")
        }
        Pages::Metrics => tracing::info!("metrics on http://{addr}/metrics"),
    }
    let handle = move |req: hyper::Request<hyper::body::Incoming>| {
        let (seen, manager, shared) = (seen.clone(), manager.clone(), shared.clone());
        async move {
            if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
                return reply(405, "text/plain", "only GET and HEAD\n");
            }
            answer(req.uri().path(), pages, &seen, &manager, &shared).await
        }
    };
    crate::serve::serve(listener, Limits::PAGES, active, handle).await;
}

async fn answer<S: hacmp_gs::store::Store>(
    path: &str,
    pages: Pages,
    seen: &Seen,
    manager: &Manager<GroupHandle<S>>,
    shared: &GroupLink<S>,
) -> Reply {
    match (path, pages) {
        ("/metrics", _) => {
            let view = manager.group().view().await.ok();
            let status = manager.status();
            let bundle = manager.bundle();
            let held = manager.groups();
            let gauges = Gauges {
                node: status.node,
                members: view.as_ref().map_or(0, |v| v.members.len()),
                queued: manager.group().queued().await.unwrap_or(0),
                state: status.state,
                // Every group this node may hold: offline ones too.
                groups: bundle
                    .site
                    .resources
                    .groups
                    .iter()
                    .filter(|g| g.nodes.contains(&status.node))
                    .map(|g| {
                        let s = held.get(&g.name).copied();
                        (g.name.clone(), s.map_or("offline", |s| s.as_str()))
                    })
                    .collect(),
                waiting: status.failure.map(|f| (f.seq, f.event)),
                restarts: manager.monitor_restarts(),
                bundle: (
                    bundle.hash[..bundle.hash.len().min(12)].to_string(),
                    bundle
                        .signature
                        .as_ref()
                        .map_or_else(String::new, |s| s.by.clone()),
                ),
                armed: (
                    seen.agent.armed.load(Relaxed),
                    seen.agent.disarmed.load(Relaxed),
                ),
                sample: (
                    seen.agent.sample_us.load(Relaxed) as f64 / 1e6,
                    seen.agent.samples.load(Relaxed),
                ),
                store: (seen.store)(),
            };
            reply(
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                seen.metrics.render(&gauges),
            )
        }
        ("/status.json", Pages::All) => {
            let state = shared.view.read(|s| s.clone());
            let statuses = manager.group().statuses().await.unwrap_or_default();
            let v = match state {
                Some(s) => crate::ops::status_json(&shared.group_name(), &s, &statuses),
                None => serde_json::json!({ "error": "the group is not followed yet" }),
            };
            reply(
                200,
                "application/json",
                serde_json::to_string(&v).unwrap_or_default(),
            )
        }
        ("/", Pages::All) => reply(200, "text/html; charset=utf-8", PAGE),
        (_, Pages::All) => reply(
            404,
            "text/plain",
            "not found: /, /status.json and /metrics are served\n",
        ),
        (_, Pages::Metrics) => reply(404, "text/plain", "not found: /metrics is served\n"),
    }
}

/// The status page: one file, no network fetches but its own
/// `/status.json`, every value set as text (names from the site are never
/// read as markup).
const PAGE: &str = include_str!("status.html");
