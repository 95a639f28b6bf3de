//! What the fault simulation runs on: a small site built in code, a store
//! per node process that can be cut off from the shared in-memory store (a
//! partition), and a group handle that checks every barrier it passes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hacmp_compiler::ir::{Command, CommandLine, Group as IrGroup, Program, Rule};
use hacmp_compiler::site::Node;
use hacmp_compiler::{Bundle, Site};
use hacmp_grammar::ast::{Expected, NodeSet};
use hacmp_stdlib::FailurePolicy;

use super::check::Checker;
use hacmp_gs::mem::MemStore;
use hacmp_gs::store::{
    Feed, FeedSink, KeyValue, LeaseId, Revision, Store, StoreError, Txn, TxnResult,
};
use hacmp_gs::{
    BarrierOutcome, FailureReport, GroupServices, GsError, Leaving, Membership, NodeStatus,
    SyncPoint, Wake,
};
use hacmp_model::event::{EventRequest, NodeId, Outcome, QueuedEvent};
use hacmp_model::{ClaimedEvent, Identity};

/// The user event the simulation raises.
pub const WORK: &str = "UE_WORK";

/// The commands of the simulated site, by program.
pub const COMMANDS: &[&str] = &[
    "/sim/up_other",
    "/sim/up_event",
    "/sim/up_complete",
    "/sim/down_event",
    "/sim/down_other",
    "/sim/down_complete",
    "/sim/work1",
    "/sim/work2",
    "/sim/work3",
];

