//! Heartbeats on real interfaces, in namespaces of the test's own (root
//! only: skipped loudly without it, failed under `HACMP_REQUIRE_ROOT=1`).

use std::os::fd::AsRawFd;
use std::time::Duration;

use hacmp_compiler::resources::*;
use hacmp_linux::topology::heartbeat;
use hacmp_stdlib::Duration as Every;
use hacmp_testkit::netns::{available, ipv6, isolated, run, Netns};

fn network(subnet: &str) -> Network {
    Network {
        name: "net6".into(),
        subnet: Cidr::parse(subnet, false).unwrap(),
        ipat: Ipat::Alias,
        hold_down: Every::from_millis(100),
        heartbeat: Some(Heartbeat {
            interval: Every::from_millis(100),
            misses: 3,
        }),
    }
}

fn adapter(interface: &str, address: &str) -> Adapter {
    Adapter {
        network: "net6".into(),
        interface: interface.into(),
        role: AdapterRole::Boot,
        address: Some(Cidr::parse(address, false).unwrap()),
    }
}

/// Node 1 (this namespace) has adapters a1 and a2 on an IPv6 network;
/// node 2 (a namespace of its own, across veth pairs) sends heartbeats
/// through b2 only, so a1 hears nobody of its cluster while a2 hears node
/// 2: a1 is cut off, link up (as a cable pulled on a switch), and loses
/// its route to the subnet. Heartbeats there go to all nodes of the link
/// (ff02::1). Node 2 of another cluster on b1 is not heard.
#[test]
fn ipv6_heartbeats_find_an_adapter_that_hears_nobody() {
    let test = "ipv6_heartbeats_find_an_adapter_that_hears_nobody";
    if !available(test, &["ip"]) || !ipv6(test) {
        return;
    }
    isolated(|| {
        let netns = Netns::new("hacmp-hb");
        let ns = netns.0.clone();
        let there = |args: &[&str]| {
            let mut v = vec!["ip", "-n", ns.as_str()];
            v.extend_from_slice(args);
            run(&v);
        };
        for (a, b, mine, theirs) in [
            ("a1", "b1", "fd98::11/64", "fd98::21/64"),
            ("a2", "b2", "fd98::12/64", "fd98::22/64"),
        ] {
            run(&["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
            run(&["ip", "link", "set", b, "netns", &ns]);
            run(&["ip", "addr", "add", mine, "dev", a, "nodad"]);
            run(&["ip", "link", "set", a, "up"]);
            there(&["addr", "add", theirs, "dev", b, "nodad"]);
            there(&["link", "set", b, "up"]);
        }
        let mut res = Resources {
            networks: vec![network("fd98::/64")],
            ..Default::default()
        };
        res.adapters.insert(
            1,
            vec![adapter("a1", "fd98::11/64"), adapter("a2", "fd98::12/64")],
        );
        res.adapters.insert(2, vec![adapter("b2", "fd98::22/64")]);
        let mut other = res.clone();
        other.adapters.insert(2, vec![adapter("b1", "fd98::21/64")]);

        // Node 2 on a thread in its namespace (spawned from this one, in
        // this mount namespace, where the name is).
        let stop2 = tokio_util::sync::CancellationToken::new();
        let node2 = {
            let (res, other, path) = (res.clone(), other, format!("/run/netns/{ns}"));
            let stop2 = stop2.clone();
            std::thread::spawn(move || {
                let f = std::fs::File::open(path).unwrap();
                // SAFETY: this thread alone joins the namespace.
                assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                let (tx7, _rx7) = tokio::sync::mpsc::unbounded_channel();
                rt.block_on(async {
                    let seven = tokio::spawn(heartbeat::run(7, 2, other, tx7, stop2.clone()));
                    heartbeat::run(1, 2, res, tx, stop2.clone()).await;
                    let _ = seven.await;
                });
            })
        };

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (tx, mut verdicts) = tokio::sync::mpsc::unbounded_channel();
        let stop1 = tokio_util::sync::CancellationToken::new();
        let got = rt.block_on(async {
            let node1 = tokio::spawn(heartbeat::run(1, 1, res, tx, stop1.clone()));
            // Each adapter's first verdict (reachable), then the changes.
            // Link-local addresses wait for duplicate detection (about a
            // second) before anything is sent.
            let got = tokio::time::timeout(Duration::from_secs(15), async {
                let mut seen = Vec::new();
                while let Some(v) = verdicts.recv().await {
                    if !v.1 {
                        return (Some(v), seen);
                    }
                    seen.push(v);
                }
                (None, seen)
            })
            .await;
            stop1.cancel();
            let _ = node1.await;
            got
        });
        stop2.cancel();
        node2.join().unwrap();
        let (cut, before) = got.expect("a verdict within 15 s");
        assert_eq!(
            cut,
            Some(("a1".to_string(), false)),
            "a1 cut off, a2 hearing node 2"
        );
        assert_eq!(
            before,
            [("a1".to_string(), true), ("a2".to_string(), true)],
            "nobody judged before"
        );
        let o = std::process::Command::new("ip")
            .args(["-6", "route", "show", "dev", "a1"])
            .output()
            .unwrap();
        let routes = String::from_utf8_lossy(&o.stdout);
        assert!(
            !routes.contains("fd98::/64"),
            "a1's route is gone: {routes}"
        );
        let o = std::process::Command::new("ip")
            .args(["-6", "route", "show", "dev", "a2"])
            .output()
            .unwrap();
        let routes = String::from_utf8_lossy(&o.stdout);
        assert!(routes.contains("fd98::/64"), "a2 keeps its route: {routes}");
    });
}
