//! Simulator scenarios: a site, its nodes, and a timeline of happenings
//! (starts, crashes, graceful stops, network and adapter events, user events,
//! operator decisions), plus per-node overrides of commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::cluster::Cluster;
use hacmp_gs::{Decision, OperatorCommand, SyncPoint};
use hacmp_model::event::{EventKind, EventRequest, NodeId};
use hacmp_node::exec::sim::Override;
use hacmp_node::journal::{LiveRecord, RecordKind};
use hacmp_node::resources::sim::Failing;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The site file (or `bundle`), relative to the scenario.
    #[serde(default)]
    pub site: Option<PathBuf>,
    /// A compiled bundle instead of a site file.
    #[serde(default)]
    pub bundle: Option<PathBuf>,
    /// Queue settle interval (default: the site's).
    #[serde(default)]
    pub settle: Option<hacmp_stdlib::Duration>,
    /// Duration of a simulated command without an override.
    #[serde(default)]
    pub duration: Option<hacmp_stdlib::Duration>,
    /// Give up waiting for the cluster after this long (simulated time).
    #[serde(default)]
    pub limit: Option<hacmp_stdlib::Duration>,
    /// With `--real`: nodes whose Event Management samples this machine.
    #[serde(default)]
    pub monitor: Option<MonitorAt>,
    #[serde(default, rename = "at")]
    pub timeline: Vec<Happening>,
    /// The bundles of the `deploy` happenings, by the path they give
    /// (compiled before the run).
    #[serde(skip)]
    pub deploys: std::collections::BTreeMap<PathBuf, std::sync::Arc<hacmp_compiler::Bundle>>,
    #[serde(default, rename = "override")]
    pub overrides: Vec<Override>,
}

/// When a happening happens.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// While this event runs…
    pub event: Option<String>,
    /// …when a node arrives at this barrier (1-based; 0 is the cbarrier)…
    pub barrier: Option<u32>,
    /// …or when a node starts this command…
    pub command: Option<String>,
    /// …on this node (any when absent).
    pub node: Option<NodeId>,
    /// When a command fails (its status is not the expected one).
    #[serde(default)]
    pub failure: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Raise {
    pub event: String,
    #[serde(default)]
    pub state: i64,
    pub location: NodeId,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkAt {
    pub node: NodeId,
    #[serde(default = "one")]
    pub network: u32,
}

fn one() -> u32 {
    1
}

/// A resource of a group fails on a node: its start or stop command, or
/// its monitor (it stopped running by itself), the next `times` times.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FailAt {
    pub node: NodeId,
    pub group: String,
    pub resource: String,
    /// `start`, `stop` or `monitor`.
    pub action: Failing,
    #[serde(default = "one")]
    pub times: u32,
}

/// An operator's move of a resource group (`hacmp move`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MoveAt {
    pub group: String,
    /// The node to move it to (the group's policy picks when absent).
    pub to: Option<NodeId>,
}

/// An operator's stop of a node from another (`hacmp stop NODE --mode`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StopNodeAt {
    pub node: NodeId,
    #[serde(default = "graceful")]
    pub mode: hacmp_gs::control::StopMode,
}

fn graceful() -> hacmp_gs::control::StopMode {
    hacmp_gs::control::StopMode::Graceful
}

/// Which simulated nodes sample the real machine (they share it).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MonitorAt {
    pub nodes: Vec<NodeId>,
    #[serde(default)]
    pub interval: Option<hacmp_stdlib::Duration>,
}

/// An observation fed to one node's Event Management.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObserveAt {
    pub node: NodeId,
    pub variable: String,
    pub instance: String,
    /// In the notation of rule tests (`0`, `0;1;`, `READY`).
    pub value: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    pub decision: Decision,
    /// The failed node (all failed nodes when absent).
    pub node: Option<NodeId>,
}

