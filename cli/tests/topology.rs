//! Topology events from the kernel: the HA web group's address on a
//! service network (`eth1` boot, `eth2` standby on each node, hold-down
//! 100 ms), three `hacmpd` nodes in network namespaces the test creates,
//! etcd on another network. Links are set down and up inside a node's
//! namespace; the daemon sees it through netlink and queues the standard
//! events. Root only: skipped loudly without it, failed under
//! `HACMP_REQUIRE_NETNS=1`.

use crate::harness;

use std::time::{Duration, Instant};

use harness::takeover::{logs, Cluster, SERVICE2};

#[test]
fn adapter_and_network_failures_come_from_the_kernel_in_network_namespaces() {
    let test = "adapter_and_network_failures_come_from_the_kernel_in_network_namespaces";
    let Some(c) = Cluster::with_service_network(test, "t") else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    assert_eq!(c.net.interfaces_holding(1, SERVICE2), ["eth1"]);

    // The service adapter fails: swap_adapter, once; the address is on
    // the standby and the client keeps getting answers from node 1.
    let t0 = Instant::now();
    c.net.set_link(1, "eth1", false);
    harness::until("the service address on eth2", 30, || {
        c.net.interfaces_holding(1, SERVICE2) == ["eth2"]
    });
    eprintln!(
        "swap: {:?} from the link down to the address on the standby",
        t0.elapsed()
    );
    c.answered_by(1, Instant::now(), 30);
    c.daemon(1)
        .until("swap_adapter in node 1's journal", 30, |d| {
            d.has("TE_SWAP_ADAPTER", 1)
        });
    let e = c.daemon(1).event("TE_SWAP_ADAPTER", 1);
    assert_eq!(e["outcome"], "completed", "{}", logs(&c));

    // Back up: a spare now (join_standby); the address stays on eth2.
    c.net.set_link(1, "eth1", true);
    c.daemon(1)
        .until("join_standby", 30, |d| d.has("TE_JOIN_STANDBY", 1));
    assert_eq!(c.net.interfaces_holding(1, SERVICE2), ["eth2"]);

    // Ten flaps of the spare, each down far shorter than the hold-down,
    // ending up: nothing. Ten more, then down for good: one fail_standby.
    for ends_down in [false, true] {
        for _ in 0..10 {
            c.net.blink(1, "eth1");
            std::thread::sleep(Duration::from_millis(30));
        }
        if ends_down {
            c.net.set_link(1, "eth1", false);
        }
        // Absence shows only over time: ten hold-downs after the last flap.
        std::thread::sleep(Duration::from_secs(1));
    }
    c.daemon(1)
        .until("fail_standby", 30, |d| d.has("TE_FAIL_STANDBY", 1));
    let d = c.daemon(1);
    assert_eq!(
        (
            d.count("TE_FAIL_STANDBY", 1),
            d.count("TE_JOIN_STANDBY", 1),
            d.count("TE_SWAP_ADAPTER", 1)
        ),
        (1, 1, 1),
        "one event per change: {:?}",
        d.seqs()
    );

    // The whole network down on node 1: network_down, the group moves.
    c.net.set_link(1, "eth2", false);
    let t1 = Instant::now();
    c.answered_by(2, t1, 60);
    assert_eq!(c.net.holders(SERVICE2), [2], "{}", logs(&c));
    c.daemon(2)
        .until("network_down in node 2's journal", 30, |d| {
            d.has("TE_FAIL_NETWORK", 1)
        });
    let e = c.daemon(2).event("TE_FAIL_NETWORK", 1);
    assert_eq!(e["outcome"], "completed", "{}", logs(&c));
    // Up again: network_up; the group stays where it is.
    c.net.set_link(1, "eth1", true);
    c.daemon(2)
        .until("network_up in node 2's journal", 30, |d| {
            d.has("TE_JOIN_NETWORK", 1)
        });
    assert_eq!(c.net.holders(SERVICE2), [2]);
    c.finish();
}

