//! The one place where diagnostics become text: ariadne reports for people,
//! JSON for scripts, SARIF 2.1.0 for code-scanning in CI systems.

use std::collections::HashMap;
use std::fmt;

use ariadne::{Cache, Config, IndexType, Label, Report, ReportKind, Source};
use serde::Serialize;
use serde_json::json;

use crate::code::Severity;
use crate::diagnostic::{Diagnostic, Summary};
use crate::explain::explain;
use crate::source::{FileId, SourceMap};

/// Ariadne's view of our source map, building each `Source` once.
struct Sources<'a> {
    map: &'a SourceMap,
    built: HashMap<FileId, Source<String>>,
}

impl Cache<FileId> for Sources<'_> {
    type Storage = String;

    fn fetch(&mut self, id: &FileId) -> Result<&Source<String>, impl fmt::Debug> {
        let map = self.map;
        Ok::<_, ()>(
            self.built
                .entry(*id)
                .or_insert_with(|| Source::from(masked(&map.get(*id).text))),
        )
    }

    fn display<'b>(&self, id: &'b FileId) -> Option<impl fmt::Display + 'b> {
        Some(visible(&self.map.get(*id).name).into_owned())
    }
}

/// Text for a terminal: control characters (but tab and newline) shown as
/// escapes, so nothing a file or a command prints can move the cursor,
/// recolour, or forge a line.
pub fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && c != '\t' && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The most bytes of a message, label or help shown: they quote the input,
/// which can hold a megabyte on one line.
const LONGEST_MESSAGE: usize = 600;

/// Diagnostic text cut to `LONGEST_MESSAGE` bytes, saying how much is left
/// out.
pub fn capped(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= LONGEST_MESSAGE {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut cut = LONGEST_MESSAGE;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… ({} bytes more)", &s[..cut], s.len() - cut))
}

/// Diagnostic text for a terminal: capped, and visible.
fn shown(s: &str) -> String {
    visible(&capped(s)).into_owned()
}

/// A source for snippets: control characters become `?`, byte for byte,
/// so that spans still point where they did.
fn masked(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' && c != '\n' {
                "?".repeat(c.len_utf8())
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Lines longer than this are not echoed whole: an excerpt around the
/// span is.
const LONGEST_ECHO: usize = 400;

/// The line of `at` when it is longer than `LONGEST_ECHO`: an excerpt.
fn long_line_excerpt(text: &str, start: usize, end: usize) -> Option<String> {
    let at = start.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    if line_end - line_start <= LONGEST_ECHO {
        return None;
    }
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let from = floor(at.saturating_sub(80).max(line_start));
    let to = floor(
        (end.max(at) + 80)
            .min(line_end)
            .min(from + LONGEST_ECHO)
            .max(from),
    );
    Some(format!(
        "{}{}{}",
        if from > line_start { "…" } else { "" },
        visible(&text[from..to]),
        if to < line_end { "…" } else { "" }
    ))
}

/// Human-readable reports, one after the other, and a summary line.
pub fn human(sources: &SourceMap, diags: &[Diagnostic], color: bool) -> String {
    let mut cache = Sources {
        map: sources,
        built: HashMap::new(),
    };
    let mut out = Vec::new();
    let config = Config::default()
        .with_index_type(IndexType::Byte)
        .with_color(color);
    for d in diags {
        let kind = match d.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
            Severity::Info => ReportKind::Advice,
        };
        let text_len = sources.get(d.file).text.len();
        let clamp = |s: usize, e: usize| s.min(text_len)..e.min(text_len).max(s.min(text_len));
        let range = clamp(d.span.start, d.span.end);
        let mut report = Report::build(kind, (d.file, range.clone()))
            .with_config(config)
            .with_code(d.code)
            .with_message(shown(&d.message));
        if text_len > 0 || !range.is_empty() {
            report = report.with_label(
                Label::new((d.file, range.clone())).with_message(shown(
                    &d.label
                        .clone()
                        .unwrap_or_else(|| d.code.title().to_string()),
                )),
            );
        }
        for (f, s, m) in &d.secondary {
            let len = sources.get(*f).text.len();
            let r = s.start.min(len)..s.end.min(len).max(s.start.min(len));
            report = report.with_label(Label::new((*f, r)).with_message(shown(m)).with_order(1));
        }
        if let Some(h) = &d.help {
            report = report.with_help(shown(h));
        }
        for n in &d.notes {
            report = report.with_note(shown(n));
        }
        let excerpt = long_line_excerpt(&sources.get(d.file).text, range.start, range.end);
        if text_len == 0 || excerpt.is_some() {
            // Nothing to show a snippet of: say where, in one line.
            let f = sources.get(d.file);
            let at = if text_len == 0 {
                String::new()
            } else {
                format!(":{}:{}", d.span.line, d.span.col)
            };
            out.extend_from_slice(
                format!(
                    "{}[{}]: {}\n  --> {}{at}\n",
                    d.severity.as_str(),
                    d.code,
                    shown(&d.message),
                    visible(&f.name)
                )
                .as_bytes(),
            );
            if let Some(e) = &excerpt {
                out.extend_from_slice(format!("   | {e}\n").as_bytes());
            }
            if let Some(h) = &d.help {
                out.extend_from_slice(format!("  help: {}\n", shown(h)).as_bytes());
            }
            continue;
        }
        let _ = report.finish().write(&mut cache, &mut out);
    }
    let mut s = String::from_utf8_lossy(&out).into_owned();
    s.push_str(&summary_line(&Summary::of(diags, sources.len())));
    s
}

pub fn summary_line(s: &Summary) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}, {} in {}\n",
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
        plural(s.infos, "info"),
        plural(s.files, "file"),
    )
}

