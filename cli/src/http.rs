//! The daemon's read-only HTTP endpoint (`hacmpd --http ADDR`, or
//! `--metrics ADDR`): `/` a status page that updates itself, `/status.json`
//! the same JSON as `hacmp status --format json`, `/metrics` Prometheus
//! text. Requests are small and bounded in size and time; nothing is ever
//! changed through it.

use std::sync::Arc;
use std::time::Duration;

use hacmp_runtime::gs::coordinator::Shared;
use hacmp_runtime::gs::group::Group;
use hacmp_runtime::gs::GroupServices;
use hacmp_runtime::manager::Manager;
use hacmp_runtime::metrics::{Gauges, Metrics};
use std::sync::atomic::Ordering::Relaxed;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most of a request read.
const MAX_REQUEST: usize = 8 * 1024;

/// Serves until the task is aborted. A listener that cannot be bound is
/// reported and the daemon goes on without it.
/// Where the counts come from: the events, the Event Management agent and
/// the store.
#[derive(Clone)]
pub struct Seen {
    pub metrics: Arc<Metrics>,
    pub agent: Arc<hacmp_runtime::em::agent::AgentStats>,
    pub store: Arc<dyn Fn() -> (u64, u64, f64) + Send + Sync>,
}

pub async fn serve<S: hacmp_runtime::gs::store::Store>(
    addr: String,
    seen: Seen,
    manager: Arc<Manager<Group<S>>>,
    shared: Arc<Shared<S>>,
) {
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot serve metrics on {addr}: {e}");
            return;
        }
    };
    tracing::info!("status page on http://{addr}/, metrics on http://{addr}/metrics");
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let (seen, manager, shared) = (seen.clone(), manager.clone(), shared.clone());
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(512);
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = String::from_utf8_lossy(&buf);
            let path = line
                .strip_prefix("GET ")
                .and_then(|r| r.split_whitespace().next())
                .map(|p| p.split('?').next().unwrap_or(p).to_string())
                .unwrap_or_default();
            let (status, kind, body) = match path.as_str() {
                "/metrics" => {
                    let view = manager.group().view().await.ok();
                    let gauges = Gauges {
                        members: view.as_ref().map_or(0, |v| v.members.len()),
                        queued: manager.group().queued().await.unwrap_or(0),
                        state: manager.state().as_str(),
                        groups: manager
                            .groups()
                            .into_iter()
                            .map(|(g, s)| (g, s.as_str()))
                            .collect(),
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
                    (
                        "200 OK",
                        "text/plain; version=0.0.4",
                        seen.metrics.render(&gauges),
                    )
                }
                "/status.json" => {
                    let state = shared.view.read(|s| s.clone());
                    let statuses = manager.group().statuses().await.unwrap_or_default();
                    let v = match state {
                        Some(s) => crate::ops::status_json(&shared.group_name(), &s, &statuses),
                        None => serde_json::json!({ "error": "the group is not followed yet" }),
                    };
                    (
                        "200 OK",
                        "application/json",
                        serde_json::to_string(&v).unwrap_or_default(),
                    )
                }
                "/" => ("200 OK", "text/html; charset=utf-8", PAGE.to_string()),
                _ => (
                    "404 Not Found",
                    "text/plain",
                    "not found: /, /status.json and /metrics are served\n".to_string(),
                ),
            };
            let head = format!(
                "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

/// The status page: one file, no network fetches but its own
/// `/status.json`, every value set as text (names from the site are never
/// read as markup).
const PAGE: &str = include_str!("status.html");
