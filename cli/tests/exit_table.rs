//! Every command of `hacmp`, `hacmp-lint` and `hacmpd` walks the exit
//! table of `--help` (0 nothing wrong, 1 the input has errors or an
//! operator command was refused, 2 usage or I/O or etcd unreachable):
//! each status a command can give, one case each, and every command
//! `hacmp --help` lists has its row. Refusals by a running cluster (1) and
//! `hacmpd`'s 3 need etcd: `cluster.rs` and `cluster_faults.rs` drive them.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::{repo, stderr, stdout};

/// No etcd listens on port 1 of loopback: connections are refused at once.
const NO_ETCD: &str = "http://127.0.0.1:1";

fn run(bin: &str, args: &[String]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

/// `(command, arguments, status, a text the output must hold)`; `T` in an
/// argument is the test's own directory.
type Case = (&'static str, &'static [&'static str], i32, &'static str);

const HACMP: &[Case] = &[
    (
        "lint",
        &[
            "examples/rwho/rules.hacmprd",
            "--root",
            "examples/rwho/root",
        ],
        0,
        "0 errors",
    ),
    (
        "lint",
        &["tests/diagnostics/R003.hacmprd", "--no-fs"],
        1,
        "R003",
    ),
    ("lint", &["T/missing.hacmprd"], 2, "missing.hacmprd"),
    ("lint", &["--format", "yaml", "x"], 2, "yaml"),
    (
        "compile",
        &["examples/rwho/site.toml", "-o", "T/b.json"],
        0,
        "wrote",
    ),
    (
        "compile",
        &["tests/diagnostics/R003.hacmprd", "-o", "T/r.json"],
        1,
        "has errors",
    ),
    (
        "compile",
        &["examples/rwho/site.toml", "-o", "T/no/b.json"],
        2,
        "cannot write",
    ),
    (
        "compile",
        &[
            "examples/rwho/site.toml",
            "-o",
            "T/c.json",
            "--key",
            "T/none.key",
        ],
        2,
        "none.key",
    ),
    ("explain", &["R001"], 0, "R001"),
    ("explain", &["Z999"], 2, "Z999"),
    ("init", &["T/new"], 0, ""),
    ("init", &["T/new"], 2, "T/new"),
    ("sim", &["examples/rwho/scenario.toml"], 0, ""),
    ("sim", &["T/stuck.toml"], 1, "hacmp resume"),
    ("sim", &["T/bad.toml"], 1, "did you mean `crash`?"),
    ("sim", &["T/missing.toml"], 2, "missing.toml"),
    (
        "run",
        &[
            "examples/rwho/site.toml",
            "--event",
            "NOPE",
            "--location",
            "1",
        ],
        2,
        "NOPE",
    ),
    (
        "run",
        &[
            "T/missing.toml",
            "--event",
            "TE_JOIN_NODE",
            "--location",
            "1",
        ],
        2,
        "missing.toml",
    ),
    ("test", &["tests/rules/documented.test.toml"], 0, ""),
    ("test", &["tests/rules/must-fail.test.toml"], 1, ""),
    ("test", &["T/missing.test.toml"], 2, "missing.test.toml"),
    ("plan", &["examples/rwho/site.toml"], 0, ""),
    (
        "plan",
        &["examples/rwho/site.toml", "--feed", "T/missing.jsonl"],
        2,
        "cannot read the feed",
    ),
    (
        "observe",
        &[
            "IBM.PSSP.Prog.xpcount",
            "NodeNum=1",
            "1",
            "--feed",
            "T/feed.jsonl",
        ],
        0,
        "",
    ),
    (
        "observe",
        &["IBM.NOPE", "NodeNum=1", "1", "--feed", "T/feed.jsonl"],
        2,
        "not in the catalog",
    ),
    (
        "observe",
        &[
            "IBM.PSSP.Prog.xpcount",
            "NodeNum=1",
            "1",
            "--feed",
            "/proc/version",
        ],
        2,
        "cannot write",
    ),
    (
        "status",
        &["--etcd", NO_ETCD, "--timeout", "5s"],
        2,
        "127.0.0.1:1",
    ),
    (
        "status",
        &["--interval", "soon", "--etcd", NO_ETCD],
        2,
        "soon",
    ),
    (
        "resume",
        &["1", "skip", "--etcd", NO_ETCD],
        2,
        "127.0.0.1:1",
    ),
    ("resume", &["1", "later", "--etcd", NO_ETCD], 2, "later"),
    (
        "raise",
        &["UE_PGMRWHO_DOWN", "--location", "1", "--etcd", NO_ETCD],
        2,
        "127.0.0.1:1",
    ),
    (
        "deploy",
        &["examples/rwho/site.toml", "--etcd", NO_ETCD],
        2,
        "127.0.0.1:1",
    ),
    (
        "deploy",
        &["tests/diagnostics/R003.hacmprd", "--etcd", NO_ETCD],
        1,
        "errors",
    ),
    (
        "deploy",
        &[
            "examples/rwho/site.toml",
            "--etcd",
            NO_ETCD,
            "--key",
            "T/none.key",
        ],
        2,
        "none.key",
    ),
    (
        "move",
        &["web", "--to", "2", "--etcd", NO_ETCD],
        2,
        "127.0.0.1:1",
    ),
    (
        "move",
        &["web", "--wait", "forever", "--etcd", NO_ETCD],
        2,
        "forever",
    ),
    ("offline", &["web", "--etcd", NO_ETCD], 2, "127.0.0.1:1"),
    (
        "cleanup",
        &["web", "--node", "2", "--etcd", NO_ETCD],
        2,
        "127.0.0.1:1",
    ),
    (
        "cleanup",
        &["web", "--node", "two", "--etcd", NO_ETCD],
        2,
        "two",
    ),
    ("maintenance", &["on", "--etcd", NO_ETCD], 2, "127.0.0.1:1"),
    (
        "maintenance",
        &["sometimes", "--etcd", NO_ETCD],
        2,
        "sometimes",
    ),
    (
        "online",
        &["web", "--wait", "later", "--etcd", NO_ETCD],
        2,
        "later",
    ),
    (
        "stop",
        &["2", "--mode", "forced", "--etcd", NO_ETCD],
        2,
        "127.0.0.1:1",
    ),
    (
        "stop",
        &["2", "--mode", "now", "--etcd", NO_ETCD],
        2,
        "graceful",
    ),
    ("start", &["beta", "--etcd", NO_ETCD], 2, "127.0.0.1:1"),
    ("key", &["new", "alice", "--out", "T/keys"], 0, "alice.pub"),
    (
        "key",
        &["new", "alice", "--out", "T/keys"],
        2,
        "never written over",
    ),
    (
        "key",
        &["new", "two words", "--out", "T/keys"],
        2,
        "cannot name a key",
    ),
    (
        "bundle",
        &["fetch", "--etcd", NO_ETCD, "--output", "T/f.json"],
        2,
        "127.0.0.1:1",
    ),
    ("faults", &["--seeds", "2"], 0, "2 seeds"),
    ("faults", &["--seeds", "many"], 2, "many"),
    ("journal", &["trace", "T/missing"], 2, "missing"),
    ("history", &["T/state"], 0, "when (UTC)"),
    ("history", &["T/missing"], 2, "missing"),
    ("history", &[], 2, "state directories, or etcd"),
    (
        "history",
        &["--etcd", NO_ETCD, "--timeout", "2s"],
        2,
        "127.0.0.1:1",
    ),
    ("history", &["T/state", "--since", "soon"], 2, "soon"),
    ("completions", &["bash"], 0, "hacmp"),
    ("completions", &["tcsh"], 2, "tcsh"),
    ("man", &["--out", "T/man"], 0, ""),
    ("man", &["--out", "T/b.json"], 2, "b.json"),
];

const HACMP_LINT: &[Case] = &[
    (
        "",
        &[
            "examples/rwho/rules.hacmprd",
            "--root",
            "examples/rwho/root",
        ],
        0,
        "0 errors",
    ),
    (
        "",
        &["tests/diagnostics/R003.hacmprd", "--no-fs"],
        1,
        "R003",
    ),
    ("", &["T/missing.hacmprd"], 2, "missing.hacmprd"),
];

const HACMPD: &[Case] = &[
    (
        "",
        &["--site", "T/missing.toml", "--node", "1", "--etcd", NO_ETCD],
        2,
        "missing.toml",
    ),
    (
        "",
        &[
            "--site",
            "T/b.json",
            "--node",
            "1",
            "--etcd",
            NO_ETCD,
            "--trusted-keys",
            "T/keys",
        ],
        1,
        "is not signed",
    ),
    (
        "",
        &[
            "--site",
            "examples/rwho/site.toml",
            "--node",
            "9",
            "--etcd",
            NO_ETCD,
        ],
        2,
        "not a node",
    ),
    (
        "",
        &[
            "--site",
            "examples/rwho/site.toml",
            "--node",
            "1",
            "--etcd",
            NO_ETCD,
            "--ttl",
            "1500ms",
        ],
        2,
        "whole seconds",
    ),
];

fn walk(bin: &str, name: &str, cases: &[Case], t: &Path, failures: &mut Vec<String>) {
    for (cmd, args, want, says) in cases {
        let mut argv: Vec<String> = Vec::new();
        if !cmd.is_empty() {
            argv.push(cmd.to_string());
        }
        argv.extend(
            args.iter()
                .map(|a| a.replace("T/", &format!("{}/", t.display()))),
        );
        let o = run(bin, &argv);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        if o.status.code() != Some(*want)
            || !text.contains(&says.replace("T/", &format!("{}/", t.display())))
        {
            failures.push(format!(
                "{name} {}: exit {:?}, the table says {want} (and {says:?} in the output):\n{}",
                argv.join(" "),
                o.status.code(),
                text.lines().take(6).collect::<Vec<_>>().join("\n")
            ));
        }
    }
}

#[test]
fn every_command_walks_the_exit_table() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    std::fs::write(
        t.join("stuck.toml"),
        format!(
            "site = {:?}\nlimit = \"1h\"\n[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n\n[[override]]\ncommand = \"node_up\"\nnode = 2\nlocation = 3\nstatus = 1\n",
            repo().join("examples/rwho/site.toml").display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(t.join("bad.toml"), "[[at]]\ntime = \"0s\"\ncrsh = 1\n").unwrap();
    std::fs::create_dir(t.join("state")).unwrap();
    std::fs::write(t.join("state/journal.jsonl"), "").unwrap();

    // Every command `hacmp --help` lists has a row.
    let help = stdout(&run(env!("CARGO_BIN_EXE_hacmp"), &["--help".into()]));
    let listed: BTreeSet<&str> = help
        .split_once("Commands:")
        .map(|(_, rest)| rest.split_once("Options:").map_or(rest, |(c, _)| c))
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    let walked: BTreeSet<&str> = HACMP.iter().map(|c| c.0).collect();
    let missing: Vec<&&str> = listed.difference(&walked).collect();
    assert!(missing.is_empty(), "commands with no row: {missing:?}");
    assert!(listed.len() >= 19, "{listed:?}");

    let mut failures = Vec::new();
    walk(
        env!("CARGO_BIN_EXE_hacmp"),
        "hacmp",
        HACMP,
        t,
        &mut failures,
    );
    walk(
        env!("CARGO_BIN_EXE_hacmp-lint"),
        "hacmp-lint",
        HACMP_LINT,
        t,
        &mut failures,
    );
    // Its trusted keys: the directory `hacmp key new` made, holding a key
    // that signed nothing here.
    walk(
        env!("CARGO_BIN_EXE_hacmpd"),
        "hacmpd",
        HACMPD,
        t,
        &mut failures,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `HACMP_CONFIG` gives every command its etcd (here one that refuses
/// connections: the command reaches for it and says so); a flag wins over
/// the file; a file that does not parse is located, exit 2.
#[test]
fn the_operator_configuration_names_etcd_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("hacmp.toml");
    std::fs::write(&conf, "etcd = [\"http://127.0.0.1:1\"]\ncluster = 4\n").unwrap();
    let with = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hacmp"))
            .args(args)
            .env("HACMP_CONFIG", &conf)
            .env_remove("HACMP_ETCD")
            .output()
            .unwrap()
    };
    let o = with(&["status", "--timeout", "5s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("127.0.0.1:1"), "{}", stderr(&o));
    let o = with(&["status", "--etcd", "http://127.0.0.1:2", "--timeout", "5s"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("127.0.0.1:2") && !stderr(&o).contains("127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&conf, "cluster = 4\netc = [\"x\"]\n").unwrap();
    let o = with(&["status"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("hacmp.toml:2:1:") && stderr(&o).contains("unknown field `etc`"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(&conf).unwrap();
    let o = with(&["status"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hacmp.toml"), "{}", stderr(&o));
}
