//! Building `.rp` statements from the token lines of the grammar.

use pest::iterators::Pair;
use pest::Parser;

use crate::ast::{CommandLine, Expected, NodeSet, RpFile, Statement, StatementKind};
use crate::error::{NotUtf8, RpError, RpErrorKind};
use crate::parser::{HacmpParser, Rule};
use crate::span::{Span, Spanned};
use crate::text::as_text;

/// A recovery program with the problems found on its lines. Statements with a
/// recognisable node set and command are kept even when the rest of their line
/// is wrong, so later checks do not report a spurious empty program.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedRp {
    pub file: RpFile,
    pub errors: Vec<RpError>,
}

#[derive(Clone, Debug)]
enum Token<'a> {
    Word(&'a str),
    Quoted(&'a str),
    Unclosed,
}

struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        let idx = match self.starts.binary_search(&start) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let ls = self.starts[idx];
        let le = self.text[ls..]
            .find('\n')
            .map_or(self.text.len(), |e| ls + e);
        Span::in_line(ls, idx as u32 + 1, &self.text[ls..le], start - ls, end - ls)
    }
}

pub fn parse_rp(bytes: &[u8]) -> Result<ParsedRp, NotUtf8> {
    let text = as_text(bytes)?;
    let lines = Lines::new(text);
    let mut out = ParsedRp::default();
    let Ok(mut file) = HacmpParser::parse(Rule::rp_file, text) else {
        // The grammar accepts every text; never panic if that ever changes.
        return Ok(out);
    };
    let Some(file) = file.next() else {
        return Ok(out);
    };
    for pair in file.into_inner() {
        if pair.as_rule() == Rule::rp_statement {
            statement(pair, &lines, &mut out);
        }
    }
    Ok(out)
}

fn statement(pair: Pair<'_, Rule>, lines: &Lines<'_>, out: &mut ParsedRp) {
    let ps = pair.as_span();
    let line_span = lines.span(ps.start(), ps.end());
    let tokens: Vec<(Token<'_>, Span)> = pair
        .into_inner()
        .map(|t| {
            let s = t.as_span();
            let span = lines.span(s.start(), s.end());
            let tok = match t.as_rule() {
                Rule::rp_quoted => Token::Quoted(t.into_inner().next().map_or("", |i| i.as_str())),
                Rule::rp_unclosed => Token::Unclosed,
                _ => Token::Word(t.as_str()),
            };
            (tok, span)
        })
        .collect();
    let Some((first, first_span)) = tokens.first() else {
        return;
    };
    let err = |out: &mut ParsedRp, span: Span, kind: RpErrorKind| {
        out.errors.push(RpError { span, kind });
    };

    let node_set = match first {
        Token::Word(w) if w.eq_ignore_ascii_case("barrier") => {
            if tokens.len() > 1 {
                let only_null = tokens.len() == 2 && matches!(tokens[1].0, Token::Word("NULL"));
                let span = join(tokens[1].1, tokens[tokens.len() - 1].1);
                err(out, span, RpErrorKind::BarrierExtra { only_null });
            }
            out.file.statements.push(Statement {
                kind: StatementKind::Barrier,
                span: line_span,
            });
            return;
        }
        Token::Word(w) => match parse_node_set(w) {
            Some(ns) => ns,
            None => {
                err(
                    out,
                    *first_span,
                    RpErrorKind::UnknownNodeSet {
                        found: w.to_string(),
                        suggestion: suggest_node_set(w),
                    },
                );
                return;
            }
        },
        Token::Quoted(_) | Token::Unclosed => {
            err(out, *first_span, RpErrorKind::MissingNodeSet);
            return;
        }
    };
    let node_set = Spanned::new(node_set, *first_span);

    let (command, words) = match tokens.get(1) {
        Some((Token::Quoted(inner), span)) => {
            let inner_span = Span {
                start: span.start + 1,
                end: span.end - 1,
                line: span.line,
                col: span.col + 1,
            };
            (
                Spanned::new(inner.to_string(), inner_span),
                split_words(inner, inner_span),
            )
        }
        Some((Token::Unclosed, span)) => {
            err(out, *span, RpErrorKind::UnclosedQuote);
            return;
        }
        Some((Token::Word(w), span)) => {
            err(
                out,
                *span,
                RpErrorKind::CommandNotQuoted {
                    found: w.to_string(),
                },
            );
            return;
        }
        None => {
            let at = lines.span(first_span.end, first_span.end);
            err(out, at, RpErrorKind::MissingCommand);
            return;
        }
    };

    let mut expected = Spanned::new(Expected::Any, command.span);
    match tokens.get(2) {
        Some((Token::Word(w), span)) => match parse_status(w) {
            Some(e) => expected = Spanned::new(e, *span),
            None => err(
                out,
                *span,
                RpErrorKind::BadStatus {
                    found: w.to_string(),
                },
            ),
        },
        Some((_, span)) => err(
            out,
            *span,
            RpErrorKind::BadStatus {
                found: "a quoted string".into(),
            },
        ),
        None => err(
            out,
            lines.span(tokens[1].1.end, tokens[1].1.end),
            RpErrorKind::MissingStatus,
        ),
    }
    if tokens.len() >= 3 {
        match tokens.get(3) {
            Some((Token::Word("NULL"), _)) => {
                if tokens.len() > 4 {
                    let span = join(tokens[4].1, tokens[tokens.len() - 1].1);
                    err(
                        out,
                        span,
                        RpErrorKind::AfterNull {
                            count: tokens.len() - 4,
                        },
                    );
                }
            }
            Some((tok, span)) => {
                let found = match tok {
                    Token::Word(w) => w.to_string(),
                    _ => "a quoted string".to_string(),
                };
                err(out, *span, RpErrorKind::NotNull { found });
            }
            None => err(
                out,
                lines.span(tokens[2].1.end, tokens[2].1.end),
                RpErrorKind::MissingNull,
            ),
        }
    }

    out.file.statements.push(Statement {
        kind: StatementKind::Command(CommandLine {
            node_set,
            command,
            words,
            expected,
        }),
        span: line_span,
    });
}

/// Node-set words are case-insensitive.
pub fn parse_node_set(w: &str) -> Option<NodeSet> {
    if w.eq_ignore_ascii_case("all") {
        Some(NodeSet::All)
    } else if w.eq_ignore_ascii_case("event") {
        Some(NodeSet::Event)
    } else if w.eq_ignore_ascii_case("other") {
        Some(NodeSet::Other)
    } else {
        None
    }
}

/// `X`/`x` or an integer 0–255.
pub fn parse_status(w: &str) -> Option<Expected> {
    if w.eq_ignore_ascii_case("x") {
        return Some(Expected::Any);
    }
    if w.is_empty() || w.len() > 3 || !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse::<u8>().ok().map(Expected::Status)
}

/// The nearest of `all`/`event`/`other`/`barrier` within two edits.
fn suggest_node_set(w: &str) -> Option<&'static str> {
    let lower = w.to_ascii_lowercase();
    ["all", "event", "other", "barrier"]
        .into_iter()
        .map(|c| (edit_distance(&lower, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn split_words(inner: &str, span: Span) -> Vec<Spanned<String>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in inner
        .char_indices()
        .chain(std::iter::once((inner.len(), ' ')))
    {
        if c == ' ' || c == '\t' {
            if let Some(s) = start.take() {
                words.push(Spanned::new(inner[s..i].to_string(), span.sub(inner, s, i)));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    words
}

fn join(a: Span, b: Span) -> Span {
    Span {
        start: a.start,
        end: b.end,
        line: a.line,
        col: a.col,
    }
}
