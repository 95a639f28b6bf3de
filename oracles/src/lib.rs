//! The properties every input must keep, whatever its bytes. Each function
//! takes arbitrary bytes and panics when a property fails: the cargo-fuzz
//! targets in `fuzz/` call them, and `tests/corpus.rs` runs them over the
//! seed corpus and over generated inputs on every `cargo test`.
//!
//! Beyond "no panic":
//! - diagnostics point inside their file, and human output carries no
//!   control character but line feed and tab (no terminal injection);
//! - what lint lowers survives a bundle: serialised, read back (predicates
//!   compiled again from their text) and verified, it is the same bundle;
//! - a predicate's plan and its stack machine agree on every observation,
//!   and its text compiles back to the same predicate;
//! - a feed line that parses is written back as a line that parses to the
//!   same observation;
//! - a bundle that verifies serialises to a bundle that verifies.

pub mod corpus;

use hacmp_compiler::ir::Bundle;
use hacmp_compiler::predicate::{CompiledPredicate, Observation, Scalar};
use hacmp_compiler::{lint_texts, render, Lint, LintOptions};
use hacmp_stdlib::{ScalarType, ValueType};

fn offline() -> LintOptions {
    LintOptions {
        fs_checks: false,
        ..LintOptions::default()
    }
}

/// A rules file.
pub fn rules(data: &[u8]) {
    let l = lint_texts(&[("rules.hacmprd", data)], &offline());
    rendered(&l);
    survives_a_bundle(&l);
}

/// A recovery program.
pub fn program(data: &[u8]) {
    let l = lint_texts(&[("/etc/hacmp/p.rp", data)], &offline());
    rendered(&l);
    survives_a_bundle(&l);
}

/// A site file, a scenario, a test file or a catalog: the same bytes are
/// tried as each.
pub fn toml(data: &[u8]) {
    let l = lint_texts(&[("site.toml", data)], &offline());
    rendered(&l);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = hacmp_sim::scenario::Scenario::from_toml(text) {
        let _ = s.validate();
    }
    let _ = hacmp_stdlib::Catalog::from_toml(text);
    if let Ok(t) = hacmp_em::testfile::TestFile::parse(text) {
        let site = lint_texts(&[("rules.hacmprd", REFERENCE_RULES)], &offline());
        let outcomes = hacmp_em::testfile::run(&t, &site.rules, &site.site.full_catalog());
        assert_eq!(outcomes.len(), t.tests.len(), "one outcome per test");
    }
}

/// Rules with conditions of several types, for test files to run against.
const REFERENCE_RULES: &[u8] = include_bytes!("../../tests/rules/documented.hacmprd");

/// A feed file, line by line.
pub fn feed(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let catalog = hacmp_stdlib::catalog();
    for (i, line) in text.split('\n').enumerate() {
        let Ok(obs) = hacmp_em::feed::parse_line(line, &catalog, "feed", i + 1) else {
            continue;
        };
        let again = hacmp_em::feed::line(&obs);
        match hacmp_em::feed::parse_line(&again, &catalog, "feed", 1) {
            Ok(back) => assert_eq!(back, obs, "`{line}` written back as `{again}`"),
            Err(e) => panic!(
                "`{line}` written back as `{again}`, which does not parse: {}",
                e.message
            ),
        }
    }
}

/// A bundle file.
pub fn bundle(data: &[u8]) {
    let Ok(b) = serde_json::from_slice::<Bundle>(data) else {
        return;
    };
    if !b.verify() {
        return;
    }
    let json = serde_json::to_string(&b).expect("a bundle serialises");
    let back: Bundle = serde_json::from_str(&json).expect("a written bundle reads back");
    assert!(
        back.verify(),
        "a verified bundle, written and read back, no longer verifies"
    );
    assert_eq!(back, b);
}