/// One entry of the timeline: a trigger (`time` or `when`) and an action.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Happening {
    /// Simulated time since the start.
    pub time: Option<hacmp_stdlib::Duration>,
    pub when: Option<When>,
    pub start: Option<Vec<NodeId>>,
    pub crash: Option<NodeId>,
    pub stop: Option<NodeId>,
    #[serde(default)]
    pub takeover: bool,
    pub raise: Option<Raise>,
    pub network_up: Option<NetworkAt>,
    pub network_down: Option<NetworkAt>,
    pub swap_adapter: Option<NetworkAt>,
    pub resume: Option<Resume>,
    pub observe: Option<ObserveAt>,
    pub fail: Option<FailAt>,
    #[serde(rename = "move")]
    pub move_group: Option<MoveAt>,
    /// A group an operator takes offline (`hacmp offline`).
    pub offline: Option<String>,
    /// A group an operator brings back online (`hacmp online`).
    pub online: Option<String>,
    /// An operator stops a node from another (`hacmp stop`): it leaves in
    /// the mode given, its daemon staying up until `start_node`.
    pub stop_node: Option<StopNodeAt>,
    /// An operator starts a node it stopped (`hacmp start`).
    pub start_node: Option<NodeId>,
    /// A new site (or bundle), relative to the scenario: deployed as
    /// `hacmp deploy` does.
    pub deploy: Option<PathBuf>,
}

impl Scenario {
    pub fn from_toml(text: &str) -> Result<Scenario, toml::de::Error> {
        toml::from_str(text)
    }

    /// The site or bundle path, resolved against the scenario's directory.
    pub fn source(&self, scenario_path: &Path) -> Result<PathBuf, String> {
        let dir = scenario_path.parent().unwrap_or(Path::new("."));
        match (&self.site, &self.bundle) {
            (Some(s), None) => Ok(dir.join(s)),
            (None, Some(b)) => Ok(dir.join(b)),
            _ => Err("a scenario names exactly one of `site` or `bundle`".into()),
        }
    }

    /// Checks each happening has one trigger and one action: every
    /// happening that does not, by its index (0-based), with why.
    pub fn validate(&self) -> Vec<(usize, String)> {
        let mut wrong = Vec::new();
        for (i, h) in self.timeline.iter().enumerate() {
            if h.time.is_some() == h.when.is_some() {
                wrong.push((i, "give exactly one of `time` or `when`".to_string()));
            }
            let actions = [
                h.start.is_some(),
                h.crash.is_some(),
                h.stop.is_some(),
                h.raise.is_some(),
                h.network_up.is_some(),
                h.network_down.is_some(),
                h.swap_adapter.is_some(),
                h.resume.is_some(),
                h.observe.is_some(),
                h.deploy.is_some(),
                h.fail.is_some(),
                h.move_group.is_some(),
                h.offline.is_some(),
                h.online.is_some(),
                h.stop_node.is_some(),
                h.start_node.is_some(),
            ];
            if actions.iter().filter(|a| **a).count() != 1 {
                wrong.push((
                    i,
                    "give exactly one action (start, crash, stop, raise, network_up, network_down, swap_adapter, resume, observe, deploy, fail, move, offline, online, stop_node, start_node)".to_string(),
                ));
            }
        }
        wrong
    }
}

impl When {
    fn matches(&self, f: &LiveRecord) -> bool {
        let r = &f.record;
        if self.node.is_some_and(|n| n != r.node)
            || self.event.as_ref().is_some_and(|e| *e != f.event)
        {
            return false;
        }
        if self.failure {
            return r.kind == RecordKind::Failure;
        }
        if let Some(b) = self.barrier {
            let at = if b == 0 {
                Some("cbarrier".to_string())
            } else {
                Some(SyncPoint::Barrier(b).to_string())
            };
            return r.kind == RecordKind::BarrierArrive && r.detail == at;
        }
        if let Some(c) = &self.command {
            return r.kind == RecordKind::CommandStart && r.command.as_ref() == Some(c);
        }
        false
    }
}

/// What the driver did, and when (journal milliseconds), for the reports.
pub type Happened = Vec<(u64, Option<NodeId>, String)>;

/// How a scenario run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// Every happening happened and the cluster went idle.
    Idle,
    /// The cluster did not go idle within the limit: who waits where.
    Stuck(String),
}

/// Per-node Event Management engines fed by `observe` happenings.
#[derive(Default)]
struct Engines(std::collections::BTreeMap<NodeId, hacmp_em::engine::Engine>);

/// Feeds an observation to a node's engine and queues what it raises.
async fn observe(c: &mut Cluster, engines: &mut Engines, o: &ObserveAt) {
    let bundle = c.bundle().clone();
    let engine = engines
        .0
        .entry(o.node)
        .or_insert_with(|| hacmp_em::engine::Engine::for_bundle(&bundle, Some(o.node)));
    let catalog = bundle.site.full_catalog();
    let Some(var) = catalog.get(&o.variable) else {
        tracing::error!("observe: `{}` is not in the catalog", o.variable);
        return;
    };
    let (instance, value) = match (
        hacmp_em::parse_instance(&o.instance),
        hacmp_em::series::parse(&o.value, &var.value_type()),
    ) {
        (Ok(i), Ok(mut v)) if v.len() == 1 => (i, v.remove(0)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("observe: {e}");
            return;
        }
        _ => {
            tracing::error!("observe: give one value");
            return;
        }
    };
    let (raised, _) = engine.observe(&hacmp_em::Observation {
        variable: o.variable.clone(),
        instance,
        value,
    });
    for ev in raised {
        let _ = c.raise(ev).await;
    }
}

