//! The placement function: the redbook's chapter 8 as unit cases, and its
//! invariants as properties over random sites and membership histories.

use std::collections::BTreeSet;

use hacmp_compiler::resources::*;
use proptest::prelude::*;

use super::*;

fn group(name: &str, policy: Policy, nodes: &[NodeId]) -> ResourceGroup {
    ResourceGroup {
        name: name.into(),
        policy,
        nodes: nodes.to_vec(),
        fallback: Fallback::OnRejoin,
        startup: Startup::FirstAvailable,
        after: Vec::new(),
        resources: Vec::new(),
    }
}

fn res(groups: Vec<ResourceGroup>) -> Resources {
    Resources {
        groups,
        ..Resources::default()
    }
}

/// Runs membership changes from an empty cluster; the node each named
/// group is on after each step (0: offline or stopped).
struct Run {
    res: Resources,
    live: BTreeSet<NodeId>,
    p: Placement,
}

impl Run {
    fn new(res: Resources) -> Run {
        Run {
            res,
            live: BTreeSet::new(),
            p: Placement::default(),
        }
    }

    fn apply(&mut self, c: MembershipChange) -> &mut Self {
        match c {
            MembershipChange::Join(n) => {
                self.live.insert(n);
            }
            MembershipChange::Leave { node, .. } => {
                self.live.remove(&node);
            }
            _ => {}
        }
        let kind = match c {
            MembershipChange::Join(_) => crate::event::EventKind::NodeJoin,
            _ => crate::event::EventKind::NodeFailure,
        };
        let node = match c {
            MembershipChange::Join(n) | MembershipChange::Leave { node: n, .. } => n,
            _ => 0,
        };
        let req = crate::event::EventRequest::system(kind, node);
        let before = networks_after(&self.res, &self.p, &req, c);
        self.p = place(&self.res, &before, &self.live, c, None);
        self
    }

    fn join(&mut self, n: NodeId) -> &mut Self {
        self.apply(MembershipChange::Join(n))
    }

    fn fail(&mut self, n: NodeId) -> &mut Self {
        self.apply(MembershipChange::Leave {
            node: n,
            takeover: true,
        })
    }

    fn on(&self, g: &str) -> NodeId {
        match self.p.get(g) {
            Place::Online { nodes } => nodes[0],
            _ => 0,
        }
    }
}

#[test]
fn rotating_8_1_1_a_fails_b_takes_over_a_rejoins_nothing_moves_b_fails_back_to_a() {
    let mut r = Run::new(res(vec![group("rg", Policy::Rotating, &[1, 2])]));
    r.join(1).join(2);
    assert_eq!(r.on("rg"), 1);
    assert_eq!(r.fail(1).on("rg"), 2);
    assert_eq!(r.join(1).on("rg"), 2, "a rotating group stays where it is");
    assert_eq!(r.fail(2).on("rg"), 1);
}

#[test]
fn cascading_8_2_1_sequential_failures_and_rejoins() {
    let mut r = Run::new(res(vec![group("rg", Policy::Cascading, &[1, 2, 3])]));
    r.join(1).join(2).join(3);
    assert_eq!(r.on("rg"), 1);
    assert_eq!(r.fail(1).on("rg"), 2);
    assert_eq!(r.fail(2).on("rg"), 3);
    assert_eq!(
        r.join(2).on("rg"),
        3,
        "B rejoining while A is down moves nothing"
    );
    assert_eq!(r.join(1).on("rg"), 1, "A rejoining takes its group back");
}

#[test]
fn cascading_without_fallback_stays() {
    let mut g = group("rg", Policy::Cascading, &[1, 2]);
    g.fallback = Fallback::Never;
    let mut r = Run::new(res(vec![g]));
    r.join(1).join(2).fail(1).join(1);
    assert_eq!(r.on("rg"), 2);
}

#[test]
fn hot_standby_8_2_2_one_node_backs_fourteen() {
    // Node 15 is the standby of 14 cascading groups, one per node.
    let groups = (1..=14)
        .map(|n| group(&format!("app{n}"), Policy::Cascading, &[n, 15]))
        .collect();
    let mut r = Run::new(res(groups));
    for n in 1..=15 {
        r.join(n);
    }
    for n in 1..=14 {
        assert_eq!(r.on(&format!("app{n}")), n);
    }
    r.fail(3).fail(9);
    assert_eq!(r.on("app3"), 15);
    assert_eq!(r.on("app9"), 15);
    assert_eq!(r.on("app4"), 4);
    r.join(3);
    assert_eq!(r.on("app3"), 3);
    assert_eq!(r.on("app9"), 15);
}

