//! A swimlane picture of a simulation: one lane per node, commands as bars,
//! barriers as vertical lines, failures and crashes marked. Quiet stretches
//! of time are cut short (and labelled) so the events stay readable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::markup::escape;
use hacmp_node::journal::{EventEntry, RecordKind};
use hacmp_sim::scenario::Happened;

const LANE: f64 = 34.0;
/// Lanes of a picture of many nodes.
const LANE_MANY: f64 = 18.0;
const LEFT: f64 = 80.0;
/// Below three rows of event titles.
const TOP: f64 = 70.0;
const WIDTH: f64 = 1100.0;
/// The widest picture drawn (a very long run is squeezed to it).
const MAX_WIDTH: f64 = 24_000.0;
/// The band an event should at least get, for its title.
const EVENT_PX: f64 = 170.0;
/// Roughly the width of a character of the labels.
const CHAR_PX: f64 = 6.3;
/// A quiet stretch longer than this is cut to `CUT_PX`.
const QUIET_MS: u64 = 300;
const CUT_PX: f64 = 28.0;

struct Axis {
    /// (from, to, x at from) of each busy stretch.
    spans: Vec<(u64, u64, f64)>,
    scale: f64,
}

impl Axis {
    fn new(mut points: Vec<(u64, u64)>, events: &[(u64, u64)]) -> Axis {
        points.sort();
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for (a, b) in points {
            match spans.last_mut() {
                Some(last) if a <= last.1 + QUIET_MS => last.1 = last.1.max(b),
                _ => spans.push((a, b)),
            }
        }
        let busy: u64 = spans.iter().map(|(a, b)| (b - a).max(1)).sum();
        let cuts = spans.len().saturating_sub(1) as f64 * CUT_PX;
        // Wide enough for every event's title, up to a limit: the width
        // comes from the content.
        let fit = (WIDTH - cuts - 20.0) / busy.max(1) as f64;
        let want = events
            .iter()
            .map(|(a, b)| EVENT_PX / (b - a).max(50) as f64)
            .fold(0.0, f64::max);
        let cap = ((MAX_WIDTH - cuts) / busy.max(1) as f64).max(fit);
        let scale = fit.max(want.min(cap)).clamp(0.02, 8.0);
        let mut x = LEFT + 10.0;
        let mut out = Vec::new();
        for (a, b) in spans {
            out.push((a, b, x));
            x += (b - a).max(1) as f64 * scale + CUT_PX;
        }
        Axis { spans: out, scale }
    }

    fn x(&self, t: u64) -> f64 {
        let mut best = LEFT + 10.0;
        for (a, b, x) in &self.spans {
            if t < *a {
                return best;
            }
            best = x + (t.min(*b) - a) as f64 * self.scale;
            if t <= *b {
                return best;
            }
            best += CUT_PX / 2.0;
        }
        best
    }

    fn end(&self) -> f64 {
        self.spans.last().map_or(LEFT + 10.0, |(a, b, x)| {
            x + (b - a).max(1) as f64 * self.scale
        }) + 20.0
    }
}

fn base(command: &str) -> &str {
    let first = command.split_whitespace().next().unwrap_or("");
    first.rsplit('/').next().unwrap_or(first)
}

