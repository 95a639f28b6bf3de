//! The simulator's timeline for people: one block per event, one column per
//! node, one row per moment. An event on more nodes than fit side by side
//! is summarised instead, so that the output grows with the events, not
//! with events × nodes.

use std::collections::HashMap;

pub mod digest;

pub use digest::{Body, Closing, Digest};

use hacmp_model::event::node_list;
use hacmp_node::journal::{EventEntry, Record, RecordKind};
use hacmp_sim::scenario::Happened;

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

pub(crate) fn cell(r: &Record) -> Option<String> {
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
        RecordKind::Resource if r.is_group_change() => {
            format!("◆ {} {}", cmd(), r.detail.as_deref().unwrap_or(""))
        }
        RecordKind::State | RecordKind::Resource => return None,
    })
}

/// What an event's outcome does not say: that nothing ran (no rule for
/// it), or that the node it was raised at was not a member.
pub(crate) fn what_happened(e: &EventEntry) -> String {
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

/// Where the event left the resource groups, and in what state.
fn groups(out: &mut String, seq: u64, after: &GroupsAfter) {
    if let Some(g) = after.get(&seq).filter(|g| !g.is_empty()) {
        out.push_str(&format!(
            "   groups: {}\n",
            hacmp_node::resources::view::line(g)
        ));
    }
}

/// Each event's groups as it left them, by sequence number.
pub type GroupsAfter = std::collections::BTreeMap<u64, Vec<hacmp_node::resources::view::GroupView>>;

/// `s` in a column of `col` characters: cut with `…`, or padded.
fn fit_to(s: &str, col: usize) -> String {
    let n = s.chars().count();
    if n >= col - 1 {
        let mut t: String = s.chars().take(col - 2).collect();
        t.push('…');
        format!("{t} ")
    } else {
        format!("{s}{}", " ".repeat(col - n))
    }
}

/// `s` in at most `room` characters (`room` ≥ 1), cut with `…`.
pub(crate) fn cut(s: &str, room: usize) -> String {
    if s.chars().count() > room {
        s.chars()
            .take(room.saturating_sub(1))
            .chain(std::iter::once('…'))
            .collect()
    } else {
        s.to_string()
    }
}

/// Each column's cells at moment `t`, and the rows they need.
pub(crate) fn cells_at(cols: &[(Vec<u32>, Cells)], t: u64) -> (Vec<Vec<&String>>, usize) {
    let at: Vec<Vec<&String>> = cols
        .iter()
        .map(|(_, c)| c.iter().filter(|x| x.0 == t).map(|x| &x.1).collect())
        .collect();
    let rows = at.iter().map(Vec::len).max().unwrap_or(0);
    (at, rows)
}

/// The moments at which something happens in any column, in order.
pub(crate) fn moments(cols: &[(Vec<u32>, Cells)]) -> Vec<u64> {
    let mut times: Vec<u64> = cols
        .iter()
        .flat_map(|(_, c)| c.iter().map(|x| x.0))
        .collect();
    times.sort_unstable();
    times.dedup();
    times
}

/// How the timeline is laid out.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Line width to fit (`None`: columns of 24 characters, stable for
    /// scripts and files).
    pub width: Option<usize>,
    /// Failures in colour (a terminal without `NO_COLOR`).
    pub colour: bool,
}

impl Style {
    pub const PLAIN: Style = Style {
        width: None,
        colour: false,
    };

    /// For standard output: the terminal's width and colour, if it is one;
    /// `width` overrides.
    pub fn for_stdout(width: Option<usize>) -> Style {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
        Style {
            width: width.or_else(|| tty.then(terminal_width).flatten()),
            colour: crate::colour(tty),
        }
    }
}

/// The terminal's columns: `COLUMNS`, else the window size of stdout.
fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(c);
    }
    let ws = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (ws.ws_col > 0).then_some(ws.ws_col as usize)
}

pub fn render(events: &[EventEntry], happened: &Happened) -> String {
    render_with(events, happened, Style::PLAIN)
}

