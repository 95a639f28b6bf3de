//! Network namespaces the test creates and deletes itself: a hub with a
//! bridge (and the etcd of the test), one namespace per node and one for a
//! client, each joined to the bridge by a veth pair. Every address is
//! inside these namespaces: no traffic leaves them.

use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

/// The network every namespace is on.
pub const SUBNET_PREFIX: &str = "10.77.0";
/// The service network of `add_service_network`.
pub const SERVICE_PREFIX: &str = "10.78.0";

pub struct Net {
    pub tag: String,
    pub nodes: u32,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Whether this test may create namespaces; when not, says why (and the
/// test skips loudly, or fails under `HACMP_REQUIRE_NETNS=1`).
pub fn available(test: &str) -> bool {
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = PROBES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let probe = format!("hx{}p{k}", std::process::id());
    let why = if unsafe { libc::geteuid() } != 0 {
        Some("not root (network namespaces need CAP_NET_ADMIN)".to_string())
    } else {
        match ip(&["netns", "add", &probe]) {
            Ok(()) => {
                let _ = ip(&["netns", "del", &probe]);
                None
            }
            Err(e) => Some(e),
        }
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("HACMP_REQUIRE_NETNS").as_deref() == Ok("1") {
                panic!(
                    "{test}: HACMP_REQUIRE_NETNS=1 but network namespaces are not available: {why}"
                );
            }
            eprintln!("SKIPPED {test}: {why}; HACMP_REQUIRE_NETNS=1 makes this an error");
            false
        }
    }
}

impl Net {
    /// The hub (bridge `br0` at `.1`), nodes `1..=nodes` (`eth0` at
    /// `.1N`) and a client (`.50`).
    pub fn create(tag: &str, nodes: u32) -> Net {
        let net = Net {
            tag: format!("hx{}{tag}", std::process::id() % 100_000),
            nodes,
        };
        let hub = net.hub();
        ip(&["netns", "add", &hub]).unwrap();
        ip(&["-n", &hub, "link", "set", "lo", "up"]).unwrap();
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]).unwrap();
        ip(&[
            "-n",
            &hub,
            "addr",
            "add",
            &format!("{SUBNET_PREFIX}.1/24"),
            "dev",
            "br0",
        ])
        .unwrap();
        ip(&["-n", &hub, "link", "set", "br0", "up"]).unwrap();
        let mut members: Vec<(String, String)> = (1..=nodes)
            .map(|n| (net.node(n), format!("{SUBNET_PREFIX}.{}", 10 + n)))
            .collect();
        members.push((net.client(), format!("{SUBNET_PREFIX}.50")));
        for (i, (ns, addr)) in members.iter().enumerate() {
            ip(&["netns", "add", ns]).unwrap();
            ip(&["-n", ns, "link", "set", "lo", "up"]).unwrap();
            // Made in the hub, one end moved into the member and renamed.
            let (a, b) = (format!("{}a{i}", net.tag), format!("{}b{i}", net.tag));
            ip(&[
                "-n", &hub, "link", "add", &a, "type", "veth", "peer", "name", &b,
            ])
            .unwrap();
            ip(&["-n", &hub, "link", "set", &b, "netns", ns]).unwrap();
            ip(&["-n", ns, "link", "set", &b, "name", "eth0"]).unwrap();
            ip(&["-n", &hub, "link", "set", &a, "master", "br0", "up"]).unwrap();
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])
            .unwrap();
            ip(&["-n", ns, "link", "set", "eth0", "up"]).unwrap();
        }
        net
    }

    /// A second network, for services: bridge `br1` in the hub, and in
    /// each node `eth1` (`SERVICE_PREFIX.1N`) and `eth2` (`.2N`), in the
    /// client `eth1` (`.50`).
    pub fn add_service_network(&self) {
        let hub = self.hub();
        ip(&["-n", &hub, "link", "add", "br1", "type", "bridge"]).unwrap();
        ip(&["-n", &hub, "link", "set", "br1", "up"]).unwrap();
        let mut ends: Vec<(String, &str, String)> = Vec::new();
        for n in 1..=self.nodes {
            ends.push((self.node(n), "eth1", format!("{SERVICE_PREFIX}.{}", 10 + n)));
            ends.push((self.node(n), "eth2", format!("{SERVICE_PREFIX}.{}", 20 + n)));
        }
        ends.push((self.client(), "eth1", format!("{SERVICE_PREFIX}.50")));
        for (i, (ns, name, addr)) in ends.iter().enumerate() {
            let (a, b) = (format!("{}s{i}", self.tag), format!("{}t{i}", self.tag));
            ip(&[
                "-n", &hub, "link", "add", &a, "type", "veth", "peer", "name", &b,
            ])
            .unwrap();
            ip(&["-n", &hub, "link", "set", &b, "netns", ns]).unwrap();
            ip(&["-n", ns, "link", "set", &b, "name", name]).unwrap();
            ip(&["-n", &hub, "link", "set", &a, "master", "br1", "up"]).unwrap();
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", name]).unwrap();
            ip(&["-n", ns, "link", "set", name, "up"]).unwrap();
        }
    }

    /// The switch port of node `n`'s `interface` on the service network
    /// leaves the bridge (`false`, a cable pulled on the switch: the
    /// node's link stays up) or joins it again.
    pub fn plug(&self, n: u32, interface: &str, on: bool) {
        let i = 2 * (n - 1) + u32::from(interface == "eth2");
        let port = format!("{}s{i}", self.tag);
        let hub = self.hub();
        if on {
            ip(&["-n", &hub, "link", "set", &port, "master", "br1"]).unwrap();
        } else {
            ip(&["-n", &hub, "link", "set", &port, "nomaster"]).unwrap();
        }
    }

    /// One interface of node `n` up or down (an adapter failing).
    pub fn set_link(&self, n: u32, interface: &str, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.node(n), "link", "set", interface, state]).unwrap();
    }

    /// Sets `interface` of node `n` down and at once up again, both in
    /// one `ip` process: the link is down for far less than any hold-down
    /// however busy the machine (two `ip` runs can be 100 ms apart).
    pub fn blink(&self, n: u32, interface: &str) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["-n", &self.node(n), "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("ip");
        let script = format!("link set {interface} down\nlink set {interface} up\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "ip -batch: {script}");
    }

    /// The interfaces of node `n` that hold `addr` now.
    pub fn interfaces_holding(&self, n: u32, addr: &str) -> Vec<String> {
        Command::new("ip")
            .args(["-n", &self.node(n), "-o", "addr", "show"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.contains(&format!(" {addr}/")))
                    .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn hub(&self) -> String {
        format!("{}hub", self.tag)
    }

    pub fn node(&self, n: u32) -> String {
        format!("{}n{n}", self.tag)
    }

    pub fn client(&self) -> String {
        format!("{}cl", self.tag)
    }

    /// The node crashes: every process in it is killed (the daemon, the
    /// server it started) and it loses power.
    pub fn crash(&self, n: u32) {
        kill_all(&self.node(n));
        self.power_off(n);
    }

    /// The node's link goes down (or up again): it runs on, cut off from
    /// the others and from etcd; its addresses stay configured.
    pub fn link(&self, n: u32, up: bool) {
        let ns = self.node(n);
        ip(&[
            "-n",
            &ns,
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }

    /// The node is cut off from etcd and the other nodes (blackhole
    /// routes in its namespace) while the client still reaches it; or
    /// joined again.
    pub fn partition(&self, n: u32, on: bool) {
        let ns = self.node(n);
        let others = std::iter::once(1).chain((1..=self.nodes).filter(|m| *m != n).map(|m| 10 + m));
        for host in others {
            let dest = format!("{SUBNET_PREFIX}.{host}/32");
            ip(&[
                "-n",
                &ns,
                "route",
                if on { "add" } else { "del" },
                "blackhole",
                &dest,
            ])
            .unwrap();
        }
    }

    /// The node loses power: its interface goes down and forgets its
    /// addresses (what a crashed machine holds is gone).
    pub fn power_off(&self, n: u32) {
        let ns = self.node(n);
        ip(&["-n", &ns, "link", "set", "eth0", "down"]).unwrap();
        ip(&["-n", &ns, "addr", "flush", "dev", "eth0"]).unwrap();
    }

    /// The node boots: only its boot address.
    pub fn power_on(&self, n: u32) {
        let ns = self.node(n);
        let addr = format!("{SUBNET_PREFIX}.{}/24", 10 + n);
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]).unwrap();
        ip(&["-n", &ns, "link", "set", "eth0", "up"]).unwrap();
    }

    /// The client's neighbours, and each node's addresses and listening
    /// sockets: for failure messages.
    pub fn debug(&self) -> String {
        let run = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let mut out = format!(
            "client neighbours:\n{}",
            run(&["-n", &self.client(), "neigh"])
        );
        for n in 1..=self.nodes {
            out += &format!(
                "node {n}:\n{}{}",
                run(&["-n", &self.node(n), "-o", "addr"]),
                run(&["netns", "exec", &self.node(n), "ss", "-ltn"])
            );
        }
        out
    }

    /// The nodes that hold `addr` now, on any interface.
    pub fn holders(&self, addr: &str) -> Vec<u32> {
        self.sweep(addr, (1..=self.nodes).collect())
    }

    /// The nodes that held `addr` at one moment, as far as reads of one
    /// namespace after another can tell: when a sweep finds several, the
    /// namespaces are read again in the opposite order and only nodes both
    /// sweeps saw count. (A move that completes during a sweep, the
    /// earlier-read node releasing and the later-read one acquiring, is
    /// not two holders at once; a real overlap lasts through both.)
    pub fn holders_at_once(&self, addr: &str) -> Vec<u32> {
        let first = self.holders(addr);
        if first.len() < 2 {
            return first;
        }
        let again = self.sweep(addr, first.iter().rev().copied().collect());
        first.into_iter().filter(|n| again.contains(n)).collect()
    }

    fn sweep(&self, addr: &str, nodes: Vec<u32>) -> Vec<u32> {
        nodes
            .into_iter()
            .filter(|n| {
                Command::new("ip")
                    .args(["-n", &self.node(*n), "-o", "addr", "show"])
                    .output()
                    .is_ok_and(|o| {
                        String::from_utf8_lossy(&o.stdout).contains(&format!(" {addr}/"))
                    })
            })
            .collect()
    }

    /// Runs `f` on a thread inside the client namespace.
    pub fn in_client<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        self.in_ns(self.client(), f)
    }

    /// Runs `f` on a thread inside a node's namespace.
    pub fn in_node<T: Send + 'static>(
        &self,
        n: u32,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        self.in_ns(self.node(n), f)
    }

    fn in_ns<T: Send + 'static>(
        &self,
        ns: String,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: moves only this thread into the namespace.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let mut all: Vec<String> = (1..=self.nodes).map(|n| self.node(n)).collect();
        all.push(self.client());
        all.push(self.hub());
        for ns in all {
            // Whatever still runs in it (a server a killed daemon left).
            kill_all(&ns);
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}

/// SIGKILL to every process in a namespace of ours.
pub fn kill_all(ns: &str) {
    if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
            if let Ok(p) = pid.parse::<i32>() {
                // SAFETY: a signal to a process of our own namespace.
                unsafe {
                    libc::kill(p, libc::SIGKILL);
                }
            }
        }
    }
}

/// One GET of `/node` at `addr`: the name of the node that answered.
pub fn get_node(addr: &str, timeout: Duration) -> Option<String> {
    use std::io::{Read, Write};
    let sa: std::net::SocketAddr = addr.parse().ok()?;
    // A connect to an address nobody holds waits for ARP: given up soon,
    // so that the client polls every few tens of milliseconds while the
    // service moves.
    let mut s =
        std::net::TcpStream::connect_timeout(&sa, timeout.min(Duration::from_millis(50))).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET /node HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let (head, rest) = body.split_once("\r\n\r\n")?;
    // A whole answer only: a server killed while answering may leave the
    // body short.
    let name = rest.trim();
    (head.starts_with("HTTP/1.0 200") && !name.is_empty()).then(|| name.to_string())
}

/// What a client saw, answer by answer: when, and which node (none: no
/// answer).
pub type Answers = Vec<(Instant, Option<String>)>;
