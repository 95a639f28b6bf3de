//! Real clusters on this machine, in one run: barrier latency (last arrival
//! to every member released, from the daemons' monotonic clock) with 3, 8,
//! 16 and 32 `hacmpd` daemons next to the p50 of a single etcd transaction
//! and of the floor: the simplest barrier etcd allows, N processes that
//! each put a key and watch the prefix until N keys are there (last put to
//! the last process seeing N), measured by the same bench on the same etcd; no-op events per second through the whole
//! cluster; memory per daemon; then a soak of `HACMP_SOAK` events (default
//! 10,000; 0 skips it) on 3 daemons: etcd keys and daemon memory after the
//! first thousand and at the end.
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

/// A site of 16 nodes with a two-group no-op user event (every node, then
/// the event's node).
fn site(dir: &Path, id: u32) -> PathBuf {
    let mut toml = format!("[cluster]\nid = {id}\nname = \"bench\"\nsettle = \"0ms\"\n");
    for n in 1..=32 {
        toml.push_str(&format!("[[node]]\nnumber = {n}\n"));
    }
    toml.push_str("[paths]\nroot = \"root\"\nrules = \"rules.hacmprd\"\n");
    write(&dir.join("site.toml"), &toml, 0o644);
    // The operator's key, which signs the deploys, and the nodes' trust
    // in it.
    let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(["key", "new", "operator", "--out"])
        .arg(dir.join("keys"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trusted = dir.join("trusted-keys");
    std::fs::create_dir_all(&trusted).unwrap();
    std::fs::copy(dir.join("keys/operator.pub"), trusted.join("operator.pub")).unwrap();
    for d in [dir.join("keys"), trusted] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
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
        // After the barrier one node runs a command: the release is
        // measured, not N processes starting at once on this machine.
        "all \"/usr/sbin/cluster/local/noop\" 0 NULL\nbarrier\nevent \"/usr/sbin/cluster/local/noop\" 0 NULL\n",
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

/// One process of the floor barrier (`HACMP_BENCH_FLOOR=URL N I`): for each
/// line `go PREFIX` on standard input, puts `PREFIX/I`, watches the prefix
/// until N keys are there, and prints the monotonic µs before its put and
/// when it saw N.
fn floor_member(spec: &str) {
    let mut it = spec.split_whitespace();
    let (url, n) = (
        it.next().unwrap().to_string(),
        it.next().unwrap().parse::<usize>().unwrap(),
    );
    let i = it.next().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = etcd_client::Client::connect([url.as_str()], None)
            .await
            .unwrap();
        println!("ready");
        let mut line = String::new();
        while {
            line.clear();
            std::io::stdin().read_line(&mut line).unwrap() > 0
        } {
            let Some(prefix) = line.trim().strip_prefix("go ") else {
                continue;
            };
            let prefix = format!("{prefix}/");
            let mut stream = c
                .watch(
                    prefix.clone(),
                    Some(etcd_client::WatchOptions::new().with_prefix()),
                )
                .await
                .unwrap();
            // Watching once etcd says so.
            let created = stream.message().await.unwrap().unwrap();
            assert!(created.created());
            let put = hacmp_model::clock::monotonic_us();
            c.put(format!("{prefix}{i}"), "1", None).await.unwrap();
            // Keys put before the watch began are in this read; later
            // ones come through the watch.
            let mut seen: std::collections::BTreeSet<Vec<u8>> = c
                .get(
                    prefix.clone(),
                    Some(
                        etcd_client::GetOptions::new()
                            .with_prefix()
                            .with_keys_only(),
                    ),
                )
                .await
                .unwrap()
                .kvs()
                .iter()
                .map(|kv| kv.key().to_vec())
                .collect();
            if seen.len() < n {
                while let Some(r) = stream.message().await.unwrap() {
                    for e in r.events() {
                        if let Some(kv) = e.kv() {
                            seen.insert(kv.key().to_vec());
                        }
                    }
                    if seen.len() >= n {
                        break;
                    }
                }
            }
            println!("{put} {}", hacmp_model::clock::monotonic_us());
        }
    });
}

/// The floor barrier with `n` processes, `rounds` times: p50 of the last
/// put to the last process seeing all `n` keys, in ms.
fn floor(url: &str, n: u32, rounds: u32) -> f64 {
    use std::io::{BufRead, BufReader, Write};
    let mut kids = Reap(Vec::new());
    let mut outs = Vec::new();
    for i in 0..n {
        let mut c = Command::new(std::env::current_exe().unwrap())
            .env("HACMP_BENCH_FLOOR", format!("{url} {n} {i}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(c.stdout.take().unwrap());
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        assert_eq!(l.trim(), "ready");
        outs.push(out);
        kids.0.push(c);
    }
    let mut lat = Vec::new();
    for r in 0..rounds {
        for k in &mut kids.0 {
            writeln!(k.stdin.as_mut().unwrap(), "go /bench/floor/{n}/{r}").unwrap();
        }
        let (mut put, mut seen) = (0u64, 0u64);
        for o in &mut outs {
            let mut l = String::new();
            o.read_line(&mut l).unwrap();
            let v: Vec<u64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            put = put.max(v[0]);
            seen = seen.max(v[1]);
        }
        lat.push(seen.saturating_sub(put) as f64 / 1000.0);
    }
    p50(lat)
}

fn main() {
    if let Ok(spec) = std::env::var("HACMP_BENCH_FLOOR") {
        floor_member(&spec);
        return;
    }
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
    println!(
        "etcd 1 member on loopback; single transaction p50: {:.0} µs",
        txn_p50 * 1000.0
    );
    println!(
        "{:>8} {:>18} {:>10} {:>16} {:>9} {:>14} {:>14}",
        "daemons",
        "barrier p50 (µs)",
        "÷ txn p50",
        "floor p50 (µs)",
        "÷ floor",
        "events/s",
        "RSS per daemon"
    );
    // `HACMP_SOAK_ONLY=1`: the soak alone.
    let sizes: &[u32] = if std::env::var("HACMP_SOAK_ONLY").is_ok() {
        &[]
    } else {
        &[3, 8, 16, 32]
    };
    let mut deploys = Vec::new();
    for &n in sizes {
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
                .arg("--trusted-keys")
                .arg(site_file.with_file_name("trusted-keys"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(s.join("daemon.log")).unwrap())
                .spawn()
                .unwrap();
            daemons.0.push(child);
        }
        // Every node a member (joins run in the order they were queued).
        let all_joined = until(120, || {
            let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
                .args(["status", "--format", "json", "--etcd", &url, "--cluster"])
                .arg((100 + n).to_string())
                .output()
                .unwrap();
            serde_json::from_slice::<Value>(&o.stdout).is_ok_and(|v| {
                v["members"]
                    .as_array()
                    .is_some_and(|m| m.len() == n as usize)
            })
        });
        if !all_joined {
            for k in 1..=n {
                let log = std::fs::read_to_string(state.join(format!("node{k}/daemon.log")))
                    .unwrap_or_default();
                eprintln!("---- node {k}\n{log}");
            }
            panic!("the cluster of {n} did not form");
        }
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
                    // Monotonic microseconds: one clock for every daemon
                    // of this machine.
                    if r["group"] == 1 && r["kind"] == "barrier_arrive" {
                        arrive = arrive.max(r["mono_us"].as_u64().unwrap());
                    }
                    if r["group"] == 1 && r["kind"] == "barrier_done" {
                        done = done.max(r["mono_us"].as_u64().unwrap());
                    }
                }
            }
            lat.push(done.saturating_sub(arrive) as f64 / 1000.0);
        }
        let rss: u64 = daemons.0.iter().map(|c| rss_kb(c.id())).sum::<u64>() / n as u64;
        let b = p50(lat);
        // The floor on the same etcd, with this cluster's daemons still up
        // (idle), as the daemons had each other.
        let f = floor(&url, n, 30);
        println!(
            "{n:>8} {:>18.0} {:>10.1} {:>16.0} {:>9.2} {rate:>14.1} {:>11} KiB",
            b * 1000.0,
            b / txn_p50,
            f * 1000.0,
            b / f,
            rss
        );
        if n == 16 {
            deploys.push(deploy_rounds(&site_file, &state, &url, 100 + n, n));
        }
        drop(daemons);
    }
    for (d, e) in &deploys {
        println!(
            "deploy on 16 daemons (command to every member on the new bundle): p50 {d:.0} ms; baseline one no-op event (raise to every journal) p50 {e:.0} ms; {:.1}x the event",
            d / e.max(1.0)
        );
    }
    let soak: u64 = std::env::var("HACMP_SOAK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    if soak > 0 {
        soak_run(&dir.path().join("soak"), &url, soak);
    }
}

