//! `hacmp history STATE_DIR...`: the cluster's events as the nodes'
//! journals tell them, one row per event (the rows of several nodes
//! merged), newest first: when, which event at which node, its outcome,
//! how long it took on the nodes, the commands that failed and the
//! operators' decisions. Filters by node, event, outcome and age.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use hacmp_runtime::journal::{EventEntry, RecordKind};
use serde::Serialize;

use crate::exit;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum HistoryFormat {
    Human,
    Json,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The nodes' state directories (each with its `journal.jsonl`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Only events that took place on this node (by number).
    #[arg(long)]
    pub node: Option<u32>,
    /// Only events of this name.
    #[arg(long)]
    pub event: Option<String>,
    /// Only events with this outcome (completed, failed, aborted, skipped,
    /// interrupted).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only events begun within this long (`1h`, `30m`).
    #[arg(long, value_parser = crate::ops::parse_duration)]
    pub since: Option<Duration>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// human (a table) or json (one object per event).
    #[arg(long, value_enum, default_value = "human")]
    pub format: HistoryFormat,
}

/// One event, merged over the nodes' journals.
#[derive(Debug, Serialize, PartialEq)]
pub struct Row {
    pub seq: u64,
    pub event: String,
    pub location: u32,
    /// When its first record was written (ms since the epoch).
    pub began_ms: u64,
    pub duration_ms: u64,
    pub outcome: String,
    pub nodes: Vec<u32>,
    /// `node N: command: why`.
    pub failures: Vec<String>,
    /// `node N: decision`.
    pub decisions: Vec<String>,
}

/// Merges the nodes' entries of each event into one row, newest first.
pub fn rows(entries: Vec<EventEntry>) -> Vec<Row> {
    let mut by_seq: BTreeMap<u64, Row> = BTreeMap::new();
    let mut spans: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for e in entries {
        let walls: Vec<u64> = e
            .records
            .iter()
            .map(|r| r.wall_ms)
            .filter(|w| *w > 0)
            .collect();
        let row = by_seq.entry(e.seq).or_insert_with(|| Row {
            seq: e.seq,
            event: e.name.clone(),
            location: e.location,
            began_ms: 0,
            duration_ms: 0,
            outcome: String::new(),
            nodes: e.membership.clone(),
            failures: Vec::new(),
            decisions: Vec::new(),
        });
        if let (Some(a), Some(b)) = (walls.iter().min(), walls.iter().max()) {
            let span = spans.entry(e.seq).or_insert((*a, *b));
            *span = (span.0.min(*a), span.1.max(*b));
            row.began_ms = span.0;
            row.duration_ms = span.1 - span.0;
        }
        // A node that saw it fail says so, whatever another saw first.
        let outcome = e.outcome.map_or("unended", |o| o.as_str());
        if row.outcome.is_empty() || row.outcome == "completed" {
            row.outcome = outcome.to_string();
        }
        for r in &e.records {
            let text = || r.detail.clone().unwrap_or_default();
            match r.kind {
                RecordKind::Failure => row.failures.push(format!(
                    "node {}: {}: {}",
                    r.node,
                    r.command.as_deref().unwrap_or(""),
                    text()
                )),
                RecordKind::Decision => row.decisions.push(format!("node {}: {}", r.node, text())),
                _ => {}
            }
        }
    }
    let mut out: Vec<Row> = by_seq.into_values().rev().collect();
    for r in &mut out {
        r.failures.dedup();
        r.decisions.dedup();
    }
    out
}

