//! Real clusters: `hacmpd` processes on one etcd (or three), on loopback.
//! Each test starts its own etcd on free ports with a temporary data
//! directory. Without an `etcd` binary the tests say loudly that they were
//! skipped, unless `HACMP_REQUIRE_ETCD=1`, under which they fail.

mod common;

use common::{copy_tree, repo};

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn etcd_binary(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("etcd"))
            .find(|f| f.is_file())
    });
    if found.is_none() {
        if std::env::var("HACMP_REQUIRE_ETCD").as_deref() == Ok("1") {
            panic!("{test}: HACMP_REQUIRE_ETCD=1 but there is no `etcd` binary on PATH");
        }
        eprintln!("SKIPPED {test}: no `etcd` binary on PATH (Debian: apt-get install etcd-server); HACMP_REQUIRE_ETCD=1 makes this an error");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One etcd member.
struct Etcd {
    bin: PathBuf,
    name: String,
    dir: PathBuf,
    client: String,
    peer: String,
    cluster: String,
    child: Option<Child>,
}

impl Etcd {
    fn members(bin: &Path, base: &Path, n: usize) -> Vec<Etcd> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let cluster: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
            .collect();
        let mut v: Vec<Etcd> = ports
            .iter()
            .enumerate()
            .map(|(i, (c, p))| Etcd {
                bin: bin.to_path_buf(),
                name: format!("m{i}"),
                dir: base.join(format!("etcd{i}")),
                client: format!("http://127.0.0.1:{c}"),
                peer: format!("http://127.0.0.1:{p}"),
                cluster: cluster.join(","),
                child: None,
            })
            .collect();
        for e in &mut v {
            e.start();
        }
        for e in &v {
            e.wait_ready();
        }
        v
    }

    fn start(&mut self) {
        let log = std::fs::File::create(self.dir.with_extension("log")).unwrap();
        let child = Command::new(&self.bin)
            .args(["--name", &self.name, "--data-dir"])
            .arg(&self.dir)
            .args([
                "--listen-client-urls",
                &self.client,
                "--advertise-client-urls",
                &self.client,
            ])
            .args([
                "--listen-peer-urls",
                &self.peer,
                "--initial-advertise-peer-urls",
                &self.peer,
            ])
            .args([
                "--initial-cluster",
                &self.cluster,
                "--initial-cluster-state",
                "new",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn wait_ready(&self) {
        let addr = self.client.trim_start_matches("http://").to_string();
        until("etcd to listen", 20, || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn urls(es: &[Etcd]) -> String {
    es.iter()
        .map(|e| e.client.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// A staged copy of the rwho example, with a short settle interval.
struct Site {
    dir: PathBuf,
}

impl Site {
    fn new(base: &Path, name: &str) -> Site {
        let dir = base.join(name);
        copy_tree(&repo().join("examples/rwho"), &dir);
        let toml = std::fs::read_to_string(dir.join("site.toml"))
            .unwrap()
            .replace("settle = \"200ms\"", "settle = \"50ms\"");
        std::fs::write(dir.join("site.toml"), toml).unwrap();
        std::fs::create_dir_all(dir.join("root/out")).unwrap();
        Site { dir }
    }

    fn script(&self, name: &str, body: &str) {
        let p = self.dir.join("root/usr/sbin/cluster/local").join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn root(&self) -> PathBuf {
        std::path::absolute(self.dir.join("root")).unwrap()
    }
}

struct Daemon {
    child: Option<Child>,
    state: PathBuf,
}

impl Daemon {
    fn spawn(site: &Site, node: u32, etcd: &str, state_base: &Path, extra: &[&str]) -> Daemon {
        let state = state_base.join(format!("node{node}"));
        std::fs::create_dir_all(&state).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state.join("daemon.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hacmpd"))
            .args([
                "--site",
                site.dir.join("site.toml").to_str().unwrap(),
                "--node",
                &node.to_string(),
                "--etcd",
                etcd,
            ])
            .args([
                "--state-dir",
                state.to_str().unwrap(),
                "--ttl",
                "2s",
                "--monitor-interval",
                "300ms",
            ])
            .args(extra)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon {
            child: Some(child),
            state,
        }
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state.join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "event")
            .collect()
    }

    fn has(&self, name: &str, location: u64) -> bool {
        self.events()
            .iter()
            .any(|e| e["name"] == name && e["location"] == location)
    }

    fn event(&self, name: &str, location: u64) -> Value {
        self.events()
            .into_iter()
            .rev()
            .find(|e| e["name"] == name && e["location"] == location)
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("daemon.log")).unwrap_or_default()
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let c = self.child.as_mut()?;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if let Ok(Some(s)) = c.try_wait() {
                self.child = None;
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn records<'a>(e: &'a Value, kind: &str, command: &str) -> Vec<&'a Value> {
    e["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind && r["command"] == command)
        .collect()
}

fn status(etcd: &str) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(["status", "--format", "json", "--etcd", etcd])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

fn hacmp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(args)
        .output()
        .unwrap()
}

/// Kills the process group a script recorded (a command of a killed daemon).
fn kill_recorded_group(pidfile: &Path) {
    if let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Four daemons joining one by one.
fn four(
    site: &Site,
    etcd: &str,
    base: &Path,
    extra: impl Fn(u32) -> Vec<&'static str>,
) -> Vec<Daemon> {
    let mut ds = Vec::new();
    for n in 1..=4u32 {
        let d = Daemon::spawn(site, n, etcd, base, &extra(n));
        until(&format!("node {n}'s node-up"), 30, || {
            d.has("TE_JOIN_NODE", n as u64)
        });
        ds.push(d);
    }
    ds
}

#[test]
fn four_daemons_join_one_by_one_in_the_documented_order() {
    let Some(bin) = etcd_binary("four_daemons_join_one_by_one_in_the_documented_order") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let etcd = Etcd::members(&bin, base.path(), 1);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    let ds = four(&site, &url, base.path(), |_| vec!["--no-monitor"]);
    // Every node took part in node 4's join, in the order of node_up.rp.
    until("every journal to record node 4's join", 10, || {
        ds.iter().all(|d| d.has("TE_JOIN_NODE", 4))
    });
    let joins: Vec<Value> = ds.iter().map(|d| d.event("TE_JOIN_NODE", 4)).collect();
    for j in &joins {
        assert_eq!(j["membership"], serde_json::json!([1, 2, 3, 4]));
        assert_eq!(j["outcome"], "completed");
    }
    let n4_up = records(&joins[3], "command_start", "node_up")[0];
    assert_eq!(n4_up["nodeset"], "event");
    let n4_start = n4_up["wall_ms"].as_u64().unwrap();
    let n4_end = records(&joins[3], "command_end", "node_up")[0]["wall_ms"]
        .as_u64()
        .unwrap();
    for j in &joins[..3] {
        let end = records(j, "command_end", "node_up")[0];
        assert_eq!(end["nodeset"], "other");
        assert!(
            end["wall_ms"].as_u64().unwrap() <= n4_start,
            "the others run node_up before node 4 starts its own"
        );
    }
    for j in &joins {
        let s = records(j, "command_start", "node_up_complete")[0]["wall_ms"]
            .as_u64()
            .unwrap();
        assert!(s >= n4_end, "node_up_complete after node 4's node_up ended");
        assert_eq!(
            j["records"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["kind"] == "cbarrier_done")
                .count(),
            1
        );
    }
    let st = status(&url);
    assert_eq!(st["members"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(st["nodes"].as_array().unwrap().len(), 4);
}

#[test]
fn a_killed_daemon_releases_the_barrier_and_rejoins_after_restart() {
    let Some(bin) = etcd_binary("a_killed_daemon_releases_the_barrier_and_rejoins_after_restart")
    else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let etcd = Etcd::members(&bin, base.path(), 1);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    // Node 3 is slow in group 1 of rwho.rp.
    site.script(
        "rwho_msg_remote",
        "if [ \"$HACMP_NODE\" = 3 ]; then echo $$ > \"$HACMP_ROOT/out/slow.pid\"; sleep 60; fi\necho remote",
    );
    let mut ds = four(&site, &url, base.path(), |_| vec!["--no-monitor"]);
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "2",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("nodes 1, 2, 4 at barrier 1", 20, || {
        let st = status(&url);
        st["nodes"].as_array().is_some_and(|a| {
            a.iter()
                .filter(|n| n["at"] == serde_json::json!({"barrier": 1}))
                .count()
                == 3
        })
    });
    let killed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ds[2].kill9();
    kill_recorded_group(&site.root().join("out/slow.pid"));
    // 2. The barrier completes for the live members within the TTL plus a margin.
    until("the event to end on the survivors", 15, || {
        [0, 1, 3].iter().all(|i| ds[*i].has("UE_PGMRWHO_DOWN", 2))
    });
    let ue = ds[0].event("UE_PGMRWHO_DOWN", 2);
    assert_eq!(ue["outcome"], "completed");
    let passed = ue["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "barrier_done")
        .unwrap()["wall_ms"]
        .as_u64()
        .unwrap();
    assert!(
        passed - killed < 2000 + 3000,
        "barrier released {} ms after the kill (ttl 2 s)",
        passed - killed
    );
    // ...then node_down of 3 runs on the survivors.
    until("node_down 3", 15, || {
        [0, 1, 3].iter().all(|i| ds[*i].has("TE_FAIL_NODE", 3))
    });
    let down = ds[0].event("TE_FAIL_NODE", 3);
    assert_eq!(down["membership"], serde_json::json!([1, 2, 4]));
    assert_eq!(down["outcome"], "completed");
    // 3. Restarted, it reports the interrupted event and rejoins by node_up.
    let d3 = Daemon::spawn(&site, 3, &url, base.path(), &["--no-monitor"]);
    until("node 3 to rejoin", 30, || {
        d3.events()
            .iter()
            .filter(|e| e["name"] == "TE_JOIN_NODE" && e["location"] == 3)
            .count()
            == 2
    });
    assert!(
        d3.log().contains("interrupted by the last stop: event #")
            && d3.log().contains("UE_PGMRWHO_DOWN at node 2"),
        "{}",
        d3.log()
    );
    until("node 3 a member again", 10, || {
        status(&url)["members"] == serde_json::json!([1, 2, 3, 4])
    });
}

#[test]
fn a_daemon_with_different_rules_is_refused_with_the_file_named() {
    let Some(bin) = etcd_binary("a_daemon_with_different_rules_is_refused_with_the_file_named")
    else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let etcd = Etcd::members(&bin, base.path(), 1);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1's node-up", 30, || d1.has("TE_JOIN_NODE", 1));
    let other = Site::new(base.path(), "other");
    std::fs::write(
        other.dir.join("root/usr/sbin/cluster/local/rwho.rp"),
        "all \"/usr/sbin/cluster/local/rwho_msg_complete\" X NULL\n",
    )
    .unwrap();
    let mut d2 = Daemon::spawn(&other, 2, &url, base.path(), &["--no-monitor"]);
    assert_eq!(d2.wait_exit(20), Some(1), "refused");
    let log = d2.log();
    assert!(
        log.contains("different site")
            && log.contains("/usr/sbin/cluster/local/rwho.rp")
            && !log.contains("rules.hacmprd"),
        "{log}"
    );
    assert_eq!(status(&url)["members"], serde_json::json!([1]));
}

#[test]
fn a_user_event_from_a_real_process_death_runs_everywhere() {
    let Some(bin) = etcd_binary("a_user_event_from_a_real_process_death_runs_everywhere") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let etcd = Etcd::members(&bin, base.path(), 1);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    let me = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into());
    let rules = std::fs::read_to_string(site.dir.join("rules.hacmprd")).unwrap();
    std::fs::write(
        site.dir.join("rules.hacmprd"),
        rules.replace("UserName=root", &format!("UserName={me}")),
    )
    .unwrap();
    // All daemons share this machine: only node 2 samples it.
    let ds = four(&site, &url, base.path(), |n| {
        if n == 2 {
            vec![]
        } else {
            vec!["--no-monitor"]
        }
    });
    let root = site.root();
    let st = Command::new(root.join("usr/sbin/cluster/local/rwho_start"))
        .env("HACMP_ROOT", &root)
        .status()
        .unwrap();
    assert!(st.success());
    let pids = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "rwhod")
                    && String::from_utf8_lossy(
                        &std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default(),
                    )
                    .contains(root.to_str().unwrap())
            })
            .collect()
    };
    until("the daemon", 10, || !pids().is_empty());
    std::thread::sleep(Duration::from_millis(1200));
    for p in pids() {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    until("UE_PGMRWHO_DOWN on every node", 30, || {
        ds.iter().all(|d| d.has("UE_PGMRWHO_DOWN", 2))
    });
    for (i, d) in ds.iter().enumerate() {
        let e = d.event("UE_PGMRWHO_DOWN", 2);
        assert_eq!(e["membership"], serde_json::json!([1, 2, 3, 4]));
        let node = i + 1;
        let (local, remote) = (
            records(
                &e,
                "command_start",
                "/usr/sbin/cluster/local/rwho_msg_local",
            ),
            records(
                &e,
                "command_start",
                "/usr/sbin/cluster/local/rwho_msg_remote",
            ),
        );
        if node == 2 {
            assert_eq!((local.len(), remote.len()), (1, 0));
            assert_eq!(
                records(&e, "command_end", "/usr/sbin/cluster/local/rwho_restart")[0]["status"],
                0
            );
        } else {
            assert_eq!((local.len(), remote.len()), (0, 1), "node {node}");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    for p in pids() {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

#[test]
fn etcd_restarts_and_outages_do_not_make_daemons_go_on_blind() {
    let Some(bin) = etcd_binary("etcd_restarts_and_outages_do_not_make_daemons_go_on_blind") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::members(&bin, base.path(), 1);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    // Node 2's part of group 1 takes 3 s.
    site.script("rwho_msg_local", "sleep 3\necho local");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    let d2 = Daemon::spawn(&site, 2, &url, base.path(), &["--no-monitor"]);
    until("node 2", 30, || d2.has("TE_JOIN_NODE", 2));
    // etcd restarted while the cluster is idle: the daemons reconnect.
    etcd[0].stop();
    std::thread::sleep(Duration::from_millis(800));
    etcd[0].start();
    etcd[0].wait_ready();
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("the event after the restart", 30, || {
        d1.has("UE_PGMRWHO_DOWN", 1) && d2.has("UE_PGMRWHO_DOWN", 1)
    });
    // etcd unreachable during an event: nobody runs the next group.
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "2",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("node 1 at barrier 1", 20, || {
        status(&url)["nodes"].as_array().is_some_and(|a| {
            a.iter()
                .any(|n| n["node"] == 1 && n["at"] == serde_json::json!({"barrier": 1}))
        })
    });
    etcd[0].stop();
    std::thread::sleep(Duration::from_millis(4500));
    assert!(
        d2.log().contains("etcd unreachable"),
        "node 2 says so: {}",
        d2.log()
    );
    assert!(
        !d2.log().contains("Restarting the \"rwhod\" daemon")
            && !d2.log().contains("Recovery terminated"),
        "group 2 ran blind: {}",
        d2.log()
    );
    assert!(!d2.has("UE_PGMRWHO_DOWN", 2));
    etcd[0].start();
    etcd[0].wait_ready();
    until("the event to end once etcd is back", 40, || {
        d1.has("UE_PGMRWHO_DOWN", 2) && d2.has("UE_PGMRWHO_DOWN", 2)
    });
    assert_eq!(d2.event("UE_PGMRWHO_DOWN", 2)["outcome"], "completed");
}

#[test]
fn a_three_member_etcd_keeps_working_with_one_member_stopped() {
    let Some(bin) = etcd_binary("a_three_member_etcd_keeps_working_with_one_member_stopped") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::members(&bin, base.path(), 3);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 40, || d1.has("TE_JOIN_NODE", 1));
    let d2 = Daemon::spawn(&site, 2, &url, base.path(), &["--no-monitor"]);
    until("node 2", 40, || d2.has("TE_JOIN_NODE", 2));
    // Stop the first member, the one every client tries first.
    etcd[0].stop();
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("the event with one member down", 40, || {
        d1.has("UE_PGMRWHO_DOWN", 1) && d2.has("UE_PGMRWHO_DOWN", 1)
    });
    let d3 = Daemon::spawn(&site, 3, &url, base.path(), &["--no-monitor"]);
    let waited = std::panic::catch_unwind(|| {
        until("node 3 joining with one member down", 40, || {
            d3.has("TE_JOIN_NODE", 3)
        })
    });
    if waited.is_err() {
        panic!("node 3 did not join; its log:\n{}", d3.log());
    }
    // Each daemon writes its journal when it learns the outcome.
    until("node 1's record of it", 10, || d1.has("TE_JOIN_NODE", 3));
    assert_eq!(d1.event("TE_JOIN_NODE", 3)["outcome"], "completed");
}

#[test]
fn status_shows_a_stopped_command_and_resume_ends_the_wait() {
    let Some(bin) = etcd_binary("status_shows_a_stopped_command_and_resume_ends_the_wait") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let etcd = Etcd::members(&bin, base.path(), 1);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    // Fails once on node 3, then works: a re-run succeeds.
    site.script(
        "rwho_msg_remote",
        "if [ \"$HACMP_NODE\" = 3 ] && [ ! -f \"$HACMP_ROOT/out/ran\" ]; then touch \"$HACMP_ROOT/out/ran\"; echo 'cannot reach the message service' >&2; exit 2; fi\necho remote",
    );
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    let d3 = Daemon::spawn(&site, 3, &url, base.path(), &["--no-monitor"]);
    until("node 3", 30, || d3.has("TE_JOIN_NODE", 3));
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("node 3 to report its failure", 20, || {
        status(&url)["nodes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n["failure"].is_object()))
    });
    let o = hacmp(&["status", "--etcd", &url]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("at barrier 1: node 1"), "{text}");
    assert!(text.contains("STOPPED: `/usr/sbin/cluster/local/rwho_msg_remote` exit 2 (expected 0) in group 1, policy wait"), "{text}");
    assert!(
        text.contains("| cannot reach the message service"),
        "{text}"
    );
    let seq = status(&url)["current"]["seq"].as_u64().unwrap().to_string();
    // A resume for a node that is not waiting is refused.
    assert_eq!(
        hacmp(&["resume", &seq, "rerun", "--node", "1", "--etcd", &url])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        hacmp(&["resume", &seq, "rerun", "--node", "3", "--etcd", &url])
            .status
            .code(),
        Some(0)
    );
    until("the event to end", 20, || {
        d1.has("UE_PGMRWHO_DOWN", 1) && d3.has("UE_PGMRWHO_DOWN", 1)
    });
    let e = d3.event("UE_PGMRWHO_DOWN", 1);
    assert_eq!(e["outcome"], "completed");
    let decisions: Vec<&Value> = e["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "decision")
        .collect();
    assert_eq!(decisions[0]["detail"], "rerun");
}

#[test]
fn sigterm_is_a_graceful_stop_in_which_the_node_takes_part() {
    let Some(bin) = etcd_binary("sigterm_is_a_graceful_stop_in_which_the_node_takes_part") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let etcd = Etcd::members(&bin, base.path(), 1);
    let url = urls(&etcd);
    let site = Site::new(base.path(), "site");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    let mut d2 = Daemon::spawn(&site, 2, &url, base.path(), &["--no-monitor", "--takeover"]);
    until("node 2", 30, || d2.has("TE_JOIN_NODE", 2));
    let pid = d2.child.as_ref().unwrap().id() as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(
        d2.wait_exit(30),
        Some(0),
        "leaves and exits 0: {}",
        d2.log()
    );
    let down = d2.event("TE_FAIL_NODE", 2);
    assert_eq!(
        down["membership"],
        serde_json::json!([1, 2]),
        "the leaving node takes part"
    );
    assert_eq!(down["outcome"], "completed");
    let mine: Vec<&Value> = records(&down, "command_start", "node_down");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["nodeset"], "event");
    until("node 1's record", 10, || d1.has("TE_FAIL_NODE", 2));
    assert_eq!(
        records(&d1.event("TE_FAIL_NODE", 2), "command_start", "node_down")[0]["nodeset"],
        "other"
    );
    until("node 2 out of the group", 10, || {
        status(&url)["members"] == serde_json::json!([1])
    });
}
