//! The simulator's timeline for people: one block per event, one column per
//! node, one row per moment. An event on more nodes than fit side by side
//! is summarised instead, so that the output grows with the events, not
//! with events × nodes.

use std::collections::{BTreeSet, HashMap};

use hacmp_runtime::event::node_list;
use hacmp_runtime::journal::{EventEntry, Record, RecordKind};
use hacmp_runtime::scenario::Happened;

const COL: usize = 24;
/// The most node columns an event is drawn with.
pub const WIDE: usize = 8;
/// The most failures and operator decisions a summary lists one by one.
const LISTED: usize = 5;

fn short(command: &str) -> String {
    let mut words = command.split_whitespace();
    let first = words.next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    let rest: Vec<&str> = words.collect();
    if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base} {}", rest.join(" "))
    }
}

fn cell(r: &Record) -> Option<String> {
    let cmd = || short(r.command.as_deref().unwrap_or(""));
    let role = match r.role.as_deref() {
        Some("main") | None => String::new(),
        Some(x) => format!("[{x}] "),
    };
    Some(match r.kind {
        RecordKind::CommandStart => format!("▶ {role}{}", cmd()),
        RecordKind::CommandEnd => {
            let mark = if r.ok == Some(false) { "✗" } else { "■" };
            let st = r
                .detail
                .clone()
                .unwrap_or_else(|| r.status.map(|s| s.to_string()).unwrap_or_default());
            format!("{mark} {role}{} {st}", cmd())
        }
        RecordKind::BarrierArrive => {
            format!("┆ waits: {}", r.detail.as_deref().unwrap_or("barrier"))
        }
        RecordKind::BarrierDone => format!("╪ {}", r.detail.as_deref().unwrap_or("barrier")),
        RecordKind::CbarrierDone => "╪ cbarrier".to_string(),
        RecordKind::Failure => format!("✗ FAILED {}", r.detail.as_deref().unwrap_or("")),
        RecordKind::Decision => format!("☛ operator: {}", r.detail.as_deref().unwrap_or("")),
        RecordKind::Stopped => format!("⏹ {}", r.detail.as_deref().unwrap_or("stopped")),
        RecordKind::Cancelled => format!("⊘ cancelled {}", r.detail.as_deref().unwrap_or("")),
        // The group's own transitions; its resources' are in the journal.
        RecordKind::Resource if !r.command.as_deref().unwrap_or("").contains('/') => {
            format!("◆ {} {}", cmd(), r.detail.as_deref().unwrap_or(""))
        }
        RecordKind::State | RecordKind::Resource => return None,
    })
}