#[derive(Serialize)]
struct JsonDiag<'a> {
    code: &'a str,
    severity: &'a str,
    message: std::borrow::Cow<'a, str>,
    file: &'a str,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<std::borrow::Cow<'a, str>>,
    /// Other places the diagnostic points at ("first given here").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related: Vec<JsonRelated<'a>>,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    message: std::borrow::Cow<'a, str>,
}

/// 1-based start and end of a span in a file.
fn span_positions(
    sources: &SourceMap,
    file: FileId,
    span: hacmp_grammar::span::Span,
) -> (u32, u32, u32, u32) {
    let f = sources.get(file);
    if f.text.is_empty() {
        return (
            span.line.max(1),
            span.col.max(1),
            span.line.max(1),
            span.col.max(1),
        );
    }
    let (el, ec) = f.line_col(span.end);
    (span.line.max(1), span.col.max(1), el, ec)
}

fn related<'a>(sources: &'a SourceMap, d: &'a Diagnostic) -> Vec<JsonRelated<'a>> {
    d.secondary
        .iter()
        .map(|(f, span, m)| {
            let (line, column, end_line, end_column) = span_positions(sources, *f, *span);
            JsonRelated {
                file: &sources.get(*f).name,
                line,
                column,
                end_line,
                end_column,
                message: capped(m),
            }
        })
        .collect()
}

/// A fingerprint of a result that survives lines added above it: the
/// code, the file and the text of the line it points at.
fn fingerprint(sources: &SourceMap, d: &Diagnostic) -> String {
    let f = sources.get(d.file);
    let line = f
        .text
        .lines()
        .nth(d.span.line.max(1) as usize - 1)
        .unwrap_or("")
        .trim();
    let text = format!("{}\0{}\0{line}", d.code.as_str(), f.name);
    crate::digest::sha256_hex(text.as_bytes())[..16].to_string()
}

fn positions(sources: &SourceMap, d: &Diagnostic) -> (u32, u32, u32, u32) {
    span_positions(sources, d.file, d.span)
}

/// One JSON object: `{"diagnostics": [...], "summary": {...}}`.
pub fn json(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    let list: Vec<JsonDiag<'_>> = diags
        .iter()
        .map(|d| {
            let (line, column, end_line, end_column) = positions(sources, d);
            JsonDiag {
                code: d.code.as_str(),
                severity: d.severity.as_str(),
                message: capped(&d.message),
                file: &sources.get(d.file).name,
                line,
                column,
                end_line,
                end_column,
                help: d.help.as_deref().map(capped),
                related: related(sources, d),
            }
        })
        .collect();
    #[derive(Serialize)]
    struct Out<'a> {
        diagnostics: Vec<JsonDiag<'a>>,
        summary: Summary,
    }
    let out = Out {
        diagnostics: list,
        summary: Summary::of(diags, sources.len()),
    };
    let mut s = serde_json::to_string_pretty(&out).unwrap_or_default();
    s.push('\n');
    s
}

/// Where a rule's help is: the code's anchor on the diagnostics page
/// published at `docs` (an http(s) address of `docs/diagnostics.md`), or
/// else `hacmp:explain/CODE` (what `hacmp explain CODE` prints).
pub fn help_uri(docs: Option<&str>, code: crate::code::Code) -> String {
    match docs {
        Some(base) => format!(
            "{}#{}",
            base.trim_end_matches('#'),
            code.as_str().to_ascii_lowercase()
        ),
        None => format!("hacmp:explain/{}", code.as_str()),
    }
}

/// SARIF 2.1.0: one run, the codes as rules, each diagnostic as a result;
/// `docs` as for [`help_uri`].
pub fn sarif(sources: &SourceMap, diags: &[Diagnostic], docs: Option<&str>) -> String {
    let rules: Vec<serde_json::Value> = crate::code::Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": { "text": c.title() },
                "fullDescription": { "text": explain(*c).text },
                "defaultConfiguration": { "level": level(c.severity()) },
                "helpUri": help_uri(docs, *c),
                "help": {
                    "text": explain(*c).text,
                    "markdown": format!("{}\n\n`hacmp explain {}` shows a wrong and a right example.", explain(*c).text, c.as_str()),
                },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let (line, column, end_line, end_column) = positions(sources, d);
            let mut message = capped(&d.message).into_owned();
            if let Some(h) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(&capped(h));
            }
            let related: Vec<serde_json::Value> = related(sources, d)
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    json!({
                        "id": i + 1,
                        "message": { "text": r.message },
                        "physicalLocation": {
                            "artifactLocation": { "uri": uri(r.file) },
                            "region": {
                                "startLine": r.line, "startColumn": r.column,
                                "endLine": r.end_line, "endColumn": r.end_column,
                            }
                        }
                    })
                })
                .collect();
            json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": crate::code::Code::ALL.iter().position(|c| *c == d.code),
                "level": level(d.severity),
                "message": { "text": message },
                "partialFingerprints": { "primaryLocationLineHash": fingerprint(sources, d) },
                "relatedLocations": related,
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&sources.get(d.file).name) },
                        "region": {
                            "startLine": line, "startColumn": column,
                            "endLine": end_line, "endColumn": end_column,
                        }
                    }
                }]
            })
        })
        .collect();
    let v = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "hacmp-lint",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative URI reference for a path (blanks and `%` escaped).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            c => out.push(c),
        }
    }
    out
}
