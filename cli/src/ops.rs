//! Operator commands on a running cluster over etcd: `hacmp status`,
//! `hacmp resume`, `hacmp raise`.
//!
//! Exit statuses (all three): 0 done; 1 refused by the group (an event
//! that is not running, a node that is not waiting, an event no rule
//! handles, a node that is not the site's); 2 usage; 3 etcd could not be
//! reached, or did not answer within `--timeout`.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hacmp_etcd::{EtcdStore, EtcdTls};
use hacmp_gs::operator::Operator;
use hacmp_gs::state::GroupState;
use hacmp_gs::{Decision, GsError, NodeStatus};
use hacmp_model::event::EventKind;
use hacmp_model::EventRequest;
use serde_json::json;

use crate::exit;

/// etcd could not be reached, or did not answer in time: a usage or I/O
/// problem, as the exit-status table says (3 is `hacmpd`'s alone).
pub const UNREACHABLE: u8 = exit::USAGE;

#[derive(Args, Debug, Clone)]
pub struct Etcd {
    /// etcd endpoints, comma-separated; every one is used.
    #[arg(long, env = "HACMP_ETCD", value_delimiter = ',', required = true)]
    pub etcd: Vec<String>,
    /// Cluster id (the site's `[cluster] id`).
    #[arg(long, env = "HACMP_CLUSTER", default_value_t = 1)]
    pub cluster: u32,
    /// Give up after this long (etcd unreachable).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// How an operator's command waits for what it asked (a move, a stop).
#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// Return once it is asked for (queued).
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for it to be done.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub wait: Duration,
}

/// TLS to etcd, for `https://` endpoints.
#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// The certificate authority (PEM) that signed the etcd members'
    /// certificates.
    #[arg(long, env = "HACMP_ETCD_CACERT", value_name = "FILE")]
    pub etcd_cacert: Option<std::path::PathBuf>,
    /// This client's certificate (PEM), for members that check clients
    /// (`--client-cert-auth`).
    #[arg(long, env = "HACMP_ETCD_CERT", value_name = "FILE")]
    pub etcd_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of `--etcd-cert`.
    #[arg(long, env = "HACMP_ETCD_KEY", value_name = "FILE")]
    pub etcd_key: Option<std::path::PathBuf>,
}

impl TlsArgs {
    pub fn tls(&self) -> EtcdTls {
        EtcdTls {
            ca: self.etcd_cacert.clone(),
            cert: self.etcd_cert.clone(),
            key: self.etcd_key.clone(),
        }
    }
}

/// The one duration parser of every command's flags (`500ms`, `1m30s`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    hacmp_stdlib::Duration::parse(s).map(|d| d.0)
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatusFormat {
    Human,
    Json,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub etcd: Etcd,
    /// human (tables) or json (one object).
    #[arg(long, value_enum, default_value = "human")]
    pub format: StatusFormat,
    /// Show it again at every `--interval` until interrupted (redrawn in
    /// place on a terminal).
    #[arg(long)]
    pub watch: bool,
    /// How often `--watch` reads the cluster.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The event's sequence number (`hacmp status` shows it).
    pub seq: u64,
    /// continue, rerun, skip or skip-and-cancel.
    #[arg(value_parser = parse_decision)]
    pub decision: Decision,
    /// The failed node (all failed nodes when absent).
    #[arg(long)]
    pub node: Option<u32>,
    #[command(flatten)]
    pub etcd: Etcd,
}

#[derive(Args, Debug)]
pub struct RaiseArgs {
    /// The event's name, as the site's rules name it.
    pub event: String,
    /// The node where it happened (a node of the site).
    #[arg(long)]
    pub location: u32,
    /// The state qualifier (a rule handles one name and state).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub state: i64,
    #[command(flatten)]
    pub etcd: Etcd,
}

fn parse_decision(s: &str) -> Result<Decision, String> {
    match s {
        "continue" => Ok(Decision::Continue),
        "rerun" => Ok(Decision::Rerun),
        "skip" => Ok(Decision::Skip),
        "skip-and-cancel" => Ok(Decision::SkipAndCancel),
        _ => Err("one of continue, rerun, skip, skip-and-cancel".into()),
    }
}

