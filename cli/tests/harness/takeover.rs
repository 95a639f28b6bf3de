//! A cluster of three `hacmpd` nodes in network namespaces, holding the
//! HA web example's group, with a client polling its service address and a
//! watcher of which namespaces hold it (`takeover` tests, the failover
//! benchmark).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::netns::{self, Answers, Net};
use super::{etcd_binary, Daemon};

pub const SERVICE: &str = "10.77.0.100";
pub const URL: &str = "10.77.0.100:8080";
/// The service address and URL on the service network.
pub const SERVICE2: &str = "10.78.0.100";
pub const URL2: &str = "10.78.0.100:8080";

/// The faults a node's owner can suffer, as the failover benchmark and
/// tests apply them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Every process killed and power lost.
    Kill,
    /// The daemon stopped (SIGSTOP) while its machine runs on, for twice
    /// the TTL.
    Freeze,
    /// The link down; the machine runs on.
    Cable,
    /// Cut off from etcd and the other nodes; the client still reaches it.
    Partition,
    /// SIGTERM with takeover.
    Graceful,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Kill,
        Fault::Freeze,
        Fault::Cable,
        Fault::Partition,
        Fault::Graceful,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Freeze => "freeze",
            Fault::Cable => "cable",
            Fault::Partition => "partition",
            Fault::Graceful => "graceful",
        }
    }
}

pub struct Cluster {
    pub net: Net,
    /// The group's service address, and the URL the client polls.
    pub service: &'static str,
    url: &'static str,
    etcd: Child,
    site: PathBuf,
    etcd_url: String,
    daemons: Vec<Option<Daemon>>,
    pub answers: Arc<Mutex<Answers>>,
    overlaps: Arc<Mutex<Vec<Vec<u32>>>>,
    stop: Arc<AtomicBool>,
    watchers: Vec<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
    /// The daemons' lease time to live (`--ttl`), in seconds.
    ttl: u64,
}

impl Cluster {
    pub fn new(test: &str, tag: &str, policy: &str) -> Option<Cluster> {
        Cluster::build(test, tag, policy, false, 2)
    }

    /// Daemons with leases of `ttl` seconds (1 s needs the etcd timings
    /// this cluster's etcd has).
    pub fn with_ttl(test: &str, tag: &str, policy: &str, ttl: u64) -> Option<Cluster> {
        Cluster::build(test, tag, policy, false, ttl)
    }

    /// The group's address on a second network, `net1` (`eth1` boot and
    /// `eth2` standby on each node, hold-down 100 ms, heartbeats every
    /// 100 ms, 3 missed cut an adapter off); etcd stays on the first.
    pub fn with_service_network(test: &str, tag: &str) -> Option<Cluster> {
        Cluster::build(test, tag, "cascading", true, 2)
    }

