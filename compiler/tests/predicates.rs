//! Predicate semantics: operators, types, precedence, `X@P`, errors.

use hacmp_compiler::predicate::{compile, CompiledPredicate, EvalError, Observation, Plan, Scalar};
use hacmp_grammar::parse_predicate;
use hacmp_grammar::span::Span;
use hacmp_stdlib::{ScalarType, ValueType};

fn base() -> Span {
    Span {
        start: 0,
        end: 0,
        line: 1,
        col: 1,
    }
}

fn int() -> ValueType {
    ValueType::Scalar(ScalarType::Int)
}

fn float() -> ValueType {
    ValueType::Scalar(ScalarType::Float)
}

fn pcount() -> ValueType {
    ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String])
}

fn c(src: &str, t: &ValueType) -> CompiledPredicate {
    let e = parse_predicate(src, base()).unwrap_or_else(|e| panic!("{src}: {e:?}"));
    compile(&e, t, src).unwrap_or_else(|e| panic!("{src}: {e:?}"))
}

fn type_error(src: &str, t: &ValueType) -> String {
    let e = parse_predicate(src, base()).unwrap();
    compile(&e, t, src).expect_err(src)[0].message.clone()
}

fn on(p: &CompiledPredicate, cur: &[Scalar], prev: Option<&[Scalar]>) -> Result<bool, EvalError> {
    p.eval(&Observation {
        current: cur,
        previous: prev,
    })
}

/// Evaluates a constant predicate (reads no value).
fn k(src: &str) -> Result<bool, EvalError> {
    on(&c(src, &int()), &[Scalar::Int(0)], None)
}

#[test]
fn precedence_follows_c() {
    assert_eq!(k("1+2*3==7"), Ok(true));
    assert_eq!(k("(1+2)*3==9"), Ok(true));
    assert_eq!(k("1<<2+1==8"), Ok(true));
    assert_eq!(
        k("1|2&3==3"),
        Ok(true),
        "& binds tighter than |, == tighter than &"
    );
    assert_eq!(k("1||0&&0"), Ok(true), "&& binds tighter than ||");
    assert_eq!(k("-2*-3==6"), Ok(true));
    assert_eq!(k("!0+1==2"), Ok(true), "unary binds tightest");
    assert_eq!(k("10-4-3==3"), Ok(true), "left associative");
    assert_eq!(k("7%4==3 && 7/2==3"), Ok(true));
    assert_eq!(k("~0==-1 && (6^3)==5"), Ok(true));
    assert_eq!(k("1 < 2 == 1"), Ok(true), "relational before equality");
    assert_eq!(k("0x10==16"), Ok(true));
}

#[test]
fn comparisons_and_logic_give_zero_or_one() {
    assert_eq!(k("(3>2)+(2>1)==2"), Ok(true));
    assert_eq!(k("(5&&7)==1"), Ok(true));
    assert_eq!(k("(0||9)==1"), Ok(true));
    assert_eq!(k("!5==0"), Ok(true));
}

#[test]
fn integer_with_float_gives_float() {
    assert_eq!(k("1/2==0"), Ok(true), "integer division");
    assert_eq!(k("1/2.0==0.5"), Ok(true));
    assert_eq!(k("1.5+1==2.5"), Ok(true));
    assert_eq!(k("2e3==2000"), Ok(true));
    let p = c("X>90", &float());
    assert_eq!(on(&p, &[Scalar::Float(90.5)], None), Ok(true));
    assert_eq!(on(&p, &[Scalar::Float(90.0)], None), Ok(false));
    assert_eq!(
        on(&p, &[Scalar::Int(91)], None),
        Ok(true),
        "an integer observation of a float variable"
    );
}

