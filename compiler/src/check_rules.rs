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

    #[allow(clippy::type_complexity)]
    fn condition(
        &self,
        name: &str,
        name_span: Span,
        em: [Option<(&str, Span, &str)>; 4],
        realigned: bool,
        diags: &mut Vec<Diagnostic>,
        ok: &mut bool,
    ) -> Result<Option<Condition>, ()> {
        let val = |i: usize| em[i].map_or("", |(v, _, _)| v);
        let span = |i: usize| em[i].map_or(name_span, |(_, s, _)| s);
        let (var, iv, pred, rearm) = (val(0), val(1), val(2), val(3));
        if var.is_empty() && iv.is_empty() && pred.is_empty() && rearm.is_empty() {
            return Ok(None);
        }
        let partly = |diags: &mut Vec<Diagnostic>, at: usize, msg: String, help: &str| {
            diags.push(
                Diagnostic::new(Code::R007, self.file, span(at), msg)
                    .label("Event Management fields partly filled")
                    .also(self.file, name_span, format!("in event `{name}`"))
                    .help(help.to_string()),
            );
        };
        if var.is_empty() {
            let at = [1, 2, 3]
                .into_iter()
                .find(|i| !val(*i).is_empty())
                .unwrap_or(2);
            partly(
                diags,
                at,
                format!("{} without a resource variable", FIELD_NAMES[5 + at]),
                "give the resource variable in field 6, or leave fields 6–9 empty",
            );
            *ok = false;
            return Err(());
        }
        if !shape::is_dotted_name(var) {
            *ok = false;
            if !realigned {
                diags.push(
                    Diagnostic::new(
                        Code::R002,
                        self.file,
                        span(0),
                        format!(
                            "field 6 (resource variable) should be {}, found `{var}`",
                            FIELD_SHAPES[5]
                        ),
                    )
                    .label("expected a resource variable name"),
                );
            }
            return Err(());
        }
        if pred.is_empty() {
            partly(
                diags,
                0,
                format!("resource variable `{var}` without a predicate"),
                "give the predicate in field 8: without one the event never fires",
            );
            *ok = false;
            return Err(());
        }
        let variable = self.catalog.get(var);
        if variable.is_none() {
            let mut d = Diagnostic::new(Code::R008, self.file, span(0), format!("resource variable `{var}` is not in the catalog"))
                .label("unknown variable")
                .help(suggest(var, self.catalog.variables.iter().map(|v| v.name.as_str()))
                    .map(|s| format!("did you mean `{s}`? Sites add variables in the `[[catalog]]` section of the site file"))
                    .unwrap_or_else(|| "sites add variables in the `[[catalog]]` section of the site file".into()));
            if self.compiling {
                d = d
                    .severity(Severity::Error)
                    .note("a bundle needs the variable's type to compile its predicates");
            }
            diags.push(d);
        }
        // 7: instance vector
        let mut instance = Vec::new();
        if iv.is_empty() {
            if variable.is_some_and(|v| !v.elements.is_empty()) {
                partly(
                    diags,
                    1,
                    format!("resource variable `{var}` without an instance vector"),
                    "say which copies to watch, e.g. `NodeNum=*`; `*` matches every value",
                );
                *ok = false;
            }
        } else {
            match parse_instance_vector(iv, span(1)) {
                Ok(v) => {
                    if let Some(variable) = variable {
                        self.elements(&v, variable, diags, ok);
                    }
                    instance = v
                        .elements
                        .into_iter()
                        .map(|e| (e.name.node, e.value.node))
                        .collect();
                }
                Err(e) => {
                    *ok = false;
                    let (msg, label, help) = match e.kind {
                        InstanceVectorErrorKind::Malformed { expected } => (
                            format!("instance vector `{iv}` is malformed"),
                            format!("expected {}", or_list(&expected)),
                            "write `name=value` elements separated by `;`, e.g. `NodeNum=*;ProgName=rwhod`".to_string(),
                        ),
                        InstanceVectorErrorKind::EmptyValue { name } => (
                            format!("element `{name}` has no value"),
                            "empty value".into(),
                            "give a value, or `*` to match every value".into(),
                        ),
                        InstanceVectorErrorKind::Duplicate { name, .. } => (
                            format!("element `{name}` is given twice"),
                            "second time".into(),
                            "give each element once".into(),
                        ),
                    };
                    diags.push(
                        Diagnostic::new(Code::R009, self.file, e.span, msg)
                            .label(label)
                            .help(help),
                    );
                }
            }
        }
        // 8, 9: predicates
        let Some(variable) = variable else {
            // Unknown type: the predicates can only be parsed.
            self.predicate(pred, span(2), None, "predicate", diags, ok);
            if !rearm.is_empty() {
                self.predicate(rearm, span(3), None, "rearm predicate", diags, ok);
            }
            *ok = false;
            return Err(());
        };
        let key = (var.to_string(), pred.to_string(), rearm.to_string());
        let cached = self.memo.borrow().get(&key).cloned();
        let Compiled {
            predicate,
            rearm: rearm_c,
            analysis,
        } = match cached {
            Some(c) => c,
            None => {
                let before = *ok;
                let diags_before = diags.len();
                let predicate =
                    self.predicate(pred, span(2), Some(variable), "predicate", diags, ok);
                let rearm_c = if rearm.is_empty() {
                    None
                } else {
                    self.predicate(rearm, span(3), Some(variable), "rearm predicate", diags, ok)
                };
                let Some(predicate) = predicate else {
                    *ok = false;
                    return Err(());
                };
                if !rearm.is_empty() && rearm_c.is_none() {
                    *ok = false;
                    return Err(());
                }
                let analysis = analyze(&predicate, rearm_c.as_ref(), &variable.value_type());
                let c = Compiled {
                    predicate,
                    rearm: rearm_c,
                    analysis,
                };
                let clean = before
                    && *ok
                    && !diags[diags_before..]
                        .iter()
                        .any(|d| d.severity == Severity::Error);
                // Bounded: a file of conditions all different gains nothing
                // from remembering them all.
                if clean && self.memo.borrow().len() < MEMO_LIMIT {
                    self.memo.borrow_mut().insert(key, c.clone());
                }
                c
            }
        };
        let vt = variable.value_type();
        for (what, text, at, c, constant, undecided) in [
            (
                "predicate",
                pred,
                2,
                Some(&predicate),
                analysis.predicate_constant,
                analysis.predicate_undecided,
            ),
            (
                "rearm predicate",
                rearm,
                3,
                rearm_c.as_ref(),
                analysis.rearm_constant,
                analysis.rearm_undecided,
            ),
        ] {
            let Some(c) = c else { continue };
            if let Some(v) = constant {
                let how = if c.reads_value {
                    "for every value"
                } else {
                    "whatever the value: it does not read `X`"
                };
                let v = if v { "true" } else { "false" };
                diags.push(
                    Diagnostic::new(
                        Code::R016,
                        self.file,
                        span(at),
                        format!("the {what} `{text}` is always {v} ({how})"),
                    )
                    .label(format!("always {v}"))
                    .help("a constant condition fires on every observation or never"),
                );
            } else if let Some(v) = undecided {
                let v = if v { "true" } else { "false" };
                diags.push(
                    Diagnostic::new(
                        Code::R016,
                        self.file,
                        span(at),
                        format!("could not decide whether the {what} `{text}` is always {v}: it was {v} on every value tried"),
                    )
                    .severity(Severity::Info)
                    .label(format!("{v} on every value tried"))
                    .help("check the condition by hand, or with a rule test (`hacmp test`)"),
                );
            }
        }
        match &analysis.overlap {
            _ if rearm.is_empty() => diags.push(
                Diagnostic::new(Code::R012, self.file, span(2), format!("`{name}` has no rearm predicate: it fires on every observation where `{pred}` holds"))
                    .severity(Severity::Info)
                    .label("never disarmed")
                    .help("give a rearm predicate in field 9 to fire once per crossing, e.g. the negation of the predicate"),
            ),
            Some(Overlap::Found(w)) => diags.push(
                Diagnostic::new(Code::R012, self.file, span(3), format!("the predicate and the rearm predicate of `{name}` are both true when {w}"))
                    .label("true together with the predicate")
                    .also(self.file, span(2), "predicate")
                    .help("without hysteresis the event can fire, rearm and fire again on one value; make them exclusive (e.g. `X>90` / `X<80`)"),
            ),
            Some(Overlap::Open) => diags.push(
                Diagnostic::new(Code::R012, self.file, span(3), format!("could not decide whether the predicate and the rearm predicate of `{name}` can both be true"))
                    .severity(Severity::Info)
                    .label("no value found where both hold, none ruled out")
                    .help("check them by hand, or with a rule test (`hacmp test`)"),
            ),
            Some(Overlap::Disjoint) | None => {}
        }
        Ok(Some(Condition {
            variable: var.to_string(),
            value_type: vt,
            instance,
            predicate,
            rearm: rearm_c,
        }))
    }

    fn elements(
        &self,
        v: &hacmp_grammar::ast::InstanceVector,
        variable: &Variable,
        diags: &mut Vec<Diagnostic>,
        ok: &mut bool,
    ) {
        for e in &v.elements {
            if !variable.elements.contains(&e.name.node) {
                *ok = false;
                let known = variable.elements.join("`, `");
                diags.push(
                    Diagnostic::new(
                        Code::R009,
                        self.file,
                        e.name.span,
                        format!("`{}` is not an element of `{}`", e.name.node, variable.name),
                    )
                    .label("unknown element")
                    .help(
                        match suggest(&e.name.node, variable.elements.iter().map(String::as_str)) {
                            Some(s) => format!("did you mean `{s}`? Its elements are `{known}`"),
                            None => format!("its elements are `{known}`"),
                        },
                    ),
                );
            } else if e.name.node == "NodeNum" {
                if let hacmp_grammar::ast::Pattern::Exact(val) = &e.value.node {
                    if val.parse::<u32>().is_err() {
                        *ok = false;
                        diags.push(
                            Diagnostic::new(
                                Code::R009,
                                self.file,
                                e.value.span,
                                format!("`NodeNum={val}`: a node number is an integer"),
                            )
                            .label("not a node number")
                            .help("write a node number, or `*` for every node"),
                        );
                    }
                }
            }
        }
    }

    fn predicate(
        &self,
        text: &str,
        span: Span,
        variable: Option<&Variable>,
        what: &str,
        diags: &mut Vec<Diagnostic>,
        ok: &mut bool,
    ) -> Option<CompiledPredicate> {
        let expr = match parse_predicate(text, span) {
            Ok(e) => e,
            Err(e) => {
                *ok = false;
                let (msg, label, help) = predicate_error(what, &e.kind);
                let mut d = Diagnostic::new(Code::R010, self.file, e.span, msg).label(label);
                d.help = help;
                diags.push(d);
                return None;
            }
        };
        let mut zero_div = false;
        expr.walk(&mut |e: &Expr| {
            use hacmp_grammar::ast::{BinaryOp, ExprKind};
            if let ExprKind::Binary(op @ (BinaryOp::Div | BinaryOp::Rem), _, rhs) = &e.kind {
                let zero = matches!(rhs.kind, ExprKind::Int(0))
                    || matches!(rhs.kind, ExprKind::Float(f) if f == 0.0);
                if zero {
                    zero_div = true;
                    diags.push(
                        Diagnostic::new(
                            Code::R017,
                            self.file,
                            rhs.span,
                            format!(
                                "{} by the literal 0 in the {what}",
                                if *op == BinaryOp::Div {
                                    "division"
                                } else {
                                    "remainder"
                                }
                            ),
                        )
                        .label("always zero")
                        .also(self.file, e.span, "this is never evaluated to a value")
                        .help("every evaluation fails and so is false"),
                    );
                }
            }
        });
        if zero_div {
            *ok = false;
        }
        let variable = variable?;
        match compile(&expr, &variable.value_type(), text) {
            Ok(c) => Some(c),
            Err(errors) => {
                *ok = false;
                for e in errors {
                    let mut d = Diagnostic::new(
                        Code::R011,
                        self.file,
                        e.span,
                        format!("{what}: {}", e.message),
                    )
                    .label("type error")
                    .note(format!(
                        "`{}` is {}",
                        variable.name,
                        describe_type(variable)
                    ));
                    d.help = e.help;
                    diags.push(d);
                }
                None
            }
        }
    }
}

