//! Events as Chrome trace-event JSON (opens in Perfetto and
//! chrome://tracing): one track per node, a slice per event on each node,
//! per command and per barrier wait, and instant events for what happened
//! between (a simulation's happenings).

use std::collections::BTreeMap;

use hacmp_node::journal::{EventEntry, Record, RecordKind};
use hacmp_sim::scenario::Happened;
use serde_json::{json, Value};

/// Which clock places the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Milliseconds since the journal started (one journal: a simulation).
    Journal,
    /// Wall-clock milliseconds (several daemons' journals on one time line).
    Wall,
}

fn at(r: &Record, clock: Clock) -> u64 {
    match clock {
        Clock::Journal => r.t_ms,
        Clock::Wall => r.wall_ms,
    }
}

/// The trace of `events` (and `happened`, on the journal's clock).
pub fn render(events: &[EventEntry], happened: &Happened, clock: Clock) -> String {
    let origin = match clock {
        Clock::Journal => 0,
        Clock::Wall => events
            .iter()
            .flat_map(|e| e.records.iter())
            .map(|r| r.wall_ms)
            .filter(|t| *t > 0)
            .min()
            .unwrap_or(0),
    };
    let us = |ms: u64| ms.saturating_sub(origin) * 1000;
    let mut out: Vec<Value> = Vec::new();
    let mut nodes = std::collections::BTreeSet::new();
    for e in events {
        let title = format!("#{} {}@{}", e.seq, e.name, e.location);
        let mut span: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        let mut open: BTreeMap<(u32, String, String), u64> = BTreeMap::new();
        let mut waits: BTreeMap<(u32, String), u64> = BTreeMap::new();
        for r in &e.records {
            let t = at(r, clock);
            nodes.insert(r.node);
            let s = span.entry(r.node).or_insert((t, t));
            s.0 = s.0.min(t);
            s.1 = s.1.max(t);
            let key = || {
                (
                    r.node,
                    r.command.clone().unwrap_or_default(),
                    r.role.clone().unwrap_or_default(),
                )
            };
            match r.kind {
                RecordKind::CommandStart => {
                    open.insert(key(), t);
                }
                RecordKind::CommandEnd => {
                    if let Some(start) = open.remove(&key()) {
                        out.push(json!({
                            "name": r.command.as_deref().unwrap_or(""),
                            "cat": if r.ok == Some(false) { "command,failed" } else { "command" },
                            "ph": "X", "pid": 1, "tid": r.node,
                            "ts": us(start), "dur": us(t) - us(start),
                            "args": { "event": title, "role": r.role, "status": r.status, "ok": r.ok, "detail": r.detail },
                        }));
                    }
                }
                RecordKind::BarrierArrive => {
                    waits.insert((r.node, r.detail.clone().unwrap_or_default()), t);
                }
                RecordKind::BarrierDone | RecordKind::CbarrierDone => {
                    let at_ = r.detail.clone().unwrap_or_else(|| "cbarrier".into());
                    if let Some(start) = waits.remove(&(r.node, at_.clone())) {
                        out.push(json!({
                            "name": format!("wait: {at_}"), "cat": "barrier",
                            "ph": "X", "pid": 1, "tid": r.node,
                            "ts": us(start), "dur": us(t) - us(start),
                            "args": { "event": title },
                        }));
                    }
                }
                RecordKind::Failure
                | RecordKind::Stopped
                | RecordKind::Decision
                | RecordKind::Cancelled => {
                    out.push(json!({
                        "name": format!("{}: {}", kind_name(r.kind), r.detail.as_deref().unwrap_or("")),
                        "cat": kind_name(r.kind), "ph": "i", "s": "t",
                        "pid": 1, "tid": r.node, "ts": us(t),
                        "args": { "event": title, "command": r.command },
                    }));
                }
                RecordKind::Resource => {
                    out.push(json!({
                        "name": format!("{} {}", r.command.as_deref().unwrap_or(""), r.detail.as_deref().unwrap_or("")),
                        "cat": "resource", "ph": "i", "s": "t",
                        "pid": 1, "tid": r.node, "ts": us(t),
                        "args": { "event": title },
                    }));
                }
                RecordKind::State => {}
            }
        }
        for (node, (a, b)) in span {
            out.push(json!({
                "name": title, "cat": "event", "ph": "X", "pid": 1, "tid": node,
                "ts": us(a), "dur": us(b) - us(a),
                "args": { "outcome": e.outcome.map(|o| o.as_str()), "why": e.why, "membership": e.membership },
            }));
        }
    }
    for (t, node, what) in happened {
        out.push(json!({
            "name": what, "cat": "happening", "ph": "i", "s": if node.is_some() { "t" } else { "g" },
            "pid": 1, "tid": node.unwrap_or(0), "ts": t * 1000,
        }));
    }
    out.push(json!({ "name": "process_name", "ph": "M", "pid": 1, "args": { "name": "cluster" } }));
    for n in nodes {
        out.push(json!({ "name": "thread_name", "ph": "M", "pid": 1, "tid": n, "args": { "name": format!("node {n}") } }));
        out.push(json!({ "name": "thread_sort_index", "ph": "M", "pid": 1, "tid": n, "args": { "sort_index": n } }));
    }
    let mut s = serde_json::to_string(&json!({ "traceEvents": out, "displayTimeUnit": "ms" }))
        .unwrap_or_default();
    s.push('\n');
    s
}

fn kind_name(k: RecordKind) -> &'static str {
    match k {
        RecordKind::Failure => "failure",
        RecordKind::Stopped => "stopped",
        RecordKind::Decision => "decision",
        RecordKind::Cancelled => "cancelled",
        _ => "record",
    }
}

#[derive(clap::Args, Debug)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub command: JournalCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum JournalCommand {
    /// Write the journals of daemons (their state directories) as one
    /// Chrome trace-event file, on the wall clock.
    Trace {
        /// State directories (each with its `journal.jsonl`).
        #[arg(required = true)]
        dirs: Vec<std::path::PathBuf>,
        /// Where to write (standard output by default).
        #[arg(short, long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

pub fn journal(args: &JournalArgs) -> u8 {
    let JournalCommand::Trace { dirs, out } = &args.command;
    let mut events = Vec::new();
    for d in dirs {
        let path = d.join("journal.jsonl");
        match hacmp_node::journal::read_journal(&path) {
            Ok((ended, _)) => events.extend(ended),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                return crate::exit::USAGE;
            }
        }
    }
    events.sort_by_key(|e| e.seq);
    let text = render(&events, &Vec::new(), Clock::Wall);
    match out {
        Some(p) => {
            if let Err(e) = hacmp_compiler::input::write(p, text.as_bytes()) {
                eprintln!("error: cannot write `{}`: {e}", p.display());
                return crate::exit::USAGE;
            }
        }
        None => {
            crate::print_out(&text);
        }
    }
    crate::exit::OK
}
