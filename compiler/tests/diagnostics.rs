//! The diagnostic corpus: every file in `tests/diagnostics/` is named after
//! the code it must trigger; its human and JSON renderings are snapshots.

use std::fs;
use std::path::{Path, PathBuf};

use hacmp_compiler::{explain, lint_texts, render, Code, LintOptions};

/// Codes whose trigger needs files on disk; `fs_checks.rs` covers them.
const FS_CODES: &[Code] = &[
    Code::R005,
    Code::P007,
    Code::P008,
    Code::F001,
    Code::N001,
    Code::G005,
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/diagnostics")
}

fn no_fs() -> LintOptions {
    LintOptions {
        fs_checks: false,
        ..LintOptions::default()
    }
}

const SYSTEM_RULE: &[u8] = b"TE_JOIN_NODE\n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\n";

fn lint_corpus_file(name: &str, bytes: &[u8]) -> hacmp_compiler::Lint {
    if name.ends_with(".toml") {
        lint_texts(&[(name, bytes), ("rules.hacmprd", SYSTEM_RULE)], &no_fs())
    } else {
        lint_texts(&[(name, bytes)], &no_fs())
    }
}

fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(corpus())
        .expect("tests/diagnostics exists")
        .map(|e| {
            let p = e.expect("readable entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).expect("readable corpus file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_triggers_its_code() {
    for (name, bytes) in corpus_files() {
        let code: Code = name[..4]
            .parse()
            .unwrap_or_else(|_| panic!("{name}: not named after a code"));
        let l = lint_corpus_file(&name, &bytes);
        assert!(
            l.diagnostics.iter().any(|d| d.code == code),
            "{name} should trigger {code}, got {:?}",
            l.diagnostics
                .iter()
                .map(|d| (d.code, &d.message))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn corpus_renderings() {
    for (name, bytes) in corpus_files() {
        let l = lint_corpus_file(&name, &bytes);
        let stem = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(s, _)| s)
            .to_string();
        insta::assert_snapshot!(
            format!("{stem}.human"),
            render::human(&l.sources, &l.diagnostics, false)
        );
        insta::assert_snapshot!(
            format!("{stem}.json"),
            render::json(&l.sources, &l.diagnostics)
        );
    }
}

#[test]
fn every_code_has_a_corpus_input_or_a_file_system_test() {
    let files = corpus_files();
    for code in Code::ALL {
        let covered =
            files.iter().any(|(n, _)| n.starts_with(code.as_str())) || FS_CODES.contains(code);
        assert!(covered, "{code} has no test input in tests/diagnostics");
    }
}

#[test]
fn explanations_wrong_example_triggers_and_right_example_does_not() {
    for code in Code::ALL {
        let e = explain(*code);
        assert!(e.text.len() > 80, "{code}: explanation too short");
        if FS_CODES.contains(code) || *code == Code::F002 {
            continue;
        }
        let wrong = lint_corpus_file(e.wrong.0, e.wrong.1.as_bytes());
        assert!(
            wrong.diagnostics.iter().any(|d| d.code == *code),
            "{code}: wrong example does not trigger it: {:?}",
            wrong.diagnostics
        );
        let right = lint_corpus_file(e.right.0, e.right.1.as_bytes());
        assert!(
            !right.diagnostics.iter().any(|d| d.code == *code),
            "{code}: right example triggers it: {:?}",
            right.diagnostics
        );
    }
}

/// Inputs near each code's trigger that must not trigger it.
#[test]
fn near_misses_do_not_trigger() {
    let cases: &[(Code, &str, &str)] = &[
        (Code::R001, "r.hacmprd", "TE_JOIN_NODE\n0\n/a.rp\n2\n0\n\n\n\n\n"),
        (Code::R002, "r.hacmprd", "TE_JOIN_NODE\n-1\n/a.rp\n+2\n0\n\n\n\n\n"),
        (Code::R004, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\n\n\n\n\n"),
        (Code::R008, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.aixos.PagSp.%totalfree\nNodeNum=*\nX<10\nX>20\n"),
        (Code::R009, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nUserName=root;NodeNum=3;\nX@0==0\nX@0>0\n"),
        (Code::R011, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.pm.User_state1\nNodeNum=*\nX@0==\"READY\"\nX@0!=\"READY\"\n"),
        (Code::R012, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.aixos.FS.%totused\nNodeNum=*\nX>90\nX<90\n"),
        (Code::R012, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*\nX@0==0&&X@1!=0\nX@0>0\n"),
        (Code::R013, "r.hacmprd", "TE_JOIN_NODE\n0\n/a.rp\n2\n0\n\n\n\n\n"),
        (Code::R014, "r.hacmprd", "TE_FAIL_STANDBY\n0\n/a.rp\n2\n0\n\n\n\n\n"),
        (Code::R016, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.aixos.CPU.glidle\nNodeNum=*\nX@P-X>50\nX@P-X<10\n"),
        (Code::R017, "r.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*\nX@1/(X@0+1)>2\nX@0>0\n"),
        (Code::P001, "a.rp", "ALL \"/a\" 0 NULL\nEvent \"/b\" 0 NULL\n"),
        (Code::P003, "a.rp", "all \"/a\" 255 NULL\nall \"/b\" x NULL\n"),
        (Code::P005, "a.rp", "all \"/a\" 0 NULL\nBARRIER\nall \"/b\" 0 NULL\n"),
        (Code::P009, "a.rp", "all \"/usr/bin/logger -t hacmp event-done\" 0 NULL\n"),
        (Code::P010, "a.rp", "all \"/a\" 0 NULL\nbarrier\nall \"/b\" 0 NULL\n"),
        (Code::P012, "a.rp", "event \"/a\" 0 NULL\nbarrier\nall \"/b\" 0 NULL\n"),
        // Dots that do not climb: a file named with dots, `.` components.
        (Code::F003, "a.rp", "all \"/opt/app/bin/run..sh\" 0 NULL\nall \"/opt/./app/..hidden\" 0 NULL\n"),
        (Code::F003, "r.hacmprd", "UE_A\n0\n/usr/sbin/cluster/local/a..b.rp\n2\n0\n\n\n\n\n"),
        // Saying the default out loud is no lab.
        (Code::S003, "site.toml", "[cluster]\nid = 1\nname = \"c\"\nbundles = \"signed\"\n"),
    ];
    for (code, name, text) in cases {
        let l = lint_corpus_file(name, text.as_bytes());
        assert!(
            !l.diagnostics.iter().any(|d| d.code == *code),
            "{code} triggered by {text:?}: {:?}",
            l.diagnostics
        );
    }
}

#[test]
fn reference_files_lint_clean_without_the_file_system() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/reference");
    for name in [
        "rules.hacmprd",
        "more-user-events.hacmprd",
        "rwho.rp",
        "node_up.rp",
    ] {
        let bytes = fs::read(dir.join(name)).unwrap();
        let l = lint_texts(&[(name, &bytes)], &no_fs());
        let noisy: Vec<_> = l
            .diagnostics
            .iter()
            .filter(|d| d.severity > hacmp_compiler::Severity::Info)
            .collect();
        assert!(noisy.is_empty(), "{name}: {noisy:?}");
    }
}

#[test]
fn vendored_reference_matches_shared_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference");
    if !shared.exists() {
        eprintln!("note: ../shared/reference is not beside the checkout; comparing skipped");
        return;
    }
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/reference");
    for name in [
        "rules.hacmprd",
        "more-user-events.hacmprd",
        "rwho.rp",
        "node_up.rp",
    ] {
        assert_eq!(
            fs::read(shared.join(name)).unwrap(),
            fs::read(vendored.join(name)).unwrap(),
            "{name}"
        );
    }
}

/// A misspelt standard event is an error only while its real name has no
/// rule; beside the real one it stays a warning.
#[test]
fn a_misspelt_standard_event_is_an_error_only_without_the_real_one() {
    let typo = "TE_JION_NODE\n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\n";
    let l = lint_texts(&[("r.hacmprd", typo.as_bytes())], &no_fs());
    let d = l.diagnostics.iter().find(|d| d.code == Code::R014).unwrap();
    assert_eq!(d.severity, hacmp_compiler::Severity::Error);
    let both = format!("{}{typo}", std::str::from_utf8(SYSTEM_RULE).unwrap());
    let l = lint_texts(&[("r.hacmprd", both.as_bytes())], &no_fs());
    let d = l.diagnostics.iter().find(|d| d.code == Code::R014).unwrap();
    assert_eq!(d.severity, hacmp_compiler::Severity::Warning);
}
