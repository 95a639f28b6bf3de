//! Checks of each record of a rules file, and lowering to IR rules.

use std::collections::HashMap;

use hacmp_grammar::ast::{Expr, Field, RulesText};
use hacmp_grammar::error::{InstanceVectorErrorKind, PredicateErrorKind};
use hacmp_grammar::span::Span;
use hacmp_grammar::{edit_distance, parse_instance_vector, parse_predicate};
use hacmp_stdlib::{priority_class, Catalog, Variable};

use crate::code::{Code, Severity};
use crate::diagnostic::Diagnostic;
use crate::ir::{Condition, Rule};
use crate::predicate::{analyze, compile, Analysis, CompiledPredicate, Overlap};
use crate::records::{group, Record};
use crate::shape::{self, FIELD_NAMES, FIELD_SHAPES};
use crate::source::FileId;

mod condition;

/// A rule as far as it could be checked: the program path is kept even when
/// other fields are wrong, so the program is still checked.
#[derive(Clone, Debug)]
pub struct CheckedRule {
    pub name: String,
    pub program: Option<(String, Span)>,
    /// The IR rule, when every field of the record is usable.
    pub rule: Option<Rule>,
}

pub struct RulesCheck<'a> {
    pub file: FileId,
    pub catalog: &'a Catalog,
    /// `hacmp compile`: a condition that cannot be compiled is an error.
    pub compiling: bool,
    /// Conditions already compiled without a problem, by (variable,
    /// predicate, rearm predicate): sites repeat them across instances.
    pub memo: std::cell::RefCell<HashMap<(String, String, String), Compiled>>,
}

/// Most conditions remembered for reuse.
const MEMO_LIMIT: usize = 4096;

/// A condition's compiled predicates and what analysis found.
#[derive(Clone, Debug)]
pub struct Compiled {
    predicate: CompiledPredicate,
    rearm: Option<CompiledPredicate>,
    analysis: Analysis,
}

impl<'a> RulesCheck<'a> {
    pub fn new(file: FileId, catalog: &'a Catalog, compiling: bool) -> Self {
        RulesCheck {
            file,
            catalog,
            compiling,
            memo: Default::default(),
        }
    }
}

