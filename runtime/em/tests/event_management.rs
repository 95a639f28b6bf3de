//! Event Management against this machine: the monitor with a real process,
//! `statvfs` on the test's own directory, the feed with malformed lines, and
//! evaluation errors reported once.

use std::process::Command;
use std::time::Duration;

use hacmp_compiler::ir::Condition;
use hacmp_compiler::predicate::{compile, Scalar};
use hacmp_em::engine::{EmRule, Engine};
use hacmp_em::feed::{append, FeedReader};
use hacmp_em::monitor::{percent_used, Monitor};
use hacmp_em::{parse_instance, Observation};
use hacmp_grammar::ast::Pattern;
use hacmp_grammar::parse_predicate;
use hacmp_grammar::span::Span;
use hacmp_stdlib::{ScalarType, ValueType};

fn pred(src: &str, t: &ValueType) -> hacmp_compiler::predicate::CompiledPredicate {
    let e = parse_predicate(src, Span::default()).unwrap();
    compile(&e, t, src).unwrap()
}

fn xpcount_rule(name: &str, prog: &str, user: &str) -> EmRule {
    let t = ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String]);
    EmRule {
        name: name.into(),
        state: 0,
        condition: Condition {
            variable: "IBM.PSSP.Prog.xpcount".into(),
            value_type: t.clone(),
            instance: vec![
                ("NodeNum".into(), Pattern::Any),
                ("ProgName".into(), Pattern::Exact(prog.into())),
                ("UserName".into(), Pattern::Exact(user.into())),
            ],
            predicate: pred("X@0==0&&X@1!=0", &t),
            rearm: Some(pred("X@0>0", &t)),
        },
    }
}

#[test]
fn the_monitor_counts_a_real_process_and_sees_it_die() {
    let dir = tempfile::tempdir().unwrap();
    // A program with a name of its own, so other processes do not count.
    let name = format!("hm{}", std::process::id() % 1_000_000);
    let prog = dir.path().join(&name);
    hacmp_testkit::copy_executable(std::path::Path::new("/bin/sleep"), &prog);
    let rule = xpcount_rule("UE_T_DOWN", &name, &hacmp_testkit::user_name());
    let mut monitor = Monitor::new(std::slice::from_ref(&rule), 4);
    let mut engine = Engine::new(vec![rule], Some(4));
    let value_of = |obs: &[Observation]| {
        obs.iter()
            .find(|o| o.instance.get("ProgName") == Some(&name))
            .map(|o| o.value.clone())
    };

    let before = monitor.sample();
    assert_eq!(
        value_of(&before).unwrap()[0],
        Scalar::Int(0),
        "not running yet"
    );
    let mut child = Command::new(&prog).arg("30").spawn().unwrap();
    let running = monitor.sample();
    let v = value_of(&running).unwrap();
    assert_eq!(v[0], Scalar::Int(1));
    assert_eq!(v[1], Scalar::Int(0), "previous count");
    assert_eq!(v[2], Scalar::Str(child.id().to_string()));
    for o in &running {
        assert!(engine.observe(o).0.is_empty());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dead = monitor.sample();
    let v = value_of(&dead).unwrap();
    assert_eq!((&v[0], &v[1]), (&Scalar::Int(0), &Scalar::Int(1)));
    let raised: Vec<_> = dead.iter().flat_map(|o| engine.observe(o).0).collect();
    assert_eq!(raised.len(), 1);
    let ev = &raised[0];
    assert_eq!((ev.name.as_str(), ev.location), ("UE_T_DOWN", 4));
    let em = ev.em.as_ref().unwrap();
    assert_eq!(
        em.instance,
        format!(
            "NodeNum=4;ProgName={name};UserName={}",
            hacmp_testkit::user_name()
        )
    );
    assert_eq!(em.value, "0;1;");
    // Still dead: no second event.
    let again: Vec<_> = monitor
        .sample()
        .iter()
        .flat_map(|o| engine.observe(o).0)
        .collect();
    assert!(again.is_empty());
}

#[test]
fn file_system_use_of_the_tests_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let used = percent_used(dir.path().to_str().unwrap()).unwrap();
    assert!((0.0..=100.0).contains(&used), "{used}");
    assert!(percent_used("/no/such/dir").is_none());
}

