//! Adapter failure to service address on the standby, in the namespace
//! cluster of the topology test (root only): the link of the adapter that
//! carries group `web`'s address is set down in node 1's namespace; timed
//! until the address is on the other adapter. Target: p50 at most 500 ms.
//! The baseline measured in the same run is the detection: from the link
//! down to the start of the swap_adapter event (the hold-down, 100 ms, is
//! part of it), so the swap's own cost shows apart.
//!
//!   cargo bench -p hacmp-cli --bench swap [-- ROUNDS]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::takeover::{Cluster, SERVICE2};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let Some(c) = Cluster::with_service_network("swap bench", "w") else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    let (mut carrier, mut spare) = ("eth1", "eth2");
    let mut swap = Vec::new();
    let mut detection = Vec::new();
    for i in 0..rounds {
        let t0w = wall_ms();
        let t0 = Instant::now();
        c.net.set_link(1, carrier, false);
        harness::until("the address on the spare", 30, || {
            c.net.interfaces_holding(1, SERVICE2) == [spare]
        });
        swap.push(t0.elapsed().as_secs_f64() * 1000.0);
        c.daemon(1)
            .until("swap_adapter", 30, |d| d.count("TE_SWAP_ADAPTER", 1) > i);
        let e = c
            .daemon(1)
            .events()
            .into_iter()
            .rev()
            .find(|e| e["name"] == "TE_SWAP_ADAPTER")
            .unwrap();
        let began = e["records"][0]["wall_ms"].as_u64().unwrap();
        detection.push(began.saturating_sub(t0w) as f64);
        eprintln!(
            "round {}: {carrier} down, address on {spare} after {:.0} ms (swap_adapter began after {:.0} ms)",
            i + 1,
            swap[i],
            detection[i]
        );
        c.net.set_link(1, carrier, true);
        c.daemon(1)
            .until("join_standby", 30, |d| d.count("TE_JOIN_STANDBY", 1) > i);
        std::mem::swap(&mut carrier, &mut spare);
    }
    let (p50, max) = (pct(&mut swap, 0.5), pct(&mut swap, 1.0));
    let dp50 = pct(&mut detection, 0.5);
    println!(
        "adapter swap over {} failures (hold-down 100 ms):",
        swap.len()
    );
    println!(
        "  link down to address on the standby   p50 {p50:>5.0} ms   max {max:>5.0} ms   target <= 500 ms: p50 {:.2}x of target",
        p50 / 500.0
    );
    println!(
        "  baseline: swap_adapter began          p50 {dp50:>5.0} ms   the swap itself p50 {:.0} ms ({:.2}x the detection)",
        p50 - dp50,
        p50 / dp50.max(1.0)
    );
    c.finish();
}
