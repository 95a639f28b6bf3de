//! `hacmp test`, `hacmp plan`, `hacmp observe`.

use crate::common;

use common::{hacmp, repo, stdout as out};

#[test]
fn the_documented_arming_examples_pass() {
    let o = hacmp(&["test", "tests/rules/documented.test.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(out(&o).matches("PASS").count(), 5, "{}", out(&o));
}

#[test]
fn wrong_expectations_fail_with_a_readable_diff() {
    let o = hacmp(&["test", "tests/rules/must-fail.test.toml"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(out(&o));
}

#[test]
fn junit_for_ci_systems() {
    let o = hacmp(&[
        "test",
        "--format",
        "junit",
        "tests/rules/documented.test.toml",
        "tests/rules/must-fail.test.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let x = out(&o);
    assert!(x.starts_with("<?xml"));
    assert!(
        x.contains(r#"<testsuite name="tests/rules/documented.test.toml" tests="5" disabled="0" errors="0" failures="0">"#),
        "{x}"
    );
    assert!(
        x.contains(r#"tests="1" disabled="0" errors="0" failures="1""#),
        "{x}"
    );
    assert_eq!(x.matches("<failure ").count(), 1);
    assert!(x.contains("- step   3  UE_FS_90_80 at node 6   (expected, not raised)"));
    assert!(x.contains(r#" time=""#), "each test case has its time: {x}");
}

/// A test name with control characters still gives valid XML; a step past
/// the end of its series is an error, not a silent pass.
#[test]
fn junit_stays_valid_and_steps_past_the_series_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.test.toml");
    let site = repo().join("tests/rules/documented.hacmprd");
    std::fs::write(
        &f,
        format!(
            "site = {:?}\n[[test]]\nname = \"bell\\u0007 and <tag>\"\n[[test.series]]\ninstance = \"NodeNum=6;Mount=/var\"\nvalues = \"95 95\"\nexpect = [{{ step = 5, event = \"UE_FS_90_80\", location = 6 }}]\n",
            site.display().to_string()
        ),
    )
    .unwrap();
    let o = hacmp(&["test", "--format", "junit", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let x = out(&o);
    assert!(!x.contains('\u{7}'), "no raw control character: {x:?}");
    assert!(x.contains("&lt;tag&gt;"), "{x}");
    assert!(
        x.contains("`expect` names step 5, but the series has steps 1 to 2"),
        "{x}"
    );
    let o = hacmp(&["test", f.to_str().unwrap()]);
    assert!(
        out(&o).ends_with("0 passed, 1 failed: some tests failed\n"),
        "{}",
        out(&o)
    );
}

#[test]
fn bad_test_files_get_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.test.toml");
    let site = repo().join("tests/rules/documented.hacmprd");
    std::fs::write(&f, format!("site = {:?}\n[[test]]\nname = \"x\"\n[[test.series]]\ninstance = \"NodeNum=1;Mount=/tmp\"\nvalues = \"1 two\"\n", site.display().to_string())).unwrap();
    let o = hacmp(&["test", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("series 1: values: step 2: `two` is not a number"),
        "{}",
        out(&o)
    );
    std::fs::write(&f, "site = 3\n").unwrap();
    let o = hacmp(&["test", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "the input has errors");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.test.toml:1:8"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn plan_shows_what_each_rule_would_do_now() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.jsonl");
    // A user state that makes UE_READY true on node 2, fed like an operator would.
    let o = hacmp(&[
        "observe",
        "IBM.PSSP.pm.User_state1",
        "NodeNum=2",
        "READY",
        "--feed",
        feed.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = hacmp(&[
        "plan",
        "tests/rules/documented.hacmprd",
        "--node",
        "2",
        "--feed",
        feed.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = out(&o);
    assert!(
        text.contains("UE_READY  IBM.PSSP.pm.User_state1  X@0==\"READY\" / rearm X@0!=\"READY\""),
        "{text}"
    );
    assert!(
        text.contains("NodeNum=2  value READY  predicate true  rearm false  → WOULD FIRE now"),
        "{text}"
    );
    // The monitor sampled this machine: the file-system rules have instances or say why not.
    assert!(text.contains("UE_RWHO_DOWN"), "{text}");
    assert!(
        text.contains("NodeNum=2;ProgName=rwhod;UserName=root  value 0;0;  predicate false"),
        "{text}"
    );
}

#[test]
fn observe_checks_the_variable_instance_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.jsonl");
    let f = feed.to_str().unwrap();
    assert_eq!(
        hacmp(&["observe", "Nope.Var", "NodeNum=1", "1", "--feed", f])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        hacmp(&[
            "observe",
            "IBM.PSSP.aixos.CPU.glidle",
            "Mount=/",
            "1",
            "--feed",
            f
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        hacmp(&[
            "observe",
            "IBM.PSSP.aixos.CPU.glidle",
            "NodeNum=1",
            "lots",
            "--feed",
            f
        ])
        .status
        .code(),
        Some(2)
    );
    assert!(!feed.exists(), "nothing written for bad input");
    assert_eq!(
        hacmp(&[
            "observe",
            "IBM.PSSP.aixos.CPU.glidle",
            "NodeNum=1",
            "12.5",
            "--feed",
            f
        ])
        .status
        .code(),
        Some(0)
    );
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&feed).unwrap().trim()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"variable": "IBM.PSSP.aixos.CPU.glidle", "instance": "NodeNum=1", "value": 12.5})
    );
}
