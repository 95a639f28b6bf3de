//! Real clusters on this machine, in one run: barrier latency (last arrival
//! to every member released) with 3, 8 and 16 `hacmpd` daemons next to the
//! p50 of a single etcd transaction measured by the same bench; no-op
//! events per second through the whole cluster; memory per daemon.
//!
//! `cargo bench -p hacmp-cli --bench cluster` (needs `etcd` on PATH)

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while !f() {
        if t.elapsed() > Duration::from_secs(secs) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn write(p: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A site of 16 nodes with a two-group no-op user event.
fn site(dir: &Path, id: u32) -> PathBuf {
    let mut toml = format!("[cluster]\nid = {id}\nname = \"bench\"\nsettle = \"0ms\"\n");
    for n in 1..=16 {
        toml.push_str(&format!("[[node]]\nnumber = {n}\n"));
    }
    toml.push_str("[paths]\nroot = \"root\"\nrules = \"rules.hacmprd\"\n");
    write(&dir.join("site.toml"), &toml, 0o644);
    let mut rules = hacmp_stdlib::RULES.to_string();
    rules.push_str("UE_BENCH\n0\n/usr/sbin/cluster/local/bench.rp\n2\n0\n\n\n\n\n");
    write(&dir.join("rules.hacmprd"), &rules, 0o644);
    let root = dir.join("root");
    for (file, text) in hacmp_stdlib::PROGRAMS {
        write(
            &root.join("usr/sbin/cluster/events").join(file),
            text,
            0o644,
        );
    }
    for def in hacmp_stdlib::event_scripts().0.values() {
        write(
            &root.join(def.path.trim_start_matches('/')),
            "#!/bin/sh\nexit 0\n",
            0o755,
        );
    }
    write(
        &root.join("usr/sbin/cluster/local/noop"),
        "#!/bin/sh\nexit 0\n",
        0o755,
    );
    write(
        &root.join("usr/sbin/cluster/local/bench.rp"),
        "all \"/usr/sbin/cluster/local/noop\" 0 NULL\nbarrier\nall \"/usr/sbin/cluster/local/noop\" 0 NULL\n",
        0o644,
    );
    for d in [
        "usr",
        "usr/sbin",
        "usr/sbin/cluster",
        "usr/sbin/cluster/local",
        "usr/sbin/cluster/events",
    ] {
        std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir.join("site.toml")
}

fn events(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "event")
        .collect()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Kills and reaps its processes however the bench ends (a failed assert
/// included): no daemon or etcd outlives it.
struct Reap(Vec<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let Some(etcd_bin) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("etcd"))
            .find(|f| f.is_file())
    }) else {
        println!("SKIPPED: no `etcd` on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cp, pp) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{cp}");
    let peer = format!("http://127.0.0.1:{pp}");
    let etcd = Command::new(etcd_bin)
        .args([
            "--data-dir",
            dir.path().join("etcd").to_str().unwrap(),
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &format!("default={peer}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _etcd = Reap(vec![etcd]);
    until(20, || {
        std::net::TcpStream::connect(url.trim_start_matches("http://")).is_ok()
    });

    // One etcd transaction, as the daemons issue them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let txn_p50 = rt.block_on(async {
        let mut c = etcd_client::Client::connect([url.as_str()], None)
            .await
            .unwrap();
        let mut v = Vec::new();
        for i in 0..300 {
            let key = format!("/bench/txn/{i}");
            let t = Instant::now();
            let txn = etcd_client::Txn::new()
                .when([etcd_client::Compare::version(
                    key.clone(),
                    etcd_client::CompareOp::Equal,
                    0,
                )])
                .and_then([etcd_client::TxnOp::put(key, "1", None)]);
            c.txn(txn).await.unwrap();
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        p50(v)
    });
    println!("etcd 1 member on loopback; single transaction p50: {txn_p50:.2} ms");
    println!(
        "{:>8} {:>18} {:>10} {:>14} {:>14}",
        "daemons", "barrier p50 (ms)", "÷ txn p50", "events/s", "RSS per daemon"
    );
    for n in [3u32, 8, 16] {
        // A fresh cluster per size (its own key prefix in the same etcd).
        let site_file = site(&dir.path().join(format!("site{n}")), 100 + n);
        let state = dir.path().join(format!("run{n}"));
        let mut daemons = Reap(Vec::new());
        for node in 1..=n {
            let s = state.join(format!("node{node}"));
            std::fs::create_dir_all(&s).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_hacmpd"))
                .args([
                    "--site",
                    site_file.to_str().unwrap(),
                    "--node",
                    &node.to_string(),
                    "--etcd",
                    &url,
                ])
                .args([
                    "--state-dir",
                    s.to_str().unwrap(),
                    "--no-monitor",
                    "--ttl",
                    "10s",
                    "--settle",
                    "0ms",
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(s.join("daemon.log")).unwrap())
                .spawn()
                .unwrap();
            daemons.0.push(child);
        }
        let last = state.join(format!("node{n}"));
        let formed = until(120, || {
            events(&last)
                .iter()
                .filter(|e| e["name"] == "TE_JOIN_NODE")
                .count()
                >= 1
        });
        assert!(
            formed,
            "cluster of {n} did not form: {}",
            std::fs::read_to_string(last.join("daemon.log")).unwrap_or_default()
        );
        assert!(until(120, || (1..=n).all(|k| events(
            &state.join(format!("node{k}"))
        )
        .iter()
        .any(|e| e["name"] == "TE_JOIN_NODE" && e["location"] == n))));
        let k = 30;
        let t = Instant::now();
        for _ in 0..k {
            let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
                .args([
                    "raise",
                    "UE_BENCH",
                    "--location",
                    "1",
                    "--etcd",
                    &url,
                    "--cluster",
                    &(100 + n).to_string(),
                ])
                .output()
                .unwrap();
            assert!(o.status.success());
        }
        let node1 = state.join("node1");
        assert!(until(300, || events(&node1)
            .iter()
            .filter(|e| e["name"] == "UE_BENCH")
            .count()
            >= k));
        let rate = k as f64 / t.elapsed().as_secs_f64();
        // Barrier 1 of each event: last arrival to the last release.
        let mut lat = Vec::new();
        let all: Vec<Vec<Value>> = (1..=n)
            .map(|k| events(&state.join(format!("node{k}"))))
            .collect();
        for seq in all[0]
            .iter()
            .filter(|e| e["name"] == "UE_BENCH")
            .map(|e| e["seq"].as_u64().unwrap())
        {
            let (mut arrive, mut done) = (0u64, 0u64);
            for evs in &all {
                let Some(e) = evs.iter().find(|e| e["seq"].as_u64() == Some(seq)) else {
                    continue;
                };
                for r in e["records"].as_array().unwrap() {
                    if r["group"] == 1 && r["kind"] == "barrier_arrive" {
                        arrive = arrive.max(r["wall_ms"].as_u64().unwrap());
                    }
                    if r["group"] == 1 && r["kind"] == "barrier_done" {
                        done = done.max(r["wall_ms"].as_u64().unwrap());
                    }
                }
            }
            lat.push(done.saturating_sub(arrive) as f64);
        }
        let rss: u64 = daemons.0.iter().map(|c| rss_kb(c.id())).sum::<u64>() / n as u64;
        let b = p50(lat);
        println!(
            "{n:>8} {b:>18.1} {:>10.1} {rate:>14.1} {:>11} KiB",
            b / txn_p50,
            rss
        );
        drop(daemons);
    }
}