/// Why an operator command did not happen.
pub(crate) enum Failed {
    Refused(String),
    Unreachable(String),
    /// The command line cannot work (TLS files that do not fit the
    /// endpoints).
    Usage(String),
}

impl Failed {
    pub(crate) fn message(&self) -> &str {
        match self {
            Failed::Refused(why) | Failed::Unreachable(why) | Failed::Usage(why) => why,
        }
    }

    pub(crate) fn report(self) -> u8 {
        eprintln!("error: {}", self.message());
        match self {
            Failed::Refused(_) => exit::FINDINGS,
            Failed::Unreachable(_) => UNREACHABLE,
            Failed::Usage(_) => exit::USAGE,
        }
    }
}

pub(crate) fn failed(e: GsError) -> Failed {
    match e {
        GsError::Refused(why) | GsError::OtherSite(why) => Failed::Refused(why),
        other => Failed::Unreachable(other.to_string()),
    }
}

/// Reads the group every 100 ms until `done` gives an exit status (it
/// says why), for at most `wait` (then: `what` is still queued or
/// running, 1). An etcd that cannot be reached for a moment is tried
/// again; other errors end it.
pub(crate) fn until_done(
    e: &Etcd,
    wait: Duration,
    what: &str,
    mut done: impl FnMut(&GroupState) -> Option<u8>,
) -> u8 {
    poll(
        e,
        wait,
        what,
        async |op| op.state().await,
        |s: &GroupState| done(s),
    )
}

/// `until_done`, with the nodes' statuses beside the group.
pub(crate) fn until_shown(
    e: &Etcd,
    wait: Duration,
    what: &str,
    mut done: impl FnMut(&GroupState, &[NodeStatus]) -> Option<u8>,
) -> u8 {
    poll(
        e,
        wait,
        what,
        async |op| Ok((op.state().await?, op.statuses().await?)),
        |(s, st): &(GroupState, Vec<NodeStatus>)| done(s, st),
    )
}

fn poll<T>(
    e: &Etcd,
    wait: Duration,
    what: &str,
    read: impl AsyncFn(Arc<Operator<EtcdStore>>) -> Result<T, GsError>,
    mut done: impl FnMut(&T) -> Option<u8>,
) -> u8 {
    let end = std::time::Instant::now() + wait;
    loop {
        match with_operator(e, async |op| read(op).await.map_err(failed)) {
            Ok(s) => {
                if let Some(code) = done(&s) {
                    return code;
                }
            }
            Err(Failed::Unreachable(why)) => eprintln!("warning: {why}; trying again"),
            Err(f) => return f.report(),
        }
        if std::time::Instant::now() >= end {
            eprintln!(
                "error: {what} is still queued or running after {} (see `hacmp status`)",
                hacmp_stdlib::Duration(wait)
            );
            return exit::FINDINGS;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs an operator command against etcd within the timeout.
pub(crate) fn with_operator<T>(
    e: &Etcd,
    f: impl AsyncFnOnce(Arc<Operator<EtcdStore>>) -> Result<T, Failed>,
) -> Result<T, Failed> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|x| Failed::Unreachable(x.to_string()))?;
    let where_ = e.etcd.join(",");
    let tls = e.tls.tls();
    tls.options(&e.etcd).map_err(Failed::Usage)?;
    rt.block_on(async {
        let work = async {
            let store = EtcdStore::connect(&e.etcd, e.cluster, &tls)
                .await
                .map_err(|x| Failed::Unreachable(format!("etcd at {where_}: {x}")))?;
            f(Arc::new(Operator::new(store))).await
        };
        match tokio::time::timeout(e.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Failed::Unreachable(format!(
                "etcd at {where_} did not answer within {}",
                humantime::format_duration(e.timeout)
            ))),
        }
    })
}

use hacmp_model::clock::unix_ms as now_ms;