/// `n` events through 3 daemons: etcd keys and daemon memory stay flat.
fn soak_run(dir: &Path, url: &str, n: u64) {
    use hacmp_etcd::EtcdStore;
    use hacmp_gs::operator::Operator;
    let id = 200;
    let site_file = site(dir, id);
    let mut daemons = Reap(Vec::new());
    for node in 1..=3u32 {
        let s = dir.join(format!("node{node}"));
        std::fs::create_dir_all(&s).unwrap();
        daemons.0.push(
            Command::new(env!("CARGO_BIN_EXE_hacmpd"))
                .args([
                    "--site",
                    site_file.to_str().unwrap(),
                    "--node",
                    &node.to_string(),
                    "--etcd",
                    url,
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
                .unwrap(),
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let op = Operator::new(EtcdStore::new(&[url.to_string()], id).await.unwrap());
        // The group formed: three members, nothing left to do.
        let formed = async {
            loop {
                let s = op.state().await.unwrap();
                if s.members().len() == 3 && s.idle() {
                    return s.seq.as_ref().map_or(0, |v| v.value);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let start = tokio::time::timeout(Duration::from_secs(120), formed)
            .await
            .expect("the soak cluster formed");
        let mut c = etcd_client::Client::connect([url], None).await.unwrap();
        let prefix = format!("/hacmp/clstrmgr_{id}/");
        let mut keys = async || {
            c.get(
                prefix.clone(),
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_count_only(),
                ),
            )
            .await
            .unwrap()
            .count()
        };
        let rss = |d: &Reap| d.0.iter().map(|c| rss_kb(c.id())).sum::<u64>() / 3;
        let t = Instant::now();
        let mut raised = 0u64;
        let mut marks = Vec::new();
        while raised < n {
            let s = op.state().await.unwrap();
            let done = s.seq.as_ref().map_or(0, |v| v.value) - start;
            // Keep a short queue: the daemons, not the raising, set the pace.
            if s.queue.len() < 20 {
                for _ in 0..20 {
                    op.enqueue(hacmp_model::EventRequest::user("UE_BENCH", 0, 1, None))
                        .await
                        .unwrap();
                    raised += 1;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // After the first thousand, then every 5,000.
            let next = if marks.is_empty() {
                1000
            } else {
                5000 * marks.len() as u64
            };
            if done >= next {
                marks.push((done, keys().await, rss(&daemons)));
            }
        }
        loop {
            let s = op.state().await.unwrap();
            if s.idle() && s.seq.as_ref().map_or(0, |v| v.value) - start >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        marks.push((n, keys().await, rss(&daemons)));
        let secs = t.elapsed().as_secs_f64();
        println!(
            "soak: {n} events through 3 daemons in {secs:.0} s ({:.0} events/s)",
            n as f64 / secs
        );
        println!(
            "{:>10} {:>12} {:>16}",
            "events", "etcd keys", "RSS per daemon"
        );
        for (e, k, r) in &marks {
            println!("{e:>10} {k:>12} {r:>12} KiB");
        }
    });
}

/// Deploys on a running cluster of `n` daemons: from `hacmp deploy --yes`
/// to every member on the new bundle (the command waits for it), over
/// `HACMP_DEPLOYS` rounds (default 5), alternating two sites that differ
/// in one setting. The baseline in the same run: one no-op event, from
/// `hacmp raise` to every member's journal having it.
fn deploy_rounds(site_file: &Path, state: &Path, url: &str, cluster: u32, n: u32) -> (f64, f64) {
    let rounds: usize = std::env::var("HACMP_DEPLOYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let text = std::fs::read_to_string(site_file).unwrap();
    let other = site_file.with_file_name("site-b.toml");
    write(
        &other,
        &text.replace("settle = \"0ms\"", "settle = \"1ms\""),
        0o644,
    );
    let cluster = cluster.to_string();
    let journals = |name: &str| -> usize {
        (1..=n)
            .map(|k| {
                events(&state.join(format!("node{k}")))
                    .iter()
                    .filter(|e| e["name"] == name)
                    .count()
            })
            .min()
            .unwrap_or(0)
    };
    let mut event = Vec::new();
    for _ in 0..rounds {
        let before = journals("UE_BENCH");
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
            .args([
                "raise",
                "UE_BENCH",
                "--location",
                "1",
                "--etcd",
                url,
                "--cluster",
                &cluster,
            ])
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(until(60, || journals("UE_BENCH") > before));
        event.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut deploy = Vec::new();
    for i in 0..rounds {
        let file = if i % 2 == 0 { &other } else { site_file };
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
            .args([
                "deploy",
                file.to_str().unwrap(),
                "--etcd",
                url,
                "--cluster",
                &cluster,
                "--yes",
            ])
            .arg("--key")
            .arg(site_file.with_file_name("keys").join("operator.key"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        deploy.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (p50(deploy), p50(event))
}