#[test]
fn two_rotating_groups_on_sixteen_nodes_8_1_2_spread_and_take_over() {
    let all: Vec<NodeId> = (1..=16).collect();
    let mut a = group("rg1", Policy::Rotating, &all);
    let mut b = group("rg2", Policy::Rotating, &all);
    for g in [&mut a, &mut b] {
        let addr = if g.name == "rg1" {
            "10.0.0.101"
        } else {
            "10.0.0.102"
        };
        g.resources.push(Resource {
            name: "ip".into(),
            kind: ResourceKind::ServiceIp {
                network: "net0".into(),
                address: Cidr::parse(addr, true).unwrap(),
            },
        });
    }
    // The extra group shared by nodes 12 and 5.
    let c = group("rg3", Policy::Rotating, &[12, 5]);
    let mut r = Run::new(res(vec![a, b, c]));
    r.join(1);
    // One node: it takes the first group of the network; the second waits
    // offline for a node without one (5.2 step 3; never two on a node).
    assert_eq!((r.on("rg1"), r.on("rg2")), (1, 0));
    r.join(2);
    assert_eq!((r.on("rg1"), r.on("rg2")), (1, 2));
    for n in 3..=16 {
        r.join(n);
    }
    // Nothing moves to the nodes that join ("nothing happens").
    assert_eq!((r.on("rg1"), r.on("rg2")), (1, 2));
    assert_eq!(r.on("rg3"), 5);
    // Node 1 fails: rg1 goes to the first node of its list that is free.
    r.fail(1);
    assert_eq!((r.on("rg1"), r.on("rg2")), (3, 2));
    r.fail(5);
    assert_eq!(r.on("rg3"), 12);
    // Node 1 rejoins: nothing moves back (8.1.1).
    r.join(1);
    assert_eq!((r.on("rg1"), r.on("rg2")), (3, 2));
}

/// Two nodes, two rotating groups of one network: while one node is
/// left, the group it cannot take waits offline; the next node to join
/// takes it, and the running one does not move.
#[test]
fn a_second_rotating_group_waits_offline_for_a_free_node() {
    let mut a = group("rg1", Policy::Rotating, &[1, 2, 3]);
    let mut b = group("rg2", Policy::Rotating, &[1, 2, 3]);
    for (g, addr) in [(&mut a, "10.0.0.101"), (&mut b, "10.0.0.102")] {
        g.resources.push(Resource {
            name: "ip".into(),
            kind: ResourceKind::ServiceIp {
                network: "net0".into(),
                address: Cidr::parse(addr, true).unwrap(),
            },
        });
    }
    let mut r = Run::new(res(vec![a, b]));
    r.join(1).join(2);
    assert_eq!((r.on("rg1"), r.on("rg2")), (1, 2));
    r.fail(2);
    assert_eq!(
        (r.on("rg1"), r.on("rg2")),
        (1, 0),
        "node 1 holds one already"
    );
    r.join(3);
    assert_eq!((r.on("rg1"), r.on("rg2")), (1, 3));
    r.join(2);
    assert_eq!((r.on("rg1"), r.on("rg2")), (1, 3), "a join moves nothing");
}

/// `startup = "home"` on a rotating group: it starts only on its first
/// node; a takeover is not a start-up.
#[test]
fn home_startup_of_a_rotating_group_waits_for_its_first_node() {
    let mut g = group("rg", Policy::Rotating, &[1, 2]);
    g.startup = Startup::Home;
    let mut r = Run::new(res(vec![g]));
    r.join(2);
    assert_eq!(r.on("rg"), 0);
    r.join(1);
    assert_eq!(r.on("rg"), 1);
    r.fail(1);
    assert_eq!(r.on("rg"), 2);
    r.join(1);
    assert_eq!(r.on("rg"), 2, "rotating: nothing moves back");
}

#[test]
fn graceful_stop_without_takeover_binds_the_survivors_only() {
    let mut r = Run::new(res(vec![group("rg", Policy::Cascading, &[1, 2])]));
    r.join(1).join(2);
    r.apply(MembershipChange::Leave {
        node: 1,
        takeover: false,
    });
    assert_eq!(r.p.get("rg"), &Place::Stopped { by: 1 });
    r.fail(2);
    assert_eq!(
        r.p.get("rg"),
        &Place::Stopped { by: 1 },
        "survivors leave it"
    );
    r.join(3);
    assert_eq!(
        r.p.get("rg"),
        &Place::Stopped { by: 1 },
        "a node not of its list does not start it"
    );
    // Any node of its list that joins claims it by the normal priorities
    // (5.2.2 step 5), not only the node that stopped.
    r.join(2);
    assert_eq!(r.on("rg"), 2);
    r.join(1);
    assert_eq!(r.on("rg"), 1, "cascading: back to its first node");
    r.apply(MembershipChange::Leave {
        node: 1,
        takeover: true,
    });
    assert_eq!(r.on("rg"), 2, "with takeover the survivors take it");
}