/// Applies one action.
async fn apply(
    c: &mut Cluster,
    h: &Happening,
    log: &mut Happened,
    engines: &mut Engines,
    deploys: &std::collections::BTreeMap<PathBuf, std::sync::Arc<hacmp_compiler::Bundle>>,
) {
    let t = c.journal().now_ms();
    let (node, what) = describe(h);
    log.push((t, node, what));
    if let Some(nodes) = &h.start {
        for n in nodes {
            if let Err(e) = c.start(*n).await {
                tracing::error!(node = n, "cannot start: {e}");
            }
        }
    } else if let Some(n) = h.crash {
        c.crash(n);
    } else if let Some(n) = h.stop {
        c.stop(n, h.takeover).await;
    } else if let Some(r) = &h.raise {
        let _ = c
            .raise(EventRequest::user(
                r.event.clone(),
                r.state,
                r.location,
                None,
            ))
            .await;
    } else if let Some(a) = &h.network_up {
        let _ = c
            .raise(EventRequest::system(
                EventKind::NetworkUp { network: a.network },
                a.node,
            ))
            .await;
    } else if let Some(a) = &h.network_down {
        let _ = c
            .raise(EventRequest::system(
                EventKind::NetworkDown { network: a.network },
                a.node,
            ))
            .await;
    } else if let Some(a) = &h.swap_adapter {
        let _ = c
            .raise(EventRequest::system(
                EventKind::AdapterSwap { network: a.network },
                a.node,
            ))
            .await;
    } else if let Some(o) = &h.observe {
        observe(c, engines, o).await;
    } else if let Some(f) = &h.fail {
        c.agent().fail(
            f.node,
            &format!("{}/{}", f.group, f.resource),
            f.action,
            f.times,
        );
    } else if let Some(m) = &h.move_group {
        let to = m.to.map(|t| t.to_string());
        if let Err(e) = c.operator().move_group(&m.group, to.as_deref()).await {
            tracing::error!("move of `{}` refused: {e}", m.group);
        }
    } else if let Some((g, off)) = h
        .offline
        .as_ref()
        .map(|g| (g, true))
        .or(h.online.as_ref().map(|g| (g, false)))
    {
        if let Err(e) = c.operator().group_intent(g, off).await {
            tracing::error!(
                "{} of `{g}` refused: {e}",
                if off { "offline" } else { "online" }
            );
        }
    } else if let Some(a) = &h.stop_node {
        if let Err(e) = c.operator().stop_node(&a.node.to_string(), a.mode).await {
            tracing::error!("stop of node {} refused: {e}", a.node);
        }
    } else if let Some(n) = h.start_node {
        if let Err(e) = c.operator().start_node(&n.to_string()).await {
            tracing::error!("start of node {n} refused: {e}");
        }
    } else if let Some(p) = &h.deploy {
        match deploys.get(p) {
            Some(b) => {
                if let Err(e) = c.deploy(b.clone()).await {
                    tracing::error!("deploy of `{}`: {e}", p.display());
                }
            }
            None => tracing::error!("deploy of `{}`: not compiled", p.display()),
        }
    } else if let Some(r) = &h.resume {
        match c.current() {
            Some((ev, _, failed)) if !failed.is_empty() => {
                let cmd = OperatorCommand::Resume {
                    seq: ev.seq,
                    node: r.node,
                    decision: r.decision,
                };
                if let Err(e) = c.command(cmd).await {
                    tracing::error!("resume refused: {e}");
                }
            }
            _ => tracing::warn!("resume: no event is waiting for an operator"),
        }
    }
}

