//! Splitting a rules file into comment and field lines.

use pest::Parser;

use crate::ast::{Field, RulesText};
use crate::error::NotUtf8;
use crate::parser::{HacmpParser, Rule};
use crate::span::{column_of, Span};
use crate::text::as_text;

/// Parses the lines of a rules file. Fails only on bytes that are not UTF-8;
/// every string is a sequence of comment and field lines.
pub fn parse_rules(bytes: &[u8]) -> Result<RulesText, NotUtf8> {
    let text = as_text(bytes)?;
    let mut out = RulesText::default();
    // The grammar accepts every text, so an error here is a bug in it; still,
    // never panic: report the whole text as one field rather than crash.
    let pairs = match HacmpParser::parse(Rule::rules_file, text) {
        Ok(mut p) => p.next().map(|f| f.into_inner()),
        Err(_) => None,
    };
    let Some(pairs) = pairs else {
        out.fields.push(Field {
            text: text.to_string(),
            span: Span {
                start: 0,
                end: text.len(),
                line: 1,
                col: 1,
            },
        });
        return Ok(out);
    };
    let ends_with_newline = text.ends_with('\n');
    let mut line = 0u32;
    for pair in pairs {
        let rule = pair.as_rule();
        if rule == Rule::EOI {
            break;
        }
        line += 1;
        let span = pair.as_span();
        match rule {
            Rule::comment => out.comments += 1,
            Rule::field => {
                // The empty "line" after the final line feed is not a field.
                if ends_with_newline && span.start() == text.len() {
                    continue;
                }
                let s = span.as_str();
                out.fields.push(Field {
                    text: s.to_string(),
                    span: Span {
                        start: span.start(),
                        end: span.end(),
                        line,
                        col: 1,
                    },
                });
            }
            _ => {}
        }
    }
    let last_line_start = text.rfind('\n').map_or(0, |i| i + 1);
    out.end = Span {
        start: text.len(),
        end: text.len(),
        line: line.max(1),
        col: column_of(&text[last_line_start..], text.len() - last_line_start),
    };
    Ok(out)
}
