//! Real takeover: three nodes in network namespaces the test creates, on a
//! bridge, each running `hacmpd` on an etcd in the hub namespace; group
//! `web` of the HA web example holds a service address, a bind-mounted
//! directory and an HTTP server. A client namespace polls the service
//! address. A node is crashed (every process killed, its interface down and
//! its addresses gone, as when a machine loses power): the address and the
//! server come up on the next node and the client gets answers again; the
//! node boots and rejoins. Throughout, no two namespaces hold the address.
//! Root only: skipped loudly without it, failed under
//! `HACMP_REQUIRE_NETNS=1`.

mod common;
mod harness;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::netns::{self, Answers, Net};
use harness::{etcd_binary, Daemon};

const SERVICE: &str = "10.77.0.100";
const URL: &str = "10.77.0.100:8080";

struct Cluster {
    net: Net,
    etcd: Child,
    site: PathBuf,
    etcd_url: String,
    daemons: Vec<Option<Daemon>>,
    answers: Arc<Mutex<Answers>>,
    overlaps: Arc<Mutex<Vec<Vec<u32>>>>,
    stop: Arc<AtomicBool>,
    watchers: Vec<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new(test: &str, tag: &str, policy: &str) -> Option<Cluster> {
        if !netns::available(test) {
            return None;
        }
        let etcd_bin = etcd_binary(test)?;
        let dir = tempfile::tempdir().unwrap();
        let net = Net::create(tag, 3);
        let etcd_url = format!("http://{}.1:2379", netns::SUBNET_PREFIX);
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let etcd = Command::new("ip")
            .args(["netns", "exec", &net.hub()])
            .arg(&etcd_bin)
            .args(["--name", "m0", "--data-dir"])
            .arg(dir.path().join("etcd"))
            .args([
                "--listen-client-urls",
                &etcd_url,
                "--advertise-client-urls",
                &etcd_url,
            ])
            .args(["--listen-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-advertise-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-cluster", "m0=http://127.0.0.1:2380"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let ready = net.in_client(|| {
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(20) {
                if std::net::TcpStream::connect("10.77.0.1:2379").is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        });
        assert!(
            ready.join().unwrap(),
            "etcd did not listen in the hub namespace"
        );
        let site = dir.path().join("site");
        common::copy_tree(&common::repo().join("examples/ha-web"), &site);
        let toml = std::fs::read_to_string(site.join("site.toml"))
            .unwrap()
            .replace("settle = \"200ms\"", "settle = \"50ms\"")
            .replace("policy = \"cascading\"", &format!("policy = \"{policy}\""))
            .replace(
                "fallback = \"on_rejoin\"\n",
                if policy == "cascading" {
                    "fallback = \"on_rejoin\"\n"
                } else {
                    ""
                },
            );
        std::fs::write(site.join("site.toml"), toml).unwrap();
        let start = site.join("root/usr/local/ha-web/web-start");
        let text = std::fs::read_to_string(&start)
            .unwrap()
            .replace("/usr/bin/hacmp-httpd", env!("CARGO_BIN_EXE_hacmp-httpd"));
        std::fs::write(&start, text).unwrap();
        let mut c = Cluster {
            net,
            etcd,
            site,
            etcd_url,
            daemons: (0..=3).map(|_| None).collect(),
            answers: Arc::new(Mutex::new(Vec::new())),
            overlaps: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            watchers: Vec::new(),
            dir,
        };
        c.watch();
        for n in 1..=3 {
            c.start(n);
            c.daemon(n).until(&format!("node {n}'s node-up"), 60, |d| {
                d.has("TE_JOIN_NODE", n as u64)
            });
        }
        Some(c)
    }

    /// The client polls the service; a watcher looks at every namespace's
    /// addresses.
    fn watch(&mut self) {
        let (answers, stop) = (self.answers.clone(), self.stop.clone());
        let client = self.net.in_client(move || {
            while !stop.load(Ordering::SeqCst) {
                let got = netns::get_node(URL, Duration::from_millis(300));
                let pause = got.is_none();
                answers.lock().unwrap().push((Instant::now(), got));
                if pause {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        let (overlaps, stop) = (self.overlaps.clone(), self.stop.clone());
        let net = Net {
            tag: self.net.tag.clone(),
            nodes: self.net.nodes,
        };
        let watcher = std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let h = net.holders(SERVICE);
                if h.len() > 1 {
                    overlaps.lock().unwrap().push(h);
                }
            }
            // Not ours to delete: the cluster's `Net` does.
            std::mem::forget(net);
        });
        self.watchers = vec![client, watcher];
    }

    fn start(&mut self, n: u32) {
        let ns = self.net.node(n);
        let d = Daemon::spawn_at(
            &self.site.join("site.toml"),
            n,
            &self.etcd_url,
            self.dir.path(),
            &["--takeover"],
            Some(&ns),
        );
        self.daemons[n as usize] = Some(d);
    }

    fn daemon(&self, n: u32) -> &Daemon {
        self.daemons[n as usize].as_ref().unwrap()
    }

    /// Waits until the client gets an answer from `node` after `since`;
    /// when it came.
    fn answered_by(&self, node: u32, since: Instant, secs: u64) -> Instant {
        let want = format!("node{node}");
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let at = self
                .answers
                .lock()
                .unwrap()
                .iter()
                .find(|(t, who)| *t >= since && who.as_deref() == Some(want.as_str()))
                .map(|(t, _)| *t);
            if let Some(at) = at {
                return at;
            }
            assert!(
                Instant::now() < end,
                "no answer from node {node} in {secs}s; the address is on {:?}; logs:\n{}",
                self.net.holders(SERVICE),
                logs(self)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn crash(&mut self, n: u32) -> Instant {
        let t = Instant::now();
        self.net.crash(n);
        if let Some(mut d) = self.daemons[n as usize].take() {
            d.kill9();
            std::mem::forget(d);
        }
        t
    }

    fn reboot(&mut self, n: u32) {
        self.net.power_on(n);
        self.start(n);
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.watchers.drain(..) {
            w.join().unwrap();
        }
        let overlaps = self.overlaps.lock().unwrap().clone();
        assert!(
            overlaps.is_empty(),
            "the service address was on two nodes at once: {overlaps:?}"
        );
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
    }
}

fn logs(c: &Cluster) -> String {
    c.net.debug()
        + &(1..=3)
            .filter_map(|n| {
                c.daemons[n]
                    .as_ref()
                    .map(|d| format!("--- node {n}\n{}", d.log()))
            })
            .collect::<String>()
}

#[test]
fn cascading_takeover_and_fallback_in_network_namespaces() {
    let Some(mut c) = Cluster::new(
        "cascading_takeover_and_fallback_in_network_namespaces",
        "c",
        "cascading",
    ) else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    assert_eq!(c.net.holders(SERVICE), [1]);
    let t0 = c.crash(1);
    let t1 = c.answered_by(2, t0, 60);
    eprintln!(
        "failover: {:?} from the crash to node 2's first answer",
        t1 - t0
    );
    assert_eq!(c.net.holders(SERVICE), [2]);
    // The survivors took it over in node 1's node-down.
    c.daemon(2)
        .until("node 1's node-down in node 2's journal", 30, |d| {
            d.has("TE_FAIL_NODE", 1)
        });
    let e = c.daemon(2).event("TE_FAIL_NODE", 1);
    assert_eq!(e["outcome"], "completed", "{}", logs(&c));
    c.reboot(1);
    let t2 = Instant::now();
    c.answered_by(1, t2, 60);
    assert_eq!(c.net.holders(SERVICE), [1], "{}", logs(&c));
    // Node 2 released before node 1 acquired.
    c.daemon(2)
        .until("node 1's rejoin in node 2's journal", 30, |d| {
            d.has("TE_JOIN_NODE", 1)
        });
    let e = c
        .daemon(2)
        .events()
        .into_iter()
        .rev()
        .find(|e| e["name"] == "TE_JOIN_NODE" && e["location"] == 1)
        .unwrap();
    assert!(
        e["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "resource" && r["command"] == "web" && r["detail"] == "offline"),
        "{e}"
    );
    c.finish();
}

#[test]
fn rotating_takeover_stays_when_the_node_rejoins_in_network_namespaces() {
    let Some(mut c) = Cluster::new(
        "rotating_takeover_stays_when_the_node_rejoins_in_network_namespaces",
        "r",
        "rotating",
    ) else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    let t0 = c.crash(1);
    c.answered_by(2, t0, 60);
    let joins = c.daemon(2).count("TE_JOIN_NODE", 1);
    c.reboot(1);
    c.daemon(2).until("node 1's rejoin", 60, |d| {
        d.count("TE_JOIN_NODE", 1) > joins
    });
    let after = Instant::now();
    let t = Instant::now();
    while c
        .answers
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, a)| *t > after && a.is_some())
        .count()
        < 5
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no answers after the rejoin; the address is on {:?}; logs:\n{}",
            c.net.holders(SERVICE),
            logs(&c)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let moved: Vec<_> = c
        .answers
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, a)| *t > after && a.as_deref() != Some("node2"))
        .cloned()
        .collect();
    assert!(moved.is_empty(), "the rotating group moved back: {moved:?}");
    assert_eq!(c.net.holders(SERVICE), [2]);
    c.finish();
}
