//! The simulator's timeline for people: one block per event, one column per
//! node, one row per moment.

use std::collections::BTreeSet;

use hacmp_runtime::journal::{EventEntry, Record, RecordKind};
use hacmp_runtime::scenario::Happened;

const COL: usize = 24;

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
        RecordKind::State => return None,
    })
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
        let members: Vec<String> = e.membership.iter().map(|n| n.to_string()).collect();
        let outcome = e.outcome.map_or("running", |o| o.as_str());
        out.push_str(&format!(
            "\n#{} {} at node {} (state {}) — members {} — {}\n   {}\n",
            e.seq,
            e.name,
            e.location,
            e.state,
            members.join(" "),
            outcome.to_uppercase(),
            e.why
        ));
        let nodes: Vec<u32> = e
            .records
            .iter()
            .map(|r| r.node)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
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
                let col = nodes.iter().position(|n| *n == r.node).unwrap_or(0);
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
    }
    for (t, _, what) in happened {
        out.push_str(&format!("── {:>7} ms  {what}\n", t));
    }
    out
}
