//! What the timeline keeps of an event once it has ended: its heading, its
//! columns (nodes that did the same thing share one) or the summary of an
//! event too wide to draw, its failures, and what the closing line needs.
//! A simulation of a thousand nodes keeps these as its events end, not the
//! millions of records they were made from.

use std::collections::BTreeMap;

use hacmp_model::event::node_list;
use hacmp_node::journal::{EventEntry, RecordKind};

use super::{columns, summary_text, waits, what_happened, Cells, WIDE};

/// An ended (or still open) event as the timeline draws it.
pub struct Digest {
    pub seq: u64,
    /// `#seq NAME at node … — members … — OUTCOME` and the why.
    pub heading: String,
    /// The first and last record's time.
    pub start: u64,
    pub end: u64,
    pub body: Body,
    /// Each failure in full (cells are cut to fit), uncoloured.
    pub failures: Vec<String>,
    /// What the closing line counts of it.
    pub closing: Closing,
}

/// An event drawn node by node, or summarised.
pub enum Body {
    Columns(Vec<(Vec<u32>, Cells)>),
    /// The summary's lines (happenings during the event follow them).
    Summary(String),
}

impl Digest {
    pub fn of(e: &EventEntry) -> Digest {
        let outcome = e.outcome.map_or("running", |o| o.as_str());
        let heading = format!(
            "\n#{} {} at node {} (state {}) — members {} — {}{}\n   {}\n",
            e.seq,
            e.name,
            e.location,
            e.state,
            node_list(e.membership.iter().copied()),
            outcome.to_uppercase(),
            what_happened(e),
            e.why
        );
        let start = e.records.first().map_or(0, |r| r.t_ms);
        let end = e.records.last().map_or(start, |r| r.t_ms);
        let (cols, nodes) = columns(e);
        let body = if cols.len() > WIDE {
            Body::Summary(summary_text(e, &nodes))
        } else {
            Body::Columns(cols)
        };
        let failures = e
            .records
            .iter()
            .filter(|r| r.kind == RecordKind::Failure)
            .map(|r| {
                format!(
                    "   node {}: ✗ FAILED `{}`: {}",
                    r.node,
                    r.command.as_deref().unwrap_or(""),
                    r.detail.as_deref().unwrap_or("")
                )
            })
            .collect();
        Digest {
            seq: e.seq,
            heading,
            start,
            end,
            body,
            failures,
            closing: Closing::of(e),
        }
    }
}

/// The closing line's counts: of one event, or summed over a run.
#[derive(Default)]
pub struct Closing {
    events: usize,
    by: BTreeMap<&'static str, usize>,
    failures: usize,
    /// The longest event: how long, its number and name (the first of
    /// equals).
    longest: Option<(u64, u64, String)>,
    /// Time each node waited at barriers.
    waited: BTreeMap<u32, u64>,
}

impl Closing {
    pub(crate) fn of(e: &EventEntry) -> Closing {
        let mut c = Closing {
            events: 1,
            ..Closing::default()
        };
        c.by.insert(e.outcome.map_or("running", |o| o.as_str()), 1);
        c.failures = e
            .records
            .iter()
            .filter(|r| r.kind == RecordKind::Failure)
            .count();
        let (a, b) = e
            .records
            .iter()
            .fold((u64::MAX, 0), |(a, b), r| (a.min(r.t_ms), b.max(r.t_ms)));
        if a <= b {
            c.longest = Some((b - a, e.seq, e.name.clone()));
        }
        for (r, wait) in waits(e) {
            *c.waited.entry(r.node).or_default() += wait;
        }
        c.waited.retain(|_, t| *t > 0);
        c
    }

    /// Adds a later event's counts.
    pub fn add(&mut self, o: &Closing) {
        self.events += o.events;
        for (k, n) in &o.by {
            *self.by.entry(k).or_default() += n;
        }
        self.failures += o.failures;
        if let Some((d, seq, name)) = &o.longest {
            if self.longest.as_ref().is_none_or(|(l, _, _)| d > l) {
                self.longest = Some((*d, *seq, name.clone()));
            }
        }
        for (n, t) in &o.waited {
            *self.waited.entry(*n).or_default() += t;
        }
    }

    /// The closing summary line (with a blank line before it), or nothing.
    pub fn line(&self) -> String {
        let mut out = String::new();
        if self.events == 0 {
            return out;
        }
        let failures = self.failures;
        let outcomes: Vec<String> = self.by.iter().map(|(o, n)| format!("{n} {o}")).collect();
        out.push_str(&format!(
            "\n{} events: {}; {} unexpected status{}",
            self.events,
            outcomes.join(", "),
            failures,
            if failures == 1 { "" } else { "es" }
        ));
        if let Some((d, seq, name)) = &self.longest {
            out.push_str(&format!("; longest #{seq} {name} ({d} ms)"));
        }
        let mut w: Vec<(u32, u64)> = self.waited.iter().map(|(n, t)| (*n, *t)).collect();
        w.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if !w.is_empty() {
            let top: Vec<String> = w
                .iter()
                .take(3)
                .map(|(n, t)| format!("node {n} {t} ms"))
                .collect();
            out.push_str(&format!("; waited longest at barriers: {}", top.join(", ")));
        }
        out.push('\n');
        out
    }
}
