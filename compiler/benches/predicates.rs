//! Nanoseconds per evaluation of three predicates on changing inputs:
//! `X@0==0&&X@1!=0` (a process died), `X>90` (a file system full), and the
//! longer `X>=90&&X<100&&X@P<90` (a value entered a band, reading the
//! previous observation). Ours, a hand-written Rust function (the floor),
//! and two published evaluator crates (evalexpr, fasteval), all in one run
//! on the same inputs.
//!
//! `cargo bench -p hacmp-compiler --bench predicates`

use std::hint::black_box;
use std::time::Instant;

use evalexpr::{ContextWithMutableVariables, HashMapContext, Value};
use fasteval::{Compiler, Evaler};
use hacmp_compiler::predicate::{compile, Observation, Scalar};
use hacmp_grammar::parse_predicate;
use hacmp_grammar::span::Span;
use hacmp_stdlib::{ScalarType, ValueType};

const N: usize = 1024;
const ROUNDS: usize = 2000;

fn time(label: &str, mut f: impl FnMut(usize) -> bool) -> f64 {
    // Warm up, then take the best of five rounds of N×ROUNDS evaluations.
    let mut hits = 0usize;
    for i in 0..N * 50 {
        hits += usize::from(f(i % N));
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for r in 0..ROUNDS {
            for i in 0..N {
                hits += usize::from(f(black_box((i + r) % N)));
            }
        }
        best = best.min(t.elapsed().as_nanos() as f64 / (N * ROUNDS) as f64);
    }
    black_box(hits);
    println!("    {label:<34} {best:>8.2} ns");
    best
}

/// A predicate written by hand: the current record, the previous one.
trait Check: Fn(&[Scalar], Option<&[Scalar]>) -> bool {}
impl<F: Fn(&[Scalar], Option<&[Scalar]>) -> bool> Check for F {}

/// The current records, and the previous ones when the predicate reads
/// them.
struct Inputs {
    current: Vec<Vec<Scalar>>,
    previous: Option<Vec<Vec<Scalar>>>,
}

impl Inputs {
    fn at(&self, i: usize) -> (&[Scalar], Option<&[Scalar]>) {
        (
            &self.current[i],
            self.previous.as_ref().map(|p| p[i].as_slice()),
        )
    }
}

fn num(s: &Scalar) -> f64 {
    match s {
        Scalar::Int(v) => *v as f64,
        Scalar::Float(v) => *v,
        Scalar::Str(_) => 0.0,
    }
}