#[test]
fn strings_compare_only_for_equality() {
    let state = ValueType::Sbs(vec![ScalarType::String]);
    let p = c("X@0==\"READY\"", &state);
    assert_eq!(on(&p, &[Scalar::Str("READY".into())], None), Ok(true));
    assert_eq!(on(&p, &[Scalar::Str("DOWN".into())], None), Ok(false));
    let p = c("X@0!=\"a \\\"quoted\\\" \\\\ word\"", &state);
    assert_eq!(
        on(&p, &[Scalar::Str("a \"quoted\" \\ word".into())], None),
        Ok(false)
    );
    assert!(type_error("X@0<\"READY\"", &state).contains("only `==` and `!=`"));
    assert!(type_error("X@0==1", &state).contains("compares a string with an integer"));
    assert!(type_error("X@0+1", &state).contains("strings"));
    assert!(type_error("X@0", &state).contains("must be a number"));
}

#[test]
fn structured_fields() {
    let p = c("X@0==0&&X@1!=0", &pcount());
    let obs = |a: i64, b: i64| vec![Scalar::Int(a), Scalar::Int(b), Scalar::Str(String::new())];
    assert_eq!(on(&p, &obs(0, 1), None), Ok(true));
    assert_eq!(on(&p, &obs(0, 0), None), Ok(false));
    assert_eq!(on(&p, &obs(2, 1), None), Ok(false));
    assert!(type_error("X@5==0", &pcount()).contains("past the last field"));
    assert!(type_error("X==0", &pcount()).contains("structured value"));
    assert!(type_error("X@P==0", &pcount()).contains("plain values only"));
    assert!(type_error("X@0==0", &int()).contains("plain number"));
    assert!(type_error("X@2>1", &pcount()).contains("compares a string"));
}

#[test]
fn previous_observation() {
    let p = c("X > X@P && X@P != 0", &int());
    assert_eq!(
        on(&p, &[Scalar::Int(5)], None),
        Err(EvalError::NoPrevious),
        "false until a second observation"
    );
    assert_eq!(on(&p, &[Scalar::Int(5)], Some(&[Scalar::Int(3)])), Ok(true));
    assert_eq!(
        on(&p, &[Scalar::Int(5)], Some(&[Scalar::Int(0)])),
        Ok(false)
    );
    assert!(p.reads_previous);
    // `||` would short-circuit before reading `X@P`: still false on the
    // first observation, on the plan and on the stack machine alike.
    for src in ["X>90||X@P>90", "X>90||(X@P>90&&X>0)"] {
        let p = c(src, &int());
        assert_eq!(
            on(&p, &[Scalar::Int(95)], None),
            Err(EvalError::NoPrevious),
            "{src}"
        );
        assert_eq!(
            on(&p, &[Scalar::Int(95)], Some(&[Scalar::Int(1)])),
            Ok(true),
            "{src}"
        );
    }
}

#[test]
fn evaluation_errors_make_it_false_not_a_crash() {
    let p = c("100/X>1", &int());
    assert_eq!(
        on(&p, &[Scalar::Int(0)], None),
        Err(EvalError::DivisionByZero)
    );
    assert_eq!(on(&p, &[Scalar::Int(10)], None), Ok(true));
    let p = c("X%X==0", &int());
    assert_eq!(
        on(&p, &[Scalar::Int(0)], None),
        Err(EvalError::DivisionByZero)
    );
    let p = c("X*2>0", &int());
    assert_eq!(
        on(&p, &[Scalar::Int(i64::MAX)], None),
        Err(EvalError::Overflow)
    );
    let p = c("-X>0", &int());
    assert_eq!(
        on(&p, &[Scalar::Int(i64::MIN)], None),
        Err(EvalError::Overflow)
    );
    let p = c("X/-1>0", &int());
    assert_eq!(
        on(&p, &[Scalar::Int(i64::MIN)], None),
        Err(EvalError::Overflow)
    );
    let p = c("(1<<X)>0", &int());
    assert_eq!(on(&p, &[Scalar::Int(64)], None), Err(EvalError::Overflow));
    let p = c("X/0.0>1", &float());
    assert_eq!(
        on(&p, &[Scalar::Float(1.0)], None),
        Err(EvalError::DivisionByZero)
    );
    // A record that does not have the variable's layout.
    let p = c("X@1==0", &pcount());
    assert_eq!(on(&p, &[Scalar::Int(0)], None), Err(EvalError::Layout));
}

