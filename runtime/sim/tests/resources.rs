//! The redbook's takeover scenarios (chapter 8) on the in-process cluster:
//! the standard programs' scripts release and acquire through the
//! built-in step, resources are held in the simulator's shared table, and
//! no address or file system is ever up on two nodes.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use hacmp_compiler::resources::*;
use hacmp_model::Outcome;
use hacmp_node::journal::RecordKind;
use hacmp_node::resources::sim::Failing;
use hacmp_node::resources::{Place, RgState};
use hacmp_sim::cluster::Cluster;

fn ip(g: &str, addr: &str) -> Resource {
    Resource {
        name: format!("{g}-ip"),
        kind: ResourceKind::ServiceIp {
            network: "net0".into(),
            address: Cidr::parse(addr, false).unwrap(),
        },
    }
}

fn fs(g: &str) -> Resource {
    Resource {
        name: format!("{g}-fs"),
        kind: ResourceKind::Filesystem {
            device: format!("/dev/vg/{g}"),
            mount_point: format!("/srv/{g}"),
            fstype: "ext4".into(),
            options: String::new(),
            fsck: true,
        },
    }
}

fn group(name: &str, policy: Policy, nodes: &[u32], n: u32) -> ResourceGroup {
    ResourceGroup {
        name: name.into(),
        policy,
        nodes: nodes.to_vec(),
        fallback: Fallback::OnRejoin,
        startup: Startup::FirstAvailable,
        after: Vec::new(),
        resources: vec![ip(name, &format!("10.0.0.{}/24", 100 + n)), fs(name)],
    }
}

