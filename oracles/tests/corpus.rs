//! Every oracle over the seed corpus, over mutations of it, and over
//! generated predicates: what `cargo fuzz` explores at length, checked
//! briefly on every test run.

use hacmp_oracles::corpus::{self, Kind};
use proptest::prelude::*;

fn run(kind: Kind, data: &[u8]) {
    match kind {
        Kind::Rules => hacmp_oracles::rules(data),
        Kind::Program => hacmp_oracles::program(data),
        Kind::Toml => hacmp_oracles::toml(data),
    }
}

fn seeds() -> Vec<(Kind, Vec<u8>)> {
    corpus::files()
        .into_iter()
        .filter_map(|(k, p)| std::fs::read(&p).ok().map(|b| (k, b)))
        .collect()
}

#[test]
fn the_corpus_keeps_every_property() {
    let seeds = seeds();
    for kind in [Kind::Rules, Kind::Program, Kind::Toml] {
        let n = seeds.iter().filter(|(k, _)| *k == kind).count();
        assert!(
            n >= 3,
            "only {n} {} seeds: is the corpus where it was?",
            kind.name()
        );
    }
    for (kind, bytes) in &seeds {
        run(*kind, bytes);
    }
    for line in corpus::FEED {
        hacmp_oracles::feed(line.as_bytes());
    }
    let predicates = corpus::predicates();
    assert!(
        predicates.len() >= 20,
        "{} predicate seeds",
        predicates.len()
    );
    for p in &predicates {
        hacmp_oracles::predicate(p);
    }
}

#[test]
fn bundles_of_the_examples_keep_every_property() {
    let top = corpus::workspace();
    for example in ["rwho", "tmp-full"] {
        let dir = top.join("examples").join(example);
        let opts = hacmp_compiler::LintOptions {
            site: Some(dir.join("site.toml")),
            ..hacmp_compiler::LintOptions::new()
        };
        let l = hacmp_compiler::lint(&[dir.join("rules.hacmprd")], &opts).unwrap();
        let b = l
            .bundle()
            .unwrap_or_else(|| panic!("{example}: {:?}", l.diagnostics));
        hacmp_oracles::bundle(serde_json::to_string(&b).unwrap().as_bytes());
    }
}

/// One random edit: flip, insert, delete or duplicate a byte or a line.
fn mutate(bytes: &mut Vec<u8>, op: u8, at: usize, byte: u8) {
    if bytes.is_empty() {
        bytes.push(byte);
        return;
    }
    let at = at % bytes.len();
    match op % 5 {
        0 => bytes[at] ^= byte | 1,
        1 => bytes.insert(at, byte),
        2 => {
            bytes.remove(at);
        }
        3 => {
            // Remove the line holding `at`: the most common slip.
            let start = bytes[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let end = bytes[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| at + i + 1);
            bytes.drain(start..end);
        }
        _ => {
            let start = bytes[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let end = bytes[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| at + i + 1);
            let line = bytes[start..end].to_vec();
            bytes.splice(start..start, line);
        }
    }
}

/// Predicates as the grammar builds them: most are well-formed, many are
/// well-typed for one of the four value types.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("X".to_string()),
        (0u8..3).prop_map(|i| format!("X@{i}")),
        Just("X@P".to_string()),
        (0u8..3).prop_map(|i| format!("X@P{i}")),
        (-3i64..300).prop_map(|i| i.to_string()),
        Just("9223372036854775807".to_string()),
        (-100.0f64..100.0).prop_map(|f| format!("{f:.2}")),
        "[a-z]{0,3}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        let ops = prop::sample::select(vec![
            "==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "-", "*", "/", "%", "&", "|", "^",
        ]);
        prop_oneof![
            (inner.clone(), ops, inner.clone()).prop_map(|(a, o, b)| format!("{a}{o}{b}")),
            (prop::sample::select(vec!["!", "-", "~"]), inner.clone())
                .prop_map(|(u, a)| format!("{u}{a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_seeds_keep_every_property(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        let seeds = seeds();
        let (kind, mut bytes) = seeds[pick.index(seeds.len())].clone();
        for (op, at, byte) in edits {
            mutate(&mut bytes, op, at, byte);
        }
        run(kind, &bytes);
    }

    #[test]
    fn generated_predicates_agree_by_plan_and_by_stack(
        kind in 0u8..4,
        text in expr(),
        values in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut data = vec![kind];
        data.extend_from_slice(text.as_bytes());
        data.push(b'\n');
        data.extend_from_slice(&values);
        hacmp_oracles::predicate(&data);
    }

    #[test]
    fn mutated_feed_lines_round_trip(
        pick in 0usize..5,
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = corpus::FEED[pick].as_bytes().to_vec();
        for (op, at, byte) in edits {
            mutate(&mut bytes, op, at, byte);
        }
        hacmp_oracles::feed(&bytes);
    }
}

#[test]
fn generated_predicates_often_compile() {
    // The agreement property means little if few generated predicates
    // get past the compiler: most must.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut compiled, total) = (0, 400);
    for i in 0..total {
        let text = expr().new_tree(&mut runner).unwrap().current();
        let vt = [
            hacmp_stdlib::ValueType::Scalar(hacmp_stdlib::ScalarType::Int),
            hacmp_stdlib::ValueType::Sbs(vec![
                hacmp_stdlib::ScalarType::Int,
                hacmp_stdlib::ScalarType::Int,
                hacmp_stdlib::ScalarType::String,
            ]),
        ][i % 2]
            .clone();
        compiled += usize::from(
            hacmp_compiler::predicate::CompiledPredicate::from_source(&text, &vt).is_ok(),
        );
    }
    assert!(
        compiled * 5 >= total,
        "only {compiled} of {total} generated predicates compile"
    );
}