fn describe(h: &Happening) -> (Option<NodeId>, String) {
    if let Some(nodes) = &h.start {
        (
            None,
            format!(
                "start node {}",
                hacmp_model::event::node_list(nodes.iter().copied())
            ),
        )
    } else if let Some(n) = h.crash {
        (Some(n), format!("node {n} crashes"))
    } else if let Some(n) = h.stop {
        (
            Some(n),
            format!(
                "node {n} stops{}",
                if h.takeover {
                    " with takeover"
                } else {
                    " gracefully"
                }
            ),
        )
    } else if let Some(r) = &h.raise {
        (
            Some(r.location),
            format!("{} raised at node {}", r.event, r.location),
        )
    } else if let Some(a) = &h.network_up {
        (
            Some(a.node),
            format!("network {} up at node {}", a.network, a.node),
        )
    } else if let Some(a) = &h.network_down {
        (
            Some(a.node),
            format!("network {} down at node {}", a.network, a.node),
        )
    } else if let Some(a) = &h.swap_adapter {
        (
            Some(a.node),
            format!("adapter swap on network {} at node {}", a.network, a.node),
        )
    } else if let Some(r) = &h.resume {
        (r.node, format!("operator: resume {}", r.decision.as_str()))
    } else if let Some(o) = &h.observe {
        (
            Some(o.node),
            format!(
                "node {} observes {} {} = {}",
                o.node, o.variable, o.instance, o.value
            ),
        )
    } else if let Some(p) = &h.deploy {
        (None, format!("operator: deploy {}", p.display()))
    } else if let Some(a) = &h.stop_node {
        (
            Some(a.node),
            format!("operator: stop node {} ({})", a.node, a.mode.as_str()),
        )
    } else if let Some(n) = h.start_node {
        (Some(n), format!("operator: start node {n}"))
    } else if let Some(g) = &h.offline {
        (None, format!("operator: offline {g}"))
    } else if let Some(g) = &h.online {
        (None, format!("operator: online {g}"))
    } else if let Some(m) = &h.move_group {
        (
            m.to,
            format!(
                "operator: move {}{}",
                m.group,
                m.to.map(|t| format!(" to node {t}")).unwrap_or_default()
            ),
        )
    } else if let Some(f) = &h.fail {
        let times = match f.times {
            1 => String::new(),
            n => format!(" ({n} times)"),
        };
        let what = match f.action {
            Failing::Monitor => "stops running".to_string(),
            a => format!("cannot {}", a.as_str()),
        };
        (
            Some(f.node),
            format!(
                "{}/{} {what} on node {}{times}",
                f.group, f.resource, f.node
            ),
        )
    } else {
        (None, String::new())
    }
}

/// Runs a scenario on a cluster until every happening happened and the
/// cluster is idle, or the limit passes. With `real`, the nodes of
/// `monitor` sample this machine.
pub async fn run(c: &mut Cluster, scenario: &Scenario, real: bool) -> (Ending, Happened) {
    let mut log = Happened::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let mut agents = Vec::new();
    if let (true, Some(m)) = (real, &scenario.monitor) {
        for n in &m.nodes {
            let cfg = hacmp_em::agent::AgentConfig {
                node: *n,
                interval: m.interval.map_or(Duration::from_secs(1), |d| d.0),
                sample: true,
                feed: None,
                stats: Default::default(),
            };
            agents.push(tokio::spawn(hacmp_em::agent::run(
                c.bundle().clone(),
                c.operator(),
                cfg,
                stop.clone(),
            )));
        }
    }
    let ending = drive(c, scenario, &mut log, real).await;
    stop.cancel();
    for a in agents {
        let _ = a.await;
    }
    (ending, log)
}