/// A cluster of `nodes` nodes on the rwho site with these groups.
fn cluster(nodes: u32, groups: Vec<ResourceGroup>) -> Cluster {
    let b = rwho_bundle(|s| {
        s.nodes = (1..=nodes)
            .map(|n| hacmp_compiler::site::Node {
                number: n,
                name: format!("node{n}"),
            })
            .collect();
        s.resources.networks = vec![Network {
            name: "net0".into(),
            subnet: Cidr::parse("10.0.0.0/24", false).unwrap(),
            ipat: Ipat::Alias,
            hold_down: hacmp_stdlib::Duration::from_millis(100),
            heartbeat: None,
        }];
        for n in 1..=nodes {
            s.resources.adapters.insert(
                n,
                vec![Adapter {
                    network: "net0".into(),
                    interface: "eth0".into(),
                    role: AdapterRole::Boot,
                    address: None,
                }],
            );
        }
        s.resources.groups = groups;
    });
    sim_cluster(b, vec![])
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

async fn idle(c: &Cluster) {
    settle().await;
    c.wait_idle().await.unwrap();
}

/// The node holding each group's address in the shared table, checked
/// against the placement of the last event and the nodes' own states.
fn where_(c: &Cluster) -> BTreeMap<String, u32> {
    assert_eq!(
        c.agent().conflicts(),
        Vec::<String>::new(),
        "something was up on two nodes"
    );
    let held = c.agent().held();
    let last = c.journal().events().last().cloned().expect("an event ran");
    assert_eq!(last.outcome, Some(Outcome::Completed), "{last:?}");
    let placement = last.placement.expect("the event carries a placement");
    let states = c.groups();
    let mut out = BTreeMap::new();
    for (g, p) in &placement.groups {
        let addr = c
            .bundle()
            .site
            .resources
            .group(g)
            .and_then(|g| {
                g.resources.iter().find_map(|r| match &r.kind {
                    ResourceKind::ServiceIp { address, .. } => Some(address.addr),
                    _ => None,
                })
            })
            .unwrap();
        let at = held.get(&format!("address {addr}")).copied();
        match p {
            Place::Online { nodes } => {
                assert_eq!(
                    at,
                    Some(nodes[0]),
                    "{g}: placed on {nodes:?}, address on {at:?}"
                );
                assert_eq!(
                    states[&nodes[0]].get(g),
                    Some(&RgState::Online),
                    "{g} on node {}",
                    nodes[0]
                );
                assert_eq!(held.get(&format!("file system /srv/{g}")), Some(&nodes[0]));
                out.insert(g.clone(), nodes[0]);
            }
            _ => {
                assert_eq!(at, None, "{g} is {p:?} but its address is up");
                out.insert(g.clone(), 0);
            }
        }
    }
    out
}

fn on(c: &Cluster, g: &str) -> u32 {
    where_(c)[g]
}

#[tokio::test(start_paused = true)]
async fn rotating_8_1_1() {
    let mut c = cluster(2, vec![group("rg", Policy::Rotating, &[1, 2], 1)]);
    c.start(1).await.unwrap();
    idle(&c).await;
    c.start(2).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 1);
    c.crash(1);
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 2, "A fails: B takes over");
    c.start(1).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 2, "A rejoins: the group stays on B");
    c.crash(2);
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 1, "B fails: back on A");
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn cascading_8_2_1_sequential_failures() {
    let mut c = cluster(3, vec![group("rg", Policy::Cascading, &[1, 2, 3], 1)]);
    for n in 1..=3 {
        c.start(n).await.unwrap();
        idle(&c).await;
    }
    assert_eq!(on(&c, "rg"), 1);
    c.crash(1);
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 2, "A fails: B");
    c.crash(2);
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 3, "B fails: C");
    c.start(2).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 3, "B rejoins: stays on C");
    c.start(1).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 1, "A rejoins: back to A");
    // The move back released on C before A acquired: C's release ended
    // before A's acquire started.
    let e = c.journal().events().last().cloned().unwrap();
    let released = e
        .records
        .iter()
        .find(|r| {
            r.node == 3
                && r.kind == RecordKind::Resource
                && r.command.as_deref() == Some("rg")
                && r.detail.as_deref() == Some("offline")
        })
        .expect("C released the group")
        .t_ms;
    let acquiring = e
        .records
        .iter()
        .find(|r| {
            r.node == 1
                && r.kind == RecordKind::Resource
                && r.command.as_deref() == Some("rg")
                && r.detail.as_deref() == Some("acquiring")
        })
        .expect("A acquired the group")
        .t_ms;
    assert!(
        released <= acquiring,
        "released at {released}, acquired at {acquiring}"
    );
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn hot_standby_8_2_2() {
    let groups = (1..=14)
        .map(|n| group(&format!("app{n}"), Policy::Cascading, &[n, 15], n))
        .collect();
    let mut c = cluster(15, groups);
    for n in 1..=15 {
        c.start(n).await.unwrap();
    }
    idle(&c).await;
    let w = where_(&c);
    for n in 1..=14 {
        assert_eq!(w[&format!("app{n}")], n);
    }
    c.crash(4);
    idle(&c).await;
    c.crash(11);
    idle(&c).await;
    let w = where_(&c);
    assert_eq!((w["app4"], w["app11"], w["app5"]), (15, 15, 5));
    c.start(4).await.unwrap();
    idle(&c).await;
    let w = where_(&c);
    assert_eq!((w["app4"], w["app11"]), (4, 15));
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn sixteen_nodes_two_rotating_groups_8_1_2() {
    let all: Vec<u32> = (1..=16).collect();
    let mut c = cluster(
        16,
        vec![
            group("rg1", Policy::Rotating, &all, 1),
            group("rg2", Policy::Rotating, &all, 2),
            group("rg3", Policy::Rotating, &[12, 5], 3),
        ],
    );
    // Two nodes first: each takes one group of the network.
    c.start(1).await.unwrap();
    c.start(2).await.unwrap();
    idle(&c).await;
    let w = where_(&c);
    assert_ne!(w["rg1"], w["rg2"]);
    for n in 3..=16 {
        c.start(n).await.unwrap();
    }
    idle(&c).await;
    let before = where_(&c);
    assert_eq!(before["rg3"], 5);
    let owner = before["rg1"];
    c.crash(owner);
    idle(&c).await;
    let after = where_(&c);
    assert!(
        after["rg1"] != owner && after["rg1"] != after["rg2"],
        "{after:?}"
    );
    assert_eq!(after["rg2"], before["rg2"], "the other group does not move");
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_with_and_without_takeover() {
    let mut c = cluster(2, vec![group("rg", Policy::Cascading, &[1, 2], 1)]);
    c.start(1).await.unwrap();
    c.start(2).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 1);
    c.stop(1, false).await;
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 0, "without takeover the group stays offline");
    let last = c.journal().events().last().cloned().unwrap();
    assert_eq!(last.placement.unwrap().get("rg"), &Place::Stopped { by: 1 });
    c.start(1).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 1, "it comes back with its node");
    c.stop(1, true).await;
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 2, "with takeover node 2 takes it");
    c.shutdown().await;
}