#[test]
fn concurrent_groups_are_on_every_live_member() {
    let mut r = Run::new(res(vec![group("rg", Policy::Concurrent, &[1, 2, 3])]));
    r.join(1).join(3);
    assert_eq!(r.p.get("rg"), &Place::Online { nodes: vec![1, 3] });
    r.join(2).fail(1);
    assert_eq!(r.p.get("rg"), &Place::Online { nodes: vec![2, 3] });
}

#[test]
fn a_group_waits_for_those_it_comes_after() {
    let db = group("db", Policy::Cascading, &[2]);
    let mut app = group("app", Policy::Cascading, &[1]);
    app.after = vec!["db".into()];
    let mut r = Run::new(res(vec![app, db]));
    r.join(1);
    assert_eq!(r.p.get("app"), &Place::Offline, "db is offline");
    r.join(2);
    assert_eq!((r.on("db"), r.on("app")), (2, 1));
}

#[test]
fn home_startup_waits_for_the_first_node() {
    let mut g = group("rg", Policy::Cascading, &[1, 2]);
    g.startup = Startup::Home;
    let mut r = Run::new(res(vec![g]));
    r.join(2);
    assert_eq!(r.on("rg"), 0);
    r.join(1);
    assert_eq!(r.on("rg"), 1);
    r.fail(1);
    assert_eq!(r.on("rg"), 2, "a takeover is not a start-up");
}

#[test]
fn a_failed_group_moves_off_its_node() {
    let mut r = Run::new(res(vec![group("rg", Policy::Cascading, &[1, 2])]));
    r.join(1).join(2);
    r.p = place(
        &r.res,
        &r.p,
        &r.live,
        MembershipChange::GroupFailed { node: 1 },
        Some("rg"),
    );
    assert_eq!(r.on("rg"), 2);
}

impl Run {
    fn moved(&mut self, g: &str, to: Option<NodeId>) -> NodeId {
        let from = self.on(g);
        self.p = place(
            &self.res,
            &self.p,
            &self.live,
            MembershipChange::Moved { from, to },
            Some(g),
        );
        self.on(g)
    }
}

#[test]
fn an_operator_moves_a_group_where_told_or_where_its_policy_says() {
    let mut r = Run::new(res(vec![
        group("rg", Policy::Cascading, &[1, 2, 3]),
        group("other", Policy::Cascading, &[1, 2, 3]),
    ]));
    r.join(1).join(2).join(3);
    assert_eq!(r.moved("rg", Some(3)), 3);
    assert_eq!(r.on("other"), 1, "only the group named moves");
    assert_eq!(
        r.moved("rg", None),
        1,
        "the first of the others in its list"
    );
    assert_eq!(
        r.moved("rg", Some(4)),
        1,
        "a node not in its list: it stays"
    );
    r.fail(2);
    assert_eq!(r.moved("rg", Some(2)), 1, "a node that is down: it stays");
    // Moved off its home node, a group with fallback stays until its home
    // node rejoins.
    assert_eq!(r.moved("rg", Some(3)), 3);
    assert_eq!(r.join(2).on("rg"), 3);
    assert_eq!(r.fail(1).join(1).on("rg"), 1);
}

#[test]
fn a_move_never_puts_two_rotating_groups_of_a_network_on_a_node() {
    let mut r = Run::new(res(vec![
        group("a", Policy::Rotating, &[1, 2, 3]),
        group("b", Policy::Rotating, &[1, 2, 3]),
    ]));
    r.join(1).join(2).join(3);
    let (a, b) = (r.on("a"), r.on("b"));
    assert_ne!(a, b);
    assert_eq!(r.moved("a", Some(b)), a, "the node holds `b`: `a` stays");
    let free = 6 - a - b;
    assert_eq!(r.moved("a", None), free, "the free node");
}

