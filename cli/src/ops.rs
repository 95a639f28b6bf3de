//! Operator commands over etcd: `hacmp status`, `hacmp resume`, `hacmp raise`.

use clap::{Args, ValueEnum};
use hacmp_runtime::event::EventKind;
use hacmp_runtime::gs::etcd::EtcdGs;
use hacmp_runtime::gs::{Decision, GroupServices, OperatorCommand};
use hacmp_runtime::EventRequest;
use serde_json::json;

use crate::exit;

#[derive(Args, Debug, Clone)]
pub struct Etcd {
    /// etcd endpoints, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub etcd: Vec<String>,
    /// Cluster id (the site's `[cluster] id`).
    #[arg(long, default_value_t = 1)]
    pub cluster: u32,
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
    #[arg(long, value_enum, default_value = "human")]
    pub format: StatusFormat,
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
    pub event: String,
    #[arg(long)]
    pub location: u32,
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

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
}

async fn connect(e: &Etcd) -> Result<std::sync::Arc<EtcdGs>, String> {
    EtcdGs::operator(&e.etcd, e.cluster)
        .await
        .map_err(|x| format!("cannot reach etcd at {}: {x}", e.etcd.join(",")))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn status(args: &StatusArgs) -> u8 {
    let Some(rt) = runtime() else {
        return exit::USAGE;
    };
    let r: Result<serde_json::Value, String> = rt.block_on(async {
        let gs = connect(&args.etcd).await?;
        let e = |x: hacmp_runtime::gs::GsError| x.to_string();
        let view = gs.view().await.map_err(e)?;
        let statuses = gs.statuses().await.map_err(e)?;
        let queue = gs.queue().await.map_err(e)?;
        let current = gs.current().await.map_err(e)?;
        Ok(json!({
            "group": gs.group_name(),
            "members": view.members,
            "joining": view.joining,
            "current": current.map(|(c, arrived, failed)| json!({
                "seq": c.seq, "name": c.event.request.name, "location": c.event.request.location,
                "membership": c.membership, "why": c.why, "arrived": arrived, "failed": failed,
            })),
            "nodes": statuses,
            "queue": queue,
        }))
    });
    let v = match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        StatusFormat::Human => print!("{}", human(&v)),
    }
    exit::OK
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

fn human(v: &serde_json::Value) -> String {
    let mut out = format!(
        "{}: members {}; joining {}\n",
        v["group"].as_str().unwrap_or(""),
        list(&v["members"]),
        list(&v["joining"])
    );
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
                    let at = match at.as_str() {
                        "cb" => "cbarrier".to_string(),
                        b => format!("barrier {}", b.trim_start_matches('b')),
                    };
                    out.push_str(&format!("  at {at}: node {}\n", list(nodes)));
                }
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
                format!(
                    "{} ({}s)",
                    r["command"].as_str().unwrap_or(""),
                    now.saturating_sub(r["since_ms"].as_u64().unwrap_or(now)) / 1000
                )
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
    let Some(rt) = runtime() else {
        return exit::USAGE;
    };
    let r = rt.block_on(async {
        let gs = connect(&args.etcd).await?;
        gs.command(OperatorCommand::Resume {
            seq: args.seq,
            node: args.node,
            decision: args.decision,
        })
        .await
        .map_err(|e| e.to_string())
    });
    match r {
        Ok(()) => {
            println!("event {}: {}", args.seq, args.decision.as_str());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FINDINGS
        }
    }
}

pub fn raise(args: &RaiseArgs) -> u8 {
    let Some(rt) = runtime() else {
        return exit::USAGE;
    };
    let r = rt.block_on(async {
        let gs = connect(&args.etcd).await?;
        let req = EventRequest {
            name: args.event.clone(),
            state: args.state,
            location: args.location,
            kind: EventKind::User,
            em: None,
        };
        gs.command(OperatorCommand::Raise { event: req })
            .await
            .map_err(|e| e.to_string())
    });
    match r {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}
