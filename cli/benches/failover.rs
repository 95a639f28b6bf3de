//! Failover time in the namespace cluster of the takeover tests (root
//! only): from kill -9 of the node holding group `web` (and the loss of its
//! power) to the client's first answer from the next node; and a graceful
//! move (SIGTERM with takeover) to the first answer from the next node.
//! Targets: failover at most the lease TTL + 1 s, p50 and max over 20;
//! graceful move at most 1 s. The baseline measured in the same run is the
//! failure detection itself: from the kill to the survivors' node-down
//! event (bounded by the TTL), so the takeover's own cost shows apart.
//!
//!   cargo bench -p hacmp-cli --bench failover [-- ROUNDS]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::takeover::Cluster;

const TTL: Duration = Duration::from_secs(2);

fn wall_ms(t: Instant) -> u64 {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    wall - (now - t).as_millis() as u64
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// An event's records, in ms since `t0w` (wall clock).
fn trace(e: &serde_json::Value, t0w: u64) {
    for r in e["records"].as_array().into_iter().flatten() {
        eprintln!(
            "  +{:>5} ms {} {} {}",
            r["wall_ms"].as_u64().unwrap_or(0) as i64 - t0w as i64,
            r["kind"],
            r["command"],
            r["detail"]
        );
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let Some(mut c) = Cluster::new("failover bench", "b", "rotating") else {
        return;
    };
    let mut failover = Vec::new();
    let mut detection = Vec::new();
    let mut owner = c
        .answered_by_other(0, Instant::now() - Duration::from_secs(3600), 60)
        .1;
    // Node-ups each node has seen of its own (one so far).
    let mut joins = [0, 1, 1, 1];
    for i in 0..rounds {
        let seen: Vec<usize> = (1..=3u32)
            .map(|n| {
                c.daemon_opt(n)
                    .map_or(0, |d| d.count("TE_FAIL_NODE", owner as u64))
            })
            .collect();
        let t0 = c.crash(owner);
        let (t1, next) = c.answered_by_other(owner, t0, 60);
        failover.push((t1 - t0).as_secs_f64() * 1000.0);
        // Detection: the survivor's node-down of the crashed node began.
        let survivor = next;
        let before = seen[survivor as usize - 1];
        c.daemon(survivor)
            .until("the node-down in the journal", 60, |d| {
                d.count("TE_FAIL_NODE", owner as u64) > before
            });
        let e = c.daemon(survivor).event("TE_FAIL_NODE", owner as u64);
        let began = e["records"][0]["wall_ms"].as_u64().unwrap();
        detection.push(began.saturating_sub(wall_ms(t0)) as f64);
        eprintln!("round {}: node {owner} crashed, node {next} answered after {:.0} ms (node-down began after {:.0} ms)", i + 1, failover[i], detection[i]);
        c.reboot(owner);
        joins[owner as usize] += 1;
        c.joined(owner, joins[owner as usize]);
        owner = next;
    }
    let mut graceful = Vec::new();
    for i in 0..rounds.min(10) {
        let t0 = c.stop(owner);
        let (t1, next) = c.answered_by_other(owner, t0, 60);
        graceful.push((t1 - t0).as_secs_f64() * 1000.0);
        if std::env::var_os("FAILOVER_TRACE").is_some() {
            c.daemon(next)
                .until("the node-down in the journal", 60, |d| {
                    d.has("TE_FAIL_NODE", owner as u64)
                });
            let e = c.daemon(next).event("TE_FAIL_NODE", owner as u64);
            let t0w = wall_ms(t0);
            trace(&e, t0w);
            eprintln!("  +{:>5} ms first answer", (t1 - t0).as_millis());
            let mine = c
                .journal(owner)
                .into_iter()
                .rev()
                .find(|e| e["name"] == "TE_FAIL_NODE" && e["location"] == owner)
                .unwrap();
            eprintln!(" the stopping node:");
            trace(&mine, t0w);
        }
        eprintln!(
            "graceful {}: node {owner} stopped, node {next} answered after {:.0} ms",
            i + 1,
            graceful[i]
        );
        c.start(owner);
        joins[owner as usize] += 1;
        c.joined(owner, joins[owner as usize]);
        owner = next;
    }
    let target = (TTL + Duration::from_secs(1)).as_secs_f64() * 1000.0;
    let (fp50, fmax) = (pct(&mut failover, 0.5), pct(&mut failover, 1.0));
    let (dp50, gp50, gmax) = (
        pct(&mut detection, 0.5),
        pct(&mut graceful, 0.5),
        pct(&mut graceful, 1.0),
    );
    println!(
        "failover over {} crashes (lease TTL {} ms):",
        failover.len(),
        TTL.as_millis()
    );
    println!("  kill -9 to first answer   p50 {fp50:>7.0} ms   max {fmax:>7.0} ms   target <= {target:.0} ms: p50 {:.2}x, max {:.2}x of target", fp50 / target, fmax / target);
    println!("  baseline: failure seen    p50 {dp50:>7.0} ms   takeover after detection p50 {:.0} ms ({:.2}x the detection)", fp50 - dp50, fp50 / dp50.max(1.0));
    println!("graceful move over {} stops:", graceful.len());
    println!("  SIGTERM to first answer   p50 {gp50:>7.0} ms   max {gmax:>7.0} ms   target <= 1000 ms: max {:.2}x of target", gmax / 1000.0);
    c.finish();
}