    fn build(test: &str, tag: &str, policy: &str, two: bool, ttl: u64) -> Option<Cluster> {
        if !netns::available(test) {
            return None;
        }
        let etcd_bin = etcd_binary(test)?;
        let dir = tempfile::tempdir().unwrap();
        let net = Net::create(tag, 3);
        if two {
            net.add_service_network();
        }
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
            // The shortest lease etcd grants is 1.5 election timeouts,
            // rounded up to a second: 1 s leases need these (a single
            // member is always its own leader: no election to fear).
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
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
        crate::common::copy_tree(&crate::common::repo().join("examples/ha-web"), &site);
        let toml = std::fs::read_to_string(site.join("site.toml"))
            .unwrap()
            .replace("settle = \"200ms\"", "settle = \"50ms\"")
            .replace("interval = \"5s\"", "interval = \"300ms\"")
            .replace("policy = \"cascading\"", &format!("policy = \"{policy}\""))
            .replace(
                "fallback = \"on_rejoin\"\n",
                if policy == "cascading" {
                    "fallback = \"on_rejoin\"\n"
                } else {
                    ""
                },
            );
        let toml = if two { second_network(&toml) } else { toml };
        std::fs::write(site.join("site.toml"), toml).unwrap();
        // Holds each network_down while `root/hold-network-down` exists
        // (at most 20 s), so other events queue behind it.
        let hold = site.join("root/usr/local/ha-web/hold");
        hacmp_testkit::write_executable(
            &hold,
            "#!/bin/sh\ni=0\nwhile [ -e \"$HACMP_ROOT/hold-network-down\" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done\nexit 0\n",
        );
        let (service, url) = if two {
            (SERVICE2, URL2)
        } else {
            (SERVICE, URL)
        };
        let start = site.join("root/usr/local/ha-web/web-start");
        let text = std::fs::read_to_string(&start)
            .unwrap()
            .replace("/usr/bin/hacmp-httpd", env!("CARGO_BIN_EXE_hacmp-httpd"))
            .replace(URL, url);
        std::fs::write(&start, text).unwrap();
        let mut c = Cluster {
            net,
            service,
            url,
            etcd,
            site,
            etcd_url,
            daemons: (0..=3).map(|_| None).collect(),
            answers: Arc::new(Mutex::new(Vec::new())),
            overlaps: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            watchers: Vec::new(),
            dir,
            ttl,
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
        let (answers, stop, url) = (self.answers.clone(), self.stop.clone(), self.url);
        let client = self.net.in_client(move || {
            while !stop.load(Ordering::SeqCst) {
                let got = netns::get_node(url, Duration::from_millis(300));
                let pause = got.is_none();
                answers.lock().unwrap().push((Instant::now(), got));
                if pause {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        let (overlaps, stop, service) = (self.overlaps.clone(), self.stop.clone(), self.service);
        let net = Net {
            tag: self.net.tag.clone(),
            nodes: self.net.nodes,
        };
        let watcher = std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let h = net.holders_at_once(service);
                if h.len() > 1 {
                    overlaps.lock().unwrap().push(h);
                }
            }
            // Not ours to delete: the cluster's `Net` does.
            std::mem::forget(net);
        });
        self.watchers = vec![client, watcher];
    }

    pub fn start(&mut self, n: u32) {
        let ns = self.net.node(n);
        let d = Daemon::spawn_at(
            &self.site.join("site.toml"),
            n,
            &self.etcd_url,
            self.dir.path(),
            &["--takeover", "--ttl", &format!("{}s", self.ttl)],
            Some(&ns),
        );
        self.daemons[n as usize] = Some(d);
    }

    /// The events of node `n`'s journal (running or not).
    pub fn journal(&self, n: u32) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join(format!("node{n}/journal.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "event")
            .collect()
    }

    pub fn daemon_opt(&self, n: u32) -> Option<&Daemon> {
        self.daemons[n as usize].as_ref()
    }

    pub fn daemon(&self, n: u32) -> &Daemon {
        self.daemons[n as usize].as_ref().unwrap()
    }

    /// Waits until the client gets an answer from `node` after `since`;
    /// when it came.
    pub fn answered_by(&self, node: u32, since: Instant, secs: u64) -> Instant {
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
                self.net.holders(self.service),
                logs(self)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn crash(&mut self, n: u32) -> Instant {
        let t = Instant::now();
        self.net.crash(n);
        if let Some(mut d) = self.daemons[n as usize].take() {
            d.kill9();
            std::mem::forget(d);
        }
        t
    }

    /// The pid of node `n`'s web server, from its pid file.
    pub fn server_pid(&self, n: u32) -> Option<i32> {
        std::fs::read_to_string(self.site.join(format!("root/run/ha-web-node{n}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The staging root of the site the daemons run.
    pub fn root(&self) -> PathBuf {
        self.site.join("root")
    }

    /// `hacmp status` (from the client namespace, where etcd is reachable).
    pub fn status(&self, format: &str) -> String {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.net.client(),
                env!("CARGO_BIN_EXE_hacmp"),
            ])
            .args(["status", "--format", format, "--etcd", &self.etcd_url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A graceful stop with takeover (SIGTERM; the daemons run with
    /// `--takeover`): when it was asked.
    pub fn stop(&mut self, n: u32) -> Instant {
        let t = Instant::now();
        let d = self.daemons[n as usize].as_mut().unwrap();
        d.signal(libc::SIGTERM);
        assert_eq!(d.wait_exit(60), Some(0), "node {n} did not stop");
        self.daemons[n as usize] = None;
        t
    }

    /// The first answer after `since` from a node other than `not`: when,
    /// and which node.
    pub fn answered_by_other(&self, not: u32, since: Instant, secs: u64) -> (Instant, u32) {
        let end = Instant::now() + Duration::from_secs(secs);
        let not = format!("node{not}");
        loop {
            let found = self.answers.lock().unwrap().iter().find_map(|(t, who)| {
                let who = who.as_deref()?;
                (*t >= since && who != not)
                    .then(|| (*t, who.trim_start_matches("node").parse().unwrap_or(0)))
            });
            if let Some(f) = found {
                return f;
            }
            assert!(
                Instant::now() < end,
                "no other node answered in {secs}s; logs:\n{}",
                logs(self)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `n`'s daemon has seen its own node-up `count` times.
    pub fn joined(&self, n: u32, count: usize) {
        self.daemon(n)
            .until(&format!("node {n}'s node-up"), 60, |d| {
                d.count("TE_JOIN_NODE", n as u64) >= count
            });
    }

    pub fn reboot(&mut self, n: u32) {
        self.net.power_on(n);
        self.start(n);
    }

    /// Node `n` suffers `f`: when.
    pub fn fault(&mut self, f: Fault, n: u32) -> Instant {
        let t0 = Instant::now();
        match f {
            Fault::Kill => {
                self.crash(n);
            }
            Fault::Freeze => self.daemon(n).signal(libc::SIGSTOP),
            Fault::Cable => self.net.link(n, false),
            Fault::Partition => self.net.partition(n, true),
            Fault::Graceful => {
                self.stop(n);
            }
        }
        t0
    }

    /// Ends fault `f` of node `n`, which began at `t0`: the node comes
    /// back (a frozen daemon after twice the TTL in all) and joins again
    /// as a new node, its `joins`-th node-up in its own journal.
    pub fn recover(&mut self, f: Fault, n: u32, t0: Instant, joins: usize) {
        match f {
            Fault::Kill => self.reboot(n),
            Fault::Freeze => {
                // The fault's length, not a wait for a condition.
                if let Some(left) =
                    (t0 + Duration::from_secs(2 * self.ttl)).checked_duration_since(Instant::now())
                {
                    std::thread::sleep(left);
                }
                self.daemon(n).signal(libc::SIGCONT);
            }
            Fault::Cable => self.net.link(n, true),
            Fault::Partition => self.net.partition(n, false),
            Fault::Graceful => self.start(n),
        }
        self.joined(n, joins);
    }

    /// Samples so far at which two nodes held the address at once.
    pub fn overlaps(&self) -> usize {
        self.overlaps.lock().unwrap().len()
    }

    pub fn finish(mut self) {
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

pub fn logs(c: &Cluster) -> String {
    c.net.debug()
        + &(1..=3)
            .filter_map(|n| {
                c.daemons[n]
                    .as_ref()
                    .map(|d| format!("--- node {n}\n{}", d.log()))
            })
            .collect::<String>()
}

/// The HA web site with its service address on a second network `net1`:
/// each node's `eth1` boot and `eth2` standby adapters there.
fn second_network(toml: &str) -> String {
    let mut t = toml.replace(
        "ipat = \"alias\"\n",
        &format!(
            "ipat = \"alias\"\n\n[[network]]\nname = \"net1\"\nsubnet = \"{p}.0/24\"\nipat = \"alias\"\nhold_down = \"100ms\"\nheartbeat = \"100ms\"\nmisses = 3\n",
            p = netns::SERVICE_PREFIX
        ),
    );
    for n in 1..=3 {
        t = t.replace(
            &format!("address = \"{}.{}\"\n", netns::SUBNET_PREFIX, 10 + n),
            &format!(
                "address = \"{a}.{b}\"\n[[node.adapter]]\nnetwork = \"net1\"\ninterface = \"eth1\"\nrole = \"boot\"\naddress = \"{p}.{b}\"\n[[node.adapter]]\nnetwork = \"net1\"\ninterface = \"eth2\"\nrole = \"standby\"\naddress = \"{p}.{c}\"\n",
                a = netns::SUBNET_PREFIX,
                b = 10 + n,
                c = 20 + n,
                p = netns::SERVICE_PREFIX
            ),
        );
    }
    t.replace(
        &format!("network = \"net0\"\naddress = \"{SERVICE}/24\""),
        &format!("network = \"net1\"\naddress = \"{SERVICE2}/24\""),
    ) + "\n[event_scripts.network_down]\npre = \"/usr/local/ha-web/hold\"\n"
}
