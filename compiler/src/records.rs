//! Grouping the field lines of a rules file into nine-line records, and the
//! realignment analysis: when a record is ill-shaped, find the line most likely
//! missing or extra by trying shifts of −2…+2 lines that make this record and
//! the following ones well-shaped again, then go on from the realigned place
//! so that one slip gives one error, not one per later event.

use hacmp_grammar::ast::{Field, RulesText};
use hacmp_grammar::span::Span;

use crate::code::Code;
use crate::diagnostic::Diagnostic;
use crate::shape::{self, describe_fields, fits, FIELD_COUNT, FIELD_NAMES, FIELD_SHAPES};
use crate::source::FileId;

/// Records that must line up after an edit for the edit to be believed.
const LOOKAHEAD: usize = 2;

/// One record: for each of the nine fields, the index of its line in the
/// field list, or `None` where realignment decided a line is missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub fields: [Option<usize>; FIELD_COUNT],
    /// Whether the shape errors of this record were already reported as one
    /// realignment diagnostic.
    pub realigned: bool,
}

/// An edit of one record: lines missing before given field positions, or
/// extra lines at given offsets from the record's start.
#[derive(Clone, Debug, PartialEq)]
enum Edit {
    Missing(Vec<usize>),
    Extra(Vec<usize>),
}

impl Edit {
    fn consumed(&self) -> usize {
        match self {
            Edit::Missing(p) => FIELD_COUNT - p.len(),
            Edit::Extra(x) => FIELD_COUNT + x.len(),
        }
    }
}

struct Grouper<'a, 't, F> {
    text: &'t RulesText<'a>,
    file: FileId,
    /// The name line of the last record given out.
    last_name: Option<usize>,
    each: F,
    diags: Vec<Diagnostic>,
}

/// Groups the field lines into records, handing each to `each` in order as
/// it is found (nothing is kept per record); returns the realignment and
/// incomplete-record diagnostics.
pub fn group(text: &RulesText, file: FileId, each: impl FnMut(&Record)) -> Vec<Diagnostic> {
    let mut g = Grouper {
        text,
        file,
        last_name: None,
        each,
        diags: Vec::new(),
    };
    g.run();
    g.diags
}