/// A cable pulled on the switch: node 1's service adapter keeps its link,
/// but its heartbeats stop while its standby still hears the others: the
/// address swaps to the standby; plugged back, it is a standby again.
#[test]
fn a_cable_pulled_on_the_switch_is_seen_by_heartbeats_in_network_namespaces() {
    let test = "a_cable_pulled_on_the_switch_is_seen_by_heartbeats_in_network_namespaces";
    let Some(c) = Cluster::with_service_network(test, "h") else {
        return;
    };
    c.answered_by(1, Instant::now() - Duration::from_secs(3600), 60);
    assert_eq!(c.net.interfaces_holding(1, SERVICE2), ["eth1"]);
    let t0 = Instant::now();
    c.net.plug(1, "eth1", false);
    harness::until("the service address on eth2", 30, || {
        c.net.interfaces_holding(1, SERVICE2) == ["eth2"]
    });
    eprintln!("swap after the cable was pulled: {:?}", t0.elapsed());
    c.answered_by(1, Instant::now(), 30);
    c.daemon(1)
        .until("swap_adapter", 30, |d| d.has("TE_SWAP_ADAPTER", 1));
    c.net.plug(1, "eth1", true);
    c.daemon(1)
        .until("join_standby", 30, |d| d.has("TE_JOIN_STANDBY", 1));
    assert_eq!(c.daemon(1).count("TE_SWAP_ADAPTER", 1), 1);
    assert!(!c.daemon(1).has("TE_FAIL_NETWORK", 1));
    c.finish();
}

/// Node 3's network goes down and comes back while node 2's network_down
/// holds the cluster: both of node 3's events are queued together, and
/// only the latest (network_up) runs. Run by priority the up would go
/// first, then the down, and node 3 would stay taken for cut off.
#[test]
fn a_network_down_and_up_queued_together_run_as_the_latest_state() {
    let test = "a_network_down_and_up_queued_together_run_as_the_latest_state";
    let Some(c) = Cluster::with_service_network(test, "q") else {
        return;
    };
    let hold = c.root().join("hold-network-down");
    std::fs::write(&hold, "").unwrap();
    let status =
        || serde_json::from_str::<serde_json::Value>(&c.status("json")).unwrap_or_default();
    let queued = |name: &str, at: u64| {
        status()["queue"]
            .as_array()
            .is_some_and(|q| q.iter().any(|e| e["name"] == name && e["location"] == at))
    };
    for i in ["eth1", "eth2"] {
        c.net.set_link(2, i, false);
    }
    harness::until("node 2's network_down running", 30, || {
        let s = status();
        s["current"]["name"] == "TE_FAIL_NETWORK" && s["current"]["location"] == 2
    });
    for i in ["eth1", "eth2"] {
        c.net.set_link(3, i, false);
    }
    harness::until("node 3's network_down queued", 30, || {
        queued("TE_FAIL_NETWORK", 3)
    });
    for i in ["eth1", "eth2"] {
        c.net.set_link(3, i, true);
    }
    harness::until("node 3's network_up queued", 30, || {
        queued("TE_JOIN_NETWORK", 3)
    });
    std::fs::remove_file(&hold).unwrap();
    c.daemon(3)
        .until("network_up in node 3's journal", 30, |d| {
            d.has("TE_JOIN_NETWORK", 3)
        });
    harness::until("an empty queue", 30, || {
        status()["queue"].as_array().is_some_and(|q| q.is_empty())
    });
    for n in 1..=3 {
        let d = c.daemon(n);
        assert_eq!(
            (d.count("TE_FAIL_NETWORK", 3), d.count("TE_JOIN_NETWORK", 3)),
            (0, 1),
            "node {n}: {:?}\n{}",
            d.seqs(),
            logs(&c)
        );
    }
    for i in ["eth1", "eth2"] {
        c.net.set_link(2, i, true);
    }
    c.finish();
}
