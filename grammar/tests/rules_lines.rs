//! The rules line splitter agrees with the `rules_file` rule of the grammar:
//! same comment count, same fields with the same spans, same end.

use hacmp_grammar::parse_rules;
use hacmp_grammar::parser::{HacmpParser, Rule};
use pest::Parser;
use proptest::prelude::*;

/// A field line: its text, start, end and line number.
type Line = (String, usize, usize, u32);

/// (comments, fields, line count) by the grammar.
fn by_grammar(text: &str) -> (usize, Vec<Line>, u32) {
    let pairs = HacmpParser::parse(Rule::rules_file, text)
        .expect("the grammar accepts every text")
        .next()
        .unwrap()
        .into_inner();
    let (mut comments, mut fields, mut line) = (0, Vec::new(), 0u32);
    for pair in pairs {
        match pair.as_rule() {
            Rule::EOI => break,
            Rule::comment => comments += 1,
            Rule::field => {
                let s = pair.as_span();
                // The empty line after a final line feed is not a field.
                if !(text.ends_with('\n') && s.start() == text.len()) {
                    fields.push((s.as_str().to_string(), s.start(), s.end(), line + 1));
                }
            }
            _ => {}
        }
        line += 1;
    }
    (comments, fields, line)
}

fn agree(text: &str) -> Result<(), TestCaseError> {
    let (comments, fields, lines) = by_grammar(text);
    let parsed = parse_rules(text.as_bytes()).unwrap();
    prop_assert_eq!(parsed.comments, comments);
    let mine: Vec<_> = parsed
        .fields()
        .map(|f| (f.text.to_string(), f.span.start, f.span.end, f.span.line))
        .collect();
    prop_assert_eq!(mine, fields);
    prop_assert_eq!(parsed.end.line, lines.max(1));
    prop_assert_eq!(parsed.end.start, text.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn splitter_agrees_with_grammar(s in "[#a-z \r\n\t]{0,120}") {
        agree(&s)?;
    }

    #[test]
    fn splitter_agrees_on_any_text(s in "\\PC{0,80}(\n\\PC{0,20}){0,6}\n?") {
        agree(&s)?;
    }
}

#[test]
fn edge_cases_agree() {
    for text in [
        "",
        "\n",
        "\n\n",
        "#",
        "#\n",
        "a",
        "a\n",
        "a\r\n#b\r\n",
        "\n#\n\n",
    ] {
        agree(text).unwrap();
    }
}