#[test]
fn a_group_an_operator_took_offline_stays_offline_until_brought_online() {
    let mut r = Run::new(res(vec![
        group("rg", Policy::Cascading, &[1, 2]),
        group("after", Policy::Cascading, &[1, 2]),
    ]));
    r.res.groups[1].after = vec!["rg".into()];
    r.join(1).join(2);
    let intent = |r: &mut Run, offline: bool| {
        r.p = place(
            &r.res,
            &r.p,
            &r.live,
            MembershipChange::Intent { offline },
            Some("rg"),
        );
    };
    intent(&mut r, true);
    assert_eq!(
        (r.on("rg"), r.on("after")),
        (0, 0),
        "and what comes after it"
    );
    assert_eq!(r.fail(1).on("rg"), 0, "a failure moves nothing to it");
    assert_eq!(r.join(1).on("rg"), 0, "nor a join");
    // A new cluster (every node gone) keeps the operator's word.
    r.p = Placement {
        offline: r.p.offline.clone(),
        ..Placement::default()
    };
    r.live.clear();
    assert_eq!(r.join(2).join(1).on("rg"), 0);
    intent(&mut r, false);
    assert_eq!((r.on("rg"), r.on("after")), (1, 1));
    assert!(r.p.offline.is_empty());
}

#[test]
fn a_group_in_maintenance_keeps_its_place_whatever_happens() {
    let mut r = Run::new(res(vec![group("rg", Policy::Cascading, &[1, 2])]));
    r.join(1).join(2);
    r.p.maintenance.insert("rg".into());
    assert_eq!(r.join(3).on("rg"), 1, "left where it was");
    assert_eq!(r.fail(2).on("rg"), 1);
    // Its node leaves: down with it (its release step takes it down),
    // and nobody starts it.
    assert_eq!(r.fail(1).on("rg"), 0);
    assert_eq!(r.join(1).on("rg"), 0);
    r.p.maintenance.clear();
    r.p = place(&r.res, &r.p, &r.live, MembershipChange::Other, None);
    assert_eq!(
        r.on("rg"),
        1,
        "managed again: placed as an offline group is"
    );
}

// ------------------------------------------------------------ properties

fn arb_site() -> impl Strategy<Value = Resources> {
    let g = (
        prop_oneof![
            Just(Policy::Cascading),
            Just(Policy::Rotating),
            Just(Policy::Concurrent)
        ],
        Just(()).prop_perturb(|_, mut rng| {
            let mut nodes: Vec<NodeId> = (1..=6).collect();
            // A random order of a random non-empty subset.
            for i in (1..nodes.len()).rev() {
                let j = (rng.next_u32() as usize) % (i + 1);
                nodes.swap(i, j);
            }
            let keep = 1 + (rng.next_u32() as usize) % nodes.len();
            nodes.truncate(keep);
            nodes
        }),
        any::<bool>(),
    );
    prop::collection::vec(g, 1..5).prop_map(|gs| {
        res(gs
            .into_iter()
            .enumerate()
            .map(|(i, (policy, nodes, never))| {
                let mut g = group(&format!("g{i}"), policy, &nodes);
                if never && policy == Policy::Cascading {
                    g.fallback = Fallback::Never;
                }
                g
            })
            .collect())
    })
}

