//! No input makes a parser panic: arbitrary bytes, arbitrary text, and
//! pathological nesting.

use hacmp_grammar::span::Span;
use hacmp_grammar::{parse_instance_vector, parse_predicate, parse_rp, parse_rules};
use proptest::prelude::*;

fn base() -> Span {
    Span {
        start: 0,
        end: 0,
        line: 1,
        col: 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rules_parser_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_rules(&bytes);
    }

    #[test]
    fn rp_parser_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_rp(&bytes);
    }

    #[test]
    fn predicate_parser_takes_any_text(s in "\\PC{0,80}") {
        let _ = parse_predicate(&s, base());
        let _ = parse_instance_vector(&s, base());
    }

    #[test]
    fn predicate_parser_takes_operator_soup(s in "[X@P0-9.x()!~+*/%<>=&|^\" -]{0,60}") {
        let _ = parse_predicate(&s, base());
    }

    #[test]
    fn rules_fields_keep_their_text(lines in proptest::collection::vec("[^\n#]{0,20}", 1..30)) {
        let text = lines.join("\n") + "\n";
        let parsed = parse_rules(text.as_bytes()).unwrap();
        let back: Vec<&str> = parsed.fields().map(|f| f.text).collect();
        prop_assert_eq!(back, lines.iter().map(String::as_str).collect::<Vec<_>>());
        for (i, f) in parsed.fields().enumerate() {
            prop_assert_eq!(f.span.line as usize, i + 1);
            prop_assert_eq!(&text[f.span.start..f.span.end], f.text);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for s in [
        "(".repeat(100_000),
        format!("{}X{}", "(".repeat(5000), ")".repeat(5000)),
        format!("{}X", "!".repeat(100_000)),
        format!("{}X", "- ".repeat(10_000)),
        "X+".repeat(50_000) + "X",
    ] {
        assert!(parse_predicate(&s, base()).is_err(), "{}…", &s[..20]);
    }
    // Within the limits, nesting parses.
    assert!(parse_predicate(&format!("{}X{}", "(".repeat(30), ")".repeat(30)), base()).is_ok());
}

#[test]
fn invalid_utf8_is_located() {
    let e = parse_rules(b"TE_JOIN_NODE\n0\n/a\xffb.rp\n").unwrap_err();
    assert_eq!((e.span.start, e.span.line, e.span.col), (17, 3, 3));
    let e = parse_rp(b"all \"/usr/bin/caf\xc3\" 0 NULL\n").unwrap_err();
    assert_eq!(e.span.line, 1);
}