/// What a column shows: cells at their times.
pub(crate) type Cells = Vec<(u64, String)>;

/// The columns of an event: nodes that did the same thing share one; and
/// every node that took part.
pub(crate) fn columns(e: &EventEntry) -> (Vec<(Vec<u32>, Cells)>, Vec<u32>) {
    let by_node = cells_by_node(e);
    let mut columns: Vec<(Vec<u32>, Cells)> = Vec::new();
    for (n, cells) in &by_node {
        match columns.iter_mut().find(|(_, c)| c == cells) {
            Some((ns, _)) => ns.push(*n),
            None => columns.push((vec![*n], cells.clone())),
        }
    }
    (columns, by_node.keys().copied().collect())
}

/// A column's heading: `node 3` or `nodes 1, 3–16`.
pub(crate) fn heading(ns: &[u32]) -> String {
    if ns.len() == 1 {
        format!("node {}", ns[0])
    } else {
        format!("nodes {}", node_list(ns.iter().copied()))
    }
}

/// Each node's visible cells in an event, at their times.
fn cells_by_node(e: &EventEntry) -> std::collections::BTreeMap<u32, Cells> {
    let mut out: std::collections::BTreeMap<u32, Cells> = Default::default();
    for (i, r) in e.records.iter().enumerate() {
        out.entry(r.node).or_default();
        let t = r.t_ms;
        // An arrival that passes at once shows only as the pass.
        let passes_now = r.kind == RecordKind::BarrierArrive
            && e.records[i + 1..]
                .iter()
                .take_while(|x| x.t_ms == t)
                .any(|x| {
                    x.node == r.node
                        && matches!(x.kind, RecordKind::BarrierDone | RecordKind::CbarrierDone)
                        && x.detail == r.detail
                });
        if passes_now {
            continue;
        }
        if let Some(text) = cell(r) {
            out.entry(r.node).or_default().push((t, text));
        }
    }
    out
}

pub fn render_with(events: &[EventEntry], happened: &Happened, style: Style) -> String {
    let after = hacmp_node::resources::view::after_events(events);
    let digests: Vec<Digest> = events.iter().map(Digest::of).collect();
    render_digests(&digests, &after, happened, style)
}