async fn drive(c: &mut Cluster, scenario: &Scenario, log: &mut Happened, real: bool) -> Ending {
    let mut engines = Engines::default();
    let t0 = Instant::now();
    let limit = scenario
        .limit
        .map_or(Duration::from_secs(24 * 3600), |d| d.0);
    let mut timed: Vec<(Duration, usize)> = scenario
        .timeline
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.time.map(|t| (t.0, i)))
        .collect();
    timed.sort();
    let mut timed = timed.into_iter().peekable();
    let mut waiting: Vec<usize> = scenario
        .timeline
        .iter()
        .enumerate()
        .filter(|(_, h)| h.when.is_some())
        .map(|(i, _)| i)
        .collect();
    // Records are followed only while a happening waits for one: each
    // followed record is a copy, and a run of a thousand nodes makes
    // millions.
    let mut feed = (!waiting.is_empty()).then(|| c.journal().subscribe());
    loop {
        if waiting.is_empty() {
            feed = None;
        }
        let next_time = timed.peek().map(|(t, _)| t0 + *t);
        if next_time.is_none() && waiting.is_empty() {
            break;
        }
        // With real commands a wait for an operator ends the run (nobody
        // else will decide), unless the scenario still holds a resume.
        let resume_left = timed
            .clone()
            .map(|(_, i)| i)
            .chain(waiting.iter().copied())
            .any(|i| scenario.timeline[i].resume.is_some());
        tokio::select! {
            _ = operator_wait(c), if real && !resume_left => {
                return Ending::Stuck(stuck_report(c, real).await);
            }
            _ = tokio::time::sleep_until(next_time.unwrap_or(t0 + limit)), if next_time.is_some() => {
                if let Some((_, i)) = timed.next() {
                    apply(c, &scenario.timeline[i], log, &mut engines, &scenario.deploys).await;
                }
            }
            f = async {
                match feed.as_mut() {
                    Some(feed) => feed.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let f = match f {
                    Ok(f) => f,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("{n} records went by before the scenario's `when` happenings could look at them");
                        continue;
                    }
                    Err(_) => continue,
                };
                // Happenings triggered by this record, in timeline order.
                let fired: Vec<usize> = waiting.iter().copied().filter(|i| scenario.timeline[*i].when.as_ref().is_some_and(|w| w.matches(&f))).collect();
                waiting.retain(|i| !fired.contains(i));
                for i in fired {
                    apply(c, &scenario.timeline[i], log, &mut engines, &scenario.deploys).await;
                }
            }
            _ = tokio::time::sleep_until(t0 + limit) => return Ending::Stuck(stuck_report(c, real).await),
            _ = settled(c), if next_time.is_none() => {
                // Idle with only `when` happenings left: they cannot happen.
                if !waiting.is_empty() {
                    tracing::warn!("{} happening(s) never triggered", waiting.len());
                }
                return Ending::Idle;
            }
        }
    }
    let remaining = (t0 + limit).saturating_duration_since(Instant::now());
    tokio::select! {
        r = tokio::time::timeout(remaining, settled(c)) => match r {
            Ok(_) => Ending::Idle,
            Err(_) => Ending::Stuck(stuck_report(c, real).await),
        },
        _ = operator_wait(c), if real => Ending::Stuck(stuck_report(c, real).await),
    }
}

/// Returns once a node waits for an operator's decision. Looked at every
/// 100 ms: what a node shows is published after its failure record, so
/// the journal alone cannot say it waits.
async fn operator_wait(c: &Cluster) {
    loop {
        if c.statuses()
            .await
            .unwrap_or_default()
            .iter()
            .any(|s| s.failure.is_some())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Idle, with no monitor failure still to be seen: a scenario that makes
/// a monitor fail runs until the monitor found it (a restart, a move).
async fn settled(c: &Cluster) {
    loop {
        let _ = c.wait_idle().await;
        let groups = c.groups();
        let due = c.agent().monitor_failures().into_iter().any(|(n, r)| {
            let g = r.split('/').next().unwrap_or_default();
            groups.get(&n).and_then(|s| s.get(g)) == Some(&hacmp_model::placement::RgState::Online)
        });
        if !due {
            return;
        }
        // Simulated time: the next check comes at once.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Who waits where, and why. `real`: a cluster an operator can resume;
/// else a simulation, which only its scenario can.
pub async fn stuck_report(c: &Cluster, real: bool) -> String {
    let mut out = String::new();
    if let Some((ev, arrived, _)) = c.current() {
        out.push_str(&format!(
            "event #{} {} at node {} has not ended\n",
            ev.seq, ev.event.request.name, ev.event.request.location
        ));
        for (at, nodes) in &arrived {
            let list = hacmp_model::event::node_list(nodes.iter().copied());
            out.push_str(&format!("  waiting at {at}: node {list}\n"));
        }
        for s in c.statuses().await.unwrap_or_default() {
            if let Some(f) = &s.failure {
                let how = if real {
                    format!("resume with `hacmp resume {} --node {} continue|rerun|skip|skip-and-cancel`", ev.seq, s.node)
                } else {
                    "decide in the scenario: `[[at]]` with `when = { failure = true }` and `resume = { decision = \"continue\" }` (or rerun, skip, skip-and-cancel)".to_string()
                };
                out.push_str(&format!(
                    "  node {} stopped before barrier {}: `{}` {} (expected {}), policy {}; {how}\n",
                    s.node, f.group, f.command, f.actual, f.expected, f.policy
                ));
                for l in &f.output_tail {
                    out.push_str(&format!("    | {l}\n"));
                }
            }
        }
    } else {
        out.push_str("the cluster is not idle but no event runs\n");
    }
    out
}