#[test]
fn bitwise_and_remainder_take_integers_only() {
    assert!(type_error("X%2==0", &float()).contains("takes integers"));
    assert!(type_error("(X&1)==0", &float()).contains("takes integers"));
    assert!(type_error("~X==0", &float()).contains("`~` takes an integer"));
}

#[test]
fn single_equals_is_rejected_with_a_hint() {
    let e = parse_predicate("X@0=0", base()).unwrap_err();
    assert_eq!(
        e.kind,
        hacmp_grammar::error::PredicateErrorKind::SingleEquals
    );
    assert_eq!((e.span.start, e.span.end, e.span.col), (3, 4, 4));
}

#[test]
fn short_circuit_skips_the_right_side() {
    // The right side would divide by zero; `&&` never evaluates it.
    let p = c("X!=0 && 10/X>1", &int());
    assert_eq!(on(&p, &[Scalar::Int(0)], None), Ok(false));
    let p = c("X==0 || 10/X>1", &int());
    assert_eq!(on(&p, &[Scalar::Int(0)], None), Ok(true));
}

#[test]
fn compiled_predicates_round_trip_through_json() {
    // Float ranges reach ±∞ (`X>1.0` has no upper bound), which JSON
    // numbers cannot hold.
    for (src, t) in [
        ("X@0==0&&X@1!=0", pcount()),
        ("X>1.0", float()),
        ("X<1e308||X*2.5>=-1e308", float()),
    ] {
        let p = c(src, &t);
        let json = serde_json::to_string(&p).unwrap();
        let back: CompiledPredicate = serde_json::from_str(&json).unwrap();
        assert_eq!(p, back, "{src}");
    }
}

/// The direct plans (comparisons as ranges) agree with the stack machine
/// at the edges: the extremes of the integers, ±0, ±∞, NaN, and the
/// neighbours of each constant, for the six operators.
#[test]
fn plans_agree_with_the_stack_machine_at_the_edges() {
    let ops = ["<", "<=", ">", ">=", "==", "!="];
    let ints: Vec<i64> = vec![
        i64::MIN,
        i64::MIN + 1,
        -1,
        0,
        1,
        89,
        90,
        91,
        i64::MAX - 1,
        i64::MAX,
    ];
    for k in [
        "-9223372036854775807",
        "0",
        "90",
        "9223372036854775806",
        "9223372036854775807",
    ] {
        for op in ops {
            let src = format!("X{op}{k}");
            let p = c(&src, &int());
            // (A negative constant is a negation: the stack machine's.)
            if !k.starts_with('-') {
                assert_ne!(p.plan, Plan::Stack, "{src}");
            }
            for v in &ints {
                let cur = [Scalar::Int(*v)];
                let obs = Observation {
                    current: &cur,
                    previous: None,
                };
                assert_eq!(p.eval(&obs), p.run_stack(&obs), "{src} at {v}");
            }
        }
    }
    let floats: Vec<f64> = vec![
        f64::NEG_INFINITY,
        f64::MIN,
        -1.0,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        89.999_999_999_999_99,
        90.0,
        90.000_000_000_000_01,
        f64::MAX,
        f64::INFINITY,
        f64::NAN,
    ];
    for k in ["0", "0.0", "90", "90.5", "1e308", "1e999"] {
        for op in ops {
            let src = format!("X{op}{k}");
            let Ok(p) = CompiledPredicate::from_source(&src, &float()) else {
                continue;
            };
            for v in &floats {
                for cur in [[Scalar::Float(*v)], [Scalar::Int(*v as i64)]] {
                    let obs = Observation {
                        current: &cur,
                        previous: None,
                    };
                    assert_eq!(p.eval(&obs), p.run_stack(&obs), "{src} at {cur:?}");
                }
            }
        }
    }
}
