//! One monitor sample over 1,000 extra processes, against a baseline in the
//! same run that only reads the same `/proc` files.
//!
//! `cargo bench -p hacmp-em --bench monitor`

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hacmp_compiler::ir::Condition;
use hacmp_compiler::predicate::compile;
use hacmp_em::engine::EmRule;
use hacmp_em::monitor::Monitor;
use hacmp_grammar::ast::Pattern;
use hacmp_grammar::parse_predicate;
use hacmp_grammar::span::Span;
use hacmp_stdlib::{ScalarType, ValueType};

fn rule() -> EmRule {
    let t = ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String]);
    let p = |s: &str| compile(&parse_predicate(s, Span::default()).unwrap(), &t, s).unwrap();
    EmRule {
        name: "UE_SLEEP".into(),
        state: 0,
        condition: Condition {
            variable: "IBM.PSSP.Prog.xpcount".into(),
            value_type: t.clone(),
            instance: vec![
                ("NodeNum".into(), Pattern::Any),
                ("ProgName".into(), Pattern::Exact("sleep".into())),
            ],
            predicate: p("X@0==0&&X@1!=0"),
            rearm: Some(p("X@0>0")),
        },
    }
}

/// Reads what the monitor reads, and nothing more: every /proc/PID/stat and
/// /proc/PID/status.
fn baseline() -> usize {
    let mut bytes = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        bytes += std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(0, |s| s.len());
        bytes += std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(0, |s| s.len());
    }
    bytes
}

fn main() {
    let mut children: Vec<Child> = (0..1000)
        .map(|_| {
            Command::new("sleep")
                .arg("120")
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn sleep")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let total = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    let r = rule();
    let mut m = Monitor::new(std::slice::from_ref(&r), 1);
    let runs = 15;
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    let mut counted = 0;
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(baseline());
        base.push(t.elapsed());
        let t = Instant::now();
        let obs = m.sample();
        ours.push(t.elapsed());
        counted = obs
            .iter()
            .find_map(|o| match o.value.first() {
                Some(hacmp_compiler::predicate::Scalar::Int(n))
                    if o.instance.get("ProgName").is_some_and(|p| p == "sleep") =>
                {
                    Some(*n)
                }
                _ => None,
            })
            .unwrap_or(0);
    }
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    base.sort();
    ours.sort();
    let (b, o) = (base[runs / 2], ours[runs / 2]);
    println!("one monitor sample, {total} processes ({counted} named `sleep`), median of {runs}");
    println!(
        "    baseline, reading the same /proc files: {:>8.2} ms",
        b.as_secs_f64() * 1e3
    );
    println!(
        "    monitor sample (process counts):        {:>8.2} ms   ratio {:.2}",
        o.as_secs_f64() * 1e3,
        o.as_secs_f64() / b.as_secs_f64()
    );
}
