//! The real binaries, run like a user would.

use crate::common;

use common::{copy_tree, hacmp, repo, stderr, stdout};

use std::process::{Command, Output};

fn hacmp_lint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hacmp-lint"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

#[test]
fn the_rwho_example_lints_clean_with_its_staging_root() {
    let o = hacmp_lint(&[
        "examples/rwho/rules.hacmprd",
        "--root",
        "examples/rwho/root",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "0 errors, 0 warnings, 0 infos in 12 files\n");
    let o = hacmp(&[
        "lint",
        "--site",
        "examples/rwho/site.toml",
        "--deny-warnings",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = hacmp(&[
        "lint",
        "--site",
        "examples/tmp-full/site.toml",
        "--deny-warnings",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn without_the_root_the_programs_are_missing() {
    let o = hacmp_lint(&["examples/rwho/rules.hacmprd", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 11, "{codes:?}");
    assert!(codes.iter().all(|c| *c == "R005"));
    assert_eq!(v["summary"]["errors"], 11);
}

#[test]
fn reference_files_lint_clean_without_file_system_checks() {
    let o = hacmp_lint(&[
        "--no-fs",
        "tests/fixtures/reference/rules.hacmprd",
        "tests/fixtures/reference/more-user-events.hacmprd",
        "tests/fixtures/reference/rwho.rp",
        "tests/fixtures/reference/node_up.rp",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn json_output_round_trips_with_one_based_positions() {
    let o = hacmp(&[
        "lint",
        "--no-fs",
        "--format",
        "json",
        "tests/diagnostics/R010-single-equals.hacmprd",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "R010");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "tests/diagnostics/R010-single-equals.hacmprd");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(8), Some(4))
    );
    assert_eq!(
        (d["end_line"].as_u64(), d["end_column"].as_u64()),
        (Some(8), Some(5))
    );
    assert!(d["help"].as_str().unwrap().contains("=="));
    assert_eq!(
        v["summary"],
        serde_json::json!({"errors": 1, "warnings": 0, "infos": 0, "files": 1})
    );
}

#[test]
fn sarif_output_is_sarif_2_1_0() {
    let o = hacmp(&[
        "lint",
        "--no-fs",
        "--format",
        "sarif",
        "tests/diagnostics/R003.hacmprd",
        "tests/diagnostics/P009.rp",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "hacmp-lint");
    let results = run["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["R003", "P009"]);
    assert_eq!(results[1]["level"], "warning");
    let region = &results[0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 10);
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let idx = results[0]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[idx]["id"], "R003");
    assert!(rules[idx]["help"]["markdown"]
        .as_str()
        .unwrap()
        .contains("hacmp explain R003"));
    // "first definition" as a related location.
    let rel = &results[0]["relatedLocations"][0];
    assert_eq!(rel["message"]["text"], "first definition");
    assert_eq!(rel["physicalLocation"]["region"]["startLine"], 1);
    // A fingerprint that does not move with lines added above.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("R003.hacmprd");
    let text = std::fs::read_to_string(repo().join("tests/diagnostics/R003.hacmprd")).unwrap();
    let sarif_of = |t: &str| {
        std::fs::write(&file, t).unwrap();
        let v = json(&hacmp(&[
            "lint",
            "--no-fs",
            "--format",
            "sarif",
            file.to_str().unwrap(),
        ]));
        v["runs"][0]["results"][0].clone()
    };
    let before = sarif_of(&text);
    let after = sarif_of(&format!("# a comment\n{text}"));
    assert_eq!(
        after["locations"][0]["physicalLocation"]["region"]["startLine"],
        11
    );
    let fp = |r: &serde_json::Value| {
        r["partialFingerprints"]["primaryLocationLineHash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(fp(&before).len(), 16);
    assert_eq!(fp(&before), fp(&after));
}

#[test]
fn exit_status_tells_errors_warnings_and_usage_apart() {
    let warn = "tests/diagnostics/P009.rp";
    assert_eq!(hacmp(&["lint", "--no-fs", warn]).status.code(), Some(0));
    assert_eq!(
        hacmp(&["lint", "--no-fs", "--deny-warnings", warn])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        hacmp(&["lint", "--no-fs", "tests/diagnostics/P003.rp"])
            .status
            .code(),
        Some(1)
    );
    let o = hacmp(&["lint", "no/such/file.hacmprd"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read `no/such/file.hacmprd`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        hacmp(&["lint", "--format", "xml", warn]).status.code(),
        Some(2)
    );
    assert_eq!(hacmp(&["lint"]).status.code(), Some(2));
}

#[test]
fn human_output_reads_like_a_compiler() {
    let o = hacmp(&[
        "lint",
        "--no-fs",
        "--color",
        "never",
        "tests/diagnostics/R002-state-deleted.hacmprd",
    ]);
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn nodes_report_files_that_differ() {
    let dir = tempfile::tempdir().unwrap();
    let mut roots = Vec::new();
    for n in ["n1", "n2"] {
        let root = dir.path().join(n);
        copy_tree(&repo().join("examples/rwho/root"), &root);
        std::fs::copy(
            repo().join("examples/rwho/rules.hacmprd"),
            root.join("rules.hacmprd"),
        )
        .unwrap();
        roots.push(root.display().to_string());
    }
    let ok = hacmp(&[
        "lint",
        "--format",
        "json",
        "rules.hacmprd",
        "--nodes",
        &roots[0],
        &roots[1],
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    std::fs::write(
        dir.path().join("n2/usr/sbin/cluster/local/rwho.rp"),
        "all \"/usr/sbin/cluster/local/rwho_restart\" 0 NULL\n",
    )
    .unwrap();
    let o = hacmp(&[
        "lint",
        "--format",
        "json",
        "rules.hacmprd",
        "--nodes",
        &roots[0],
        &roots[1],
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let n001: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "N001")
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(n001.len(), 1, "{n001:?}");
    assert!(n001[0].contains("/usr/sbin/cluster/local/rwho.rp"));
}

#[test]
fn compile_writes_a_verified_bundle_and_refuses_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle.json");
    let o = hacmp(&[
        "compile",
        "--site",
        "examples/rwho/site.toml",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let bundle: hacmp_compiler::Bundle =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(bundle.verify());
    assert_eq!(bundle.rules.len(), 11);
    let rwho = bundle.rule("UE_PGMRWHO_DOWN", 0).unwrap();
    assert!(rwho.condition.is_some());
    assert_eq!(bundle.programs[&rwho.program].groups.len(), 3);
    assert_eq!(bundle.site.nodes.len(), 4);

    let bad = dir.path().join("bad.json");
    let o = hacmp(&[
        "compile",
        "tests/diagnostics/R003.hacmprd",
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!bad.exists());
    assert!(stderr(&o).contains("not writing"));
}

#[test]
fn the_same_site_compiles_to_the_same_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for p in [&a, &b] {
        assert_eq!(
            hacmp(&[
                "compile",
                "--site",
                "examples/rwho/site.toml",
                "-o",
                p.to_str().unwrap()
            ])
            .status
            .code(),
            Some(0)
        );
    }
    let ha: hacmp_compiler::Bundle = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    let hb: hacmp_compiler::Bundle = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    assert_eq!(ha.hash, hb.hash);
    let hc = hacmp(&[
        "compile",
        "--site",
        "examples/tmp-full/site.toml",
        "-o",
        a.to_str().unwrap(),
    ]);
    assert_eq!(hc.status.code(), Some(0));
    let hc: hacmp_compiler::Bundle = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    assert_ne!(ha.hash, hc.hash);
    assert!(!ha.differing_sources(&hc).is_empty());
}

#[test]
fn explain_prints_the_text_and_both_examples() {
    let o = hacmp(&["explain", "r010"]);
    assert_eq!(o.status.code(), Some(0));
    let s = stdout(&o);
    assert!(
        s.starts_with("R010 (error): predicate does not parse"),
        "{s}"
    );
    assert!(s.contains("Wrong (rules.hacmprd):") && s.contains("Right (rules.hacmprd):"));
    assert!(
        s.contains("The linter says:") && s.contains("did you mean `==`?"),
        "{s}"
    );
    let o = hacmp(&["explain", "R999"]);
    assert_eq!(o.status.code(), Some(2));
    let o = hacmp(&["explain", "list"]);
    assert_eq!(stdout(&o).lines().count(), hacmp_compiler::Code::ALL.len());
}

#[test]
fn init_writes_a_site_that_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let o = hacmp(&["init", site.to_str().unwrap(), "--nodes", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = hacmp(&[
        "lint",
        "--format",
        "json",
        "--site",
        site.join("site.toml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        json(&o)["diagnostics"].as_array().unwrap().len(),
        0,
        "{}",
        stdout(&o)
    );
    // A second init into the same directory is refused.
    assert_eq!(
        hacmp(&["init", site.to_str().unwrap()]).status.code(),
        Some(2)
    );
}

/// One mistake in a site file, one error: a mistyped key keeps the staging
/// root (no cascade of missing programs) and suggests the key; a TOML
/// syntax error is reported, located, by every command that reads the site.
#[test]
fn one_mistake_in_a_site_file_is_one_located_error() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&repo().join("examples/rwho"), dir.path());
    let site = dir.path().join("site.toml");
    let good = std::fs::read_to_string(&site).unwrap();
    std::fs::write(
        &site,
        good.replace("settle = \"200ms\"", "setle = \"200ms\""),
    )
    .unwrap();
    let o = hacmp(&["lint", "--site", site.to_str().unwrap(), "--format", "json"]);
    let v = json(&o);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["S001"], "{v}");
    assert_eq!(v["diagnostics"][0]["help"], "did you mean `settle`?");
    std::fs::write(&site, good.replace("id = 1", "id = = 1")).unwrap();
    let sc = dir.path().join("sc.toml");
    std::fs::write(&sc, "site = \"site.toml\"\n").unwrap();
    for args in [
        vec!["lint", "--site", site.to_str().unwrap()],
        vec!["sim", sc.to_str().unwrap()],
        vec![
            "compile",
            "--site",
            site.to_str().unwrap(),
            "-o",
            "/dev/null",
        ],
        vec!["plan", site.to_str().unwrap()],
    ] {
        let o = hacmp(&args);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            all.contains("site.toml:5:6") && all.contains("extra `=`"),
            "{args:?}: {all}"
        );
        assert!(!all.contains("has no `[paths] rules`"), "{args:?}: {all}");
    }
}

/// The starter site comes with a scenario and a rule test that pass, and
/// `hacmp lint` run in a site's directory finds its `site.toml`.
#[test]
fn init_writes_a_scenario_and_a_rule_test_and_lint_finds_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("s");
    let o = hacmp(&["init", site.to_str().unwrap(), "--nodes", "3"]);
    assert!(
        stdout(&o).contains("hacmp sim") && stdout(&o).contains("hacmp test"),
        "{}",
        stdout(&o)
    );
    let o = hacmp(&["sim", site.join("scenario.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("TE_FAIL_NODE at node 3"),
        "{}",
        stdout(&o)
    );
    let o = hacmp(&[
        "test",
        site.join("tests/var_full.test.toml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .arg("lint")
        .current_dir(&site)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "0 errors, 0 warnings, 0 infos in 13 files\n");
}

/// `hacmp lint --against BUNDLE`: what a new site changes from a running
/// cluster's bundle, and which groups it moves.
#[test]
fn lint_against_a_bundle_reports_what_the_change_moves() {
    let dir = tempfile::tempdir().unwrap();
    let site_dir = dir.path().join("site");
    copy_tree(&repo().join("examples/ha-web"), &site_dir);
    let bundle = dir.path().join("running.json");
    let o = hacmp(&[
        "compile",
        site_dir.join("site.toml").to_str().unwrap(),
        "--output",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(site_dir.join("site.toml")).unwrap();
    let new = text.replace(
        "nodes = [\"node1\", \"node2\", \"node3\"]",
        "nodes = [\"node3\", \"node1\"]",
    );
    assert_ne!(new, text);
    std::fs::write(site_dir.join("site.toml"), new).unwrap();
    let o = hacmp(&[
        "lint",
        "--site",
        site_dir.join("site.toml").to_str().unwrap(),
        "--against",
        bundle.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains("~ group web: nodes node1, node2, node3 → node3, node1"),
        "{out}"
    );
    assert!(out.contains("web: on node 1 → on node 3"), "{out}");
    // The same site: nothing changes.
    let o = hacmp_lint(&[
        "--site",
        site_dir.join("site.toml").to_str().unwrap(),
        "--against",
        site_dir.join("site.toml").to_str().unwrap(),
    ]);
    assert!(stdout(&o).contains("nothing changes"), "{}", stdout(&o));
}

/// docs/diagnostics.md is what `hacmp explain all --markdown` prints: a
/// new or reworded code shows here until the page is made again.
#[test]
fn the_diagnostics_page_is_current() {
    let o = hacmp(&["explain", "all", "--markdown"]);
    assert_eq!(o.status.code(), Some(0));
    let made = String::from_utf8(o.stdout).unwrap();
    let kept = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/diagnostics.md"
    ))
    .unwrap();
    assert!(
        made == kept,
        "docs/diagnostics.md is out of date: hacmp explain all --markdown > docs/diagnostics.md"
    );
    for c in hacmp_compiler::Code::ALL {
        assert!(kept.contains(&format!("\n## {c}\n")), "{c} has no section");
    }
}

/// With `--docs-url`, every SARIF rule links to its code's section of the
/// published page; without, to `hacmp explain`. A bad address is refused.
#[test]
fn sarif_help_links_to_the_published_page() {
    let base = "https://git.example.com/ops/hacmp/blob/main/docs/diagnostics.md";
    let o = hacmp(&[
        "lint",
        "--no-fs",
        "--format",
        "sarif",
        "--docs-url",
        base,
        "tests/diagnostics/R003.hacmprd",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for r in rules {
        let id = r["id"].as_str().unwrap();
        assert_eq!(
            r["helpUri"],
            format!("{base}#{}", id.to_ascii_lowercase()),
            "{id}"
        );
    }
    let o = hacmp(&[
        "lint",
        "--no-fs",
        "--format",
        "sarif",
        "tests/diagnostics/R003.hacmprd",
    ]);
    let v = json(&o);
    assert_eq!(
        v["runs"][0]["tool"]["driver"]["rules"][2]["helpUri"],
        "hacmp:explain/R003"
    );
    let o = hacmp(&[
        "lint",
        "--docs-url",
        "docs/diagnostics.md",
        "tests/diagnostics/R003.hacmprd",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an http(s) address"));
}

/// The exit-status table holds on the paths that broke it: a feed that
/// cannot be read is a usage error (2), said; a site file that is not TOML
/// is a finding (1) given in the format asked for (a pipeline that parses
/// JSON or SARIF gets JSON or SARIF).
#[test]
fn unreadable_feeds_and_broken_site_files_follow_the_exit_table() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let missing = dir.path().join("missing.jsonl");
    for (feed, says) in [(&fifo, "FIFO"), (&missing, "No such file")] {
        let o = hacmp(&[
            "plan",
            "examples/rwho/site.toml",
            "--feed",
            feed.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("cannot read the feed") && stderr(&o).contains(says),
            "{}",
            stderr(&o)
        );
    }
    let site = dir.path().join("site.toml");
    std::fs::write(&site, "[cluster]\nid = 1\nname = \"x\n").unwrap();
    let o = hacmp_lint(&["--format", "json", "--site", site.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["diagnostics"][0]["code"], "S001");
    assert_eq!(v["diagnostics"][0]["line"], 3);
    let o = hacmp_lint(&["--format", "sarif", "--site", site.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["runs"][0]["results"][0]["ruleId"], "S001");
}

/// Rough edges: `hacmp explain` suggests the code meant; `hacmp man
/// --out DIR` creates DIR; every duration flag reads durations alike.
#[test]
fn explain_suggests_a_code_and_man_creates_its_directory() {
    let o = hacmp(&["explain", "R0002"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `R002`?"),
        "{}",
        stderr(&o)
    );
    let o = hacmp(&["explain", "g01"]);
    assert!(
        stderr(&o).contains("did you mean `G001`?"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("share/man/man1");
    let o = hacmp(&["man", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("hacmp.1").is_file());
    for flag in ["--interval", "--timeout"] {
        let o = hacmp(&[
            "status",
            "--watch",
            flag,
            "500msec",
            "--etcd",
            "http://127.0.0.1:1",
        ]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(
            stderr(&o).contains("unknown unit `msec`"),
            "{flag}: {}",
            stderr(&o)
        );
    }
}

/// `hacmp key new` writes a secret key only its owner may read and never
/// over an existing one; `compile --key` signs; `hacmpd` runs a bundle
/// file only when a key it trusts signed it (refused before it reaches
/// etcd); a secret key others may read signs nothing.
#[test]
fn keys_sign_bundles_and_nodes_run_only_what_a_trusted_key_signed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = d.join("keys");
    let o = hacmp(&["key", "new", "alice-2026", "--out", keys.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("/etc/hacmp/trusted-keys"),
        "{}",
        stdout(&o)
    );
    let secret = keys.join("alice-2026.key");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let o = hacmp(&["key", "new", "alice-2026", "--out", keys.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("never written over"), "{}", stderr(&o));
    let o = hacmp(&["key", "new", "bad name", "--out", keys.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let site = d.join("rwho");
    copy_tree(&repo().join("examples/rwho"), &site);
    let compile = |out: &std::path::Path, key: Option<&std::path::Path>| {
        let mut args = vec![
            "compile".to_string(),
            site.join("site.toml").to_str().unwrap().into(),
            "--output".into(),
            out.to_str().unwrap().into(),
        ];
        if let Some(k) = key {
            args.extend(["--key".into(), k.to_str().unwrap().into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hacmp(&args)
    };
    let unsigned = d.join("unsigned.json");
    let o = compile(&unsigned, None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("not signed"), "{}", stderr(&o));
    let signed = d.join("signed.json");
    let o = compile(&signed, Some(&secret));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("signed by `alice-2026`"),
        "{}",
        stderr(&o)
    );

    let trusted = d.join("trusted");
    std::fs::create_dir(&trusted).unwrap();
    let hacmpd = |bundle: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_hacmpd"))
            .args(["--site", bundle.to_str().unwrap(), "--node", "1"])
            .args(["--etcd", "http://127.0.0.1:1", "--trusted-keys"])
            .arg(&trusted)
            .args(["--state-dir", d.join("state").to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = hacmpd(&unsigned);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not signed"), "{}", stderr(&o));
    let o = hacmpd(&signed);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds no `.pub` file"),
        "{}",
        stderr(&o)
    );
    std::fs::copy(keys.join("alice-2026.pub"), trusted.join("alice.pub")).unwrap();
    std::fs::set_permissions(&trusted, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = hacmpd(&signed);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("writable by"), "{}", stderr(&o));
    std::fs::set_permissions(&trusted, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Trusted: it goes on, and waits for the etcd that is not there.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hacmpd"))
        .args(["--site", signed.to_str().unwrap(), "--node", "1"])
        .args(["--etcd", "http://127.0.0.1:1", "--trusted-keys"])
        .arg(&trusted)
        .args(["--state-dir", d.join("state").to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let said = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()))
        .map_while(Result::ok)
        .find(|l| l.contains("signed.json") || l.contains("refusing"));
    let _ = child.kill();
    let _ = child.wait();
    let said = said.unwrap_or_default();
    assert!(said.contains("signed by `alice-2026`"), "{said}");

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = compile(&d.join("other.json"), Some(&secret));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    assert!(!d.join("other.json").exists());
}

/// The packaged unit passes `systemd-analyze verify` (as an instance, with
/// `ExecStart` on the binary just built). Without `systemd-analyze` the
/// test skips loudly, unless `HACMP_REQUIRE_SYSTEMD=1`.
#[test]
fn the_systemd_unit_verifies_clean() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert_ne!(
            std::env::var("HACMP_REQUIRE_SYSTEMD").as_deref(),
            Ok("1"),
            "HACMP_REQUIRE_SYSTEMD=1 but there is no systemd-analyze"
        );
        eprintln!("SKIPPED: no systemd-analyze (install systemd)");
        return;
    }
    let unit = std::fs::read_to_string(repo().join("packaging/hacmpd@.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/sbin/hacmpd "), "{unit}");
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hacmpd@2.service");
    std::fs::write(
        &path,
        unit.replace("/usr/sbin/hacmpd", env!("CARGO_BIN_EXE_hacmpd")),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty() && o.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `hacmpd --log-format journal` speaks journald's protocol: each message
/// with its priority and its fields (`NODE`, `GROUP`, ...), so
/// `journalctl NODE=1 -p warning` finds them. A stand-in journald listens
/// at `/run/systemd/journal/socket` in a mount namespace of the test's own
/// (root, `unshare`, `python3`); without them the test skips loudly,
/// unless `HACMP_REQUIRE_ROOT=1`.
#[test]
fn the_daemon_logs_to_the_journal_with_priorities_and_fields() {
    let have = |c: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if unsafe { libc::geteuid() } != 0 || !have("unshare") || !have("python3") {
        assert_ne!(
            std::env::var("HACMP_REQUIRE_ROOT").as_deref(),
            Ok("1"),
            "HACMP_REQUIRE_ROOT=1 but this test cannot make its mount namespace"
        );
        eprintln!("SKIPPED: needs root, unshare and python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("journal.bin");
    let listener = format!(
        "import socket, os\n\
         os.makedirs('/run/systemd/journal', exist_ok=True)\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.bind('/run/systemd/journal/socket')\n\
         open('{ready}', 'w').close()\n\
         s.settimeout(20)\n\
         out = open('{got}', 'wb')\n\
         while True:\n\
         \x20   d = s.recv(65536)\n\
         \x20   if d: out.write(len(d).to_bytes(8, 'little') + d); out.flush()\n\
         \x20   if b'left the cluster' in d: break\n",
        ready = dir.path().join("ready").display(),
        got = got.display()
    );
    std::fs::write(dir.path().join("journald.py"), listener).unwrap();
    let script = format!(
        "mount -t tmpfs none /run || exit 9\n\
         python3 {py} &\n\
         for i in $(seq 100); do [ -e {ready} ] && break; sleep 0.1; done\n\
         {hacmpd} --site {site} --node 1 --etcd http://127.0.0.1:1 --log-format journal --state-dir {state} &\n\
         d=$!\n\
         for i in $(seq 300); do grep -q 'hacmpd started' {got} 2>/dev/null && break; sleep 0.1; done\n\
         kill -TERM $d; wait $d; wait\n",
        py = dir.path().join("journald.py").display(),
        ready = dir.path().join("ready").display(),
        hacmpd = env!("CARGO_BIN_EXE_hacmpd"),
        site = repo().join("examples/rwho/site.toml").display(),
        state = dir.path().join("state").display(),
        got = got.display(),
    );
    let o = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let journal = std::fs::read(&got).unwrap_or_default();
    // (The layer's first datagram, empty, only checks the socket.)
    // One datagram: fields `NAME=value\n`, or `NAME\n` + a 64-bit
    // little-endian length + the value + `\n` (journald's native protocol).
    let fields = |d: &[u8]| -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = d;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let line = &rest[..nl];
            if let Some(eq) = line.iter().position(|b| *b == b'=') {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                out.push((text(&line[..eq]), text(&line[eq + 1..])));
                rest = &rest[nl + 1..];
            } else {
                let Some(len) = rest.get(nl + 1..nl + 9) else {
                    break;
                };
                let len = u64::from_le_bytes(len.try_into().unwrap()) as usize;
                let Some(value) = rest.get(nl + 9..nl + 9 + len) else {
                    break;
                };
                out.push((
                    String::from_utf8_lossy(line).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                ));
                rest = &rest[(nl + 10 + len).min(rest.len())..];
            }
        }
        out
    };
    let datagrams: Vec<Vec<(String, String)>> =
        split_records(&journal).into_iter().map(fields).collect();
    let get =
        |m: &[(String, String)], k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let started = datagrams
        .iter()
        .find(|m| get(m, "MESSAGE").as_deref() == Some("hacmpd started"))
        .unwrap_or_else(|| panic!("{datagrams:?}\n{}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(
        get(started, "PRIORITY").as_deref(),
        Some("5"),
        "info: {started:?}"
    );
    assert_eq!(get(started, "NODE").as_deref(), Some("1"), "{started:?}");
    assert_eq!(get(started, "SYSLOG_IDENTIFIER").as_deref(), Some("hacmpd"));
    assert!(
        datagrams
            .iter()
            .any(|m| get(m, "PRIORITY").as_deref() == Some("4")
                && get(m, "MESSAGE").is_some_and(|x| x.contains("etcd"))),
        "an unreachable etcd is a warning: {datagrams:?}"
    );
}

/// The datagrams the stand-in journald wrote, each after its length (so a
/// value may hold any byte).
fn split_records(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = b;
    while rest.len() >= 8 {
        let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
        let Some(d) = rest.get(8..8 + len) else { break };
        out.push(d);
        rest = &rest[8 + len..];
    }
    out
}

/// A daemon that crashed leaves its warden armed (its moment may still be
/// far); the next daemon of the node makes it act at once, so the old
/// servers are gone before it joins, and waits for it to end (then the
/// old warden cannot take down what the new daemon acquires).
#[test]
fn a_crashed_daemons_warden_acts_when_the_next_daemon_starts() {
    use hacmp_linux::warden::{end_previous, Warden, Word};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("warden.pid");
    let w = Warden::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_hacmpd")),
        Duration::from_millis(100),
    )
    .unwrap();
    let pid = w.pid() as i32;
    std::fs::write(&pidfile, format!("{pid}\n")).unwrap();
    let mut server = Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    assert!(w.tell(&Word::Servers {
        groups: vec![server.id() as i32]
    }));
    assert!(w.fence_at(Some(Instant::now() + Duration::from_secs(3600))));
    // The daemon crashes: nothing more is said, nothing disarms.
    std::mem::forget(w);
    // The warden has been running a while by then: it catches SIGUSR1.
    let t = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_none_or(|m| m & (1 << (libc::SIGUSR1 - 1)) == 0)
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the warden never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    end_previous(&pidfile);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the old server still runs"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // It ended (a zombie of this test, its parent): reaped here.
    let mut st = 0;
    // SAFETY: waitpid on this test's own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) }, pid);
    assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0);
    // A pid file naming anything but a warden is left alone.
    std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
    end_previous(&pidfile);
}