/// A program; a command without a `/` is a standard event script (which
/// moves the site's resource groups).
fn program(path: &str, groups: &[&[(NodeSet, &str, bool)]]) -> Program {
    Program {
        path: path.to_string(),
        groups: groups
            .iter()
            .map(|g| IrGroup {
                commands: g
                    .iter()
                    .map(|(node_set, cmd, checked)| CommandLine {
                        node_set: *node_set,
                        command: if cmd.starts_with('/') {
                            Command::Exec {
                                argv: vec![cmd.to_string()],
                            }
                        } else {
                            Command::Script {
                                name: cmd.to_string(),
                            }
                        },
                        expected: if *checked {
                            Expected::Status(0)
                        } else {
                            Expected::Any
                        },
                        line: 1,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn rule(name: &str, program: &str, priority: u8) -> Rule {
    Rule {
        name: name.into(),
        state: 0,
        program: program.into(),
        recovery_type: 2,
        recovery_level: 0,
        priority,
        condition: None,
        line: 1,
    }
}

/// A site of `nodes` nodes: node_up and node_down as the standard programs
/// shape them, and one user event of three groups; `work_policy` is the
/// user event's failure policy (node events wait for an operator).
pub fn site(nodes: u32, work_policy: FailurePolicy) -> Bundle {
    use NodeSet::*;
    let mut site = Site {
        nodes: (1..=nodes)
            .map(|n| Node {
                number: n,
                name: format!("n{n}"),
            })
            .collect(),
        ..Site::default()
    };
    site.cluster.settle = hacmp_stdlib::Duration(Duration::from_millis(50));
    site.rules.insert(WORK.into(), work_policy);
    site.resources = resources(nodes);
    let programs = BTreeMap::from([
        (
            "/sim/node_up.rp".to_string(),
            program(
                "/sim/node_up.rp",
                &[
                    &[(Other, "/sim/up_other", true), (Other, "node_up", true)],
                    &[(Event, "/sim/up_event", true), (Event, "node_up", true)],
                    &[
                        (All, "/sim/up_complete", false),
                        (All, "node_up_complete", true),
                    ],
                ],
            ),
        ),
        (
            "/sim/node_down.rp".to_string(),
            program(
                "/sim/node_down.rp",
                &[
                    &[(Event, "/sim/down_event", true), (Event, "node_down", true)],
                    &[(Other, "/sim/down_other", true), (Other, "node_down", true)],
                    &[
                        (All, "/sim/down_complete", false),
                        (All, "node_down_complete", true),
                    ],
                ],
            ),
        ),
        (
            "/sim/work.rp".to_string(),
            program(
                "/sim/work.rp",
                &[
                    &[(All, "/sim/work1", true)],
                    &[(Event, "/sim/work2", true)],
                    &[(All, "/sim/work3", true)],
                ],
            ),
        ),
    ]);
    let mut programs = programs;
    programs.insert(
        "/sim/rg_move.rp".to_string(),
        program(
            "/sim/rg_move.rp",
            &[
                &[(All, "rg_move_release", true)],
                &[(All, "rg_move_acquire", true)],
                &[(All, "rg_move_complete", false)],
            ],
        ),
    );
    programs.insert(
        "/sim/reconfig_topology.rp".to_string(),
        program(
            "/sim/reconfig_topology.rp",
            &[
                &[(All, "reconfig_topology_start", true)],
                &[(All, "reconfig_topology_complete", true)],
            ],
        ),
    );
    programs.insert(
        "/sim/reconfig_resource.rp".to_string(),
        program(
            "/sim/reconfig_resource.rp",
            &[
                &[(All, "reconfig_resource_release", true)],
                &[(All, "reconfig_resource_acquire", true)],
                &[(All, "reconfig_resource_complete", true)],
            ],
        ),
    );
    // As the standard programs: the node that saw the change first, then
    // the others; the groups move in the completing step.
    for (name, step) in [
        ("network_down", "network_down"),
        ("network_up", "network_up"),
    ] {
        let path = format!("/sim/{name}.rp");
        let complete = format!("{step}_complete");
        programs.insert(
            path.clone(),
            program(
                &path,
                &[
                    &[(Event, step, true)],
                    &[(Other, step, true)],
                    &[(All, &complete, false)],
                ],
            ),
        );
    }
    let rules = vec![
        rule("TE_JOIN_NODE", "/sim/node_up.rp", 1),
        rule("TE_FAIL_NODE", "/sim/node_down.rp", 2),
        rule("TE_JOIN_NETWORK", "/sim/network_up.rp", 4),
        rule("TE_FAIL_NETWORK", "/sim/network_down.rp", 5),
        rule("TE_DARE_TOPOLOGY", "/sim/reconfig_topology.rp", 6),
        rule("TE_DARE_RESOURCE", "/sim/reconfig_resource.rp", 6),
        rule("TE_RG_MOVE", "/sim/rg_move.rp", 6),
        rule(WORK, "/sim/work.rp", 7),
    ];
    Bundle::new(site, rules, programs, BTreeMap::new())
}

/// The site a deploy switches to: every group's node list reversed (so
/// the placement moves groups) and another settle interval.
pub fn reshaped(b: &Bundle) -> Bundle {
    let mut site = b.site.clone();
    for g in &mut site.resources.groups {
        g.nodes.reverse();
    }
    site.cluster.settle = hacmp_stdlib::Duration(Duration::from_millis(60));
    Bundle::new(site, b.rules.clone(), b.programs.clone(), b.sources.clone())
}

/// Two resource groups over every node, one cascading and one rotating,
/// each with an address and a file system: the in-memory agent catches any
/// of them brought up on two nodes.
fn resources(nodes: u32) -> hacmp_compiler::resources::Resources {
    use hacmp_compiler::resources::*;
    let all: Vec<u32> = (1..=nodes).collect();
    let group = |name: &str, policy, k: u32| ResourceGroup {
        name: name.into(),
        policy,
        nodes: all.clone(),
        fallback: Fallback::OnRejoin,
        startup: Startup::FirstAvailable,
        after: Vec::new(),
        resources: vec![
            Resource {
                name: format!("{name}-ip"),
                kind: ResourceKind::ServiceIp {
                    network: "net0".into(),
                    address: Cidr {
                        addr: std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                            10,
                            0,
                            0,
                            100 + k as u8,
                        )),
                        prefix: 24,
                    },
                },
            },
            Resource {
                name: format!("{name}-fs"),
                kind: ResourceKind::Filesystem {
                    device: format!("/dev/{name}"),
                    mount_point: format!("/srv/{name}"),
                    fstype: "ext4".into(),
                    options: String::new(),
                    fsck: false,
                },
            },
            Resource {
                name: format!("{name}-app"),
                kind: ResourceKind::Application {
                    start: "/sim/app-start".into(),
                    stop: "/sim/app-stop".into(),
                    monitor: Some(Monitor {
                        command: Some("/sim/app-check".into()),
                        interval: hacmp_stdlib::Duration(Duration::from_secs(3)),
                        restarts: 1,
                    }),
                },
            },
        ],
    };
    Resources {
        networks: vec![Network {
            name: "net0".into(),
            subnet: Cidr {
                addr: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 0)),
                prefix: 24,
            },
            ipat: Ipat::Alias,
            hold_down: hacmp_stdlib::Duration(Duration::from_secs(1)),
            heartbeat: None,
        }],
        groups: vec![
            group("casc", Policy::Cascading, 1),
            group("rot", Policy::Rotating, 2),
        ],
        ..Resources::default()
    }
}

/// A user event the simulation can follow: its id rides in the instance.
pub fn work(id: u64, location: NodeId) -> EventRequest {
    EventRequest::user(
        WORK,
        0,
        location,
        Some(hacmp_model::event::EmData {
            variable: "Sim.Work".into(),
            instance: format!("id={id}"),
            value: String::new(),
        }),
    )
}

/// The id of a user event raised with [`work`].
pub fn work_id(q: &QueuedEvent) -> Option<u64> {
    q.request
        .em
        .as_ref()?
        .instance
        .strip_prefix("id=")?
        .parse()
        .ok()
}

struct CutState {
    cut: bool,
    sinks: Vec<(String, Arc<CutSink>)>,
}

/// A node process's way to the shared store, which a partition can cut:
/// requests fail as unreachable and the feed is lost until it heals.
pub struct CutStore {
    inner: Arc<MemStore>,
    state: Mutex<CutState>,
}

struct CutSink {
    cut: Mutex<bool>,
    sink: Arc<dyn FeedSink>,
}

impl FeedSink for CutSink {
    fn deliver(&self, feed: Feed) {
        if !*self.cut.lock().unwrap_or_else(|p| p.into_inner()) {
            self.sink.deliver(feed);
        }
    }
}

impl CutStore {
    pub fn new(inner: Arc<MemStore>) -> Arc<CutStore> {
        Arc::new(CutStore {
            inner,
            state: Mutex::new(CutState {
                cut: false,
                sinks: Vec::new(),
            }),
        })
    }

    fn cut_now(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).cut
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.cut_now() {
            Err(StoreError::Unavailable("partitioned (simulated)".into()))
        } else {
            Ok(())
        }
    }

    /// Cuts the node off: its feed is lost, its requests fail.
    pub fn cut(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.cut = true;
        for (_, sink) in &s.sinks {
            sink.sink.deliver(Feed::Lost);
            *sink.cut.lock().unwrap_or_else(|p| p.into_inner()) = true;
        }
    }

    /// Heals the partition: the feed starts again from a full read.
    pub fn heal(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.cut {
            return;
        }
        s.cut = false;
        for (prefix, sink) in &s.sinks {
            *sink.cut.lock().unwrap_or_else(|p| p.into_inner()) = false;
            self.inner.resync(prefix, &**sink);
        }
    }
}

#[async_trait]
impl Store for CutStore {
    async fn txn(&self, t: Txn) -> Result<TxnResult, StoreError> {
        self.check()?;
        self.inner.txn(t).await
    }

    async fn get_prefix(&self, prefix: &str) -> Result<(Revision, Vec<KeyValue>), StoreError> {
        self.check()?;
        self.inner.get_prefix(prefix).await
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.check()?;
        self.inner.grant(ttl).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<Duration, StoreError> {
        self.check()?;
        self.inner.keep_alive(lease).await
    }

    async fn revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.check()?;
        self.inner.revoke(lease).await
    }

    fn subscribe(&self, prefix: &str, sink: Arc<dyn FeedSink>) {
        let cs = Arc::new(CutSink {
            cut: Mutex::new(false),
            sink,
        });
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sinks
            .push((prefix.to_string(), cs.clone()));
        self.inner.subscribe(prefix, cs);
    }

    fn describe(&self) -> String {
        "the simulated store".into()
    }
}

/// A node's group handle that checks, at the moment a barrier passes,
/// that every live member of the event had arrived.
pub struct Checked<G: GroupServices> {
    pub inner: G,
    pub checker: Arc<Mutex<Checker>>,
}

#[async_trait]
impl<G: GroupServices> GroupServices for Checked<G> {
    fn group_name(&self) -> String {
        self.inner.group_name()
    }
    fn node(&self) -> NodeId {
        self.inner.node()
    }
    async fn join(&self, identity: &Identity) -> Result<(), GsError> {
        self.inner.join(identity).await
    }
    async fn adopt(&self, identity: &Identity) -> Result<(), GsError> {
        self.inner.adopt(identity).await
    }
    async fn leave(&self, takeover: bool) -> Result<Leaving, GsError> {
        self.inner.leave(takeover).await
    }
    async fn close(&self) {
        self.inner.close().await
    }
    async fn lost(&self) {
        self.inner.lost().await
    }
    async fn view(&self) -> Result<Membership, GsError> {
        self.inner.view().await
    }
    async fn enqueue(&self, request: EventRequest) -> Result<(), GsError> {
        self.inner.enqueue(request).await
    }
    async fn queued(&self) -> Result<usize, GsError> {
        self.inner.queued().await
    }
    async fn next_event(&self, after: u64) -> Result<Arc<ClaimedEvent>, GsError> {
        self.inner.next_event(after).await
    }
    async fn barrier(&self, seq: u64, at: SyncPoint) -> Result<BarrierOutcome, GsError> {
        let r = self.inner.barrier(seq, at).await;
        if let Ok(BarrierOutcome::Passed) = &r {
            self.checker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .passed(self.inner.node(), seq, at);
        }
        r
    }
    async fn report_failure(&self, report: FailureReport) -> Result<(), GsError> {
        self.inner.report_failure(report).await
    }
    async fn resolve_failure(&self, seq: u64) -> Result<(), GsError> {
        self.inner.resolve_failure(seq).await
    }
    async fn end_event(&self, seq: u64, outcome: Outcome) -> Result<(), GsError> {
        self.inner.end_event(seq, outcome).await
    }
    async fn finish(&self, seq: u64) -> Result<(), GsError> {
        self.inner.finish(seq).await
    }
    async fn outcome(&self, seq: u64) -> Result<Outcome, GsError> {
        self.inner.outcome(seq).await
    }
    async fn wait_decision(&self, seq: u64, attempt: u32) -> Result<Wake, GsError> {
        self.inner.wait_decision(seq, attempt).await
    }
    async fn report(&self, status: NodeStatus) -> Result<(), GsError> {
        self.inner.report(status).await
    }
    async fn staged_bundle(&self, hash: &str) -> Result<Option<Vec<u8>>, GsError> {
        self.inner.staged_bundle(hash).await
    }
    async fn switch_bundle(
        &self,
        identity: &Identity,
        bundle: Vec<u8>,
        placer: Option<std::sync::Arc<hacmp_model::placement::Placer>>,
    ) -> Result<(), GsError> {
        self.inner.switch_bundle(identity, bundle, placer).await
    }
    async fn publish_bundle(&self, hash: &str, bundle: Vec<u8>) -> Result<(), GsError> {
        self.inner.publish_bundle(hash, bundle).await
    }
    async fn running_bundle(&self) -> Result<Option<Vec<u8>>, GsError> {
        self.inner.running_bundle().await
    }
    async fn group_bundle_hash(&self) -> Result<Option<String>, GsError> {
        self.inner.group_bundle_hash().await
    }
    async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError> {
        self.inner.statuses().await
    }
    async fn stay_shown(&self, status: Option<NodeStatus>) {
        self.inner.stay_shown(status).await
    }
    async fn control(
        &self,
        known: Option<Option<hacmp_gs::control::StopMode>>,
    ) -> Result<Option<hacmp_gs::control::StopMode>, GsError> {
        self.inner.control(known).await
    }
}