impl RulesCheck<'_> {
    /// Checks every record, handing each checked rule to `each` in file
    /// order as soon as it is checked: a caller that keeps nothing keeps
    /// nothing per record.
    pub fn check(&self, text: &RulesText, mut each: impl FnMut(CheckedRule)) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        // Names borrow the text: a set of the names, not a copy of them.
        let mut names: HashMap<&str, Span> = HashMap::new();
        for f in text.fields() {
            self.whitespace(&f, &mut diags);
        }
        let grouping = group(text, self.file, |rec| {
            let Some(r) = self.record(text, rec, &mut diags) else {
                return;
            };
            let name_field = rec.fields[0].map(|l| text.field(l));
            let name_span = name_field.map(|f| f.span).unwrap_or_default();
            let name_span = Span {
                end: name_span.start + r.name.len(),
                ..name_span
            };
            // The name as written is `r.name` followed by trailing blanks.
            let written = name_field.map_or("", |f| &f.text[..r.name.len().min(f.text.len())]);
            if let Some(first) = names.get(written) {
                diags.push(
                    Diagnostic::new(
                        Code::R003,
                        self.file,
                        name_span,
                        format!("event `{}` is defined twice", r.name),
                    )
                    .label("second definition")
                    .also(self.file, *first, "first definition")
                    .help(
                        "event names must be unique: the manager picks the rule by name and state",
                    ),
                );
            } else if !r.name.is_empty() && written == r.name {
                names.insert(written, name_span);
            }
            each(r);
        });
        diags.extend(grouping);
        diags
    }

    /// R015: trailing blanks, tabs, carriage returns.
    fn whitespace(&self, f: &Field, diags: &mut Vec<Diagnostic>) {
        let v = shape::value(f.text);
        if v.len() < f.text.len() {
            let trailing = &f.text[v.len()..];
            let what = if trailing.contains('\r') && trailing.trim_matches('\r').is_empty() {
                "a carriage return (the file was saved with CRLF line ends)"
            } else if trailing.contains('\r') {
                "trailing white space and a carriage return"
            } else {
                "trailing white space"
            };
            diags.push(
                Diagnostic::new(
                    Code::R015,
                    self.file,
                    Span {
                        start: f.span.start + v.len(),
                        end: f.span.end,
                        line: f.span.line,
                        col: f.span.col + hacmp_grammar::span::column_of(f.text, v.len()) - 1,
                    },
                    format!("line {} ends with {what}", f.span.line),
                )
                .label("here")
                .help("the original takes it as part of the value; remove it"),
            );
        } else if let Some(i) = v.find('\t') {
            diags.push(
                Diagnostic::new(
                    Code::R015,
                    self.file,
                    f.span.sub(f.text, i, i + 1),
                    format!("line {} contains a tab", f.span.line),
                )
                .label("tab"),
            );
        }
    }

    fn record(
        &self,
        text: &RulesText,
        rec: &Record,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<CheckedRule> {
        if rec.fields.iter().any(Option::is_none) {
            // A line is missing and was reported with the realignment: the
            // rest of the record would only repeat that in other words.
            let value = |k: usize| {
                rec.fields[k]
                    .map(|l| text.field(l))
                    .map(|f| (shape::value(f.text), f.span))
            };
            let name = value(0)
                .map(|(v, _)| v)
                .filter(|v| shape::is_name(v))
                .unwrap_or("");
            let program = value(2)
                .filter(|(v, _)| v.starts_with('/') && shape::fits(2, v))
                .map(|(v, s)| {
                    (
                        v.to_string(),
                        Span {
                            end: s.start + v.len(),
                            ..s
                        },
                    )
                });
            return Some(CheckedRule {
                name: name.to_string(),
                program,
                rule: None,
            });
        }
        let get = |k: usize| -> Option<(&str, Span, &str)> {
            rec.fields[k].map(|l| {
                let f = text.field(l);
                let v = shape::value(f.text);
                (
                    v,
                    Span {
                        end: f.span.start + v.len(),
                        ..f.span
                    },
                    f.text,
                )
            })
        };
        let mut ok = true;
        let mut shape_error = |k: usize, v: &str, span: Span, diags: &mut Vec<Diagnostic>| {
            ok = false;
            if rec.realigned {
                return;
            }
            let found = if v.is_empty() {
                "an empty line".to_string()
            } else {
                format!("`{v}`")
            };
            diags.push(
                Diagnostic::new(
                    Code::R002,
                    self.file,
                    span,
                    format!(
                        "field {} ({}) should be {}, found {found}",
                        k + 1,
                        FIELD_NAMES[k],
                        FIELD_SHAPES[k]
                    ),
                )
                .label(format!("expected {}", FIELD_SHAPES[k])),
            );
        };

        // 1: name
        let (name, name_span) = match get(0) {
            Some((v, s, _)) if shape::is_name(v) => (v.to_string(), s),
            Some((v, s, _)) => {
                shape_error(0, v, s, diags);
                (v.to_string(), s)
            }
            None => (String::new(), Span::default()),
        };
        // 2: state
        let state = match get(1) {
            Some((v, s, _)) => match v.parse::<i64>() {
                Ok(n) if shape::is_int(v) => Some(n),
                _ => {
                    shape_error(1, v, s, diags);
                    None
                }
            },
            None => None,
        };
        // 3: program
        let mut program = None;
        if let Some((v, s, _)) = get(2) {
            if !shape::fits(2, v) {
                shape_error(2, v, s, diags);
            } else if !v.starts_with('/') {
                ok = false;
                diags.push(
                    Diagnostic::new(
                        Code::R004,
                        self.file,
                        s,
                        format!("recovery program path `{v}` is not absolute"),
                    )
                    .label("relative path")
                    .help("give the full path: the manager does not search for programs"),
                );
            } else if crate::fscheck::climbs(v) {
                ok = false;
                diags.push(
                    Diagnostic::new(
                        Code::F003,
                        self.file,
                        s,
                        format!("recovery program path `{v}` has a `..` component"),
                    )
                    .label("climbs out of its directory")
                    .help(
                        "give the path without `..`: files of a site are named by where they are",
                    ),
                );
            } else {
                if !v.ends_with(".rp") {
                    diags.push(
                        Diagnostic::new(Code::R004, self.file, s, format!("recovery program path `{v}` does not end in `.rp`"))
                            .severity(Severity::Warning)
                            .label("expected a `.rp` file")
                            .help("is this a command? Commands go in the `.rp` file, which the rule names"),
                    );
                }
                program = Some((v.to_string(), s));
            }
        }
        // 4, 5: type and level
        let mut ints = [0i64; 2];
        for (i, k) in [3usize, 4].into_iter().enumerate() {
            if let Some((v, s, _)) = get(k) {
                match v.parse::<i64>() {
                    Ok(n) if shape::is_int(v) => ints[i] = n,
                    _ => {
                        ok = false;
                        if !rec.realigned {
                            let found = if v.is_empty() {
                                "it is empty".to_string()
                            } else {
                                format!("found `{v}`")
                            };
                            diags.push(
                                Diagnostic::new(
                                    Code::R006,
                                    self.file,
                                    if v.is_empty() { text.field(rec.fields[k].unwrap_or(0)).span } else { s },
                                    format!("{} (field {}) must be an integer: {found}", FIELD_NAMES[k], k + 1),
                                )
                                .label("expected an integer")
                                .help(format!("the field is reserved but must be present; the documentation writes `{}`", if k == 3 { 2 } else { 0 })),
                            );
                        }
                    }
                }
            }
        }
        // 6–9: Event Management
        let em = [5, 6, 7, 8].map(get);
        let condition = self.condition(&name, name_span, em, rec.realigned, diags, &mut ok);

        if name.starts_with("TE_") {
            let known = hacmp_stdlib::SYSTEM_EVENTS
                .iter()
                .any(|(n, _, _)| *n == name);
            if !known {
                diags.push(
                    Diagnostic::new(
                        Code::R014,
                        self.file,
                        name_span,
                        format!("`{name}` is not a system event: it is never raised"),
                    )
                    .label("unknown system event")
                    .help(
                        suggest(
                            &name,
                            hacmp_stdlib::SYSTEM_EVENTS.iter().map(|(n, _, _)| *n),
                        )
                        .map(|s| {
                            format!("did you mean `{s}`? User events are usually named `UE_…`")
                        })
                        .unwrap_or_else(|| "user events are usually named `UE_…`".into()),
                    ),
                );
            } else if em.iter().any(|f| f.is_some_and(|(v, _, _)| !v.is_empty())) {
                let first = em
                    .iter()
                    .flatten()
                    .find(|(v, _, _)| !v.is_empty())
                    .map(|(_, s, _)| *s)
                    .unwrap_or(name_span);
                diags.push(
                    Diagnostic::new(
                        Code::R014,
                        self.file,
                        first,
                        format!("system event `{name}` has Event Management fields"),
                    )
                    .label("never used for a system event")
                    .also(self.file, name_span, "system event")
                    .help("system events are raised by membership changes; leave fields 6–9 empty"),
                );
            }
        }
        let rule = match (ok, state, &program, condition) {
            (true, Some(state), Some((p, _)), Ok(condition)) => Some(Rule {
                name: name.clone(),
                state,
                program: p.clone(),
                recovery_type: ints[0],
                recovery_level: ints[1],
                priority: priority_class(&name),
                condition,
                line: name_span.line,
            }),
            _ => None,
        };
        Some(CheckedRule {
            name,
            program,
            rule,
        })
    }
}

pub(crate) fn or_list(items: &[&str]) -> String {
    match items {
        [] => "something else".into(),
        [a] => a.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The nearest candidate within a third of the word's length in edits.
pub fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
