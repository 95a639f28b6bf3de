//! Nanoseconds per evaluation of `X@0==0&&X@1!=0` and `X>90` on changing
//! inputs: our compiled predicates, a hand-written Rust function (the
//! floor), and two published evaluator crates (evalexpr, fasteval), all in
//! one run on the same inputs.
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

fn main() {
    // Changing inputs: process counts and previous counts, file-system use.
    let counts: Vec<Vec<Scalar>> = (0..N)
        .map(|i| {
            vec![
                Scalar::Int((i % 3) as i64),
                Scalar::Int(((i / 3) % 2) as i64),
                Scalar::Str(String::new()),
            ]
        })
        .collect();
    let used: Vec<Vec<Scalar>> = (0..N)
        .map(|i| vec![Scalar::Float(80.0 + (i % 21) as f64)])
        .collect();
    let pc = ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String]);
    let fs = ValueType::Scalar(ScalarType::Float);
    let ours = |src: &str, t: &ValueType| {
        compile(&parse_predicate(src, Span::default()).unwrap(), t, src).unwrap()
    };
    let died = ours("X@0==0&&X@1!=0", &pc);
    let full = ours("X>90", &fs);

    // evalexpr: a context per input (its variables are named), built ahead.
    let ee_died =
        evalexpr::build_operator_tree::<evalexpr::DefaultNumericTypes>("x0 == 0 && x1 != 0")
            .unwrap();
    let ee_full =
        evalexpr::build_operator_tree::<evalexpr::DefaultNumericTypes>("x > 90.0").unwrap();
    let ctx_counts: Vec<HashMapContext> = counts
        .iter()
        .map(|v| {
            let mut c = HashMapContext::new();
            if let (Scalar::Int(a), Scalar::Int(b)) = (&v[0], &v[1]) {
                c.set_value("x0".into(), Value::Int(*a)).unwrap();
                c.set_value("x1".into(), Value::Int(*b)).unwrap();
            }
            c
        })
        .collect();
    let ctx_used: Vec<HashMapContext> = used
        .iter()
        .map(|v| {
            let mut c = HashMapContext::new();
            if let Scalar::Float(x) = v[0] {
                c.set_value("x".into(), Value::Float(x)).unwrap();
            }
            c
        })
        .collect();

    // fasteval: compiled, variables through a closure namespace.
    let parser = fasteval::Parser::new();
    let mut slab_d = fasteval::Slab::new();
    let fv_died = parser
        .parse("x0 == 0 && x1 != 0", &mut slab_d.ps)
        .unwrap()
        .from(&slab_d.ps)
        .compile(&slab_d.ps, &mut slab_d.cs);
    let mut slab_f = fasteval::Slab::new();
    let fv_full = parser
        .parse("x > 90", &mut slab_f.ps)
        .unwrap()
        .from(&slab_f.ps)
        .compile(&slab_f.ps, &mut slab_f.cs);
    let as_f = |s: &Scalar| match s {
        Scalar::Int(v) => *v as f64,
        Scalar::Float(v) => *v,
        Scalar::Str(_) => 0.0,
    };

    let mut results = Vec::new();
    for (name, ops) in [("X@0==0&&X@1!=0", 0), ("X>90", 1)] {
        println!("{name}");
        let hand = if ops == 0 {
            time(
                "hand-written Rust (floor)",
                |i| matches!((&counts[i][0], &counts[i][1]), (Scalar::Int(0), Scalar::Int(b)) if *b != 0),
            )
        } else {
            time(
                "hand-written Rust (floor)",
                |i| matches!(used[i][0], Scalar::Float(x) if x > 90.0),
            )
        };
        let ours_ns = if ops == 0 {
            time("hacmp compiled predicate", |i| {
                died.eval(&Observation {
                    current: &counts[i],
                    previous: None,
                }) == Ok(true)
            })
        } else {
            time("hacmp compiled predicate", |i| {
                full.eval(&Observation {
                    current: &used[i],
                    previous: None,
                }) == Ok(true)
            })
        };
        let ee = if ops == 0 {
            time("evalexpr 13 (prebuilt tree)", |i| {
                ee_died.eval_boolean_with_context(&ctx_counts[i]).unwrap()
            })
        } else {
            time("evalexpr 13 (prebuilt tree)", |i| {
                ee_full.eval_boolean_with_context(&ctx_used[i]).unwrap()
            })
        };
        let fv = if ops == 0 {
            time("fasteval 0.2 (compiled)", |i| {
                let v = &counts[i];
                let mut ns = |n: &str, _: Vec<f64>| match n {
                    "x0" => Some(as_f(&v[0])),
                    "x1" => Some(as_f(&v[1])),
                    _ => None,
                };
                fv_died.eval(&slab_d, &mut ns).unwrap() != 0.0
            })
        } else {
            time("fasteval 0.2 (compiled)", |i| {
                let v = &used[i];
                let mut ns = |n: &str, _: Vec<f64>| if n == "x" { Some(as_f(&v[0])) } else { None };
                fv_full.eval(&slab_f, &mut ns).unwrap() != 0.0
            })
        };
        let fastest = ee.min(fv);
        println!(
            "    ours / hand-written: {:.2}x (target ≤ 2)    fastest crate / ours: {:.1}x (target ≥ 4)",
            ours_ns / hand,
            fastest / ours_ns
        );
        results.push((ours_ns / hand, fastest / ours_ns));
    }
}
