//! The harness of the tests on real etcd: etcd members on free loopback
//! ports with temporary data directories, staged copies of the rwho site,
//! and `hacmpd` processes with their journals and logs.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{copy_tree, repo};

pub mod netns;
pub mod takeover;

pub fn etcd_binary(test: &str) -> Option<PathBuf> {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
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
pub struct Etcd {
    pub bin: PathBuf,
    pub name: String,
    pub dir: PathBuf,
    pub client: String,
    pub peer: String,
    pub cluster: String,
    /// Extra arguments (TLS).
    pub extra: Vec<String>,
    pub child: Option<Child>,
}

impl Etcd {
    pub fn members(bin: &Path, base: &Path, n: usize) -> Vec<Etcd> {
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
                extra: Vec::new(),
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

    /// One member serving clients over TLS with `cert`/`key`, and only
    /// clients with a certificate signed by `ca`.
    pub fn tls(bin: &Path, base: &Path, ca: &Path, cert: &Path, key: &Path) -> Etcd {
        let (c, p) = (free_port(), free_port());
        let mut e = Etcd {
            bin: bin.to_path_buf(),
            name: "m0".into(),
            dir: base.join("etcd-tls"),
            client: format!("https://127.0.0.1:{c}"),
            peer: format!("http://127.0.0.1:{p}"),
            cluster: format!("m0=http://127.0.0.1:{p}"),
            extra: [
                "--cert-file",
                cert.to_str().unwrap(),
                "--key-file",
                key.to_str().unwrap(),
                "--trusted-ca-file",
                ca.to_str().unwrap(),
                "--client-cert-auth",
            ]
            .map(String::from)
            .to_vec(),
            child: None,
        };
        e.start();
        e.wait_ready();
        e
    }

    pub fn start(&mut self) {
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
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn wait_ready(&self) {
        let addr = self
            .client
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        until("etcd to listen", 20, || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
    }

    /// SIGSTOP or SIGCONT: the member stalls, or goes on.
    pub fn pause(&self, on: bool) {
        if let Some(c) = &self.child {
            // SAFETY: a plain signal to our own child.
            unsafe {
                libc::kill(
                    c.id() as i32,
                    if on { libc::SIGSTOP } else { libc::SIGCONT },
                );
            }
        }
    }

    /// Whether this member leads its cluster now (etcd's JSON gateway:
    /// `/v3/maintenance/status`); false when it does not answer.
    pub fn is_leader(&self) -> bool {
        use std::io::{Read, Write};
        let addr = self.client.trim_start_matches("http://");
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = format!("POST /v3/maintenance/status HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");
        let mut out = String::new();
        if s.write_all(req.as_bytes()).is_err() || s.read_to_string(&mut out).is_err() {
            return false;
        }
        let Some(body) = out.split("\r\n\r\n").nth(1) else {
            return false;
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let member = &v["header"]["member_id"];
        !member.is_null() && *member == v["leader"]
    }

    pub fn stop(&mut self) {
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
/// etcd of a test's own: `members` members on loopback ports in a
/// temporary directory, and their URLs. `None` without an etcd binary
/// (the test is skipped loudly, or fails under `HACMP_REQUIRE_ETCD=1`).
/// Destructured in this field order, etcd stops before its directory goes.
pub struct Lab {
    pub bin: PathBuf,
    pub base: tempfile::TempDir,
    pub etcd: Vec<Etcd>,
    pub url: String,
}

impl Lab {
    pub fn start(test: &str, members: usize) -> Option<Lab> {
        let bin = etcd_binary(test)?;
        let base = tempfile::tempdir().unwrap();
        let etcd = Etcd::members(&bin, base.path(), members);
        let url = urls(&etcd);
        Some(Lab {
            bin,
            base,
            etcd,
            url,
        })
    }
}

pub fn urls(es: &[Etcd]) -> String {
    es.iter()
        .map(|e| e.client.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// A staged copy of the rwho example, with a short settle interval.
pub struct Site {
    pub dir: PathBuf,
}

impl Site {
    pub fn new(base: &Path, name: &str) -> Site {
        let dir = base.join(name);
        copy_tree(&repo().join("examples/rwho"), &dir);
        let toml = std::fs::read_to_string(dir.join("site.toml"))
            .unwrap()
            .replace("settle = \"200ms\"", "settle = \"50ms\"");
        std::fs::write(dir.join("site.toml"), toml).unwrap();
        std::fs::create_dir_all(dir.join("root/out")).unwrap();
        // The operator's key (`keys/operator.key`), trusted by the nodes
        // (`trusted-keys/operator.pub`, given to every daemon).
        let keys = dir.join("keys");
        let o = hacmp(&["key", "new", "operator", "--out", keys.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::create_dir(dir.join("trusted-keys")).unwrap();
        std::fs::copy(
            keys.join("operator.pub"),
            dir.join("trusted-keys/operator.pub"),
        )
        .unwrap();
        for d in [&keys, &dir.join("trusted-keys")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Site { dir }
    }

    /// The commands of group `app` ([`with_app_group`]): start marks
    /// `root/out/app-N` on node N, stop removes the mark.
    pub fn app_scripts(&self) {
        self.script("app-start", "touch \"$HACMP_ROOT/out/app-$HACMP_NODE\"");
        self.script("app-stop", "rm -f \"$HACMP_ROOT/out/app-$HACMP_NODE\"");
    }

    /// The operator's secret key, which the nodes trust.
    pub fn key(&self) -> String {
        self.dir
            .join("keys/operator.key")
            .to_str()
            .unwrap()
            .to_string()
    }

    pub fn script(&self, name: &str, body: &str) {
        let p = self.dir.join("root/usr/sbin/cluster/local").join(name);
        hacmp_testkit::write_executable(&p, &format!("#!/bin/sh\n{body}\n"));
    }

    pub fn root(&self) -> PathBuf {
        std::path::absolute(self.dir.join("root")).unwrap()
    }
}

/// The text of a site file with resource group `app` (cascading, on
/// `nodes` in that order; [`Site::app_scripts`]).
pub fn with_app_group(site: &str, nodes: &[u32]) -> String {
    let list: Vec<String> = nodes.iter().map(|n| format!("\"node{n}\"")).collect();
    let group = format!(
        "[[resource_group]]\nname = \"app\"\npolicy = \"cascading\"\nnodes = [{}]\n[[resource_group.resource]]\nkind = \"application\"\nname = \"marker\"\nstart = \"/usr/sbin/cluster/local/app-start\"\nstop = \"/usr/sbin/cluster/local/app-stop\"\n",
        list.join(", ")
    );
    site.replace("[paths]", &format!("\n{group}\n[paths]"))
}

pub struct Daemon {
    pub child: Option<Child>,
    pub state: PathBuf,
}

impl Daemon {
    pub fn spawn(site: &Site, node: u32, etcd: &str, state_base: &Path, extra: &[&str]) -> Daemon {
        Daemon::spawn_at(
            &site.dir.join("site.toml"),
            node,
            etcd,
            state_base,
            extra,
            None,
        )
    }

    /// A daemon of the site file `site`, in network namespace `netns`
    /// when given (through `ip netns exec`, which execs it: the child is
    /// the daemon).
    pub fn spawn_at(
        site: &Path,
        node: u32,
        etcd: &str,
        state_base: &Path,
        extra: &[&str],
        netns: Option<&str>,
    ) -> Daemon {
        Daemon::spawn_env(site, node, etcd, state_base, extra, netns, &[])
    }

    /// `spawn_at` with variables added to the daemon's environment.
    pub fn spawn_env(
        site: &Path,
        node: u32,
        etcd: &str,
        state_base: &Path,
        extra: &[&str],
        netns: Option<&str>,
        envs: &[(&str, &str)],
    ) -> Daemon {
        let state = state_base.join(format!("node{node}"));
        std::fs::create_dir_all(&state).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state.join("daemon.log"))
            .unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_hacmpd")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_hacmpd")),
        };
        let child = cmd
            .args([
                "--site",
                site.to_str().unwrap(),
                "--node",
                &node.to_string(),
                "--etcd",
                etcd,
            ])
            .args(["--state-dir", state.to_str().unwrap()])
            .args(if extra.contains(&"--ttl") {
                &[][..]
            } else {
                &["--ttl", "2s"][..]
            })
            .args(["--monitor-interval", "300ms"])
            .args(trusted_keys(site))
            .args(extra)
            .envs(envs.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon {
            child: Some(child),
            state,
        }
    }

    pub fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state.join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "event")
            .collect()
    }

    pub fn has(&self, name: &str, location: u64) -> bool {
        self.events()
            .iter()
            .any(|e| e["name"] == name && e["location"] == location)
    }

    pub fn event(&self, name: &str, location: u64) -> Value {
        self.events()
            .into_iter()
            .rev()
            .find(|e| e["name"] == name && e["location"] == location)
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("daemon.log")).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for `f`, failing with this daemon's log.
    pub fn until(&self, what: &str, secs: u64, mut f: impl FnMut(&Daemon) -> bool) {
        let t = Instant::now();
        while !f(self) {
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "timed out after {secs}s waiting for {what}; the daemon's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        if pid > 0 {
            // SAFETY: a plain signal to our own child.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// How many times an event ended in this node's journal.
    pub fn count(&self, name: &str, location: u64) -> usize {
        self.events()
            .iter()
            .filter(|e| e["name"] == name && e["location"] == location)
            .count()
    }

    /// Every event of the journal, with its sequence number, in order.
    pub fn seqs(&self) -> Vec<(u64, String, String)> {
        self.events()
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap_or(0),
                    e["name"].as_str().unwrap_or("").to_string(),
                    e["outcome"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn wait_exit(&mut self, secs: u64) -> Option<i32> {
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

pub fn records<'a>(e: &'a Value, kind: &str, command: &str) -> Vec<&'a Value> {
    e["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind && r["command"] == command)
        .collect()
}

pub fn status(etcd: &str) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(["status", "--format", "json", "--etcd", etcd])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

pub fn hacmp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(args)
        .output()
        .unwrap()
}

/// `--trusted-keys DIR` when the site's directory has its own.
fn trusted_keys(site: &Path) -> Vec<String> {
    let dir = site.parent().unwrap_or(Path::new(".")).join("trusted-keys");
    if dir.is_dir() {
        vec!["--trusted-keys".into(), dir.to_str().unwrap().into()]
    } else {
        Vec::new()
    }
}

/// Kills the process group a script recorded (a command of a killed daemon).
pub fn kill_recorded_group(pidfile: &Path) {
    if let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Waits until the group is idle: no event running, nothing queued,
/// nobody joining, and `members` are the members.
pub fn until_idle(etcd: &str, members: &[u32], secs: u64) {
    until(
        &format!("an idle group with members {members:?}"),
        secs,
        || {
            let st = status(etcd);
            st["current"].is_null()
                && st["site"].is_string()
                && st["queue"].as_array().is_some_and(|q| q.is_empty())
                && st["joining"].as_array().is_some_and(|j| j.is_empty())
                && st["members"] == serde_json::json!(members)
        },
    );
}

/// Daemons for nodes `1..=n`, each started once the one before it joined
/// (so joins run in node order), with the extra arguments of each node.
pub fn join_one_by_one(
    site: &Site,
    etcd: &str,
    base: &Path,
    n: u32,
    extra: impl Fn(u32) -> Vec<&'static str>,
) -> Vec<Daemon> {
    (1..=n)
        .map(|k| {
            let d = Daemon::spawn(site, k, etcd, base, &extra(k));
            d.until(&format!("node {k}'s node-up"), 40, |d| {
                d.has("TE_JOIN_NODE", k as u64)
            });
            d
        })
        .collect()
}
