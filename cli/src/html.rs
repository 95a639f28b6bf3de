//! `hacmp sim --html FILE`: the simulation as one self-contained page (no
//! network fetches): the closing summary, every event with its table of
//! columns (nodes that did the same thing share one), failures in full,
//! where resource groups are, and a zoom. Legible from 4 to 128 nodes for
//! the same reason as the text timeline: columns are collapsed, and an
//! event with more distinct columns than fit is summarised.

use hacmp_model::event::node_list;
use hacmp_node::journal::{EventEntry, RecordKind};
use hacmp_sim::scenario::Happened;

use crate::markup::escape;
use crate::timeline::{
    cells_at, closing_line, columns, heading, moments, summary, what_happened, WIDE,
};

const STYLE: &str = "body{font:14px/1.35 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}
.summary{color:#333}
details{margin:.6em 0;border-left:3px solid #ccd;padding-left:.6em}
summary{cursor:pointer;font-weight:600}
summary .completed{color:#1b6e20}summary .failed,summary .aborted,summary .interrupted{color:#b00020}
.why{color:#666;margin:.2em 0}
table{border-collapse:collapse;margin:.3em 0}
th,td{padding:.1em .9em .1em 0;text-align:left;vertical-align:top;white-space:nowrap}
th{color:#555;border-bottom:1px solid #ccc;font-weight:600}
td.t{color:#888;text-align:right}
.failed{color:#b00020;font-weight:600}
.happening{color:#555;margin:.4em 0}
.groups{color:#1a5fb4}
pre{margin:.2em 0}";

/// The page.
pub fn render(title: &str, events: &[EventEntry], happened: &Happened) -> String {
    let after = hacmp_node::resources::view::after_events(events);
    let mut body = String::new();
    let mut happened_iter = happened.iter().peekable();
    // A run of plain events (joins that completed without a failure, in a
    // long report) is folded into one line that opens onto them.
    let mut run: Vec<(u64, String)> = Vec::new();
    let flush = |body: &mut String, run: &mut Vec<(u64, String)>| {
        match run.len() {
            0 => {}
            1 => body.push_str(&run[0].1),
            n => {
                body.push_str(&format!(
                    "<details><summary>#{}–#{} TE_JOIN_NODE: {n} joins, all <span class=\"completed\">COMPLETED</span></summary>\n",
                    run[0].0,
                    run[n - 1].0
                ));
                for (_, html) in run.iter() {
                    body.push_str(html);
                }
                body.push_str("</details>\n");
            }
        }
        run.clear();
    };
    for e in events {
        let start = e.records.first().map_or(0, |r| r.t_ms);
        let mut before = String::new();
        while let Some((t, _, what)) = happened_iter.peek() {
            if *t > start {
                break;
            }
            before.push_str(&format!(
                "<div class=\"happening\">── {t} ms {}</div>\n",
                escape(what)
            ));
            happened_iter.next();
        }
        let plain = events.len() > 8
            && e.outcome == Some(hacmp_model::Outcome::Completed)
            && !e.records.iter().any(|r| r.kind == RecordKind::Failure)
            && e.name == "TE_JOIN_NODE";
        if !before.is_empty() || !plain {
            flush(&mut body, &mut run);
            body.push_str(&before);
        }
        let html = event(e, plain, &after);
        if plain {
            run.push((e.seq, html));
        } else {
            body.push_str(&html);
        }
    }
    flush(&mut body, &mut run);
    for (t, _, what) in happened_iter {
        body.push_str(&format!(
            "<div class=\"happening\">── {t} ms {}</div>\n",
            escape(what)
        ));
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n<h1>{}</h1>\n<p class=\"summary\">{}</p>\n<p><label>zoom <input type=\"range\" id=\"zoom\" min=\"40\" max=\"200\" value=\"100\"></label> <button id=\"fold\">fold all</button> <button id=\"unfold\">unfold all</button></p>\n<div id=\"timeline\">\n{body}</div>\n<script>\n\"use strict\";\nconst tl = document.getElementById(\"timeline\");\ndocument.getElementById(\"zoom\").addEventListener(\"input\", function (e) {{ tl.style.fontSize = e.target.value + \"%\"; }});\nfor (const [id, open] of [[\"fold\", false], [\"unfold\", true]]) {{\n  document.getElementById(id).addEventListener(\"click\", function () {{ for (const d of tl.querySelectorAll(\"details\")) d.open = open; }});\n}}\n</script>\n</body></html>\n",
        escape(title),
        escape(title),
        escape(closing_line(events).trim())
    )
}

/// One event: its heading, why it ran, its table (or summary), failures in
/// full, where the groups are. `plain` ones start folded.
fn event(e: &EventEntry, plain: bool, after: &crate::timeline::GroupsAfter) -> String {
    let mut body = String::new();
    let outcome = e.outcome.map_or("running", |o| o.as_str());
    let open = if plain { "" } else { " open" };
    body.push_str(&format!(
        "<details{open}><summary>#{} {} at node {} (state {}) — members {} — <span class=\"{outcome}\">{}</span>{}</summary>\n<p class=\"why\">{}</p>\n",
        e.seq,
        escape(&e.name),
        e.location,
        e.state,
        node_list(e.membership.iter().copied()),
        outcome.to_uppercase(),
        escape(&what_happened(e)),
        escape(&e.why)
    ));
    let (cols, nodes) = columns(e);
    if cols.len() > WIDE {
        let mut text = String::new();
        let none: Happened = Vec::new();
        summary(&mut text, e, &nodes, &mut none.iter().peekable());
        body.push_str(&format!("<pre>{}</pre>\n", escape(&text)));
    } else {
        body.push_str("<table><thead><tr><th>t (ms)</th>");
        for (ns, _) in &cols {
            body.push_str(&format!("<th>{}</th>", escape(&heading(ns))));
        }
        body.push_str("</tr></thead><tbody>\n");
        for t in moments(&cols) {
            let (at, rows) = cells_at(&cols, t);
            for k in 0..rows {
                body.push_str(&format!(
                    "<tr><td class=\"t\">{}</td>",
                    if k == 0 { t.to_string() } else { String::new() }
                ));
                for c in &at {
                    let text = c.get(k).map_or("", |s| s.as_str());
                    let cls = if text.starts_with('✗') {
                        " class=\"failed\""
                    } else {
                        ""
                    };
                    body.push_str(&format!("<td{cls}>{}</td>", escape(text)));
                }
                body.push_str("</tr>\n");
            }
        }
        body.push_str("</tbody></table>\n");
    }
    for r in e.records.iter().filter(|r| r.kind == RecordKind::Failure) {
        body.push_str(&format!(
            "<div class=\"failed\">node {}: ✗ FAILED `{}`: {}</div>\n",
            r.node,
            escape(r.command.as_deref().unwrap_or("")),
            escape(r.detail.as_deref().unwrap_or(""))
        ));
    }
    if let Some(g) = after.get(&e.seq).filter(|g| !g.is_empty()) {
        body.push_str(&format!(
            "<div class=\"groups\">groups: {}</div>\n",
            escape(&hacmp_node::resources::view::line(g))
        ));
    }
    body.push_str("</details>\n");
    body
}
