//! Failover time in the namespace cluster of the takeover tests (root
//! only), for each fault, with leases of 1 s and of 2 s side by side (one
//! cluster each, same run, same machine):
//!
//! - `kill`: the owner crashes (every process killed, power lost);
//! - `freeze`: the owner's daemon is stopped (SIGSTOP) while its machine
//!   runs on, for twice the TTL; its warden lets go;
//! - `cable`: the owner's link goes down, the machine runs on;
//! - `partition`: the owner is cut off from etcd and the other nodes while
//!   the client still reaches it;
//! - `graceful`: SIGTERM with takeover.
//!
//! Each round measures from the fault to the client's first answer from
//! another node, and counts the watcher's samples that found the address
//! on two nodes at once. Targets: with a 1 s TTL, p50 at most 1.0 s and max
//! at most 1.5 s for kill, cable and partition; graceful at most 1 s; never
//! two owners. The baseline of the same run is the failure detection of
//! the kill, cable and partition rounds (fault to the survivors'
//! node-down), so the takeover's own cost shows apart.
//!
//!   cargo bench -p hacmp-cli --bench failover [-- ROUNDS] [FAULT...]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/harness/mod.rs"]
mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::takeover::{Cluster, Fault};

fn wall_ms(t: Instant) -> u64 {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    wall - (now - t).as_millis() as u64
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Tally {
    ms: Vec<f64>,
    overlaps: usize,
}

/// One cluster with leases of `ttl` seconds: each fault `rounds` times.
/// The tallies, and the failure detections (fault to the survivors'
/// node-down) of the faults that need one.
type Run = (
    BTreeMap<&'static str, Tally>,
    BTreeMap<&'static str, Vec<f64>>,
);

/// The longest time the client waited for one answer between `from` and
/// `to` (a request in flight to a node that let go waits for its read
/// timeout).
fn longest_call(c: &Cluster, from: Instant, to: Instant) -> f64 {
    let a = c.answers.lock().unwrap();
    a.windows(2)
        .filter(|w| w[1].0 >= from && w[0].0 <= to)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64() * 1000.0)
        .fold(0.0, f64::max)
}

fn run(ttl: u64, rounds: usize, only: &[String]) -> Option<Run> {
    let mut c = Cluster::with_ttl("failover bench", &format!("b{ttl}"), "rotating", ttl)?;
    let mut owner = c
        .answered_by_other(0, Instant::now() - Duration::from_secs(3600), 60)
        .1;
    // Node-ups each node has seen of its own (one so far).
    let mut joins = [0, 1, 1, 1];
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut detection: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for fault in Fault::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == fault.name()) {
            continue;
        }
        for i in 0..rounds {
            let before = c.overlaps();
            let downs: Vec<usize> = (1..=3u32)
                .map(|n| {
                    c.daemon_opt(n)
                        .map_or(0, |d| d.count("TE_FAIL_NODE", owner as u64))
                })
                .collect();
            let t0 = c.fault(fault, owner);
            let (t1, next) = c.answered_by_other(owner, t0, 60);
            let ms = (t1 - t0).as_secs_f64() * 1000.0;
            if matches!(fault, Fault::Kill | Fault::Cable | Fault::Partition) {
                let n = next as usize;
                c.daemon(next)
                    .until("the node-down in the journal", 60, |d| {
                        d.count("TE_FAIL_NODE", owner as u64) > downs[n - 1]
                    });
                let e = c.daemon(next).event("TE_FAIL_NODE", owner as u64);
                let began = e["records"][0]["wall_ms"].as_u64().unwrap_or(0);
                detection
                    .entry(fault.name())
                    .or_default()
                    .push(began.saturating_sub(wall_ms(t0)) as f64);
            }
            joins[owner as usize] += 1;
            c.recover(fault, owner, t0, joins[owner as usize]);
            let t = tallies.entry(fault.name()).or_default();
            t.ms.push(ms);
            t.overlaps += c.overlaps() - before;
            eprintln!(
                "ttl {ttl} s, {} {}: node {owner} → node {next} answered after {ms:.0} ms, {} overlap samples, longest client call {:.0} ms",
                fault.name(),
                i + 1,
                c.overlaps() - before,
                longest_call(&c, t0, t1)
            );
            owner = next;
        }
    }
    c.finish();
    Some((tallies, detection))
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    // Fault names given: only those (the summary then lacks the others).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| Fault::ALL.iter().any(|f| f.name() == a))
        .collect();
    if !only.is_empty() {
        let mut rows = Vec::new();
        for ttl in [1, 2] {
            if let Some((t, _)) = run(ttl, rounds, &only) {
                rows.push((ttl, t));
            }
        }
        for (ttl, t) in rows {
            for (f, t) in t {
                println!(
                    "{ttl}s {f:>10} p50 {:.0} ms, max {:.0} ms, {} overlap samples",
                    pct(&t.ms, 0.5),
                    pct(&t.ms, 1.0),
                    t.overlaps
                );
            }
        }
        return;
    }
    let mut rows = Vec::new();
    for ttl in [1, 2] {
        match run(ttl, rounds, &only) {
            Some(r) => rows.push((ttl, r)),
            None => return,
        }
    }
    println!("failover, {rounds} rounds per fault, from the fault to the client's first answer from another node:");
    println!(
        "{:>4} {:>10} {:>9} {:>9} {:>14}",
        "ttl", "fault", "p50 ms", "max ms", "two owners"
    );
    for (ttl, (tallies, _)) in &rows {
        for f in Fault::ALL.map(Fault::name) {
            let t = &tallies[f];
            println!(
                "{:>3}s {f:>10} {:>9.0} {:>9.0} {:>8} samples",
                ttl,
                pct(&t.ms, 0.5),
                pct(&t.ms, 1.0),
                t.overlaps
            );
        }
    }
    for (ttl, (tallies, detection)) in &rows {
        for (f, seen) in detection {
            let all = pct(&tallies[f].ms, 0.5);
            let seen = pct(seen, 0.5);
            println!(
                "ttl {ttl} s baseline: {f} to the survivors' node-down p50 {seen:.0} ms; takeover after detection p50 {:.0} ms ({:.2}x the detection)",
                all - seen,
                all / seen.max(1.0)
            );
        }
    }
    if let Some((_, (t, _))) = rows.iter().find(|(ttl, _)| *ttl == 1) {
        for f in ["kill", "cable", "partition"] {
            println!(
                "ttl 1 s {f}: p50 {:.2}x of the 1.0 s target, max {:.2}x of the 1.5 s target",
                pct(&t[f].ms, 0.5) / 1000.0,
                pct(&t[f].ms, 1.0) / 1500.0
            );
        }
        println!(
            "ttl 1 s graceful: max {:.2}x of the 1 s target",
            pct(&t["graceful"].ms, 1.0) / 1000.0
        );
    }
}