/// What an event's outcome does not say: that nothing ran (no rule for
/// it), or that the node it was raised at was not a member.
fn what_happened(e: &EventEntry) -> String {
    let mut notes = Vec::new();
    if let Some(d) = e.records.iter().find_map(|r| {
        (r.kind == RecordKind::Stopped)
            .then_some(r.detail.as_deref())
            .flatten()
            .filter(|d| d.starts_with("no rule for") || d.starts_with("no program"))
    }) {
        notes.push(format!("nothing ran: {d}"));
    }
    if !e.membership.contains(&e.location) && e.name != "TE_FAIL_NODE" {
        notes.push(format!("node {} was not a member", e.location));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}

/// Where the event left the resource groups.
fn groups(out: &mut String, e: &EventEntry) {
    if let Some(p) = e.placement.as_ref().filter(|p| !p.0.is_empty()) {
        out.push_str(&format!(
            "   groups: {}\n",
            hacmp_runtime::resources::view::placement_line(p)
        ));
    }
}

fn fit(s: &str) -> String {
    let n = s.chars().count();
    if n >= COL - 1 {
        let mut t: String = s.chars().take(COL - 2).collect();
        t.push('…');
        format!("{t} ")
    } else {
        format!("{s}{}", " ".repeat(COL - n))
    }
}

pub fn render(events: &[EventEntry], happened: &Happened) -> String {
    let mut out = String::new();
    let mut happened = happened.iter().peekable();
    for e in events {
        let start = e.records.first().map_or(0, |r| r.t_ms);
        while let Some((t, _, what)) = happened.peek() {
            if *t > start {
                break;
            }
            out.push_str(&format!("── {:>7} ms  {what}\n", t));
            happened.next();
        }
        let outcome = e.outcome.map_or("running", |o| o.as_str());
        out.push_str(&format!(
            "\n#{} {} at node {} (state {}) — members {} — {}{}\n   {}\n",
            e.seq,
            e.name,
            e.location,
            e.state,
            node_list(e.membership.iter().copied()),
            outcome.to_uppercase(),
            what_happened(e),
            e.why
        ));
        let nodes: Vec<u32> = e
            .records
            .iter()
            .map(|r| r.node)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if nodes.len() > WIDE {
            summary(&mut out, e, &nodes, &mut happened);
            groups(&mut out, e);
            continue;
        }
        out.push_str(&format!("   {:>8}  ", "t (ms)"));
        for n in &nodes {
            out.push_str(&fit(&format!("node {n}")));
        }
        out.push('\n');
        // Rows per moment: each node's items go down its own column, so
        // what happens at the same time lines up.
        let mut i = 0;
        while i < e.records.len() {
            let t = e.records[i].t_ms;
            // Happenings during the event, where they happened.
            while let Some((ht, _, what)) = happened.peek() {
                if *ht > t {
                    break;
                }
                out.push_str(&format!("   {ht:>8}  ── {what}\n"));
                happened.next();
            }
            let mut rows: Vec<Vec<Option<String>>> = Vec::new();
            let mut next = vec![0usize; nodes.len()];
            while i < e.records.len() && e.records[i].t_ms == t {
                let r = &e.records[i];
                i += 1;
                // An arrival that passes at once shows only as the pass.
                let passes_now = r.kind == RecordKind::BarrierArrive
                    && e.records[i..].iter().take_while(|x| x.t_ms == t).any(|x| {
                        x.node == r.node
                            && matches!(x.kind, RecordKind::BarrierDone | RecordKind::CbarrierDone)
                            && x.detail == r.detail
                    });
                if passes_now {
                    continue;
                }
                let Some(text) = cell(r) else { continue };
                let col = nodes.binary_search(&r.node).unwrap_or(0);
                if rows.len() <= next[col] {
                    rows.push(vec![None; nodes.len()]);
                }
                rows[next[col]][col] = Some(text);
                next[col] += 1;
            }
            for row in rows {
                let mut line = format!("   {t:>8}  ");
                for c in &row {
                    line.push_str(&fit(c.as_deref().unwrap_or("")));
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        groups(&mut out, e);
    }
    for (t, _, what) in happened {
        out.push_str(&format!("── {:>7} ms  {what}\n", t));
    }
    out
}

/// An event on many nodes, in a few lines: how long, how many commands and
/// barriers, the longest wait, and each failure and decision (the first
/// few).
fn summary<'a>(
    out: &mut String,
    e: &EventEntry,
    nodes: &[u32],
    happened: &mut std::iter::Peekable<impl Iterator<Item = &'a (u64, Option<u32>, String)>>,
) {
    let start = e.records.first().map_or(0, |r| r.t_ms);
    let end = e.records.last().map_or(start, |r| r.t_ms);
    let (mut commands, mut unexpected, mut passes) = (0usize, 0usize, 0usize);
    let mut arrived: HashMap<(u32, Option<&str>), u64> = HashMap::new();
    let mut longest: Option<(u64, u32, String)> = None;
    let mut notable: Vec<String> = Vec::new();
    let mut more = 0usize;
    for r in &e.records {
        let mut note = |text: String| {
            if notable.len() < LISTED {
                notable.push(format!("   {:>8}  node {}: {text}", r.t_ms, r.node));
            } else {
                more += 1;
            }
        };
        match r.kind {
            RecordKind::CommandEnd => {
                commands += 1;
                if r.ok == Some(false) {
                    unexpected += 1;
                }
            }
            RecordKind::BarrierArrive => {
                arrived.insert((r.node, r.detail.as_deref()), r.t_ms);
            }
            RecordKind::BarrierDone | RecordKind::CbarrierDone => {
                passes += 1;
                if let Some(t) = arrived.remove(&(r.node, r.detail.as_deref())) {
                    let wait = r.t_ms - t.min(r.t_ms);
                    if longest.as_ref().is_none_or(|(w, _, _)| wait > *w) {
                        let at = r.detail.clone().unwrap_or_else(|| "cbarrier".into());
                        longest = Some((wait, r.node, at));
                    }
                }
            }
            RecordKind::Failure
            | RecordKind::Decision
            | RecordKind::Stopped
            | RecordKind::Cancelled => {
                if let Some(text) = cell(r) {
                    note(text);
                }
            }
            RecordKind::CommandStart | RecordKind::State | RecordKind::Resource => {}
        }
    }
    out.push_str(&format!(
        "   {} nodes ({}), {start}–{end} ms: {commands} commands ended, {}; {passes} barrier passes",
        nodes.len(),
        node_list(nodes.iter().copied()),
        match unexpected {
            0 => "all with the expected status".to_string(),
            n => format!("{n} with an unexpected status"),
        },
    ));
    if let Some((wait, node, at)) = longest.filter(|(w, _, _)| *w > 0) {
        out.push_str(&format!(", longest wait {wait} ms (node {node} at {at})"));
    }
    out.push('\n');
    for line in notable {
        out.push_str(&line);
        out.push('\n');
    }
    if more > 0 {
        out.push_str(&format!(
            "             … and {more} more failures, decisions or stops (see --format json)\n"
        ));
    }
    while let Some((ht, _, what)) = happened.peek() {
        if *ht > end {
            break;
        }
        out.push_str(&format!("   {ht:>8}  ── {what}\n"));
        happened.next();
    }
}