/// The timeline of events already digested (in order), with their groups
/// as they left them.
pub fn render_digests(
    digests: &[Digest],
    after: &GroupsAfter,
    happened: &Happened,
    style: Style,
) -> String {
    let mut out = String::new();
    let mut closing = Closing::default();
    let mut happened = happened.iter().peekable();
    for d in digests {
        closing.add(&d.closing);
        while let Some((t, _, what)) = happened.peek() {
            if *t > d.start {
                break;
            }
            out.push_str(&format!("── {:>7} ms  {what}\n", t));
            happened.next();
        }
        out.push_str(&d.heading);
        let columns = match &d.body {
            Body::Summary(text) => {
                out.push_str(text);
                happenings_until(&mut out, d.end, &mut happened);
                groups(&mut out, d.seq, after);
                continue;
            }
            Body::Columns(c) => c,
        };
        let col = style.width.map_or(COL, |w| {
            (w.saturating_sub(13) / columns.len().max(1)).clamp(12, 60)
        });
        let mut header = format!("   {:>8}  ", "t (ms)");
        for (ns, _) in columns {
            header.push_str(&fit_to(&heading(ns), col));
        }
        out.push_str(header.trim_end());
        out.push('\n');
        // Rows per moment: each column's items go down it, so what
        // happens at the same time lines up.
        for t in moments(columns) {
            while let Some((ht, _, what)) = happened.peek() {
                if *ht > t {
                    break;
                }
                out.push_str(&format!("   {ht:>8}  ── {what}\n"));
                happened.next();
            }
            let (at, rows) = cells_at(columns, t);
            for k in 0..rows {
                let mut line = format!("   {t:>8}  ");
                for c in &at {
                    let text = c.get(k).map_or("", |s| s.as_str());
                    let fitted = fit_to(text, col);
                    if style.colour && text.starts_with('✗') {
                        line.push_str(&format!(
                            "\x1b[31m{}\x1b[0m{}",
                            fitted.trim_end(),
                            " ".repeat(fitted.chars().count() - fitted.trim_end().chars().count())
                        ));
                    } else {
                        line.push_str(&fitted);
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        for text in &d.failures {
            if style.colour {
                out.push_str(&format!("\x1b[31m{text}\x1b[0m\n"));
            } else {
                out.push_str(text);
                out.push('\n');
            }
        }
        groups(&mut out, d.seq, after);
    }
    for (t, _, what) in happened {
        out.push_str(&format!("── {:>7} ms  {what}\n", t));
    }
    out.push_str(&closing.line());
    out
}

/// The closing summary line (with a blank line before it), or nothing.
pub(crate) fn closing_line(events: &[EventEntry]) -> String {
    let mut c = Closing::default();
    for e in events {
        c.add(&Closing::of(e));
    }
    c.line()
}

/// An event on many nodes, in a few lines: how long, how many commands and
/// barriers, the longest wait, and each failure and decision (the first
/// few).
pub(crate) fn summary<'a>(
    out: &mut String,
    e: &EventEntry,
    nodes: &[u32],
    happened: &mut std::iter::Peekable<impl Iterator<Item = &'a (u64, Option<u32>, String)>>,
) {
    out.push_str(&summary_text(e, nodes));
    let end = e.records.last().map_or(0, |r| r.t_ms);
    happenings_until(out, end, happened);
}

/// The happenings up to `end` (during an event), each on its line.
fn happenings_until<'a>(
    out: &mut String,
    end: u64,
    happened: &mut std::iter::Peekable<impl Iterator<Item = &'a (u64, Option<u32>, String)>>,
) {
    while let Some((ht, _, what)) = happened.peek() {
        if *ht > end {
            break;
        }
        out.push_str(&format!("   {ht:>8}  ── {what}\n"));
        happened.next();
    }
}

/// Each barrier pass of `e` that follows its node's arrival there, with
/// how long the node waited (ms), in record order.
pub(crate) fn waits(e: &EventEntry) -> Vec<(&Record, u64)> {
    let mut arrived: HashMap<(u32, Option<&str>), u64> = HashMap::new();
    let mut out = Vec::new();
    for r in &e.records {
        match r.kind {
            RecordKind::BarrierArrive => {
                arrived.insert((r.node, r.detail.as_deref()), r.t_ms);
            }
            RecordKind::BarrierDone | RecordKind::CbarrierDone => {
                if let Some(t) = arrived.remove(&(r.node, r.detail.as_deref())) {
                    out.push((r, r.t_ms.saturating_sub(t)));
                }
            }
            _ => {}
        }
    }
    out
}

/// The lines of [`summary`] before the happenings.
pub(crate) fn summary_text(e: &EventEntry, nodes: &[u32]) -> String {
    let mut out = String::new();
    let start = e.records.first().map_or(0, |r| r.t_ms);
    let end = e.records.last().map_or(start, |r| r.t_ms);
    let (mut commands, mut unexpected, mut passes) = (0usize, 0usize, 0usize);
    let mut longest: Option<(u64, u32, String)> = None;
    for (r, wait) in waits(e) {
        if longest.as_ref().is_none_or(|(w, _, _)| wait > *w) {
            let at = r.detail.clone().unwrap_or_else(|| "cbarrier".into());
            longest = Some((wait, r.node, at));
        }
    }
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
            RecordKind::BarrierDone | RecordKind::CbarrierDone => passes += 1,
            RecordKind::Failure
            | RecordKind::Decision
            | RecordKind::Stopped
            | RecordKind::Cancelled => {
                if let Some(text) = cell(r) {
                    note(text);
                }
            }
            RecordKind::CommandStart
            | RecordKind::BarrierArrive
            | RecordKind::State
            | RecordKind::Resource => {}
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
    out
}