/// A predicate over one of four value types (chosen by the first byte),
/// evaluated on observations made of the bytes after its first line feed.
pub fn predicate(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let Ok(text) = std::str::from_utf8(&rest[..split]) else {
        return;
    };
    let values = rest.get(split + 1..).unwrap_or_default();
    let (vt, layout) = value_type(kind);
    let Ok(p) = CompiledPredicate::from_source(text, &vt) else {
        return;
    };
    let again = CompiledPredicate::from_source(&p.source, &vt)
        .expect("a compiled predicate's text compiles");
    assert_eq!(
        again, p,
        "`{text}` compiles to something else from its own text"
    );
    let mut gen = Values {
        bytes: values,
        at: 0,
    };
    for _ in 0..8 {
        let current = gen.record(&layout);
        let previous = gen.record(&layout);
        for previous in [None, Some(previous.as_slice())] {
            let obs = Observation {
                current: &current,
                previous,
            };
            let by_plan = p.eval(&obs).unwrap_or(false);
            let by_stack = p.run_stack(&obs).unwrap_or(false);
            assert_eq!(
                by_plan, by_stack,
                "`{text}` on {obs:?}: the plan and the stack machine disagree"
            );
        }
        if gen.at >= gen.bytes.len() {
            break;
        }
    }
}

fn value_type(kind: u8) -> (ValueType, Vec<ScalarType>) {
    use ScalarType::*;
    let layout = match kind % 4 {
        0 => vec![Int],
        1 => vec![Float],
        2 => vec![String],
        _ => vec![Int, Int, String],
    };
    let vt = match layout.as_slice() {
        [one] => ValueType::Scalar(*one),
        many => ValueType::Sbs(many.to_vec()),
    };
    (vt, layout)
}

/// Values drawn from bytes, with the edges (0, ±1, extremes, NaN, ±∞)
/// likely.
struct Values<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Values<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    fn record(&mut self, layout: &[ScalarType]) -> Vec<Scalar> {
        layout
            .iter()
            .map(|t| {
                let pick = self.byte();
                match t {
                    ScalarType::Int => Scalar::Int(match pick % 8 {
                        0 => 0,
                        1 => 1,
                        2 => -1,
                        3 => i64::MAX,
                        4 => i64::MIN,
                        _ => self.u64() as i64,
                    }),
                    ScalarType::Float => Scalar::Float(match pick % 8 {
                        0 => 0.0,
                        1 => -0.0,
                        2 => f64::NAN,
                        3 => f64::INFINITY,
                        4 => f64::NEG_INFINITY,
                        5 => 1.0,
                        _ => f64::from_bits(self.u64()),
                    }),
                    ScalarType::String => Scalar::Str(match pick % 4 {
                        0 => String::new(),
                        1 => "root".into(),
                        _ => ((pick / 4) as char).to_string(),
                    }),
                }
            })
            .collect()
    }
}

/// Every diagnostic points inside its file; rendering never fails; human
/// output without colour has no control character but line feed and tab.
fn rendered(l: &Lint) {
    for d in &l.diagnostics {
        let text = &l.sources.get(d.file).text;
        let s = d.span;
        assert!(
            s.start <= s.end && text.get(s.start..s.end).is_some(),
            "{:?} {} at {}..{} is not inside its file of {} bytes",
            d.code,
            d.message,
            s.start,
            s.end,
            text.len()
        );
    }
    let human = render::human(&l.sources, &l.diagnostics, false);
    if let Some(c) = human
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        panic!("human output carries the control character {c:?}:\n{human}");
    }
    let json = render::json(&l.sources, &l.diagnostics);
    serde_json::from_str::<serde_json::Value>(&json).expect("JSON output is JSON");
    let sarif = render::sarif(&l.sources, &l.diagnostics, None);
    serde_json::from_str::<serde_json::Value>(&sarif).expect("SARIF output is JSON");
}

/// What lint lowered, bundled, written and read back, is the same bundle.
fn survives_a_bundle(l: &Lint) {
    let b = Bundle::new(
        l.site.clone(),
        l.rules.clone(),
        l.programs.clone(),
        l.hashes.clone(),
    );
    assert!(b.verify());
    let json = serde_json::to_string(&b).expect("a bundle serialises");
    let back: Bundle = match serde_json::from_str(&json) {
        Ok(b) => b,
        Err(e) => panic!("a bundle of what lint lowered does not read back: {e}"),
    };
    assert!(back.verify(), "a bundle read back no longer verifies");
    assert_eq!(back, b, "a bundle read back differs");
}
