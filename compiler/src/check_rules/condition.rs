//! Fields 6 to 9 of a rule: the resource variable, the instance vector,
//! the predicate and the rearm predicate, compiled and checked (R007–R012,
//! R016, R017).

use super::*;

impl RulesCheck<'_> {
    #[allow(clippy::type_complexity)]
    pub(super) fn condition(
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