pub fn render(events: &[EventEntry], happened: &Happened) -> String {
    let after = hacmp_node::resources::view::after_events(events);
    let nodes: Vec<u32> = events
        .iter()
        .flat_map(|e| {
            e.records
                .iter()
                .map(|r| r.node)
                .chain(e.membership.iter().copied())
        })
        .chain(happened.iter().filter_map(|(_, n, _)| *n))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let lh = if nodes.len() <= 16 { LANE } else { LANE_MANY };
    let lane = |n: u32| TOP + nodes.iter().position(|x| *x == n).unwrap_or(0) as f64 * lh;
    let bands: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| Some((e.records.first()?.t_ms, e.records.last()?.t_ms)))
        .collect();
    let mut points = bands.clone();
    points.extend(happened.iter().map(|(t, _, _)| (*t, *t)));
    let axis = Axis::new(points, &bands);
    // Each event's title, cut to its band, and where it starts.
    let titles: Vec<Option<(f64, String, String)>> = events
        .iter()
        .map(|e| {
            let (first, last) = (e.records.first()?, e.records.last()?);
            let (x0, x1) = (axis.x(first.t_ms), axis.x(last.t_ms));
            let label = format!(
                "#{} {}@{} {}",
                e.seq,
                e.name,
                e.location,
                e.outcome.map_or("running", |o| o.as_str())
            );
            let room = (((x1 - x0).max(EVENT_PX) / CHAR_PX) as usize).max(4);
            let shown = crate::timeline::cut(&label, room);
            Some((x0, shown, label))
        })
        .collect();
    // Wide enough for the last title too.
    let width = titles
        .iter()
        .flatten()
        .map(|(x, shown, _)| x + shown.chars().count() as f64 * CHAR_PX + 10.0)
        .fold(axis.end().max(400.0), f64::max);
    let height = TOP + nodes.len() as f64 * lh + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    // Lanes.
    for (i, n) in nodes.iter().enumerate() {
        let y = lane(*n);
        let fill = if i % 2 == 0 { "#f6f6f6" } else { "#ffffff" };
        let _ = writeln!(
            s,
            r#"<rect x="{LEFT}" y="{y}" width="{:.0}" height="{lh}" fill="{fill}"/>"#,
            width - LEFT
        );
        let _ = writeln!(
            s,
            r#"<text x="8" y="{:.0}" font-weight="bold">node {n}</text>"#,
            y + lh / 2.0 + 4.0
        );
    }
    // Quiet stretches cut short.
    for w in axis.spans.windows(2) {
        let (_, b, _) = w[0];
        let (a, _, x) = w[1];
        let gap = a - b;
        let cx = x - CUT_PX / 2.0;
        let _ = writeln!(
            s,
            r##"<line x1="{cx:.1}" y1="{TOP}" x2="{cx:.1}" y2="{:.0}" stroke="#bbb" stroke-dasharray="1,3"/>"##,
            height - 30.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{cx:.1}" y="{:.0}" text-anchor="middle" fill="#888">+{:.1}s</text>"##,
            height - 16.0,
            gap as f64 / 1000.0
        );
    }
    for (k, e) in events.iter().enumerate() {
        let (Some(first), Some(last)) = (e.records.first(), e.records.last()) else {
            continue;
        };
        let (x0, x1) = (
            axis.x(first.t_ms),
            axis.x(last.t_ms).max(axis.x(first.t_ms) + 2.0),
        );
        let color = match e.outcome.map(|o| o.as_str()) {
            Some("completed") => "#e8f0fe",
            Some("failed") => "#fde8e8",
            _ => "#fff4e0",
        };
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{:.0}" width="{:.1}" height="{:.0}" fill="{color}" opacity="0.6"/>"#,
            TOP - 26.0,
            x1 - x0,
            height - TOP - 14.0
        );
        // Three rows of titles, each cut to its band (the whole on hover).
        let y = 14.0 + 12.0 * (k % 3) as f64;
        let (_, shown, label) = titles[k]
            .as_ref()
            .expect("an event with records has a title");
        let _ = writeln!(
            s,
            r#"<text x="{x0:.1}" y="{y:.0}" font-weight="bold">{}<title>{}</title></text>"#,
            escape(shown),
            escape(label)
        );
        // Where the event leaves the resource groups, along its band.
        if let Some(g) = after.get(&e.seq).filter(|g| !g.is_empty()) {
            let line = hacmp_node::resources::view::line(g);
            let _ = writeln!(
                s,
                r##"<text x="{x0:.1}" y="{:.0}" font-size="11" fill="#1a5fb4">{}<title>{}</title></text>"##,
                height - 24.0 - if k % 2 == 0 { 0.0 } else { 12.0 },
                escape(&line),
                escape(&line)
            );
        }
        // Commands: pair each start with its end on the same node.
        let mut open: BTreeMap<(u32, String, String), u64> = BTreeMap::new();
        for r in &e.records {
            let key = || {
                (
                    r.node,
                    r.command.clone().unwrap_or_default(),
                    r.role.clone().unwrap_or_default(),
                )
            };
            match r.kind {
                RecordKind::CommandStart => {
                    open.insert(key(), r.t_ms);
                }
                RecordKind::CommandEnd => {
                    let start = open.remove(&key()).unwrap_or(r.t_ms);
                    // A pixel of air between bars that touch.
                    let (a, b) = (
                        axis.x(start) + 0.5,
                        (axis.x(r.t_ms) - 0.5).max(axis.x(start) + 3.0),
                    );
                    let y = lane(r.node) + 6.0;
                    let main = r.role.as_deref().unwrap_or("main") == "main";
                    let fill = match (r.ok, main) {
                        (Some(false), true) => "#d93025",
                        (_, true) => "#34a853",
                        _ => "#9aa0a6",
                    };
                    let cmd = r.command.clone().unwrap_or_default();
                    let status = r
                        .detail
                        .clone()
                        .unwrap_or_else(|| format!("exit {}", r.status.unwrap_or(0)));
                    let _ = writeln!(
                        s,
                        r#"<rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="{:.0}" rx="3" fill="{fill}"><title>{} on node {} ({}, group {}): {} ms, {}</title></rect>"#,
                        b - a,
                        (lh - 12.0).max(8.0),
                        escape(&cmd),
                        r.node,
                        r.nodeset.as_deref().unwrap_or(""),
                        r.group.unwrap_or(0),
                        r.t_ms.saturating_sub(start),
                        escape(&status)
                    );
                    // The command's name in its bar, cut to fit.
                    let label = base(&cmd);
                    let room = ((b - a - 6.0) / CHAR_PX) as usize;
                    if room >= 3 && lh >= LANE {
                        let shown = crate::timeline::cut(label, room);
                        let _ = writeln!(
                            s,
                            r#"<text x="{:.1}" y="{:.1}" fill="white">{}</text>"#,
                            a + 3.0,
                            y + lh / 2.0,
                            escape(&shown)
                        );
                    }
                }
                RecordKind::Failure => {
                    let (x, y) = (axis.x(r.t_ms), lane(r.node) + lh / 2.0);
                    let _ = writeln!(
                        s,
                        r##"<text x="{x:.1}" y="{:.1}" fill="#d93025" font-size="18" font-weight="bold" text-anchor="middle">✗<title>{}</title></text>"##,
                        y + 6.0,
                        escape(r.detail.as_deref().unwrap_or("failure"))
                    );
                }
                _ => {}
            }
        }
        // Barriers: a line where the last member passed.
        let mut passed: BTreeMap<String, u64> = BTreeMap::new();
        for r in &e.records {
            if matches!(r.kind, RecordKind::BarrierDone | RecordKind::CbarrierDone) {
                let at = r.detail.clone().unwrap_or_default();
                let t = passed.entry(at).or_insert(r.t_ms);
                *t = (*t).max(r.t_ms);
            }
        }
        for (at, t) in passed {
            let x = axis.x(t);
            let dash = if at == "cbarrier" {
                ""
            } else {
                r#" stroke-dasharray="4,3""#
            };
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{:.0}" x2="{x:.1}" y2="{:.0}" stroke="#5f6368" stroke-width="1.5"{dash}><title>{}</title></line>"##,
                TOP - 4.0,
                TOP + nodes.len() as f64 * lh + 4.0,
                escape(&at)
            );
        }
    }
    for (t, node, what) in happened {
        let x = axis.x(*t);
        let (y, mark) = match node {
            Some(n) if what.contains("crash") => (lane(*n) + lh / 2.0 + 5.0, "✖"),
            Some(n) => (lane(*n) + lh / 2.0 + 5.0, "◆"),
            None => (TOP - 34.0 + 10.0, "▼"),
        };
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="14" text-anchor="middle">{mark}<title>{} ms: {}</title></text>"#,
            t,
            escape(what)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{:.0}" fill="#555">green: command as expected · red: unexpected status · grey: notify/pre/post/recovery · dashed: barrier · solid: cbarrier · ✖ crash · ◆ happening</text>"##,
        height - 4.0
    );
    s.push_str("</svg>\n");
    s
}