/// One predicate on its inputs: `ours` for a variable of type `var`, the
/// same test hand-written, and `theirs` for the crates over at most two
/// variables (`names`) with values from `vars`. Generic, so that each
/// closure is inlined where it is timed.
fn case(
    ours: &str,
    var: &ValueType,
    inputs: &Inputs,
    hand: impl Fn(&[Scalar], Option<&[Scalar]>) -> bool,
    theirs: &str,
    names: [&str; 2],
    vars: impl Fn(&[Scalar], Option<&[Scalar]>) -> [f64; 2],
) {
    println!("{ours}");
    let hand_ns = time("hand-written Rust (floor)", |i| {
        let (c, p) = inputs.at(i);
        hand(c, p)
    });
    // The same function called through a pointer, as code generated at
    // run time (a JIT) would be: the best any evaluator built from a
    // rule file can do, since the caller cannot inline it.
    let far: &dyn Check = black_box(&hand);
    let far_ns = time("hand-written, through a pointer", |i| {
        let (c, p) = inputs.at(i);
        far(c, p)
    });
    let p = compile(&parse_predicate(ours, Span::default()).unwrap(), var, ours).unwrap();
    let ours_ns = time("hacmp compiled predicate", |i| {
        let (current, previous) = inputs.at(i);
        p.eval(&Observation { current, previous }) == Ok(true)
    });

    let values: Vec<[f64; 2]> = (0..N)
        .map(|i| {
            let (c, p) = inputs.at(i);
            vars(c, p)
        })
        .collect();
    // evalexpr: a context per input (its variables are named), built
    // ahead, on a prebuilt tree; integers stay integers.
    let ints = matches!(var, ValueType::Sbs(_));
    let tree = evalexpr::build_operator_tree::<evalexpr::DefaultNumericTypes>(theirs).unwrap();
    let contexts: Vec<HashMapContext> = values
        .iter()
        .map(|v| {
            let mut ctx = HashMapContext::new();
            for (name, x) in names.iter().zip(v) {
                if !name.is_empty() {
                    let x = if ints {
                        Value::Int(*x as i64)
                    } else {
                        Value::Float(*x)
                    };
                    ctx.set_value((*name).into(), x).unwrap();
                }
            }
            ctx
        })
        .collect();
    let ee = time("evalexpr 13 (prebuilt tree)", |i| {
        tree.eval_boolean_with_context(&contexts[i]).unwrap()
    });

    // fasteval: compiled, variables through a closure namespace.
    let parser = fasteval::Parser::new();
    let mut slab = fasteval::Slab::new();
    let compiled = parser
        .parse(theirs, &mut slab.ps)
        .unwrap()
        .from(&slab.ps)
        .compile(&slab.ps, &mut slab.cs);
    let [a, b] = names;
    let fv = time("fasteval 0.2 (compiled)", |i| {
        let v = &values[i];
        let mut ns = |n: &str, _: Vec<f64>| {
            if n == a {
                Some(v[0])
            } else if n == b {
                Some(v[1])
            } else {
                None
            }
        };
        compiled.eval(&slab, &mut ns).unwrap() != 0.0
    });

    let fastest = ee.min(fv);
    println!(
        "    ours / hand-written: {:.2}x (target ≤ 1.5; through a pointer {:.2}x)    fastest crate / ours: {:.1}x (target ≥ 4)",
        ours_ns / hand_ns,
        far_ns / hand_ns,
        fastest / ours_ns
    );
}

fn main() {
    let pc = ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String]);
    let fs = ValueType::Scalar(ScalarType::Float);
    let f = |v: usize| Scalar::Float(80.0 + (v % 21) as f64);

    let counts = Inputs {
        current: (0..N)
            .map(|i| {
                vec![
                    Scalar::Int((i % 3) as i64),
                    Scalar::Int(((i / 3) % 2) as i64),
                    Scalar::Str(String::new()),
                ]
            })
            .collect(),
        previous: None,
    };
    case(
        "X@0==0&&X@1!=0",
        &pc,
        &counts,
        |c, _| matches!((&c[0], &c[1]), (Scalar::Int(0), Scalar::Int(b)) if *b != 0),
        "x0 == 0 && x1 != 0",
        ["x0", "x1"],
        |c, _| [num(&c[0]), num(&c[1])],
    );

    let used = Inputs {
        current: (0..N).map(|i| vec![f(i)]).collect(),
        previous: None,
    };
    case(
        "X>90",
        &fs,
        &used,
        |c, _| matches!(c[0], Scalar::Float(x) if x > 90.0),
        "x > 90.0",
        ["x", ""],
        |c, _| [num(&c[0]), 0.0],
    );

    let moves = Inputs {
        current: (0..N).map(|i| vec![f(i)]).collect(),
        previous: Some((0..N).map(|i| vec![f(i * 7)]).collect()),
    };
    case(
        "X>=90&&X<100&&X@P<90",
        &fs,
        &moves,
        |c, p| match (&c[0], p.map(|p| &p[0])) {
            (Scalar::Float(x), Some(Scalar::Float(p))) => *x >= 90.0 && *x < 100.0 && *p < 90.0,
            _ => false,
        },
        "x >= 90.0 && x < 100.0 && xp < 90.0",
        ["x", "xp"],
        |c, p| [num(&c[0]), p.map_or(0.0, |p| num(&p[0]))],
    );
}