/// A start that fails takes down what the group started, the node shows
/// the group in error, and the script's exit status fails the event's
/// expected-status check.
#[tokio::test(start_paused = true)]
async fn a_failed_acquire_is_an_error_and_leaves_nothing_half_up() {
    let mut c = cluster(1, vec![group("rg", Policy::Cascading, &[1], 1)]);
    c.agent().fail(1, "rg/rg-fs", Failing::Start, u32::MAX);
    c.start(1).await.unwrap();
    settle().await;
    // The standard policy is `wait`: the node waits for an operator.
    for _ in 0..50 {
        if c.groups().get(&1).and_then(|g| g.get("rg")) == Some(&RgState::Error) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.groups()[&1].get("rg"), Some(&RgState::Error));
    assert!(
        c.agent().held().is_empty(),
        "the address was taken down again: {:?}",
        c.agent().held()
    );
    let st = c.statuses().await.unwrap();
    assert!(
        st.iter().any(|s| s.failure.is_some()),
        "the failure is reported: {st:?}"
    );
    c.shutdown().await;
}

fn app(g: &str, restarts: u32) -> Resource {
    Resource {
        name: format!("{g}-app"),
        kind: ResourceKind::Application {
            start: "/usr/local/bin/app-start".into(),
            stop: "/usr/local/bin/app-stop".into(),
            monitor: Some(Monitor {
                command: Some("/usr/local/bin/app-check".into()),
                interval: hacmp_stdlib::Duration::from_millis(1000),
                restarts,
            }),
        },
    }
}

/// What node `n`'s resource monitors did, as its status shows it.
async fn monitor_notes(c: &hacmp_sim::cluster::Cluster, n: u32) -> Vec<String> {
    let st = c.statuses().await.unwrap();
    st.iter()
        .find(|s| s.node == n)
        .map(|s| {
            s.monitor
                .iter()
                .map(|m| format!("{}/{}: {}", m.group, m.resource, m.what))
                .collect()
        })
        .unwrap_or_default()
}

/// An application that dies is restarted in place up to its restart
/// count; beyond it, its node raises TE_RG_MOVE and the group moves to the
/// next node, released on the first before it is acquired on the second.
#[tokio::test(start_paused = true)]
async fn a_monitor_restarts_an_application_then_moves_its_group() {
    let mut g = group("rg", Policy::Cascading, &[1, 2], 1);
    g.resources.push(app("rg", 1));
    let mut c = cluster(2, vec![g]);
    c.start(1).await.unwrap();
    c.start(2).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 1);
    let events = c.journal().events().len();
    // Dies once: restarted on node 1, nothing moves.
    c.agent().fail(1, "rg/rg-app", Failing::Monitor, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    idle(&c).await;
    assert_eq!(
        c.journal().events().len(),
        events,
        "a restart raises no event"
    );
    assert_eq!(on(&c, "rg"), 1);
    // ... but node 1's status says what its monitor did.
    let seen = monitor_notes(&c, 1).await;
    assert_eq!(
        seen,
        [
            "rg/rg-app: not running: restarting (1 of 1)",
            "rg/rg-app: application rg/rg-app up"
        ],
    );
    // Dies and cannot start again: the group moves.
    c.agent().fail(1, "rg/rg-app", Failing::Start, u32::MAX);
    c.agent().fail(1, "rg/rg-app", Failing::Monitor, 1);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        if c.journal().events().iter().any(|e| e.name == "TE_RG_MOVE") {
            break;
        }
    }
    idle(&c).await;
    let last = c.journal().events().last().cloned().unwrap();
    assert_eq!((last.name.as_str(), last.location), ("TE_RG_MOVE", 1));
    assert_eq!(on(&c, "rg"), 2);
    let seen = monitor_notes(&c, 1).await;
    assert!(
        seen.last().is_some_and(|n| n.contains("the group moves")),
        "{seen:?}"
    );
    c.shutdown().await;
}