#[derive(Clone, Debug)]
enum Step {
    Join(NodeId),
    Leave(NodeId, bool),
    Other,
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (1..=6u32).prop_map(Step::Join),
            (1..=6u32, any::<bool>()).prop_map(|(n, t)| Step::Leave(n, t)),
            Just(Step::Other),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn placement_invariants(site in arb_site(), steps in arb_steps()) {
        let mut live = BTreeSet::new();
        let mut p = Placement::default();
        for s in steps {
            let change = match s {
                Step::Join(n) if !live.contains(&n) => { live.insert(n); MembershipChange::Join(n) }
                Step::Leave(n, t) if live.contains(&n) => { live.remove(&n); MembershipChange::Leave { node: n, takeover: t } }
                _ => MembershipChange::Other,
            };
            let next = place(&site, &p, &live, change, None);
            prop_assert_eq!(&next, &place(&site, &p, &live, change, None), "deterministic");
            for g in &site.groups {
                let eligible: Vec<NodeId> = g.nodes.iter().copied().filter(|n| live.contains(n)).collect();
                let before = p.get(&g.name);
                let after = next.get(&g.name);
                match after {
                    Place::Online { nodes } => {
                        prop_assert!(nodes.iter().all(|n| eligible.contains(n)), "{} on a node that is not live and eligible", g.name);
                        if g.policy == Policy::Concurrent {
                            prop_assert_eq!(nodes, &eligible);
                        } else {
                            prop_assert_eq!(nodes.len(), 1);
                        }
                    }
                    Place::Offline => {
                        // A rotating group waits for a node without a
                        // rotating group (of its network: all here).
                        let free: Vec<NodeId> = eligible.iter().copied().filter(|n| {
                            g.policy != Policy::Rotating || !site.groups.iter().any(|o| o.name != g.name && o.policy == Policy::Rotating && next.get(&o.name).holds(*n))
                        }).collect();
                        prop_assert!(free.is_empty(), "{} offline with free eligible nodes {:?}", g.name, free)
                    }
                    Place::Stopped { by } => {
                        let was_stopped = matches!(before, Place::Stopped { .. });
                        prop_assert!(!live.contains(by) || was_stopped, "stopped by a live node");
                        prop_assert!(was_stopped || change == MembershipChange::Leave { node: *by, takeover: false }, "stopped without a stop");
                        prop_assert!(!matches!(change, MembershipChange::Join(x) if g.nodes.contains(&x)), "{} still stopped when a node of its list joined", g.name);
                    }
                }
                // No move without a reason.
                if g.policy != Policy::Concurrent {
                    if let Place::Online { nodes } = before {
                        let n = nodes[0];
                        if live.contains(&n) {
                            let home = g.policy == Policy::Cascading && g.fallback == Fallback::OnRejoin
                                && change == MembershipChange::Join(g.nodes[0]);
                            if home {
                                prop_assert!(after.holds(g.nodes[0]));
                            } else {
                                prop_assert!(after.holds(n), "{} moved from {} without a reason ({:?})", g.name, n, change);
                            }
                        }
                    }
                }
            }
            // Never two rotating groups (of one network) on a node.
            for n in &live {
                let rotating = site.groups.iter().filter(|g| g.policy == Policy::Rotating && next.get(&g.name).holds(*n)).count();
                prop_assert!(rotating <= 1, "node {} holds {} rotating groups", n, rotating);
            }
            p = next;
        }
    }
}

/// A group moves off a node whose service network went down, never goes
/// back to it while it is down, and may once it is up again; a group
/// without an address there stays.
#[test]
fn network_down_moves_the_groups_that_need_it() {
    use crate::event::{EventKind, EventRequest};
    let mut web = group("web", Policy::Cascading, &[1, 2, 3]);
    web.resources.push(Resource {
        name: "ip".into(),
        kind: ResourceKind::ServiceIp {
            network: "net0".into(),
            address: Cidr::parse("10.0.0.100/24", false).unwrap(),
        },
    });
    let app = group("app", Policy::Cascading, &[1, 2]);
    let mut r = res(vec![web, app]);
    r.networks.push(Network {
        name: "net0".into(),
        subnet: Cidr::parse("10.0.0.0/24", false).unwrap(),
        ipat: Ipat::Alias,
        hold_down: hacmp_stdlib::Duration::from_millis(100),
        heartbeat: None,
    });
    let mut run = Run::new(r);
    run.join(1).join(2).join(3);
    assert_eq!((run.on("web"), run.on("app")), (1, 1));
    let net = |run: &mut Run, kind: EventKind, node: NodeId| {
        let req = EventRequest::system(kind.clone(), node);
        let change = match kind {
            EventKind::NetworkDown { .. } => MembershipChange::NetworkDown { node },
            _ => MembershipChange::Other,
        };
        let before = networks_after(&run.res, &run.p, &req, change);
        run.p = place(&run.res, &before, &run.live, change, None);
    };
    net(&mut run, EventKind::NetworkDown { network: 1 }, 1);
    assert_eq!((run.on("web"), run.on("app")), (2, 1));
    assert!(!run.p.reaches(1, Some("net0")));
    // Node 2 fails: web goes to 3, not back to 1 whose network is down.
    run.fail(2);
    assert_eq!(run.on("web"), 3);
    net(&mut run, EventKind::NetworkDown { network: 1 }, 3);
    assert_eq!(run.on("web"), 0, "no live node reaches net0");
    net(&mut run, EventKind::NetworkUp { network: 1 }, 1);
    assert_eq!(
        run.on("web"),
        1,
        "offline, it comes up where the network is"
    );
    assert!(run.p.networks_down.contains_key(&3));
    // A node that leaves and joins again starts with its networks up.
    run.fail(3).join(3);
    assert!(run.p.networks_down.is_empty());
    // The set travels in the JSON of the placement, apart from the groups.
    let mut p = run.p.clone();
    p.networks_down.entry(2).or_default().insert("net0".into());
    let text = serde_json::to_string(&p).unwrap();
    assert!(
        text.contains("\"~networks_down\":{\"2\":[\"net0\"]}"),
        "{text}"
    );
    let back: Placement = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
}