#[test]
fn malformed_feed_lines_are_located_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.jsonl");
    let catalog = hacmp_stdlib::catalog();
    let mut reader = FeedReader::open(&feed, true);
    let lines = [
        r#"{"variable": "IBM.PSSP.pm.User_state1", "instance": "NodeNum=2", "value": "READY"}"#,
        r#"{"variable": "IBM.PSSP.pm.User_state1", "instance": "NodeNum=2", "value": 5}"#,
        r#"this is not json"#,
        r#"{"variable": "Nope.Var", "instance": "NodeNum=2", "value": 1}"#,
        r#"{"variable": "IBM.PSSP.aixos.FS.%totused", "instance": {"NodeNum": "1", "Mount": "/"}, "value": 42}"#,
        r#"{"variable": "IBM.PSSP.aixos.FS.%totused", "instance": "Mount=/", "value": 42}"#,
    ];
    std::fs::write(&feed, lines.join("\n") + "\n").unwrap();
    let (obs, errs) = reader.poll(&catalog);
    assert_eq!(obs.len(), 2);
    assert_eq!(obs[1].value, [Scalar::Float(42.0)]);
    let located: Vec<(usize, usize)> = errs.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        located.iter().map(|l| l.0).collect::<Vec<_>>(),
        [2, 3, 4, 6],
        "{errs:?}"
    );
    assert!(errs[0].message.contains("expected a string"), "{}", errs[0]);
    assert!(errs[0].column > 1, "points at the value: {}", errs[0]);
    assert!(errs[2].message.contains("not in the catalog"));
    assert!(errs[3].message.contains("NodeNum"));
    assert!(errs[0]
        .to_string()
        .starts_with(&format!("{}:2:", feed.display())));
    // Appended lines are read on the next poll, and only those.
    let o = Observation {
        variable: "IBM.PSSP.pm.User_state1".into(),
        instance: parse_instance("NodeNum=3").unwrap(),
        value: vec![Scalar::Str("DOWN".into())],
    };
    append(&feed, &o).unwrap();
    let (obs, errs) = reader.poll(&catalog);
    assert_eq!((obs, errs.len()), (vec![o], 0));
}

#[test]
fn evaluation_errors_are_false_and_reported_once() {
    let t = ValueType::Scalar(ScalarType::Int);
    let rule = EmRule {
        name: "UE_RATIO".into(),
        state: 0,
        condition: Condition {
            variable: "Site.ratio".into(),
            value_type: t.clone(),
            instance: vec![],
            predicate: pred("100/X>10", &t),
            rearm: Some(pred("100/X<5", &t)),
        },
    };
    let mut engine = Engine::new(vec![rule], None);
    let obs = |v: i64| Observation {
        variable: "Site.ratio".into(),
        instance: parse_instance("NodeNum=1").unwrap(),
        value: vec![Scalar::Int(v)],
    };
    let (raised, steps) = engine.observe(&obs(0));
    assert!(raised.is_empty());
    assert_eq!(steps[0].predicate, Some(false));
    assert!(steps[0]
        .error
        .as_deref()
        .unwrap()
        .contains("division by zero"));
    let (raised, _) = engine.observe(&obs(5));
    assert_eq!(raised.len(), 1, "fires once the value is usable");
    std::thread::sleep(Duration::from_millis(1));
}

/// A program whose name is longer than the kernel's 15 bytes is counted
/// under the name users write; a rule that leaves `UserName` out matches
/// the per-user instance and no combined one appears; the first CPU idle
/// sample is measured over a short interval, not since boot.
#[test]
fn long_names_left_out_elements_and_the_first_cpu_sample() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hacmp_long_program_{}", std::process::id() % 1_000_000);
    assert!(name.len() > 15);
    let prog = dir.path().join(&name);
    hacmp_testkit::copy_executable(std::path::Path::new("/bin/sleep"), &prog);
    let exact = xpcount_rule("UE_LONG", &name, &hacmp_testkit::user_name());
    let mut any_user = xpcount_rule("UE_LONG_ANY", &name, "x");
    any_user.condition.instance.retain(|(n, _)| n != "UserName");
    let rules = vec![exact, any_user];
    let mut monitor = Monitor::new(&rules, 4);
    let mut child = Command::new(&prog).arg("30").spawn().unwrap();
    let obs = monitor.sample();
    let mine: Vec<&Observation> = obs
        .iter()
        .filter(|o| o.instance.get("ProgName") == Some(&name))
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(mine.len(), 1, "one instance per (program, user): {mine:?}");
    assert_eq!(
        mine[0].value[0],
        Scalar::Int(1),
        "counted under its whole name"
    );
    assert_eq!(
        mine[0].instance.get("UserName"),
        Some(&hacmp_testkit::user_name())
    );
    // Both rules match that one instance.
    for r in &rules {
        assert!(
            hacmp_em::engine::matches(&r.condition, &mine[0].instance),
            "{}",
            r.name
        );
    }

    // CPU idle: the first sample covers a short interval of its own.
    let cpu = EmRule {
        name: "UE_CPU".into(),
        state: 0,
        condition: Condition {
            variable: "IBM.PSSP.aixos.CPU.glidle".into(),
            value_type: ValueType::Scalar(ScalarType::Float),
            instance: vec![("NodeNum".into(), Pattern::Any)],
            predicate: pred("X<10", &ValueType::Scalar(ScalarType::Float)),
            rearm: None,
        },
    };
    // Keep one core busy while the first sample is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let spin = std::thread::spawn(move || {
        let mut x = 0u64;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            x = x.wrapping_add(1);
        }
        x
    });
    let since_boot = {
        let t = std::fs::read_to_string("/proc/stat").unwrap();
        let v: Vec<u64> = t
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        (v[3] + v[4]) as f64 * 100.0 / v.iter().take(8).sum::<u64>() as f64
    };
    let mut m = Monitor::new(std::slice::from_ref(&cpu), 4);
    let first = m.sample();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    spin.join().unwrap();
    let Scalar::Float(idle) = first[0].value[0] else {
        panic!("{first:?}")
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    // One of `cores` cores spun the whole time: idle is at most the rest
    // (with slack for the measuring thread itself).
    assert!(
        idle <= 100.0 * (cores - 1.0) / cores + 15.0,
        "idle {idle:.1}% with a core busy (since boot: {since_boot:.1}%)"
    );
}
