//! Valid files with lines deleted, duplicated, swapped or truncated: no
//! panic, and a change that breaks the structure yields an error.

use std::path::Path;

use hacmp_compiler::shape::{fits, value};
use hacmp_compiler::{lint_texts, LintOptions, Severity};
use proptest::prelude::*;

fn reference(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/reference")
            .join(name),
    )
    .unwrap()
}

fn errors(name: &str, text: &str) -> usize {
    let opts = LintOptions {
        fs_checks: false,
        ..LintOptions::default()
    };
    let l = lint_texts(&[(name, text.as_bytes())], &opts);
    l.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

fn join(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

/// Field position (0–8) of each line, or None for comments.
fn positions(lines: &[&str]) -> Vec<Option<usize>> {
    let mut k = 0;
    lines
        .iter()
        .map(|l| {
            if l.starts_with('#') {
                None
            } else {
                k += 1;
                Some((k - 1) % 9)
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rules_swapped_lines(a in 0usize..190, b in 0usize..190) {
        let text = reference("rules.hacmprd");
        let mut lines: Vec<&str> = text.lines().collect();
        let (a, b) = (a % lines.len(), b % lines.len());
        let pos = positions(&lines);
        lines.swap(a, b);
        let n = errors("rules.hacmprd", &join(&lines));
        // A field moved to a position whose shape it does not have.
        let misplaced = match (pos[a], pos[b]) {
            (Some(pa), Some(pb)) => !fits(pa, value(lines[a])) || !fits(pb, value(lines[b])),
            (Some(pa), None) => !fits(pa, value(lines[a])) || lines[b].starts_with('#'),
            (None, Some(pb)) => !fits(pb, value(lines[b])) || lines[a].starts_with('#'),
            (None, None) => false,
        };
        let comment_into_field = pos[a].is_some() != pos[b].is_some() && lines[a] != lines[b];
        if misplaced && !comment_into_field {
            prop_assert!(n > 0, "swap {a} {b}");
        }
    }

    #[test]
    fn rules_truncated(cut in 0usize..4400) {
        let text = reference("rules.hacmprd");
        let cut = cut.min(text.len());
        let Some(t) = text.get(..cut) else { return Ok(()) };
        let fields = t.lines().filter(|l| !l.starts_with('#')).count()
            // A final line without its line feed is still a field.
            ;
        let n = errors("rules.hacmprd", t);
        if fields % 9 != 0 {
            prop_assert!(n > 0, "cut at {cut}: {fields} fields");
        }
    }

    #[test]
    fn rules_deleted_or_duplicated_field_lines(i in 0usize..190, dup in any::<bool>()) {
        let text = reference("more-user-events.hacmprd") ;
        let mut lines: Vec<&str> = text.lines().collect();
        let i = i % lines.len();
        let is_field = !lines[i].starts_with('#');
        if dup { lines.insert(i, lines[i]); } else { lines.remove(i); }
        let n = errors("more-user-events.hacmprd", &join(&lines));
        prop_assert_eq!(n > 0, is_field);
    }

    #[test]
    fn rp_truncated_inside_a_command_line(cut in 0usize..400) {
        let text = reference("rwho.rp");
        let cut = cut.min(text.len());
        let Some(t) = text.get(..cut) else { return Ok(()) };
        let n = errors("rwho.rp", t);
        let last = t.rsplit('\n').next().unwrap_or("");
        let inside_command = !last.is_empty()
            && !last.starts_with('#')
            && !"barrier".starts_with(last)
            && !last.ends_with("NULL");
        if inside_command {
            prop_assert!(n > 0, "cut at {cut}: {last:?}");
        }
    }

    #[test]
    fn rp_any_line_edit_never_panics(i in 0usize..20, j in 0usize..20, op in 0u8..3) {
        let text = reference("rwho.rp");
        let mut lines: Vec<&str> = text.lines().collect();
        let (i, j) = (i % lines.len(), j % lines.len());
        match op {
            0 => { lines.remove(i); }
            1 => { lines.insert(i, lines[j]); }
            _ => lines.swap(i, j),
        }
        let _ = errors("rwho.rp", &join(&lines));
    }
}

/// Lines that look like fields of every kind, to build files the checks
/// must survive (realignment, predicates, instance vectors, programs).
fn field_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("TE_JOIN_NODE".to_string()),
        Just("UE_A".to_string()),
        Just("0".to_string()),
        Just("2".to_string()),
        Just("/usr/sbin/cluster/events/node_up.rp".to_string()),
        Just("local/a.rp".to_string()),
        Just("IBM.PSSP.Prog.xpcount".to_string()),
        Just("IBM.PSSP.aixos.FS.%totused".to_string()),
        Just("NodeNum=*;ProgName=rwhod".to_string()),
        Just("NodeNum=*;NodeNum=2".to_string()),
        Just("X@0==0&&X@1!=0".to_string()),
        Just("X>90".to_string()),
        Just("X@9/0".to_string()),
        Just("# comment".to_string()),
        "[ -~]{0,24}",
    ]
}

fn rp_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("barrier".to_string()),
        Just("all \"node_up\" 0 NULL".to_string()),
        Just("event \"/a b\" X NULL".to_string()),
        Just("other \"/x | y\" 256 NULL extra".to_string()),
        Just("\"unclosed".to_string()),
        "[ -~]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn checks_never_panic_on_field_soup(lines in proptest::collection::vec(field_line(), 0..40)) {
        let text = lines.join("\n") + "\n";
        let _ = errors("r.hacmprd", &text);
    }

    #[test]
    fn checks_never_panic_on_program_soup(lines in proptest::collection::vec(rp_line(), 0..20)) {
        let text = lines.join("\n");
        let _ = errors("a.rp", &text);
    }
}
