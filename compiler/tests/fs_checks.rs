//! The codes that need files on disk: a staging tree built per test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hacmp_compiler::{lint, lint_nodes, render, Code, Lint, LintOptions};

const RULES: &str = "UE_A\n0\n/usr/sbin/cluster/local/a.rp\n2\n0\n\n\n\n\n";

fn put(root: &Path, rel: &str, text: &str, mode: u32) -> PathBuf {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// A staged site: rules file outside the root, program and command inside.
fn stage(dir: &Path, rp: &str) -> PathBuf {
    put(dir, "root/usr/sbin/cluster/local/a.rp", rp, 0o644);
    put(
        dir,
        "root/usr/sbin/cluster/local/a",
        "#!/bin/sh\nexit 0\n",
        0o755,
    );
    put(dir, "rules.hacmprd", RULES, 0o644)
}

fn run(dir: &Path, rules: &Path) -> Lint {
    let opts = LintOptions {
        root: Some(dir.join("root")),
        ..LintOptions::new()
    };
    lint(&[rules.to_path_buf()], &opts).unwrap()
}

/// Renderings with the temporary directory replaced, for snapshots.
fn rendered(l: &Lint, dir: &Path) -> (String, String) {
    let d = dir.display().to_string();
    (
        render::human(&l.sources, &l.diagnostics, false).replace(&d, "[DIR]"),
        render::json(&l.sources, &l.diagnostics).replace(&d, "[DIR]"),
    )
}

fn codes(l: &Lint) -> Vec<Code> {
    l.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn a_clean_staged_site_has_no_diagnostics_and_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let rules = stage(dir.path(), "all \"/usr/sbin/cluster/local/a\" 0 NULL\n");
    let l = run(dir.path(), &rules);
    assert_eq!(codes(&l), vec![]);
    let b = l.bundle().expect("a bundle");
    assert!(b.verify());
    assert_eq!(b.programs["/usr/sbin/cluster/local/a.rp"].groups.len(), 1);
    assert!(
        b.sources.contains_key("/usr/sbin/cluster/local/a"),
        "command hashed: {:?}",
        b.sources.keys()
    );
}

#[test]
fn r005_missing_program() {
    let dir = tempfile::tempdir().unwrap();
    let rules = put(dir.path(), "rules.hacmprd", RULES, 0o644);
    fs::create_dir_all(dir.path().join("root")).unwrap();
    let l = run(dir.path(), &rules);
    assert_eq!(codes(&l), vec![Code::R005]);
    assert!(l.bundle().is_none());
    let (human, json) = rendered(&l, dir.path());
    insta::assert_snapshot!("R005.human", human);
    insta::assert_snapshot!("R005.json", json);
}

#[test]
fn p007_missing_and_not_executable_commands() {
    let dir = tempfile::tempdir().unwrap();
    let rules = stage(dir.path(), "all \"/usr/sbin/cluster/local/a\" 0 NULL\nbarrier\nall \"/usr/sbin/cluster/local/missing\" 0 NULL\n");
    fs::set_permissions(
        dir.path().join("root/usr/sbin/cluster/local/a"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let l = run(dir.path(), &rules);
    assert_eq!(codes(&l), vec![Code::P007, Code::P007]);
    let (human, json) = rendered(&l, dir.path());
    insta::assert_snapshot!("P007.human", human);
    insta::assert_snapshot!("P007.json", json);
}

#[test]
fn p007_event_script_resolved_through_the_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let rules = stage(dir.path(), "all \"node_up\" 0 NULL\n");
    let l = run(dir.path(), &rules);
    assert_eq!(codes(&l), vec![Code::P007]);
    assert!(
        l.diagnostics[0]
            .message
            .contains("/usr/sbin/cluster/events/node_up"),
        "{}",
        l.diagnostics[0].message
    );
}

#[test]
fn p008_group_writable_program_and_command() {
    let dir = tempfile::tempdir().unwrap();
    let rules = stage(dir.path(), "all \"/usr/sbin/cluster/local/a\" 0 NULL\n");
    fs::set_permissions(
        dir.path().join("root/usr/sbin/cluster/local/a.rp"),
        fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    fs::set_permissions(
        dir.path().join("root/usr/sbin/cluster/local/a"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let l = run(dir.path(), &rules);
    assert_eq!(codes(&l), vec![Code::P008, Code::P008]);
    let (human, json) = rendered(&l, dir.path());
    insta::assert_snapshot!("P008.human", human);
    insta::assert_snapshot!("P008.json", json);
}

#[test]
fn p008_a_rules_file_others_may_write_a_command_in_an_open_directory_and_a_setuid_command() {
    let dir = tempfile::tempdir().unwrap();
    let rules = stage(
        dir.path(),
        "all \"/usr/sbin/cluster/local/a\" 0 NULL\nall \"/usr/sbin/cluster/drop/b\" 0 NULL\n",
    );
    fs::set_permissions(&rules, fs::Permissions::from_mode(0o666)).unwrap();
    put(
        dir.path(),
        "root/usr/sbin/cluster/drop/b",
        "#!/bin/sh\nexit 0\n",
        0o755,
    );
    fs::set_permissions(
        dir.path().join("root/usr/sbin/cluster/drop"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    fs::set_permissions(
        dir.path().join("root/usr/sbin/cluster/local/a"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    let l = run(dir.path(), &rules);
    let msgs: Vec<(Code, String)> = l
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code,
                d.message
                    .replace(&dir.path().display().to_string(), "[DIR]"),
            )
        })
        .collect();
    assert_eq!(
        msgs,
        [
            (Code::P008, "rules file `[DIR]/rules.hacmprd` is writable by its group and all users (mode 666)".to_string()),
            (Code::P008, "command `/usr/sbin/cluster/local/a` is setuid".to_string()),
            (Code::P008, "command `/usr/sbin/cluster/drop/b` is in `/usr/sbin/cluster/drop`, a directory all users may write (mode 777): anyone could replace it".to_string()),
        ]
    );
    assert_eq!(l.diagnostics[1].severity, hacmp_compiler::Severity::Warning);
    assert!(l.bundle().is_none(), "errors: no bundle");
}

#[test]
fn f001_program_that_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let rules = put(dir.path(), "rules.hacmprd", RULES, 0o644);
    // A directory where the program should be: exists, but is not readable as a file.
    fs::create_dir_all(dir.path().join("root/usr/sbin/cluster/local/a.rp")).unwrap();
    let l = run(dir.path(), &rules);
    assert_eq!(codes(&l), vec![Code::F001]);
    let (human, json) = rendered(&l, dir.path());
    insta::assert_snapshot!("F001.human", human);
    insta::assert_snapshot!("F001.json", json);
}

#[test]
fn n001_nodes_with_different_files() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["n1", "n2", "n3"] {
        let root = dir.path().join(n);
        put(&root, "usr/sbin/cluster/etc/rules.hacmprd", RULES, 0o644);
        put(
            &root,
            "usr/sbin/cluster/local/a.rp",
            "all \"/usr/sbin/cluster/local/a\" 0 NULL\n",
            0o644,
        );
        put(
            &root,
            "usr/sbin/cluster/local/a",
            "#!/bin/sh\nexit 0\n",
            0o755,
        );
    }
    put(
        &dir.path().join("n2"),
        "usr/sbin/cluster/local/a.rp",
        "all \"/usr/sbin/cluster/local/a\" X NULL\n",
        0o644,
    );
    fs::remove_file(dir.path().join("n3/usr/sbin/cluster/local/a")).unwrap();
    let roots: Vec<PathBuf> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    let l = lint_nodes(
        &[PathBuf::from("/usr/sbin/cluster/etc/rules.hacmprd")],
        &roots,
        &LintOptions::new(),
    )
    .unwrap();
    let n001: Vec<&str> = l
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::N001)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(n001.len(), 2, "{n001:#?}");
    assert!(n001
        .iter()
        .any(|m| m.contains("`/usr/sbin/cluster/local/a.rp` differs")));
    assert!(n001
        .iter()
        .any(|m| m.contains("`/usr/sbin/cluster/local/a` differs") && m.contains("(missing)")));
    let (human, json) = rendered(&l, dir.path());
    insta::assert_snapshot!("N001.human", human);
    insta::assert_snapshot!("N001.json", json);
}

/// G005: the commands of application and custom resources are checked like
/// the programs' commands, and hashed into the bundle when they are fine.
#[test]
fn resource_commands_missing_or_not_executable_are_g005_and_good_ones_are_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let rules = stage(dir.path(), "all \"/usr/sbin/cluster/local/a\" 0 NULL\n");
    put(
        dir.path(),
        "root/opt/web/start",
        "#!/bin/sh\nexit 0\n",
        0o755,
    );
    put(
        dir.path(),
        "root/opt/web/stop",
        "#!/bin/sh\nexit 0\n",
        0o644,
    );
    let site = put(
        dir.path(),
        "site.toml",
        "[paths]\nroot = \"root\"\nrules = \"rules.hacmprd\"\n\n[[node]]\nnumber = 1\n\n\
         [[resource_group]]\nname = \"web\"\npolicy = \"cascading\"\nnodes = [1]\n\
         [[resource_group.resource]]\nkind = \"application\"\nstart = \"/opt/web/start\"\n\
         stop = \"/opt/web/stop\"\nmonitor = \"/opt/web/check --quiet\"\n",
        0o644,
    );
    let opts = LintOptions {
        site: Some(site),
        ..LintOptions::new()
    };
    let l = lint(&[rules], &opts).unwrap();
    let g005: Vec<&str> = l
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::G005)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        g005,
        vec![
            "resource command `/opt/web/stop` is not executable",
            "resource command `/opt/web/check` does not exist"
        ]
    );
    assert!(l.hashes.contains_key("/opt/web/start"));
    let (human, _) = rendered(&l, dir.path());
    insta::assert_snapshot!("G005", human);
}