impl<'a, F: FnMut(&Record)> Grouper<'a, '_, F> {
    fn value(&self, l: usize) -> &'a str {
        shape::value(self.text.field(l).text)
    }

    fn run(&mut self) {
        let n = self.text.len();
        let mut pos = 0;
        while pos < n {
            if n - pos < FIELD_COUNT {
                self.tail(pos);
                return;
            }
            if self.window_fits(pos) {
                self.push(pos, &Edit::Missing(Vec::new()), false);
                pos += FIELD_COUNT;
                continue;
            }
            match self.find_edit(pos) {
                Some(candidates) => {
                    self.report_realignment(pos, &candidates);
                    let edit = &candidates[0];
                    self.push(pos, edit, true);
                    pos += edit.consumed();
                }
                None => {
                    // No shift explains it: the fields are wrong in place,
                    // and the field checks report each with its own code.
                    self.push(pos, &Edit::Missing(Vec::new()), false);
                    pos += FIELD_COUNT;
                }
            }
        }
    }

    fn window_fits(&self, pos: usize) -> bool {
        (0..FIELD_COUNT).all(|k| fits(k, self.value(pos + k)))
    }

    /// The line index of each field of the record at `pos` under `edit`.
    fn layout(&self, pos: usize, edit: &Edit) -> [Option<usize>; FIELD_COUNT] {
        let mut out = [None; FIELD_COUNT];
        let mut line = pos;
        match edit {
            Edit::Missing(gaps) => {
                for (k, slot) in out.iter_mut().enumerate() {
                    if !gaps.contains(&k) {
                        *slot = Some(line);
                        line += 1;
                    }
                }
            }
            Edit::Extra(extra) => {
                for slot in out.iter_mut() {
                    while extra.contains(&(line - pos)) {
                        line += 1;
                    }
                    *slot = Some(line);
                    line += 1;
                }
            }
        }
        out
    }

    fn layout_fits(&self, layout: &[Option<usize>; FIELD_COUNT]) -> bool {
        layout
            .iter()
            .enumerate()
            .all(|(k, l)| l.is_none_or(|l| l < self.text.len() && fits(k, self.value(l))))
    }

    /// The following records line up from `pos`: the next LOOKAHEAD records
    /// are well-shaped, or the file ends exactly after well-shaped records.
    fn lines_up_from(&self, mut pos: usize) -> bool {
        let n = self.text.len();
        for _ in 0..LOOKAHEAD {
            if pos == n {
                return true;
            }
            if n - pos < FIELD_COUNT || !self.window_fits(pos) {
                return false;
            }
            pos += FIELD_COUNT;
        }
        true
    }

    /// Every edit of the smallest size that makes the record at `pos`
    /// well-shaped and the following records line up.
    fn find_edit(&self, pos: usize) -> Option<Vec<Edit>> {
        let n = self.text.len();
        for size in 1..=2usize {
            for missing in [true, false] {
                let consumed = if missing {
                    FIELD_COUNT - size
                } else {
                    FIELD_COUNT + size
                };
                if pos + consumed > n {
                    continue;
                }
                let range = if missing {
                    FIELD_COUNT
                } else {
                    FIELD_COUNT + size
                };
                let mut found = Vec::new();
                for combo in combinations(range, size) {
                    let edit = if missing {
                        Edit::Missing(combo)
                    } else {
                        Edit::Extra(combo)
                    };
                    if self.layout_fits(&self.layout(pos, &edit))
                        && self.lines_up_from(pos + consumed)
                    {
                        found.push(edit);
                    }
                }
                if !found.is_empty() {
                    return Some(found);
                }
            }
        }
        None
    }

    fn push(&mut self, pos: usize, edit: &Edit, realigned: bool) {
        let fields = self.layout(pos, edit);
        self.give(Record { fields, realigned });
    }

    fn give(&mut self, rec: Record) {
        self.last_name = rec.fields[0];
        (self.each)(&rec);
    }

    /// "event `NAME`", or, when the name line itself is in doubt, the event
    /// told by its program path.
    fn event_at(&self, layout: &[Option<usize>; FIELD_COUNT]) -> String {
        match layout[0].map(|l| self.value(l)) {
            Some(name) if shape::is_name(name) => format!("event `{name}`"),
            _ => match layout[2].map(|l| self.value(l)) {
                Some(p) if !p.is_empty() => {
                    format!("the event whose recovery program is `{p}`")
                }
                _ => "an event".to_string(),
            },
        }
    }

    fn previous_event(&self) -> Option<&'a str> {
        let v = self.value(self.last_name?);
        shape::is_name(v).then_some(v)
    }

    fn report_realignment(&mut self, pos: usize, candidates: &[Edit]) {
        // The primary span: the first field that is out of shape as written.
        let bad = (0..FIELD_COUNT)
            .find(|&k| !fits(k, self.value(pos + k)))
            .unwrap_or(0);
        let line = self.text.field(pos + bad);
        let found = self.value(pos + bad);
        let layout = self.layout(pos, &candidates[0]);
        let event = self.event_at(&layout);
        let found_text = if found.is_empty() {
            "an empty line".to_string()
        } else {
            format!("`{found}`")
        };
        let message = format!(
            "{event}: field {} ({}) should be {}, found {found_text}",
            bad + 1,
            FIELD_NAMES[bad],
            FIELD_SHAPES[bad],
        );
        let (label, help) = match &candidates[0] {
            Edit::Missing(gaps) if gaps.len() == 1 => {
                let positions: Vec<usize> = candidates
                    .iter()
                    .filter_map(|e| match e {
                        Edit::Missing(g) => g.first().copied(),
                        Edit::Extra(_) => None,
                    })
                    .collect();
                let what = describe_fields(&positions);
                let subject = if positions == [0] {
                    format!(
                        "the name line of {} is missing{}",
                        self.event_at(&layout),
                        self.previous_event()
                            .map(|p| format!(" (it follows event `{p}`)"))
                            .unwrap_or_default()
                    )
                } else {
                    format!("{what} of {event} is most likely missing")
                };
                (
                    "a line is missing before here".to_string(),
                    format!(
                        "{subject}: with one line inserted there, this event and the ones after it line up again"
                    ),
                )
            }
            Edit::Missing(gaps) => (
                "lines are missing before here".to_string(),
                format!(
                    "two lines of {event} are most likely missing ({} and {}): with them inserted, the events after it line up again",
                    describe_fields(&gaps[..1]),
                    describe_fields(&gaps[1..])
                ),
            ),
            Edit::Extra(extra) => {
                let lines: Vec<usize> = candidates
                    .iter()
                    .filter_map(|e| match e {
                        Edit::Extra(x) => Some(pos + x[0]),
                        Edit::Missing(_) => None,
                    })
                    .collect();
                let line_nos: Vec<String> =
                    lines.iter().map(|l| self.text.field(*l).span.line.to_string()).collect();
                let first = lines[0];
                let repeats = first > 0 && self.value(first) == self.value(first - 1) && lines.len() <= 2;
                let which = if extra.len() == 2 {
                    format!("two lines of {event} are one too many each (line {} among them)", line_nos[0])
                } else if repeats {
                    format!(
                        "line {} repeats line {} and is most likely one line too many",
                        self.text.field(first).span.line,
                        self.text.field(first - 1).span.line
                    )
                } else {
                    format!("line {} is most likely one line too many", line_nos.join(" or "))
                };
                let place = if extra == &[0] && lines.len() == 1 {
                    match self.previous_event() {
                        Some(p) => format!(
                            "{which}: it sits between event `{p}` and {event}"
                        ),
                        None => format!("{which}, before {event}"),
                    }
                } else {
                    format!("{which}, in {event}")
                };
                (
                    "a line too many before here".to_string(),
                    format!("{place}; without it, this event and the ones after it line up again"),
                )
            }
        };
        self.diags.push(
            Diagnostic::new(Code::R002, self.file, line.span_trimmed(), message)
                .label(label)
                .help(help),
        );
    }

    /// Fewer than nine lines left.
    fn tail(&mut self, pos: usize) {
        let n = self.text.len();
        let rem = n - pos;
        let first = self.text.field(pos);
        let whole = Span {
            end: self.text.field(n - 1).span.end,
            ..first.span
        };
        let prev = self.previous_event();
        if (pos..n).all(|l| self.value(l).is_empty()) {
            let after = prev.map(|p| format!(" `{p}`")).unwrap_or_default();
            self.diags.push(
                Diagnostic::new(
                    Code::R013,
                    self.file,
                    whole,
                    format!(
                        "{rem} blank line{} after the last complete event{after}",
                        if rem == 1 { "" } else { "s" }
                    ),
                )
                .label("blank lines are fields: these start an incomplete event")
                .help("delete them; the original cluster manager would hang on this file"),
            );
            return;
        }
        // An incomplete last event: which fields are missing?
        let missing = FIELD_COUNT - rem;
        let mut found = Vec::new();
        if missing <= 2 {
            for gaps in combinations(FIELD_COUNT, missing) {
                let edit = Edit::Missing(gaps);
                if self.layout_fits(&self.layout(pos, &edit)) {
                    found.push(edit);
                }
            }
        }
        if found.is_empty() && !shape::is_name(self.value(pos)) && prev.is_some() {
            let p = prev.unwrap_or_default();
            self.diags.push(
                Diagnostic::new(
                    Code::R001,
                    self.file,
                    whole,
                    format!(
                        "{rem} line{} after the last complete event `{p}` do{} not make an event",
                        if rem == 1 { "" } else { "s" },
                        if rem == 1 { "es" } else { "" },
                    ),
                )
                .label(format!("expected {} to start an event", FIELD_SHAPES[0]))
                .help(format!(
                    "line {} is most likely one line too many in or after event `{p}`",
                    first.span.line
                )),
            );
            // Keep what can be kept: nothing of it forms a rule.
            return;
        }
        let edit = found
            .first()
            .cloned()
            .unwrap_or_else(|| Edit::Missing((rem..FIELD_COUNT).collect()));
        let layout = self.layout(pos, &edit);
        let event = self.event_at(&layout);
        let which = match (&edit, found.len()) {
            (Edit::Missing(g), _) if g.len() == 1 => {
                let pos: Vec<usize> = found
                    .iter()
                    .filter_map(|e| match e {
                        Edit::Missing(g) => g.first().copied(),
                        Edit::Extra(_) => None,
                    })
                    .collect();
                let pos = if pos.is_empty() { vec![g[0]] } else { pos };
                format!("{} is missing", describe_fields(&pos))
            }
            (Edit::Missing(g), _) => {
                let nums: Vec<String> = g.iter().map(|i| (i + 1).to_string()).collect();
                format!("fields {} are missing", nums.join(", "))
            }
            (Edit::Extra(_), _) => String::new(),
        };
        self.diags.push(
            Diagnostic::new(
                Code::R001,
                self.file,
                whole,
                format!("the last event is incomplete: {event} has {rem} of 9 lines"),
            )
            .label(which.to_string())
            .help("every event is exactly nine lines; empty fields are empty lines, comments are not counted"),
        );
        self.give(Record {
            fields: layout,
            realigned: true,
        });
    }
}

trait TrimmedSpan {
    fn span_trimmed(&self) -> Span;
}

impl TrimmedSpan for Field<'_> {
    /// The span of the value without trailing blanks (the whole line when
    /// it is empty).
    fn span_trimmed(&self) -> Span {
        let v = shape::value(self.text);
        Span {
            end: self.span.start + v.len(),
            ..self.span
        }
    }
}

/// All `k`-element subsets of `0..n`, in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    match k {
        0 => vec![vec![]],
        1 => (0..n).map(|i| vec![i]).collect(),
        _ => (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| vec![i, j]))
            .collect(),
    }
}