/// A node whose lease lapsed fences itself: it releases what it held (its
/// address first) before the survivors take it over, then rejoins as a new
/// incarnation; nothing is ever up on two nodes.
#[tokio::test(start_paused = true)]
async fn a_fenced_node_releases_its_groups_before_the_takeover() {
    let mut c = cluster(2, vec![group("rg", Policy::Rotating, &[1, 2], 1)]);
    c.start(1).await.unwrap();
    c.start(2).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 1);
    c.expire(1);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let names: Vec<(String, u32)> = names(c.journal());
        if names
            .iter()
            .filter(|(n, l)| n == "TE_JOIN_NODE" && *l == 1)
            .count()
            == 2
        {
            break;
        }
    }
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 2, "taken over, and the rejoin moves nothing");
    let evs = c.journal().events();
    assert!(evs
        .iter()
        .any(|e| e.name == "TE_FAIL_NODE" && e.location == 1));
    c.shutdown().await;
}

/// The cluster's past does not outlive it (redbook 5.2.1): when every
/// node has gone, the next node to start begins a new cluster from no
/// placement (its start-up rules apply), and no node-down of the old
/// cluster's last node runs. The last failure itself leaves the cluster
/// idle: nothing is left to run it.
#[tokio::test(start_paused = true)]
async fn a_cluster_that_empties_forgets_its_placement_and_its_node_downs() {
    let mut home = group("home", Policy::Cascading, &[1, 2, 3], 1);
    home.startup = Startup::Home;
    let any = group("any", Policy::Cascading, &[1, 2, 3], 2);
    let mut c = cluster(3, vec![home, any]);
    c.start(1).await.unwrap();
    c.start(2).await.unwrap();
    idle(&c).await;
    assert_eq!((on(&c, "home"), on(&c, "any")), (1, 1));
    c.crash(1);
    idle(&c).await;
    assert_eq!((on(&c, "home"), on(&c, "any")), (2, 2));
    let before = c.journal().events().len();
    // The last node fails: idle at once, with nobody to run its node-down.
    c.crash(2);
    settle().await;
    let idle_soon = tokio::time::timeout(Duration::from_secs(600), c.wait_idle()).await;
    assert!(
        idle_soon.is_ok(),
        "the cluster never went idle with no node up"
    );
    assert_eq!(c.journal().events().len(), before);
    // A new cluster: node 3 alone. `home` waits for node 1; `any` starts.
    c.start(3).await.unwrap();
    idle(&c).await;
    let evs = c.journal().events();
    let new: Vec<(String, u32)> = evs[before..]
        .iter()
        .map(|e| (e.name.clone(), e.location))
        .collect();
    assert_eq!(
        new,
        [("TE_JOIN_NODE".to_string(), 3)],
        "no stale node-down runs"
    );
    let last = evs.last().unwrap().placement.clone().unwrap();
    assert_eq!(last.get("home"), &Place::Offline, "{last:?}");
    assert_eq!(last.get("any"), &Place::Online { nodes: vec![3] });
    assert_eq!(c.agent().conflicts(), Vec::<String>::new());
    c.start(1).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "home"), 1);
    c.shutdown().await;
}

/// A graceful stop without takeover binds its survivors only: a node of
/// the group's list that joins later claims it by the normal priorities,
/// on the simulated cluster with its resources.
#[tokio::test(start_paused = true)]
async fn a_group_stopped_without_takeover_is_claimed_by_the_next_node_to_join() {
    let mut c = cluster(3, vec![group("rg", Policy::Cascading, &[1, 2, 3], 1)]);
    c.start(1).await.unwrap();
    c.start(2).await.unwrap();
    idle(&c).await;
    c.stop(1, false).await;
    idle(&c).await;
    let last = c.journal().events().last().cloned().unwrap();
    assert_eq!(last.placement.unwrap().get("rg"), &Place::Stopped { by: 1 });
    assert!(c.agent().held().is_empty(), "{:?}", c.agent().held());
    c.start(3).await.unwrap();
    idle(&c).await;
    assert_eq!(on(&c, "rg"), 2, "node 3's join places it: first live node");
    c.shutdown().await;
}
