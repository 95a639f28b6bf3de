//! A seed's schedule of faults: what happens, to which node, when.

use hacmp_stdlib::FailurePolicy;

use hacmp_gs::Decision;
use hacmp_model::event::NodeId;
use hacmp_node::exec::sim::Override;
use hacmp_node::resources::sim::Failing;

use super::world;

/// A small, fast, seedable generator (SplitMix64): the same seed gives the
/// same schedule on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One fault.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The node's process dies. With `lapse`, the store notices when its
    /// lease lapses (a kill -9); without, at once.
    Crash { node: NodeId, lapse: bool },
    /// Every running node dies at once.
    CrashAll,
    /// A node that is down starts again (a new incarnation).
    Restart { node: NodeId },
    /// A graceful stop (SIGTERM), with or without takeover.
    Stop { node: NodeId, takeover: bool },
    /// A stop at once (a second SIGTERM): the others see a failure.
    StopNow { node: NodeId },
    /// The node cannot reach the store for a while.
    Partition { node: NodeId, ms: u64 },
    /// The store answers nothing for a while (etcd stopped with SIGSTOP).
    Stall { ms: u64, expire_first: bool },
    /// The store is down for a while (etcd restarted).
    Outage { ms: u64 },
    /// A user event at a node.
    Raise { id: u64, location: NodeId },
    /// An operator's decision on whatever waits for one.
    Resume { decision: Decision },
    /// An operator deploys the other site (`reshaped`), or the first one
    /// again.
    Deploy { reshaped: bool },
    /// The node's adapter watch sees its network go down, or come up
    /// again, and raises the topology event (a node that is not running
    /// raises nothing).
    Network { node: NodeId, up: bool },
    /// A resource (`group/resource`) fails on a node the next `times`
    /// times: its start, its stop (it stays up), or its monitor.
    Resource {
        node: NodeId,
        resource: String,
        what: Failing,
        times: u32,
    },
    /// An operator's action on a group (refused ones change nothing).
    Group(GroupAction),
    /// An operator stops a node from another (`hacmp stop`, in a mode), or
    /// starts it again (`None`: `hacmp start`); refused ones change nothing.
    Node {
        node: NodeId,
        stop: Option<hacmp_gs::control::StopMode>,
    },
}

/// What an operator does to a resource group.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupAction {
    Move { group: String, to: Option<NodeId> },
    Offline { group: String, offline: bool },
    Maintenance { group: String, on: bool },
    Cleanup { group: String },
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Crash { node, lapse } => write!(
                f,
                "node {node} crashes ({})",
                if *lapse {
                    "seen when its lease lapses"
                } else {
                    "seen at once"
                }
            ),
            Fault::CrashAll => f.write_str("every node crashes"),
            Fault::Restart { node } => write!(f, "node {node} starts again"),
            Fault::Stop { node, takeover } => write!(
                f,
                "node {node} stops gracefully{}",
                if *takeover { " with takeover" } else { "" }
            ),
            Fault::StopNow { node } => write!(f, "node {node} stops at once"),
            Fault::Partition { node, ms } => write!(f, "node {node} is cut off for {ms} ms"),
            Fault::Stall { ms, expire_first } => write!(
                f,
                "the store stalls for {ms} ms ({} first after)",
                if *expire_first {
                    "lease expiry"
                } else {
                    "waiting renewals"
                }
            ),
            Fault::Outage { ms } => write!(f, "the store is down for {ms} ms"),
            Fault::Raise { id, location } => write!(f, "user event {id} at node {location}"),
            Fault::Resume { decision } => write!(f, "operator: {}", decision.as_str()),
            Fault::Deploy { reshaped } => write!(
                f,
                "operator: deploy the {} site",
                if *reshaped { "reshaped" } else { "first" }
            ),
            Fault::Network { node, up } => write!(
                f,
                "node {node}'s network goes {}",
                if *up { "up" } else { "down" }
            ),
            Fault::Resource {
                node,
                resource,
                what,
                times,
            } => write!(
                f,
                "{resource}'s {} fails on node {node} ({times} times)",
                what.as_str()
            ),
            Fault::Group(a) => match a {
                GroupAction::Move { group, to } => write!(
                    f,
                    "operator: move {group}{}",
                    to.map(|t| format!(" to node {t}")).unwrap_or_default()
                ),
                GroupAction::Offline { group, offline } => {
                    write!(
                        f,
                        "operator: {} {group}",
                        if *offline { "offline" } else { "online" }
                    )
                }
                GroupAction::Maintenance { group, on } => {
                    write!(
                        f,
                        "operator: maintenance {} {group}",
                        if *on { "on" } else { "off" }
                    )
                }
                GroupAction::Cleanup { group } => write!(f, "operator: cleanup {group}"),
            },
            Fault::Node { node, stop } => match stop {
                Some(mode) => write!(f, "operator: stop node {node} ({})", mode.as_str()),
                None => write!(f, "operator: start node {node}"),
            },
        }
    }
}

