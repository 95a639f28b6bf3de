//! R016 and R012 answer only what they prove: predicates that can be true
//! on some value are never called constant, overlaps between a predicate
//! and its rearm predicate are found where they are narrow, and constants
//! that are constant are still reported. Property: whatever the analysis
//! calls constant, no value contradicts.

use hacmp_compiler::predicate::{
    analyze, compile, Analysis, CompiledPredicate, Observation, Overlap, Scalar,
};
use hacmp_grammar::parse_predicate;
use hacmp_grammar::span::Span;
use hacmp_stdlib::{ScalarType, ValueType};
use proptest::prelude::*;

fn int() -> ValueType {
    ValueType::Scalar(ScalarType::Int)
}
fn float() -> ValueType {
    ValueType::Scalar(ScalarType::Float)
}
fn fields() -> ValueType {
    ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String])
}

fn c(src: &str, t: &ValueType) -> CompiledPredicate {
    let e = parse_predicate(src, Span::default()).unwrap_or_else(|e| panic!("{src}: {e:?}"));
    compile(&e, t, src).unwrap_or_else(|e| panic!("{src}: {e:?}"))
}

fn of(src: &str, t: &ValueType) -> Analysis {
    analyze(&c(src, t), None, t)
}

#[test]
fn predicates_true_somewhere_are_not_constant() {
    for (src, t) in [
        ("X@0-1-1==1", fields()),
        ("X@0<<1+1==12", fields()),
        ("X@0>>1==2", fields()),
        ("-X@0/2==-3", fields()),
        ("X/2==45.5", float()),
        ("X>90.5&&X<90.6", float()),
        ("X%7==6&&X>1000", int()),
        ("(X&255)==17", int()),
    ] {
        let a = of(src, &t);
        assert_eq!(a.predicate_constant, None, "{src}: {a:?}");
        assert_eq!(
            a.predicate_undecided, None,
            "{src}: a value where it holds is found: {a:?}"
        );
    }
}

#[test]
fn constant_predicates_are_proven() {
    for (src, t, v) in [
        ("X>5&&X<3", int(), false),
        ("X>90.5&&X<90.4", float(), false),
        ("1==1", int(), true),
        ("X>=0||X<0", int(), true),
        ("X@0*0==0", fields(), true),
        ("(X&3)>3", int(), false),
        ("X@P>5&&X@P<3", int(), false),
    ] {
        let a = of(src, &t);
        assert_eq!(a.predicate_constant, Some(v), "{src}: {a:?}");
    }
    // Constant, but not by intervals (both sides are the same value): left
    // open, said as such.
    let a = of("X@P<X@P", &int());
    assert_eq!(
        (a.predicate_constant, a.predicate_undecided),
        (None, Some(false)),
        "{a:?}"
    );
}

#[test]
fn narrow_overlaps_are_found_and_disjoint_pairs_proven() {
    let t = float();
    let a = analyze(&c("X>90&&X<91", &t), Some(&c("X>90.2&&X<90.3", &t)), &t);
    match &a.overlap {
        Some(Overlap::Found(w)) => {
            let x = match &w.0[0].1 {
                Scalar::Float(x) => *x,
                other => panic!("{other:?}"),
            };
            assert!(x > 90.2 && x < 90.3, "{w}");
        }
        other => panic!("{other:?}"),
    }
    let a = analyze(&c("X>90", &t), Some(&c("X<80", &t)), &t);
    assert_eq!(a.overlap, Some(Overlap::Disjoint));
    let i = int();
    let a = analyze(
        &c("X@0==0&&X@1!=0", &fields()),
        Some(&c("X@0!=0", &fields())),
        &fields(),
    );
    assert_eq!(a.overlap, Some(Overlap::Disjoint), "{a:?}");
    let a = analyze(&c("X>90", &i), Some(&c("X<=90", &i)), &i);
    assert_eq!(a.overlap, Some(Overlap::Disjoint));
}

/// Predicates over one integer `X`, from pieces that mix arithmetic,
/// bitwise and comparison operators.
fn arb_pred() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("X".to_string()),
        (-20i64..20).prop_map(|k| k.to_string()),
    ];
    let term = (
        atom.clone(),
        prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("&"),
            Just("|"),
            Just("^"),
            Just(">>"),
            Just("<<")
        ],
        atom,
    )
        .prop_map(|(a, op, b)| format!("({a}{op}{b})"));
    let cmp = (
        term.clone(),
        prop_oneof![
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just("=="),
            Just("!=")
        ],
        term,
    )
        .prop_map(|(a, op, b)| format!("{a}{op}{b}"));
    (cmp.clone(), prop_oneof![Just("&&"), Just("||")], cmp)
        .prop_map(|(a, op, b)| format!("{a}{op}{b}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn whatever_is_called_constant_is_constant(src in arb_pred(), xs in prop::collection::vec(any::<i64>(), 200), small in prop::collection::vec(-300i64..300, 200)) {
        let t = int();
        let e = match parse_predicate(&src, Span::default()) { Ok(e) => e, Err(_) => return Ok(()) };
        let Ok(p) = compile(&e, &t, &src) else { return Ok(()) };
        let a = analyze(&p, None, &t);
        if let Some(v) = a.predicate_constant {
            for x in xs.iter().chain(small.iter()) {
                let cur = [Scalar::Int(*x)];
                let prev = [Scalar::Int(0)];
                let got = p.eval(&Observation { current: &cur, previous: Some(&prev) }).unwrap_or(false);
                prop_assert_eq!(got, v, "{} called always {} but X = {} gives {}", src, v, x, got);
            }
        }
    }
}

#[test]
fn string_conditions_are_decided_over_their_constants() {
    let t = ValueType::Scalar(ScalarType::String);
    let a = analyze(&c("X==\"FAILED\"", &t), Some(&c("X!=\"FAILED\"", &t)), &t);
    assert_eq!(a.overlap, Some(Overlap::Disjoint), "{a:?}");
    let a = analyze(&c("X==\"A\"&&X==\"B\"", &t), None, &t);
    assert_eq!(a.predicate_constant, Some(false), "{a:?}");
    let a = analyze(&c("X!=\"A\"", &t), Some(&c("X!=\"B\"", &t)), &t);
    assert!(matches!(a.overlap, Some(Overlap::Found(_))), "{a:?}");
}
