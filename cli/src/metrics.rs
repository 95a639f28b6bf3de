//! `hacmpd --metrics ADDR`: the daemon's Prometheus endpoint, `GET
//! /metrics` in the text exposition format (anything else: 404). Requests
//! are small and bounded in size and time; nothing is written.

use std::sync::Arc;
use std::time::Duration;

use hacmp_runtime::gs::group::Group;
use hacmp_runtime::gs::GroupServices;
use hacmp_runtime::manager::Manager;
use hacmp_runtime::metrics::{Gauges, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most of a request read.
const MAX_REQUEST: usize = 8 * 1024;

/// Serves until the task is aborted. A listener that cannot be bound is
/// reported and the daemon goes on without it.
pub async fn serve<S: hacmp_runtime::gs::store::Store>(
    addr: String,
    metrics: Arc<Metrics>,
    manager: Arc<Manager<Group<S>>>,
) {
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot serve metrics on {addr}: {e}");
            return;
        }
    };
    tracing::info!("metrics on http://{addr}/metrics");
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let (metrics, manager) = (metrics.clone(), manager.clone());
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
            let wanted = line.starts_with("GET /metrics ") || line.starts_with("GET /metrics?");
            let (status, body) = if wanted {
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
                };
                ("200 OK", metrics.render(&gauges))
            } else {
                ("404 Not Found", "only /metrics is served\n".to_string())
            };
            let head = format!(
                "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}