/// The status of the group as one JSON value (what `--format json` prints).
pub fn status_json(group: &str, s: &GroupState, statuses: &[NodeStatus]) -> serde_json::Value {
    let live = s.live();
    let current = s.current.as_ref().map(|c| {
        let c = &c.value;
        let keys = s.event_keys(c.seq);
        // Arrivals of live members only: a dead node waits nowhere.
        let arrived: serde_json::Map<String, serde_json::Value> = keys
            .map(|k| {
                k.arrived
                    .iter()
                    .map(|(at, ns)| {
                        let ns: Vec<u32> = ns.iter().copied().filter(|n| live.contains(n)).collect();
                        (at.to_string(), json!(ns))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let failed: Vec<u32> = keys
            .map(|k| k.failed.keys().copied().filter(|n| live.contains(n)).collect())
            .unwrap_or_default();
        json!({
            "seq": c.seq, "name": c.event.request.name, "location": c.event.request.location,
            "membership": c.membership, "live": live, "why": c.why, "arrived": arrived, "failed": failed,
            "ended": keys.and_then(|k| k.ended.as_ref()).map(|e| json!({"outcome": e.outcome.as_str(), "by": e.by})),
        })
    });
    let queue: Vec<serde_json::Value> = s
        .sorted_queue()
        .into_iter()
        .map(|(_, q)| serde_json::to_value(q).unwrap_or_default())
        .collect();
    let recent: Vec<serde_json::Value> = s
        .outcomes
        .iter()
        .rev()
        .take(5)
        .map(|(seq, o)| json!({"seq": seq, "outcome": o.as_str()}))
        .collect();
    let states = statuses
        .iter()
        .map(|n| (n.node, n.groups.clone()))
        .collect();
    let mut groups = serde_json::to_value(
        s.placement
            .as_ref()
            .map(|p| hacmp_node::resources::view::views(p, &states))
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    // An operator's word on a group, beside where it is.
    let kept = s.placement.clone().unwrap_or_default();
    for g in groups.as_array_mut().into_iter().flatten() {
        if g["name"].as_str().is_some_and(|n| kept.offline.contains(n)) {
            g["intent"] = json!("offline");
        }
        if g["name"]
            .as_str()
            .is_some_and(|n| kept.maintenance.contains(n))
        {
            g["maintenance"] = json!(true);
        }
    }
    // Every node of the site, up or not: a node that died stays listed.
    let waiting: std::collections::BTreeMap<u32, u64> = statuses
        .iter()
        .filter_map(|n| Some((n.node, n.failure.as_ref()?.seq)))
        .collect();
    let (members, joining) = (s.members(), s.joining());
    let shown: std::collections::BTreeSet<u32> = statuses.iter().map(|n| n.node).collect();
    let site_nodes: Vec<serde_json::Value> = s
        .identity
        .as_ref()
        .map(|i| {
            let mut nodes = i.value.nodes.clone();
            nodes.extend(s.alive.keys().filter(|n| !i.value.nodes.contains(n)));
            nodes
                .into_iter()
                .map(|n| {
                    let state = if members.contains(&n) {
                        "up"
                    } else if joining.contains(&n) {
                        "joining"
                    } else if s.alive.contains_key(&n) {
                        "starting"
                    } else if s.control.contains_key(&n) {
                        "stopped"
                    } else {
                        "down"
                    };
                    let out = !members.contains(&n) && !s.alive.contains_key(&n);
                    let mut v = json!({
                        "node": n,
                        "name": i.value.node_names.get(&n),
                        "state": state,
                        // Its node-down: when, and whether it failed.
                        "down": s.down.get(&n).filter(|_| out).map(|d| json!({"since": d.since, "failed": d.failed})),
                        // An operator's stop, until `hacmp start`.
                        "stopped": s.control.get(&n).map(|c| json!({"mode": c.mode.as_str(), "at_ms": c.at_ms})),
                        // Its daemon runs (out of the cluster while stopped).
                        "daemon": !out || shown.contains(&n),
                        "waiting_for_operator": waiting.get(&n),
                        "bundle": s.alive.get(&n).map(|a| a.record.hash.clone()),
                    });
                    // The state as read at a glance, for the live page too.
                    v["shown"] = json!(node_state(&v));
                    v
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "group": group,
        "cluster": s.identity.as_ref().map(|i| json!({"id": i.value.cluster, "name": i.value.name})),
        "site_nodes": site_nodes,
        "site": s.identity.as_ref().map(|i| i.value.hash.clone()),
        "resource_groups": groups,
        "members": s.members(),
        "joining": s.joining(),
        "current": current,
        "nodes": statuses,
        // The bundle each live node runs (one, but during a deploy).
        "bundles": s.alive.iter().map(|(n, a)| (n.to_string(), json!(a.record.hash))).collect::<serde_json::Map<_, _>>(),
        "queue": queue,
        "recent": recent,
    })
}

pub fn status(args: &StatusArgs) -> u8 {
    let group = format!("clstrmgr_{}", args.etcd.cluster);
    let read = || {
        with_operator(&args.etcd, async |op| {
            let s = op.state().await.map_err(failed)?;
            let statuses = op.statuses().await.map_err(failed)?;
            Ok(status_json(&group, &s, &statuses))
        })
    };
    let show = |v: &serde_json::Value| match args.format {
        StatusFormat::Json => format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default()),
        StatusFormat::Human => human(v),
    };
    if !args.watch {
        return match read() {
            Ok(v) => {
                crate::print_out(&show(&v));
                exit::OK
            }
            Err(f) => f.report(),
        };
    }
    // Redrawn in place on a terminal; one screen after another otherwise.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let screen = match read() {
            Ok(v) => show(&v),
            // A command line that cannot work never will.
            Err(f @ Failed::Usage(_)) => return f.report(),
            Err(f) => format!("cannot read the cluster now: {}\n", f.message()),
        };
        let clear = if tty { "\x1b[H\x1b[2J" } else { "\n" };
        // Nobody reads any more (`| head` closed the pipe): done.
        if !crate::print_out(&format!("{clear}{screen}")) {
            return exit::OK;
        }
        std::thread::sleep(args.interval);
    }
}

fn list(v: &serde_json::Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(" ")
    }
}

/// A site node's state as read at a glance: `down since 18:40:02
/// (failed)`, `stopped (takeover) since …, daemon not running`.
fn node_state(n: &serde_json::Value) -> String {
    let mut state = n["state"].as_str().unwrap_or("").to_string();
    if let Some(mode) = n["stopped"]["mode"].as_str() {
        state.push_str(&format!(" ({mode})"));
    }
    if let Some(since) = n["down"]["since"].as_str() {
        let how = if n["down"]["failed"].as_bool() == Some(true) {
            " (failed)"
        } else {
            ""
        };
        state.push_str(&format!(" since {since}{how}"));
    } else if let Some(ms) = n["stopped"]["at_ms"].as_u64() {
        // Stopped before it was ever in: since the operator's word.
        let at = std::time::UNIX_EPOCH + Duration::from_millis(ms);
        state.push_str(&format!(" since {}", humantime::format_rfc3339_millis(at)));
    }
    if n["daemon"].as_bool() == Some(false) && n["state"] == "stopped" {
        state.push_str(", hacmpd not running");
    }
    state
}

fn human(v: &serde_json::Value) -> String {
    let mut out = format!(
        "{}: members {}; joining {}\n",
        v["group"].as_str().unwrap_or(""),
        list(&v["members"]),
        list(&v["joining"])
    );
    // What needs an operator first, with what to type.
    for n in v["site_nodes"].as_array().into_iter().flatten() {
        if let Some(seq) = n["waiting_for_operator"].as_u64() {
            out.push_str(&format!(
                "WAITING FOR AN OPERATOR: event #{seq} on node {}: hacmp resume {seq} continue|rerun|skip|skip-and-cancel --node {}\n",
                n["node"], n["node"]
            ));
        }
    }
    let nodes: Vec<String> = v["site_nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let state = node_state(n);
            match n["name"].as_str() {
                Some(name) => format!("{name} ({}) {state}", n["node"]),
                None => format!("node {} {state}", n["node"]),
            }
        })
        .collect();
    if !nodes.is_empty() {
        let name = v["cluster"]["name"].as_str().unwrap_or("");
        out.push_str(&format!(
            "cluster {}{}: {}\n",
            if name.is_empty() { "" } else { name },
            if name.is_empty() {
                format!("{}", v["cluster"]["id"])
            } else {
                format!(" (id {})", v["cluster"]["id"])
            },
            nodes.join(", ")
        ));
    }
    match v["current"].as_object() {
        Some(c) => {
            out.push_str(&format!(
                "event #{} {} at node {} — membership {}\n  {}\n",
                c["seq"],
                c["name"].as_str().unwrap_or(""),
                c["location"],
                list(&c["membership"]),
                c["why"].as_str().unwrap_or("")
            ));
            if let Some(a) = c["arrived"].as_object() {
                for (at, nodes) in a {
                    if nodes.as_array().is_some_and(|n| !n.is_empty()) {
                        out.push_str(&format!("  at {at}: node {}\n", list(nodes)));
                    }
                }
            }
            if let Some(e) = c["ended"].as_object() {
                out.push_str(&format!(
                    "  ending: {} ({})\n",
                    e["outcome"].as_str().unwrap_or(""),
                    e["by"].as_str().unwrap_or("")
                ));
            }
        }
        None => out.push_str("no event running\n"),
    }
    out.push_str(&format!(
        "{:<6}{:<12}{:<28}{:<12}{}\n",
        "node", "state", "event", "at", "commands"
    ));
    let now = now_ms();
    for n in v["nodes"].as_array().into_iter().flatten() {
        let event = match (n["seq"].as_u64(), n["event"].as_str()) {
            (Some(s), Some(e)) => format!("#{s} {e}"),
            _ => String::new(),
        };
        let at = match &n["at"] {
            serde_json::Value::Object(m) => m
                .get("barrier")
                .map_or(String::new(), |b| format!("barrier {b}")),
            serde_json::Value::String(s) if s == "cbarrier" => "cbarrier".into(),
            _ => String::new(),
        };
        let running: Vec<String> = n["running"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let secs = now.saturating_sub(r["since_ms"].as_u64().unwrap_or(now)) / 1000;
                match r["pid"].as_u64() {
                    Some(pid) => format!(
                        "{} (pid {pid}, {secs}s)",
                        r["command"].as_str().unwrap_or("")
                    ),
                    None => format!("{} ({secs}s)", r["command"].as_str().unwrap_or("")),
                }
            })
            .collect();
        let line = format!(
            "{:<6}{:<12}{:<28}{:<12}{}",
            n["node"].to_string(),
            n["state"].as_str().unwrap_or(""),
            event,
            at,
            running.join(", ")
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(f) = n["failure"].as_object() {
            out.push_str(&format!(
                "      STOPPED: `{}` {} (expected {}) in group {}, policy {}: resume with `hacmp resume {} continue|rerun|skip|skip-and-cancel --node {}`\n",
                f["command"].as_str().unwrap_or(""),
                f["actual"].as_str().unwrap_or(""),
                f["expected"].as_str().unwrap_or(""),
                f["group"],
                f["policy"].as_str().unwrap_or(""),
                f["seq"],
                n["node"]
            ));
            for l in f["output_tail"].as_array().into_iter().flatten() {
                out.push_str(&format!("        | {}\n", l.as_str().unwrap_or("")));
            }
        }
        for m in n["monitor"].as_array().into_iter().flatten() {
            let ago = now.saturating_sub(m["at_ms"].as_u64().unwrap_or(now)) / 1000;
            out.push_str(&format!(
                "      monitor {}s ago: {}/{}: {}\n",
                ago,
                m["group"].as_str().unwrap_or(""),
                m["resource"].as_str().unwrap_or(""),
                m["what"].as_str().unwrap_or("")
            ));
        }
    }
    let groups = v["resource_groups"].as_array().cloned().unwrap_or_default();
    if !groups.is_empty() {
        out.push_str(&format!(
            "{:<20}{:<12}{}\n",
            "resource group", "state", "nodes"
        ));
        for g in groups {
            let on: Vec<String> = g["on"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(n, st)| format!("node {n}: {}", st.as_str().unwrap_or("")))
                .collect();
            let mut state = match g["intent"].as_str() {
                Some(i) => format!("{} ({i} by an operator)", g["state"].as_str().unwrap_or("")),
                None => g["state"].as_str().unwrap_or("").to_string(),
            };
            if g["maintenance"] == true {
                state.push_str(" (MAINTENANCE)");
            }
            let line = format!(
                "{:<20}{:<12}{}",
                g["name"].as_str().unwrap_or(""),
                state,
                if on.is_empty() {
                    list(&g["nodes"])
                } else {
                    on.join(", ")
                }
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    let q = v["queue"].as_array().cloned().unwrap_or_default();
    if q.is_empty() {
        out.push_str("queue: empty\n");
    } else {
        out.push_str("queue:\n");
        for e in q {
            out.push_str(&format!(
                "  {} at node {} (class {})\n",
                e["name"].as_str().unwrap_or(""),
                e["location"],
                e["class"]
            ));
        }
    }
    out
}

pub fn resume(args: &ResumeArgs) -> u8 {
    let r = with_operator(&args.etcd, async |op| {
        op.resume(args.seq, args.node, args.decision)
            .await
            .map_err(failed)
    });
    match r {
        Ok(done) => {
            let nodes: Vec<String> = done.nodes.iter().map(|n| n.to_string()).collect();
            println!(
                "event {}: {} (node {})",
                args.seq,
                args.decision.as_str(),
                nodes.join(", ")
            );
            for c in done.cancelled {
                println!("cancelled: {c}");
            }
            exit::OK
        }
        Err(f) => f.report(),
    }
}

pub fn raise(args: &RaiseArgs) -> u8 {
    let r = with_operator(&args.etcd, async |op| {
        let req = EventRequest {
            name: args.event.clone(),
            state: args.state,
            location: args.location,
            kind: EventKind::User,
            em: None,
        };
        op.raise(req).await.map_err(failed)
    });
    match r {
        Ok(()) => {
            println!("{} at node {} queued", args.event, args.location);
            exit::OK
        }
        Err(f) => f.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster an operator must look at: node 3 waits for a decision,
    /// node 2 failed, `web` is in error there; an operator stopped node 4
    /// (its daemon waits) and node 5 (its daemon is not running).
    #[test]
    fn status_at_a_glance() {
        let v = serde_json::json!({
            "group": "clstrmgr_1",
            "cluster": {"id": 1, "name": "prod"},
            "site_nodes": [
                {"node": 1, "name": "alpha", "state": "up", "waiting_for_operator": null, "bundle": "3f2a"},
                {"node": 2, "name": "beta", "state": "down", "waiting_for_operator": null, "bundle": null,
                 "down": {"since": "2026-12-07T18:40:02.123Z", "failed": true}, "daemon": false},
                {"node": 3, "name": "gamma", "state": "up", "waiting_for_operator": 17, "bundle": "3f2a"},
                {"node": 4, "name": "delta", "state": "stopped", "waiting_for_operator": null, "bundle": null,
                 "down": {"since": "2026-12-07T18:20:00.000Z", "failed": false},
                 "stopped": {"mode": "takeover", "at_ms": 1796667600000u64}, "daemon": true},
                {"node": 5, "name": "epsilon", "state": "stopped", "waiting_for_operator": null, "bundle": null,
                 "stopped": {"mode": "forced", "at_ms": 1796667600000u64}, "daemon": false},
            ],
            "members": [1, 3],
            "joining": [],
            "current": {
                "seq": 17, "name": "TE_FAIL_NODE", "location": 2, "membership": [1, 3],
                "why": "the only queued event: node failure (class 2)",
                "arrived": {"barrier 1": [1]}, "failed": [3], "ended": null
            },
            "nodes": [
                {"node": 1, "state": "barrier", "seq": 17, "event": "TE_FAIL_NODE", "at": {"barrier": 1}},
                {"node": 3, "state": "rp_running", "seq": 17, "event": "TE_FAIL_NODE",
                 "failure": {"seq": 17, "group": 1, "command": "/usr/sbin/cluster/events/node_down",
                             "actual": "exit 1", "expected": "0", "policy": "wait",
                             "output_tail": ["cannot take over web-ip"]}}
            ],
            "resource_groups": [
                {"name": "web", "state": "error", "nodes": [3], "on": {"3": "error"}}
            ],
            "queue": [],
            "recent": [{"seq": 16, "outcome": "completed"}]
        });
        insta::assert_snapshot!(human(&v));
    }

    #[test]
    fn status_shows_what_the_monitors_did() {
        let v = serde_json::json!({
            "group": "clstrmgr_1",
            "members": [1],
            "joining": [],
            "nodes": [{
                "node": 1,
                "state": "stable",
                "monitor": [{
                    "group": "web",
                    "resource": "httpd",
                    "what": "not running: restarting (1 of 2)",
                    "at_ms": now_ms() - 3_000
                }]
            }]
        });
        let text = human(&v);
        assert!(
            text.contains("      monitor 3s ago: web/httpd: not running: restarting (1 of 2)\n"),
            "{text}"
        );
    }
}
