//! Predicates: pest for the tokens, a Pratt parser for C precedence.

use std::sync::OnceLock;

use pest::error::InputLocation;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;

use crate::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use crate::error::{PredicateError, PredicateErrorKind};
use crate::parser::{rule_name, HacmpParser, Rule};
use crate::span::Span;

/// No monitoring condition needs more; the limit keeps parsing and
/// compilation in bounded stack on any input.
pub const MAX_PREDICATE_LEN: usize = 1024;
/// Deepest nesting of parentheses or chained unary operators.
pub const MAX_NESTING: usize = 32;

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        use Assoc::Left;
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Left))
            .op(Op::infix(Rule::op_and, Left))
            .op(Op::infix(Rule::op_bor, Left))
            .op(Op::infix(Rule::op_bxor, Left))
            .op(Op::infix(Rule::op_band, Left))
            .op(Op::infix(Rule::op_eq, Left)
                | Op::infix(Rule::op_ne, Left)
                | Op::infix(Rule::op_assign, Left))
            .op(Op::infix(Rule::op_lt, Left)
                | Op::infix(Rule::op_le, Left)
                | Op::infix(Rule::op_gt, Left)
                | Op::infix(Rule::op_ge, Left))
            .op(Op::infix(Rule::op_shl, Left) | Op::infix(Rule::op_shr, Left))
            .op(Op::infix(Rule::op_add, Left) | Op::infix(Rule::op_sub, Left))
            .op(Op::infix(Rule::op_mul, Left)
                | Op::infix(Rule::op_div, Left)
                | Op::infix(Rule::op_rem, Left))
            .op(Op::prefix(Rule::op_not) | Op::prefix(Rule::op_neg) | Op::prefix(Rule::op_bnot))
    })
}

/// Parses `text`, the content of a predicate field whose span is `base`.
/// Spans in the result and in errors are positions in the file.
pub fn parse_predicate(text: &str, base: Span) -> Result<Expr, PredicateError> {
    let at = |s: usize, e: usize| base.sub(text, s, e);
    if text.len() > MAX_PREDICATE_LEN {
        return Err(PredicateError {
            span: at(0, text.len()),
            kind: PredicateErrorKind::TooLong {
                limit: MAX_PREDICATE_LEN,
            },
        });
    }
    if let Some(pos) = too_deep(text) {
        return Err(PredicateError {
            span: at(pos, pos + 1),
            kind: PredicateErrorKind::TooDeep { limit: MAX_NESTING },
        });
    }
    let mut pairs = HacmpParser::parse(Rule::predicate, text).map_err(|e| {
        let pos = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        let mut expected: Vec<&'static str> = match &e.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => {
                positives.iter().map(|r| rule_name(*r)).collect()
            }
            pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
        };
        expected.sort_unstable();
        expected.dedup();
        let found = text[pos.min(text.len())..]
            .chars()
            .next()
            .map(|c| c.to_string());
        let end = pos + found.as_ref().map_or(0, |f| f.len());
        PredicateError {
            span: at(pos, end),
            kind: PredicateErrorKind::Syntax { expected, found },
        }
    })?;
    let expr = pairs
        .next()
        .and_then(|p| p.into_inner().next())
        .ok_or_else(|| PredicateError {
            span: at(0, text.len()),
            kind: PredicateErrorKind::Syntax {
                expected: vec!["an expression"],
                found: None,
            },
        })?;
    build_expr(expr.into_inner(), text, base)
}

/// The byte offset where nesting first exceeds the limit.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut unary_run = 0usize;
    let mut expect_operand = true;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            ' ' | '\t' => continue,
            '"' => {
                in_string = true;
                expect_operand = false;
                unary_run = 0;
            }
            '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
                expect_operand = true;
            }
            ')' => {
                depth = depth.saturating_sub(1);
                expect_operand = false;
                unary_run = 0;
            }
            '!' | '-' | '~' if expect_operand => {
                unary_run += 1;
                if unary_run > MAX_NESTING {
                    return Some(i);
                }
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '@' => {
                expect_operand = false;
                unary_run = 0;
            }
            _ => {
                expect_operand = true;
                unary_run = 0;
            }
        }
    }
    None
}