/// A fault at a time since the start.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedFault {
    pub at_ms: u64,
    pub fault: Fault,
}

/// Everything a run depends on: a seed generates one; a minimised one is
/// a copy with fewer steps and failures.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub seed: u64,
    pub nodes: u32,
    pub ttl_ms: u64,
    /// The user event's failure policy.
    pub policy: FailurePolicy,
    /// Commands that fail.
    pub failing: Vec<Override>,
    pub steps: Vec<TimedFault>,
}

impl Schedule {
    /// The schedule of a seed: 3 to 5 nodes, up to 24 faults in a minute.
    pub fn generate(seed: u64) -> Schedule {
        let mut rng = Rng::new(seed);
        let nodes = 3 + rng.below(3) as u32;
        let ttl_ms = 2000;
        let policy = match rng.below(3) {
            0 => FailurePolicy::Wait,
            1 => FailurePolicy::Abort,
            _ => FailurePolicy::Continue,
        };
        let mut failing = Vec::new();
        for _ in 0..rng.below(4) {
            let command = world::COMMANDS[rng.below(world::COMMANDS.len() as u64) as usize];
            failing.push(Override {
                command: command.into(),
                node: Some(1 + rng.below(nodes as u64) as u32),
                status: Some(1),
                times: Some(1 + rng.below(2) as u32),
                ..Override::default()
            });
        }
        let mut steps = Vec::new();
        let mut t = 500;
        let mut next_id = 1;
        let count = 4 + rng.below(21);
        for _ in 0..count {
            t += rng.below(4000);
            let node = 1 + rng.below(nodes as u64) as u32;
            let fault = match rng.below(100) {
                0..=24 => {
                    let id = next_id;
                    next_id += 1;
                    Fault::Raise { id, location: node }
                }
                25..=39 => Fault::Crash {
                    node,
                    lapse: rng.chance(60),
                },
                40..=54 => Fault::Restart { node },
                55..=61 => Fault::Stop {
                    node,
                    takeover: rng.chance(50),
                },
                62..=64 => Fault::StopNow { node },
                65..=71 => Fault::Partition {
                    node,
                    ms: 500 + rng.below(2 * ttl_ms),
                },
                72..=76 => Fault::Stall {
                    ms: if rng.chance(50) {
                        ttl_ms / 2
                    } else {
                        ttl_ms * 2
                    },
                    expire_first: rng.chance(50),
                },
                77..=80 => Fault::Outage {
                    ms: 300 + rng.below(2 * ttl_ms),
                },
                81..=82 => Fault::CrashAll,
                _ => Fault::Resume {
                    decision: match rng.below(4) {
                        0 => Decision::Continue,
                        1 => Decision::Rerun,
                        2 => Decision::Skip,
                        _ => Decision::SkipAndCancel,
                    },
                },
            };
            steps.push(TimedFault { at_ms: t, fault });
        }
        // Deploys from a stream of their own: the other faults of a seed
        // stay what they were.
        let mut d = Rng::new(seed ^ 0xda2e_da2e_da2e_da2e);
        for k in 0..d.below(3) {
            let at_ms = 500 + d.below(t.max(1));
            steps.push(TimedFault {
                at_ms,
                fault: Fault::Deploy {
                    reshaped: k % 2 == 0,
                },
            });
        }
        // Network events likewise: a node's network goes down, and
        // mostly comes up again later.
        let mut n = Rng::new(seed ^ 0x4e37_4e37_4e37_4e37);
        for _ in 0..n.below(3) {
            let node = 1 + n.below(nodes as u64) as u32;
            let at_ms = 500 + n.below(t.max(1));
            steps.push(TimedFault {
                at_ms,
                fault: Fault::Network { node, up: false },
            });
            if n.chance(80) {
                steps.push(TimedFault {
                    at_ms: at_ms + 200 + n.below(5000),
                    fault: Fault::Network { node, up: true },
                });
            }
        }
        // Resource failures likewise: a start, a stop or a monitor of one
        // of the groups' resources on a node. (An address or a file system
        // that cannot be taken down stays up on a node that fenced itself
        // while the others take it over: only a reset ends that, so such
        // stops are left to the scenarios, where an event waits for the
        // operator.)
        let mut r = Rng::new(seed ^ 0x5e50_5e50_5e50_5e50);
        for _ in 0..r.below(4) {
            let node = 1 + r.below(nodes as u64) as u32;
            let group = ["casc", "rot"][r.below(2) as usize];
            let (res, what) = match r.below(5) {
                0 => ("ip", Failing::Start),
                1 => ("fs", Failing::Start),
                2 => ("app", Failing::Start),
                3 => ("app", Failing::Stop),
                _ => ("app", Failing::Monitor),
            };
            steps.push(TimedFault {
                at_ms: 500 + r.below(t.max(1)),
                fault: Fault::Resource {
                    node,
                    resource: format!("{group}/{group}-{res}"),
                    what,
                    times: 1 + r.below(3) as u32,
                },
            });
        }
        // Operators' actions on groups likewise: an offline or a
        // maintenance is mostly ended later.
        let mut o = Rng::new(seed ^ 0x0be7_0be7_0be7_0be7);
        for _ in 0..o.below(4) {
            let group = ["casc", "rot"][o.below(2) as usize].to_string();
            let at_ms = 500 + o.below(t.max(1));
            let later = at_ms + 500 + o.below(8000);
            let (now, undo) = match o.below(4) {
                0 => {
                    let to = o.chance(60).then(|| 1 + o.below(nodes as u64) as u32);
                    (GroupAction::Move { group, to }, None)
                }
                1 => (
                    GroupAction::Offline {
                        group: group.clone(),
                        offline: true,
                    },
                    o.chance(80).then_some(GroupAction::Offline {
                        group,
                        offline: false,
                    }),
                ),
                2 => (
                    GroupAction::Maintenance {
                        group: group.clone(),
                        on: true,
                    },
                    o.chance(80)
                        .then_some(GroupAction::Maintenance { group, on: false }),
                ),
                _ => (GroupAction::Cleanup { group }, None),
            };
            steps.push(TimedFault {
                at_ms,
                fault: Fault::Group(now),
            });
            if let Some(u) = undo {
                steps.push(TimedFault {
                    at_ms: later,
                    fault: Fault::Group(u),
                });
            }
        }
        // Operators' stops of nodes likewise, mostly started again later.
        let mut c = Rng::new(seed ^ 0xc5b0_c5b0_c5b0_c5b0);
        for _ in 0..c.below(3) {
            use hacmp_gs::control::StopMode;
            let node = 1 + c.below(nodes as u64) as u32;
            let at_ms = 500 + c.below(t.max(1));
            let mode =
                [StopMode::Graceful, StopMode::Takeover, StopMode::Forced][c.below(3) as usize];
            steps.push(TimedFault {
                at_ms,
                fault: Fault::Node {
                    node,
                    stop: Some(mode),
                },
            });
            if c.chance(80) {
                steps.push(TimedFault {
                    at_ms: at_ms + 500 + c.below(8000),
                    fault: Fault::Node { node, stop: None },
                });
            }
        }
        steps.sort_by_key(|s| s.at_ms);
        Schedule {
            seed,
            nodes,
            ttl_ms,
            policy,
            failing,
            steps,
        }
    }

    pub fn describe(&self) -> String {
        let mut out = format!(
            "seed {}: {} nodes, lease ttl {} ms, user event policy {}\n",
            self.seed,
            self.nodes,
            self.ttl_ms,
            self.policy.as_str()
        );
        for o in &self.failing {
            out.push_str(&format!(
                "  `{}` fails (status 1) on node {} the first {} time(s)\n",
                o.command,
                o.node.unwrap_or(0),
                o.times.unwrap_or(0)
            ));
        }
        for s in &self.steps {
            out.push_str(&format!("  {:>6} ms  {}\n", s.at_ms, s.fault));
        }
        out
    }
}