fn describe_type(v: &Variable) -> String {
    use hacmp_stdlib::{ScalarType, ValueType};
    let t = |t: &ScalarType| match t {
        ScalarType::Int => "integer",
        ScalarType::Float => "float",
        ScalarType::String => "string",
    };
    match v.value_type() {
        ValueType::Scalar(s) => format!("a plain {} (`X`, `X@P`)", t(&s)),
        ValueType::Sbs(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| format!("X@{i} {}", t(f)))
                .collect();
            format!("a structured value: {}", parts.join(", "))
        }
    }
}

fn predicate_error(what: &str, kind: &PredicateErrorKind) -> (String, String, Option<String>) {
    match kind {
        PredicateErrorKind::Syntax { expected, found } => (
            format!("the {what} does not parse"),
            match found {
                Some(f) => format!("expected {}, found `{f}`", or_list(expected)),
                None => format!("expected {} before the end", or_list(expected)),
            },
            None,
        ),
        PredicateErrorKind::SingleEquals => (
            format!("`=` is not an operator in the {what}"),
            "did you mean `==`?".into(),
            Some("predicates use C operators: `==` compares; the successor product's `=` is not accepted".into()),
        ),
        PredicateErrorKind::UnknownName { name } => (
            format!("unknown name `{name}` in the {what}"),
            "a predicate reads only `X`".into(),
            Some("write `X` for the value, `X@n` for field n, `X@P` for the previous value".into()),
        ),
        PredicateErrorKind::IntegerOutOfRange => (format!("integer out of range in the {what}"), "does not fit in 64 bits".into(), None),
        PredicateErrorKind::FloatOutOfRange => (format!("number out of range in the {what}"), "not a finite number".into(), None),
        PredicateErrorKind::FieldIndexOutOfRange => (format!("field number out of range in the {what}"), "too large".into(), None),
        PredicateErrorKind::BadEscape => (format!("unknown escape in a string of the {what}"), "only `\\\"` and `\\\\`".into(), None),
        PredicateErrorKind::TooLong { limit } => (format!("the {what} is longer than {limit} bytes"), "too long".into(), None),
        PredicateErrorKind::TooDeep { limit } => (
            format!("the {what} nests deeper than {limit} levels"),
            "too deep".into(),
            Some("remove needless parentheses or repeated unary operators".into()),
        ),
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