fn when(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The rows as a table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<22}{:>6}  {:<22}{:>5}  {:<12}{:>10}  {}\n",
        "when (UTC)", "seq", "event", "node", "outcome", "duration", "failures and decisions"
    );
    for r in rows {
        let notes: Vec<&String> = r.failures.iter().chain(&r.decisions).collect();
        let first = notes.first().map_or(String::new(), |s| s.to_string());
        out.push_str(
            format!(
                "{:<22}{:>6}  {:<22}{:>5}  {:<12}{:>10}  {}",
                when(r.began_ms),
                r.seq,
                r.event,
                r.location,
                r.outcome,
                hacmp_stdlib::Duration(Duration::from_millis(r.duration_ms)).to_string(),
                hacmp_compiler::render::visible(&first)
            )
            .trim_end(),
        );
        out.push('\n');
        for n in notes.iter().skip(1) {
            out.push_str(&format!(
                "{:>78}{}\n",
                "",
                hacmp_compiler::render::visible(n)
            ));
        }
    }
    out
}

pub fn run(args: &HistoryArgs) -> u8 {
    let mut entries = Vec::new();
    for d in &args.dirs {
        let path = d.join("journal.jsonl");
        match hacmp_runtime::journal::read_journal(&path) {
            Ok((ended, _)) => entries.extend(ended),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                return exit::USAGE;
            }
        }
    }
    let now = hacmp_runtime::journal::unix_ms();
    let oldest = args
        .since
        .map_or(0, |s| now.saturating_sub(s.as_millis() as u64));
    let shown: Vec<Row> = rows(entries)
        .into_iter()
        .filter(|r| {
            args.node
                .is_none_or(|n| r.location == n || r.nodes.contains(&n))
        })
        .filter(|r| args.event.as_ref().is_none_or(|e| &r.event == e))
        .filter(|r| args.outcome.as_ref().is_none_or(|o| &r.outcome == o))
        .filter(|r| r.began_ms >= oldest)
        .take(args.limit)
        .collect();
    match args.format {
        HistoryFormat::Json => {
            crate::print_out(&(serde_json::to_string_pretty(&shown).unwrap_or_default() + "\n"));
        }
        HistoryFormat::Human => {
            crate::print_out(&table(&shown));
        }
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;
    use hacmp_runtime::journal::Record;
    use hacmp_runtime::Outcome;

    fn record(node: u32, kind: RecordKind, wall_ms: u64, command: &str, detail: &str) -> Record {
        serde_json::from_value(serde_json::json!({
            "node": node, "kind": kind, "t_ms": 0, "wall_ms": wall_ms,
            "command": command, "detail": detail,
        }))
        .unwrap()
    }

    fn entry(
        seq: u64,
        name: &str,
        node: u32,
        outcome: Outcome,
        records: Vec<Record>,
    ) -> EventEntry {
        serde_json::from_value(serde_json::json!({
            "seq": seq, "name": name, "state": 0, "location": node, "why": "",
            "membership": [1, 2], "outcome": outcome, "records": records,
        }))
        .unwrap()
    }

    #[test]
    fn the_nodes_journals_make_one_row_per_event_newest_first() {
        let t = 1_796_000_000_000;
        let entries = vec![
            entry(
                1,
                "TE_JOIN_NODE",
                1,
                Outcome::Completed,
                vec![record(1, RecordKind::State, t, "", "stable")],
            ),
            entry(
                2,
                "UE_PGMRWHO_DOWN",
                2,
                Outcome::Completed,
                vec![
                    record(1, RecordKind::State, t + 1_000, "", "rp_running"),
                    record(1, RecordKind::State, t + 1_400, "", "stable"),
                ],
            ),
            entry(
                2,
                "UE_PGMRWHO_DOWN",
                2,
                Outcome::Completed,
                vec![
                    record(
                        2,
                        RecordKind::Failure,
                        t + 1_100,
                        "/usr/sbin/cluster/local/rwho_restart",
                        "exit 1 (expected 0)",
                    ),
                    record(2, RecordKind::Decision, t + 5_000, "", "rerun"),
                    record(2, RecordKind::State, t + 5_300, "", "stable"),
                ],
            ),
        ];
        let rows = rows(entries);
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(
            rows[0].duration_ms, 4_300,
            "from the first record to the last, on any node"
        );
        insta::assert_snapshot!(table(&rows));
    }
}