type Built = Result<Expr, PredicateError>;

fn build_expr(pairs: Pairs<'_, Rule>, text: &str, base: Span) -> Built {
    pratt()
        .map_primary(|p| primary(p, text, base))
        .map_prefix(|op, rhs| {
            let rhs = rhs?;
            let op_span = pair_span(&op, text, base);
            let u = match op.as_rule() {
                Rule::op_not => UnaryOp::Not,
                Rule::op_neg => UnaryOp::Neg,
                _ => UnaryOp::BitNot,
            };
            let span = Span {
                end: rhs.span.end,
                ..op_span
            };
            Ok(Expr {
                kind: ExprKind::Unary(u, Box::new(rhs)),
                span,
            })
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let b = match op.as_rule() {
                Rule::op_or => BinaryOp::Or,
                Rule::op_and => BinaryOp::And,
                Rule::op_bor => BinaryOp::BitOr,
                Rule::op_bxor => BinaryOp::BitXor,
                Rule::op_band => BinaryOp::BitAnd,
                Rule::op_eq => BinaryOp::Eq,
                Rule::op_ne => BinaryOp::Ne,
                Rule::op_lt => BinaryOp::Lt,
                Rule::op_le => BinaryOp::Le,
                Rule::op_gt => BinaryOp::Gt,
                Rule::op_ge => BinaryOp::Ge,
                Rule::op_shl => BinaryOp::Shl,
                Rule::op_shr => BinaryOp::Shr,
                Rule::op_add => BinaryOp::Add,
                Rule::op_sub => BinaryOp::Sub,
                Rule::op_mul => BinaryOp::Mul,
                Rule::op_div => BinaryOp::Div,
                Rule::op_rem => BinaryOp::Rem,
                _ => {
                    return Err(PredicateError {
                        span: pair_span(&op, text, base),
                        kind: PredicateErrorKind::SingleEquals,
                    })
                }
            };
            let span = Span {
                end: rhs.span.end,
                ..lhs.span
            };
            Ok(Expr {
                kind: ExprKind::Binary(b, Box::new(lhs), Box::new(rhs)),
                span,
            })
        })
        .parse(pairs)
}

fn pair_span(p: &Pair<'_, Rule>, text: &str, base: Span) -> Span {
    let s = p.as_span();
    base.sub(text, s.start(), s.end())
}

fn primary(p: Pair<'_, Rule>, text: &str, base: Span) -> Built {
    let s = p.as_span();
    let span = base.sub(text, s.start(), s.end());
    let err = |kind| Err(PredicateError { span, kind });
    let kind = match p.as_rule() {
        Rule::expr => return build_expr(p.into_inner(), text, base),
        Rule::value => ExprKind::Value,
        Rule::field_ref => {
            let inner = p.into_inner().next();
            match inner {
                Some(i) if i.as_rule() == Rule::field_index => match i.as_str().parse::<u32>() {
                    Ok(n) => ExprKind::Field(n),
                    Err(_) => return err(PredicateErrorKind::FieldIndexOutOfRange),
                },
                _ => ExprKind::Previous,
            }
        }
        Rule::int => {
            let t = p.as_str();
            let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                i64::from_str_radix(h, 16)
            } else {
                t.parse::<i64>()
            };
            match v {
                Ok(v) => ExprKind::Int(v),
                Err(_) => return err(PredicateErrorKind::IntegerOutOfRange),
            }
        }
        Rule::float => match p.as_str().parse::<f64>() {
            Ok(v) if v.is_finite() => ExprKind::Float(v),
            _ => return err(PredicateErrorKind::FloatOutOfRange),
        },
        Rule::string => {
            let raw = p.into_inner().next().map_or("", |i| i.as_str());
            ExprKind::Str(unescape(raw))
        }
        Rule::name => {
            return err(PredicateErrorKind::UnknownName {
                name: p.as_str().to_string(),
            })
        }
        other => {
            return err(PredicateErrorKind::Syntax {
                expected: vec!["an operand"],
                found: Some(rule_name(other).to_string()),
            })
        }
    };
    Ok(Expr { kind, span })
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}
