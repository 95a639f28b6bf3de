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

use crate::common;
use crate::harness;

use std::time::{Duration, Instant};

use common::alive;
use harness::takeover::{logs, Cluster, Fault, SERVICE};

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
    // `hacmp status` shows the group and each node's part in it.
    let mut shown = serde_json::Value::Null;
    for _ in 0..100 {
        shown = serde_json::from_str(&c.status("json")).unwrap_or_default();
        if shown["resource_groups"][0]["on"]["1"] == "online" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let g = &shown["resource_groups"][0];
    assert_eq!(
        (g["name"].as_str(), g["state"].as_str()),
        (Some("web"), Some("online")),
        "{shown}"
    );
    assert_eq!(g["nodes"], serde_json::json!([1]));
    assert_eq!(g["on"], serde_json::json!({"1": "online"}), "{shown}");
    let human = c.status("human");
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("web") && l.contains("online") && l.contains("node 1: online")),
        "{human}"
    );
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

/// The owner is cut off (its link goes down; its daemon and server run
/// on): it cannot renew its lease, fences itself and takes its address
/// down before the survivors, who see its lease lapse only later, take the
/// group over. When the link comes back it rejoins as a new node.
#[test]
fn a_cut_off_owner_releases_its_address_before_the_takeover_in_network_namespaces() {
    let Some(c) = Cluster::new(
        "a_cut_off_owner_releases_its_address_before_the_takeover_in_network_namespaces",
        "p",
        "rotating",
    ) else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    let joins = c.daemon(2).count("TE_JOIN_NODE", 1);
    let t0 = Instant::now();
    c.net.link(1, false);
    c.answered_by(2, t0, 60);
    c.daemon(1).until("node 1 to fence itself", 30, |d| {
        d.log().contains("out of the group")
    });
    assert_eq!(c.net.holders(SERVICE), [2], "{}", logs(&c));
    c.net.link(1, true);
    c.daemon(2).until("node 1's rejoin", 60, |d| {
        d.count("TE_JOIN_NODE", 1) > joins
    });
    assert_eq!(c.net.holders(SERVICE), [2]);
    c.finish();
}

/// The owner's daemon is frozen (SIGSTOP) for twice its lease's time to
/// live while its machine runs on: its warden takes the address down and
/// kills the server when the daemon misses the moment it would fence
/// itself, before the survivors see its lease lapse, so no sample of the
/// watcher finds the address on two nodes; the client is served by the
/// survivor. Woken, the daemon finds itself out of the group and rejoins.
#[test]
fn a_frozen_daemon_lets_go_through_its_warden_in_network_namespaces() {
    let Some(c) = Cluster::new(
        "a_frozen_daemon_lets_go_through_its_warden_in_network_namespaces",
        "z",
        "rotating",
    ) else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    let server = c.server_pid(1).expect("node 1's server");
    let t0 = Instant::now();
    c.daemon(1).signal(libc::SIGSTOP);
    c.answered_by(2, t0, 60);
    assert!(
        !alive(server),
        "the frozen node's server still runs: {}",
        logs(&c)
    );
    assert_eq!(c.net.holders(SERVICE), [2], "{}", logs(&c));
    // The fault is a freeze of twice the TTL (2 s), whatever happens
    // meanwhile: a fixed length, not a wait for a condition.
    if let Some(left) = (t0 + Duration::from_secs(4)).checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
    c.daemon(1).signal(libc::SIGCONT);
    c.joined(1, 2);
    let log = c.daemon(1).log();
    assert!(
        log.contains("hacmpd warden: the moment the daemon must have fenced itself by passed")
            && log.contains("10.77.0.100 taken down"),
        "the warden did not say what it did:\n{log}"
    );
    assert_eq!(c.net.holders(SERVICE), [2]);
    c.finish();
}

/// With 1 s leases (and the etcd timings they need), every fault the
/// failover benchmark measures, once each: the client is served by
/// another node afterwards, the node rejoins, and no sample ever finds
/// the address on two nodes (beats expel the silent owner; its warden or
/// its own fence let go first).
#[test]
fn every_fault_with_one_second_leases_moves_the_service_without_two_owners_in_network_namespaces() {
    let Some(mut c) = Cluster::with_ttl(
        "every_fault_with_one_second_leases_moves_the_service_without_two_owners_in_network_namespaces",
        "s",
        "rotating",
        1,
    ) else {
        return;
    };
    let mut owner = c
        .answered_by_other(0, Instant::now() - Duration::from_secs(3600), 60)
        .1;
    let mut joins = [0, 1, 1, 1];
    for f in Fault::ALL {
        let t0 = c.fault(f, owner);
        let (_, next) = c.answered_by_other(owner, t0, 60);
        joins[owner as usize] += 1;
        c.recover(f, owner, t0, joins[owner as usize]);
        assert_eq!(c.overlaps(), 0, "{}: two owners; {}", f.name(), logs(&c));
        owner = next;
    }
    c.finish();
}

/// The application fails on its node: its monitor restarts it once; when it
/// cannot start again (another process holds its port), the node raises
/// TE_RG_MOVE and the whole group (address, pages, server) moves on.
#[test]
fn a_failing_application_moves_its_group_in_network_namespaces() {
    let Some(c) = Cluster::new(
        "a_failing_application_moves_its_group_in_network_namespaces",
        "m",
        "cascading",
    ) else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    let kill = |pid: i32| unsafe {
        // SAFETY: a signal to the test's own server process.
        libc::kill(pid, libc::SIGKILL);
    };
    // Once: restarted in place.
    let first = c.server_pid(1).unwrap();
    kill(first);
    let t = Instant::now();
    while c.server_pid(1).is_none_or(|p| p == first) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "not restarted: {}",
            logs(&c)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    c.answered_by(1, Instant::now(), 30);
    // Again, and its port taken: it cannot start, the group moves.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let second = c.server_pid(1).unwrap();
    let holder = c.net.in_node(1, move || {
        kill(second);
        // Until the server is gone the port is its: retry.
        let t = Instant::now();
        let l = loop {
            match std::net::TcpListener::bind(harness::takeover::URL) {
                Ok(l) => break l,
                Err(_) if t.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("cannot take the port: {e}"),
            }
        };
        bound_tx.send(()).unwrap();
        let _ = stop_rx.recv();
        drop(l);
    });
    bound_rx.recv().unwrap();
    let t0 = Instant::now();
    c.answered_by(2, t0, 60);
    c.daemon(2)
        .until("the TE_RG_MOVE event", 30, |d| d.has("TE_RG_MOVE", 1));
    assert_eq!(c.net.holders(SERVICE), [2], "{}", logs(&c));
    stop_tx.send(()).unwrap();
    holder.join().unwrap();
    c.finish();
}
