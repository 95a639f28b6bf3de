//! `hacmp history [STATE_DIR...]`: the cluster's events as the nodes'
//! journals tell them, one row per event (the rows of several nodes
//! merged), newest first: when, which event at which node, its outcome,
//! how long it took on the nodes, the commands that failed and the
//! operators' decisions; with etcd (`--etcd`, `HACMP_ETCD` or
//! `hacmp.toml`), also the last events the cluster keeps there, for those
//! no journal at hand tells (when queued, outcome). Filters by
//! node, event, outcome and age.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use hacmp_gs::state::OutcomeRecord;
use hacmp_node::journal::{EventEntry, RecordKind};
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
    pub dirs: Vec<PathBuf>,
    // The flags of `ops::Etcd`, optional here (clap cannot flatten an
    // optional group whose endpoint flag is required).
    /// etcd endpoints, comma-separated: adds the last 32 events the
    /// cluster keeps there.
    #[arg(long, env = "HACMP_ETCD", value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// Cluster id (the site's `[cluster] id`).
    #[arg(long, env = "HACMP_CLUSTER", default_value_t = 1)]
    pub cluster: u32,
    /// Give up on etcd after this long.
    #[arg(long, default_value = "10s", value_parser = crate::ops::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub tls: crate::ops::TlsArgs,
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
    /// When its first record was written (ms since the epoch); from etcd
    /// alone, when it was queued.
    pub began_ms: u64,
    /// How long it ran on the nodes (unknown from etcd alone).
    pub duration_ms: Option<u64>,
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
            duration_ms: None,
            outcome: String::new(),
            nodes: e.membership.clone(),
            failures: Vec::new(),
            decisions: Vec::new(),
        });
        if let (Some(a), Some(b)) = (walls.iter().min(), walls.iter().max()) {
            let span = spans.entry(e.seq).or_insert((*a, *b));
            *span = (span.0.min(*a), span.1.max(*b));
            row.began_ms = span.0;
            row.duration_ms = Some(span.1 - span.0);
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
                r.duration_ms.map_or("-".to_string(), |d| {
                    hacmp_stdlib::Duration(Duration::from_millis(d)).to_string()
                }),
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

/// Rows of the events etcd keeps.
pub fn kept_rows(kept: Vec<(u64, OutcomeRecord)>) -> Vec<Row> {
    kept.into_iter()
        .map(|(seq, k)| Row {
            seq,
            event: k.name,
            location: k.location,
            began_ms: humantime::parse_rfc3339_weak(&k.queued_at)
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64),
            duration_ms: None,
            outcome: k.outcome.as_str().to_string(),
            nodes: Vec::new(),
            failures: Vec::new(),
            decisions: Vec::new(),
        })
        .collect()
}

/// The journals' rows, with etcd's for the events no journal tells,
/// newest first.
pub fn merged(mut rows: Vec<Row>, kept: Vec<Row>) -> Vec<Row> {
    let known: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.seq).collect();
    rows.extend(kept.into_iter().filter(|r| !known.contains(&r.seq)));
    rows.sort_by_key(|r| std::cmp::Reverse(r.seq));
    rows
}

impl HistoryArgs {
    fn etcd(&self) -> Option<crate::ops::Etcd> {
        (!self.etcd.is_empty()).then(|| crate::ops::Etcd {
            etcd: self.etcd.clone(),
            cluster: self.cluster,
            timeout: self.timeout,
            tls: self.tls.clone(),
        })
    }
}

pub fn run(args: &HistoryArgs) -> u8 {
    if args.dirs.is_empty() && args.etcd.is_empty() {
        eprintln!("error: give the nodes' state directories, or etcd (`--etcd`, HACMP_ETCD or hacmp.toml) to read the events the cluster keeps");
        return exit::USAGE;
    }
    let mut entries = Vec::new();
    for d in &args.dirs {
        let path = d.join("journal.jsonl");
        match hacmp_node::journal::read_journal(&path) {
            Ok((ended, _)) => entries.extend(ended),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                return exit::USAGE;
            }
        }
    }
    let now = hacmp_model::clock::unix_ms();
    let oldest = args
        .since
        .map_or(0, |s| now.saturating_sub(s.as_millis() as u64));
    let kept = match &args.etcd() {
        None => Vec::new(),
        Some(e) => match crate::ops::with_operator(e, async |op| {
            op.finished().await.map_err(crate::ops::failed)
        }) {
            Ok(k) => kept_rows(k),
            // The journals still tell what they know.
            Err(f) if !args.dirs.is_empty() => {
                eprintln!("warning: {}; the journals only", f.message());
                Vec::new()
            }
            Err(f) => return f.report(),
        },
    };
    let shown: Vec<Row> = merged(rows(entries), kept)
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
    use hacmp_model::Outcome;
    use hacmp_node::journal::Record;

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
            rows[0].duration_ms,
            Some(4_300),
            "from the first record to the last, on any node"
        );
        insta::assert_snapshot!(table(&rows));
    }

    /// The events etcd keeps fill in those no journal at hand tells; a
    /// journal's row wins (it knows failures, decisions, durations).
    #[test]
    fn etcd_adds_the_events_no_journal_tells() {
        let kept = |seq: u64, name: &str, outcome: Outcome| {
            (
                seq,
                OutcomeRecord {
                    outcome,
                    name: name.into(),
                    location: 2,
                    queued_at: "2026-12-07T18:40:02.123Z".into(),
                },
            )
        };
        let journal = rows(vec![entry(
            5,
            "TE_JOIN_NODE",
            1,
            Outcome::Failed,
            vec![record(
                1,
                RecordKind::State,
                1_796_000_000_000,
                "",
                "stable",
            )],
        )]);
        let all = merged(
            journal,
            kept_rows(vec![
                kept(4, "TE_FAIL_NODE", Outcome::Completed),
                kept(5, "TE_JOIN_NODE", Outcome::Completed),
                kept(6, "TE_RG_MOVE", Outcome::Completed),
            ]),
        );
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [6, 5, 4]);
        assert_eq!(all[1].outcome, "failed", "the journal's row");
        assert_eq!(all[0].began_ms, 1_796_668_802_123, "when it was queued");
        assert_eq!(all[0].duration_ms, None);
        insta::assert_snapshot!(table(&all));
    }
}
