//! Realignment, exhaustively: for every line of the reference rules files,
//! deleting it or duplicating it must give an error naming the right event
//! (comment lines are not counted, so touching them changes nothing).

use std::path::Path;

use hacmp_compiler::{lint_texts, LintOptions, Severity};

fn check_file(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/reference")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Which record each field line belongs to, and the records' fields.
    let field_lines: Vec<usize> = (0..lines.len())
        .filter(|i| !lines[*i].starts_with('#'))
        .collect();
    assert_eq!(field_lines.len() % 9, 0, "{name} is well-formed");
    let record_of = |i: usize| field_lines.iter().position(|l| *l == i).map(|k| k / 9);
    let record = |r: usize| -> Vec<&str> {
        field_lines[r * 9..r * 9 + 9]
            .iter()
            .map(|l| lines[*l])
            .collect()
    };
    let opts = LintOptions {
        fs_checks: false,
        ..LintOptions::default()
    };
    let mut checked = 0;
    for i in 0..lines.len() {
        for duplicate in [false, true] {
            let mut changed: Vec<&str> = lines.clone();
            if duplicate {
                changed.insert(i, lines[i]);
            } else {
                changed.remove(i);
            }
            let new_text = changed.join("\n") + "\n";
            let l = lint_texts(&[(name, new_text.as_bytes())], &opts);
            let what = format!(
                "{name}: {} line {} ({:?})",
                if duplicate { "duplicating" } else { "deleting" },
                i + 1,
                lines[i]
            );
            let Some(r) = record_of(i) else {
                let errors: Vec<_> = l
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{what}: a comment changed the meaning: {errors:?}"
                );
                continue;
            };
            let fields = record(r);
            let errors: Vec<String> = l
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| {
                    format!(
                        "{} {} {}",
                        d.message,
                        d.label.clone().unwrap_or_default(),
                        d.help.clone().unwrap_or_default()
                    )
                })
                .collect();
            assert!(!errors.is_empty(), "{what}: no error");
            let names_event = errors
                .iter()
                .any(|e| e.contains(&format!("`{}`", fields[0])));
            // With its name line gone, an event is named by its program.
            let names_program = !duplicate
                && i == field_lines[r * 9]
                && errors.iter().any(|e| e.contains(fields[2]));
            assert!(
                names_event || names_program,
                "{what}: the errors do not name event `{}`: {errors:#?}",
                fields[0]
            );
            checked += 1;
        }
    }
    assert!(checked >= 2 * field_lines.len(), "{name}: {checked} cases");
}

#[test]
fn every_line_of_the_reference_rules_file() {
    check_file("rules.hacmprd");
}

#[test]
fn every_line_of_the_more_user_events_file() {
    check_file("more-user-events.hacmprd");
}

#[test]
fn realignment_names_the_missing_field() {
    let opts = LintOptions {
        fs_checks: false,
        ..LintOptions::default()
    };
    let text = "TE_JOIN_NODE\n0\n/usr/sbin/cluster/events/node_up.rp\n0\n\n\n\n\n\nTE_FAIL_NODE\n0\n/usr/sbin/cluster/events/node_down.rp\n2\n0\n\n\n\n\n";
    // Field 4 deleted: the type and level are both integers, so either may be the one missing.
    let text = text.replacen("\n\n\n\n\nTE_FAIL", "\n\n\n\nTE_FAIL", 1);
    let l = lint_texts(&[("r.hacmprd", text.as_bytes())], &opts);
    let help = l.diagnostics[0].help.clone().unwrap();
    assert_eq!(l.diagnostics.len(), 1, "{:?}", l.diagnostics);
    assert!(help.contains("field 4 or 5"), "{help}");
}
