//! `hacmp sim` and `hacmp run`, as a user runs them.

use crate::common;

use common::{hacmp, repo};

use std::path::Path;

fn scenario(dir: &Path, body: &str) -> String {
    scenario_on(&repo().join("examples/rwho/site.toml"), dir, body)
}

/// A copy of the rwho site with nodes 1 to `n`.
fn site_with_nodes(dir: &Path, n: u32) -> std::path::PathBuf {
    let site_dir = dir.join("site");
    common::copy_tree(&repo().join("examples/rwho"), &site_dir);
    let site = site_dir.join("site.toml");
    let mut text = std::fs::read_to_string(&site).unwrap();
    let extra: String = (5..=n)
        .map(|k| format!("[[node]]\nnumber = {k}\nname = \"node{k}\"\n\n"))
        .collect();
    text = text.replace("[paths]", &format!("{extra}[paths]"));
    std::fs::write(&site, text).unwrap();
    site
}

/// The groups line of the last event of a human timeline.
fn last_groups(out: &str) -> Option<&str> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("groups: "))
        .next_back()
}

/// A scenario's text with an operator's decision on the first failure.
fn deciding(body: &str, decision: &str) -> String {
    format!(
        "{body}\n[[at]]\nwhen = {{ failure = true }}\nresume = {{ decision = \"{decision}\" }}\n"
    )
}

fn scenario_on(site: &Path, dir: &Path, body: &str) -> String {
    let p = dir.join("scenario.toml");
    std::fs::write(
        &p,
        format!("site = {:?}\n{body}", site.display().to_string()),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn the_rwho_scenario_shows_the_failure_and_its_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("rwho.svg");
    let o = hacmp(&[
        "sim",
        "examples/rwho/scenario.toml",
        "--format",
        "json",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let events = v["events"].as_array().unwrap();
    let names: Vec<(&str, u64, &str)> = events
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["location"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("TE_JOIN_NODE", 1, "completed"),
            ("TE_JOIN_NODE", 2, "completed"),
            ("TE_JOIN_NODE", 3, "completed"),
            ("TE_JOIN_NODE", 4, "completed"),
            ("UE_PGMRWHO_DOWN", 3, "completed"),
        ]
    );
    let ue = &events[4];
    assert_eq!(ue["membership"], serde_json::json!([1, 2, 3, 4]));
    for r in ue["records"].as_array().unwrap() {
        let kind = r["kind"].as_str().unwrap();
        assert!(
            [
                "command_start",
                "command_end",
                "barrier_arrive",
                "barrier_done",
                "cbarrier_done",
                "state"
            ]
            .contains(&kind),
            "{kind}"
        );
        assert!(r["node"].is_u64() && r["t_ms"].is_u64());
    }
    // Only node 3 restarts the daemon, between the two barriers.
    let restarts: Vec<u64> = ue["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["kind"] == "command_start" && r["command"] == "/usr/sbin/cluster/local/rwho_restart"
        })
        .map(|r| r["node"].as_u64().unwrap())
        .collect();
    assert_eq!(restarts, [3]);
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(
        picture.starts_with("<svg")
            && picture.contains("node 4")
            && picture.contains("UE_PGMRWHO_DOWN@3")
    );
}

#[test]
fn the_human_timeline_has_a_column_per_node() {
    let o = hacmp(&["sim", "examples/rwho/scenario.toml"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("#5 UE_PGMRWHO_DOWN at node 3 (state 0) — members 1–4 — COMPLETED"),
        "{text}"
    );
    // The three nodes that did the same are one column.
    let ue = text.split("UE_PGMRWHO_DOWN at node 3").nth(1).unwrap();
    assert!(ue.contains("nodes 1, 2, 4           node 3"), "{ue}");
    let row = ue.lines().find(|l| l.contains("▶ rwho_msg_local")).unwrap();
    assert_eq!(row.matches("▶ rwho_msg_remote").count(), 1, "{row}");
    // A closing summary.
    assert!(
        text.contains("5 events: 5 completed; 0 unexpected statuses; longest #5 UE_PGMRWHO_DOWN"),
        "{text}"
    );
    // Fitted to a width.
    let o = hacmp(&["sim", "examples/rwho/scenario.toml", "--width", "60"]);
    let narrow = String::from_utf8(o.stdout).unwrap();
    assert!(
        narrow
            .lines()
            .filter(|l| l.contains("rwho_msg"))
            .all(|l| l.chars().count() <= 60),
        "{narrow}"
    );
}

#[test]
fn a_large_cluster_is_summarised_per_event_with_its_failures() {
    let dir = tempfile::tempdir().unwrap();
    let n = 60;
    let nodes: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let sc = scenario_on(
        &site_with_nodes(dir.path(), n as u32),
        dir.path(),
        &format!(
            r#"
[[at]]
time = "0s"
start = [{}]

[[at]]
time = "1000s"
raise = {{ event = "UE_PGMRWHO_DOWN", location = 2 }}

[[override]]
command = "/usr/sbin/cluster/local/rwho_msg_remote"
node = 17
status = 4
times = 1

[[at]]
when = {{ failure = true }}
resume = {{ decision = "continue" }}
"#,
            nodes.join(", ")
        ),
    );
    let o = hacmp(&["sim", &sc]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("start node 1–60\n"), "{text}");
    // Events on few nodes keep their columns; the rest are summaries whose
    // size does not grow with the nodes.
    assert!(text.contains("node 1                  node 2"), "{text}");
    let ue = text
        .split("UE_PGMRWHO_DOWN at node 2")
        .nth(1)
        .expect("the user event");
    assert!(ue.contains("— members 1–60 — COMPLETED"), "{ue}");
    // The 58 nodes that did the same share a column; the event's node and
    // the one that failed have their own; the failure is given in full.
    assert!(
        ue.contains("nodes 1, 3–16, 18–60    node 2                  node 17"),
        "{ue}"
    );
    assert!(
        ue.contains(
            "node 17: ✗ FAILED `/usr/sbin/cluster/local/rwho_msg_remote`: expected 0, got exit 4"
        ),
        "{ue}"
    );
    assert!(ue.contains("☛ operator: continue"), "{ue}");
    assert!(!ue.contains("node 60   "), "no columns for 60 nodes: {ue}");
    let joins = text.matches(" TE_JOIN_NODE at node ").count();
    assert_eq!(joins, n);
    assert!(
        text.len() < 700 * (n + 1),
        "{} bytes for {} events: the output grows with the nodes",
        text.len(),
        n + 1
    );
}

/// The timeline alone is drawn from each event's digest, made as the event
/// ends (its records are not kept); with another output every record is
/// kept and the timeline drawn from them. Both must draw the same.
#[test]
fn the_timeline_from_digests_is_the_one_drawn_from_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    let nodes: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let large = scenario_on(
        &site_with_nodes(dir.path(), n as u32),
        dir.path(),
        &format!(
            "[[at]]\ntime = \"0s\"\nstart = [{}]\n\n[[at]]\ntime = \"1000s\"\nraise = {{ event = \"UE_PGMRWHO_DOWN\", location = 2 }}\n\n[[at]]\ntime = \"1001s\"\ncrash = 5\n\n[[override]]\ncommand = \"/usr/sbin/cluster/local/rwho_msg_remote\"\nnode = 17\nstatus = 4\ntimes = 1\n\n[[at]]\nwhen = {{ failure = true }}\nresume = {{ decision = \"continue\" }}\n",
            nodes.join(", ")
        ),
    );
    // Cut short: the second join is still running at the end.
    let cut = dir.path().join("cut");
    std::fs::create_dir(&cut).unwrap();
    let cut = scenario(
        &cut,
        "limit = \"700ms\"\nduration = \"200ms\"\n[[at]]\ntime = \"0s\"\nstart = [1, 2, 3, 4]\n",
    );
    let svg = dir.path().join("run.svg");
    let rwho = repo()
        .join("examples/rwho/scenario.toml")
        .display()
        .to_string();
    let ha_web = repo()
        .join("examples/ha-web/scenario.toml")
        .display()
        .to_string();
    for sc in [large, cut.clone(), ha_web, rwho.clone()] {
        let alone = hacmp(&["sim", &sc]);
        let kept = hacmp(&["sim", &sc, "--svg", svg.to_str().unwrap()]);
        let text = String::from_utf8(alone.stdout).unwrap();
        assert_eq!(alone.status.code(), kept.status.code(), "{sc}");
        assert!(text.contains(" events: "), "{sc}: {text}");
        assert_eq!(text, String::from_utf8(kept.stdout).unwrap(), "{sc}");
        if sc == cut {
            assert_eq!(alone.status.code(), Some(1));
            assert!(text.contains("— RUNNING"), "{text}");
        }
        if sc == rwho {
            insta::assert_snapshot!("rwho_timeline", text);
        }
    }
}

#[test]
fn a_crash_at_a_barrier_and_an_operator_resume_in_one_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(
        dir.path(),
        r#"
[[at]]
time = "0s"
start = [1, 2, 3, 4]

[[at]]
time = "5s"
raise = { event = "UE_PGMRWHO_DOWN", location = 2 }

# Node 4 dies while the others wait at barrier 2 of the rwho program.
[[at]]
when = { event = "UE_PGMRWHO_DOWN", barrier = 2, node = 1 }
crash = 4

# node_down of 4: node 1's node_down fails once; the operator re-runs it.
[[override]]
command = "node_down"
node = 1
location = 4
status = 3
times = 1

[[at]]
when = { failure = true }
resume = { decision = "rerun" }
"#,
    );
    let o = hacmp(&["sim", &sc, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let events = v["events"].as_array().unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last["name"].as_str(), last["location"].as_u64()),
        (Some("TE_FAIL_NODE"), Some(4))
    );
    assert_eq!(last["outcome"], "completed");
    assert_eq!(last["membership"], serde_json::json!([1, 2, 3]));
    let ue = &events[events.len() - 2];
    assert_eq!(ue["outcome"], "completed");
    let decisions: Vec<&str> = last["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "decision")
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["rerun"]);
}

#[test]
fn a_stuck_cluster_is_reported_not_silent() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(
        dir.path(),
        r#"
limit = "1h"
[[at]]
time = "0s"
start = [1, 2, 3]

[[override]]
command = "node_up"
node = 2
location = 3
status = 1
"#,
    );
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("waiting at barrier 1: node 1, 3"), "{err}");
    assert!(
        err.contains("node 2 stopped before barrier 1: `node_up` exit 1 (expected 0), policy wait"),
        "{err}"
    );
    assert!(err.contains("hacmp resume"), "{err}");
}

#[test]
fn bad_scenarios_get_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(dir.path(), "[[at]]\ntime = \"soon\"\nstart = [1]\n");
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("scenario.toml:3:8") && err.contains("duration"),
        "{err}"
    );
    // Every wrong happening at once, each at its line; a misspelt key
    // gets the closest.
    let sc = scenario(
        dir.path(),
        "[[at]]\ntime = \"1s\"\n[[at]]\ntime = \"2s\"\nwhen = { failure = true }\nstart = [1]\n",
    );
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("scenario.toml:2:1: happening 1: give exactly one action"),
        "{err}"
    );
    assert!(
        err.contains("scenario.toml:4:1: happening 2: give exactly one of `time` or `when`"),
        "{err}"
    );
    let sc = scenario(dir.path(), "[[at]]\ntime = \"1s\"\ncrsh = 2\n");
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("scenario.toml:4:1: unknown field `crsh`")
            && err.contains("did you mean `crash`?"),
        "{err}"
    );
}

/// With a journal file, a simulation still shows every event (a daemon's
/// journal keeps only its last 64 in memory).
#[test]
fn a_simulation_with_a_state_dir_shows_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("rwho");
    common::copy_tree(&common::repo().join("examples/rwho"), &site);
    let mut sc = String::from(
        "site = \"site.toml\"\nduration = \"10ms\"\n[[at]]\ntime = \"0s\"\nstart = [1, 2, 3, 4]\n",
    );
    for i in 0..70 {
        sc.push_str(&format!(
            "[[at]]\ntime = \"{}s\"\nraise = {{ event = \"UE_PGMRWHO_DOWN\", location = 3 }}\n",
            5 + i
        ));
    }
    std::fs::write(site.join("many.toml"), sc).unwrap();
    let state = dir.path().join("state");
    let o = hacmp(&[
        "sim",
        site.join("many.toml").to_str().unwrap(),
        "--format",
        "json",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 74, "4 joins and 70 user events");
    let journal = std::fs::read_to_string(state.join("journal.jsonl")).unwrap();
    assert_eq!(
        journal
            .lines()
            .filter(|l| l.contains("\"type\":\"event\""))
            .count(),
        74
    );
}

#[test]
fn run_tries_one_event_for_real_with_a_journal() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let o = hacmp(&[
        "run",
        "examples/rwho/site.toml",
        "--event",
        "UE_PGMRWHO_DOWN",
        "--location",
        "2",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("▶ /usr/sbin/cluster/local/rwho_msg_local (event, group 1)"),
        "{err}"
    );
    assert!(
        err.contains("detected a failure of \"rwhod\" program"),
        "the command's output is logged: {err}"
    );
    let journal = std::fs::read_to_string(state.join("journal.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "event");
    assert_eq!(last["name"], "UE_PGMRWHO_DOWN");
    assert_eq!(last["outcome"], "completed");
    assert_eq!(last["membership"], serde_json::json!([2]));
    // The same journal as a trace, on the wall clock.
    let o = hacmp(&["journal", "trace", state.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let trace = valid_trace(&o.stdout);
    let commands = trace
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "command")
        .count();
    assert_eq!(commands, 3, "one slice per command of the event: {trace:?}");
}

/// Checks the trace-event format and returns the events.
fn valid_trace(bytes: &[u8]) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("trace JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents").clone();
    for e in &events {
        let ph = e["ph"].as_str().expect("ph");
        assert!(["X", "i", "M"].contains(&ph), "{e}");
        assert!(e["pid"].is_u64() && e["name"].is_string(), "{e}");
        match ph {
            "X" => assert!(
                e["ts"].is_u64() && e["dur"].is_u64() && e["tid"].is_u64(),
                "{e}"
            ),
            "i" => assert!(
                e["ts"].is_u64() && ["t", "g"].contains(&e["s"].as_str().unwrap_or("")),
                "{e}"
            ),
            _ => assert!(
                e["args"]["name"].is_string() || e["args"]["sort_index"].is_u64(),
                "{e}"
            ),
        }
    }
    events
}

/// `--trace`: a track per node, a slice per command and per barrier wait,
/// the happenings as instants.
#[test]
fn a_simulation_writes_a_trace_with_a_track_per_node() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    let o = hacmp(&[
        "sim",
        "examples/rwho/scenario.toml",
        "--trace",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let sim: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ends = sim["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["records"].as_array().unwrap().iter())
        .filter(|r| r["kind"] == "command_end")
        .count();
    let trace = valid_trace(&std::fs::read(&file).unwrap());
    let slices = trace
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"].as_str().unwrap_or("").starts_with("command"))
        .count();
    assert_eq!(slices, ends, "a slice per command");
    let tracks: Vec<&str> = trace
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tracks, ["node 1", "node 2", "node 3", "node 4"]);
    assert!(trace.iter().any(|e| e["cat"] == "happening"));
    assert!(trace.iter().any(|e| e["cat"] == "barrier"));
}

#[test]
fn a_graceful_stop_as_the_last_happening_still_runs_its_node_down() {
    let dir = tempfile::tempdir().unwrap();
    let p = scenario(
        dir.path(),
        "[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n\n[[at]]\ntime = \"10s\"\nstop = 2\ntakeover = true\n",
    );
    let o = hacmp(&["sim", &p, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let last = v["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["name"], "TE_FAIL_NODE");
    assert_eq!(last["location"], 2);
    assert_eq!(last["membership"], serde_json::json!([1, 2, 3]));
    assert_eq!(last["outcome"], "completed");
}

/// The HA web example: the timeline, the JSON and the picture say where
/// group `web` is after each event, and it follows the redbook's cascading
/// rules through two failures, two rejoins and a stop with takeover.
#[test]
fn the_ha_web_example_shows_where_its_group_is_after_each_event() {
    let o = hacmp(&["lint", "--site", "examples/ha-web/site.toml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = hacmp(&["sim", "examples/ha-web/scenario.toml"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    let groups: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("groups: "))
        .collect();
    assert_eq!(
        groups,
        [
            "web on node 1",
            "web on node 1",
            "web on node 1",
            "web on node 2",
            "web on node 3",
            "web on node 3",
            "web on node 1",
            "web on node 2"
        ],
        "{text}"
    );
    // The summary is true: every takeover worked.
    assert!(
        text.contains("8 events: 8 completed; 0 unexpected statuses"),
        "{text}"
    );
    let o = hacmp(&["sim", "examples/ha-web/scenario.toml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // After every event the group is online, held where it is placed: the
    // node named reported `web online` (in this event or an earlier one),
    // and no step of any node failed.
    for e in v["events"].as_array().unwrap() {
        assert_eq!(e["groups"][0]["state"], "online", "{e}");
        assert_eq!(e["groups"][0]["nodes"], e["placement"]["web"]["nodes"]);
        assert!(e["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["kind"] != "failure" && r["ok"] != false && r["detail"] != "error"));
    }
    let last = v["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["placement"]["web"]["nodes"], serde_json::json!([2]));
    assert!(last["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "resource"
            && r["command"] == "web"
            && r["detail"] == "online"
            && r["node"] == 2));
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("w.svg");
    let o = hacmp(&[
        "sim",
        "examples/ha-web/scenario.toml",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains("web on node 3"));
}

/// A takeover that fails is an event failure under the site's policy,
/// never a note: `wait` stops for an operator (a scenario's `rerun` makes
/// it work), `continue` completes the event with the failure counted and
/// the group shown in `error` where it is placed, never online.
#[test]
fn a_failed_takeover_is_an_unexpected_status_and_the_group_is_shown_in_error() {
    let dir = tempfile::tempdir().unwrap();
    let site = repo().join("examples/ha-web/site.toml");
    let base = r#"
[[at]]
time = "0s"
start = [1, 2, 3]

[[at]]
time = "1s"
fail = { node = 2, group = "web", resource = "httpd", action = "start" }

[[at]]
time = "5s"
crash = 1
"#;
    // No operator: the cluster waits, and says who and why.
    let sc = scenario_on(&site, dir.path(), base);
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("node 2 stopped before") && err.contains("node_down_complete"),
        "{err}"
    );
    // `rerun`: the start works the second time; web is on node 2.
    let sc = scenario_on(&site, dir.path(), &deciding(base, "rerun"));
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("web/httpd cannot start on node 2"), "{out}");
    assert!(
        out.contains("✗ FAILED `node_down_complete`: expected 0, got exit 1 (policy wait)"),
        "{out}"
    );
    assert!(
        out.contains("4 events: 4 completed; 1 unexpected status"),
        "{out}"
    );
    assert_eq!(last_groups(&out), Some("web on node 2"));
    // `continue`: completed, counted, and in error on node 2.
    let sc = scenario_on(&site, dir.path(), &deciding(base, "continue"));
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("4 events: 4 completed; 1 unexpected status"),
        "{out}"
    );
    assert_eq!(last_groups(&out), Some("web error on node 2"));
    let o = hacmp(&["sim", &sc, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let last = v["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["groups"][0]["state"], "error");
    assert_eq!(last["groups"][0]["nodes"], serde_json::json!([2]));
    let html = dir.path().join("r.html");
    let svg = dir.path().join("r.svg");
    let o = hacmp(&[
        "sim",
        &sc,
        "--html",
        html.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    for f in [&html, &svg] {
        let t = std::fs::read_to_string(f).unwrap();
        assert!(t.contains("web error on node 2"), "{}", f.display());
    }
}

/// Scenario happenings make resources fail: a monitor that fails twice
/// restarts the application once, then its node raises TE_RG_MOVE and
/// the group moves; a stop that fails is an unexpected status of the
/// release, and nothing is acquired elsewhere until an operator decides.
#[test]
fn resource_failures_are_scenario_happenings() {
    let dir = tempfile::tempdir().unwrap();
    let site = repo().join("examples/ha-web/site.toml");
    let sc = scenario_on(
        &site,
        dir.path(),
        r#"
[[at]]
time = "0s"
start = [1, 2, 3]

[[at]]
time = "1s"
fail = { node = 1, group = "web", resource = "httpd", action = "monitor", times = 2 }
"#,
    );
    let o = hacmp(&["sim", &sc, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let last = v["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["name"].as_str(), last["location"].as_u64()),
        (Some("TE_RG_MOVE"), Some(1))
    );
    assert_eq!(last["groups"][0]["state"], "online");
    assert_eq!(last["groups"][0]["nodes"], serde_json::json!([2]));
    let sc = scenario_on(
        &site,
        dir.path(),
        r#"
[[at]]
time = "0s"
start = [1, 2, 3]

[[at]]
time = "1s"
fail = { node = 1, group = "web", resource = "web-ip", action = "stop" }

[[at]]
time = "2s"
stop = 1
takeover = true
"#,
    );
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1), "nobody decided");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("node 1 stopped before barrier 1: `node_down`"),
        "{err}"
    );
    let sc2 = deciding(&std::fs::read_to_string(&sc).unwrap(), "rerun");
    std::fs::write(&sc, sc2).unwrap();
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(last_groups(&out), Some("web on node 2"), "{out}");
    // Wrong names are located, with the closest name.
    let sc = scenario_on(
        &site,
        dir.path(),
        "[[at]]\ntime = \"1s\"\nfail = { node = 1, group = \"webs\", resource = \"httpd\", action = \"start\" }\n\
         [[at]]\ntime = \"1s\"\nfail = { node = 1, group = \"web\", resource = \"htpd\", action = \"stop\" }\n",
    );
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("happening 1: `fail`: no resource group is named `webs`: did you mean `web`?"),
        "{err}"
    );
    assert!(
        err.contains(
            "happening 2: `fail`: group `web` has no resource `htpd`: did you mean `httpd`?"
        ),
        "{err}"
    );
}

/// The simulation uses the site's settle interval (eight nodes started in
/// any order join in node order), gives the same bytes for the same
/// scenario with a format version and no wall-clock times, says when
/// nothing ran, and the `continue` policy completes the event with its
/// failure listed.
#[test]
fn simulations_are_faithful_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    // Eight nodes: a copy of the rwho site with nodes 5 to 8.
    let site_dir = dir.path().join("site");
    common::copy_tree(&repo().join("examples/rwho"), &site_dir);
    let site = site_dir.join("site.toml");
    let mut text = std::fs::read_to_string(&site).unwrap();
    for n in 5..=8 {
        text = text.replace(
            "[paths]",
            &format!("[[node]]\nnumber = {n}\nname = \"node{n}\"\n\n[paths]"),
        );
    }
    text = text.replace("on_failure = \"wait\"", "on_failure = \"continue\"");
    std::fs::write(&site, text).unwrap();
    let sc = dir.path().join("sc.toml");
    std::fs::write(
        &sc,
        format!(
            "site = {:?}\n[[at]]\ntime = \"0s\"\nstart = [7, 3, 8, 1, 5, 2, 6, 4]\n\
             [[at]]\ntime = \"50s\"\ncrash = 8\n\
             [[at]]\ntime = \"60s\"\nraise = {{ event = \"UE_PGMRWHO_DOWN\", location = 8 }}\n\
             [[override]]\ncommand = \"node_up\"\nnode = 3\nlocation = 5\nstatus = 1\n",
            site.display().to_string()
        ),
    )
    .unwrap();
    let sc = sc.to_str().unwrap();
    // Simulated time starts from nothing real: the first happening is at
    // 0 ms however long the process took to get there (it drifted by the
    // real time before the runtime started).
    for _ in 0..4 {
        let o = hacmp(&["sim", sc, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["happenings"][0]["t_ms"], 0, "{}", v["happenings"]);
    }
    let a = hacmp(&["sim", sc, "--format", "json"]);
    let b = hacmp(&["sim", sc, "--format", "json"]);
    assert_eq!(
        a.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert!(
        a.stdout == b.stdout,
        "the same scenario gives the same bytes"
    );
    let text = String::from_utf8(a.stdout).unwrap();
    assert!(!text.contains("wall_ms") && !text.contains("queued_at") && !text.contains("mono_us"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], 1);
    let joins: Vec<u64> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "TE_JOIN_NODE")
        .map(|e| e["location"].as_u64().unwrap())
        .collect();
    assert_eq!(joins, (1..=8).collect::<Vec<u64>>(), "joins in node order");
    // `continue`: the event completes; its failure is in the journal.
    let e5 = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TE_JOIN_NODE" && e["location"] == 5)
        .unwrap();
    assert_eq!(e5["outcome"], "completed");
    assert!(e5["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "failure" && r["node"] == 3));
    // The human timeline says when the event's node was not a member, and
    // prints no wall-clock time on standard error.
    let h = hacmp(&["sim", sc]);
    let out = String::from_utf8(h.stdout).unwrap();
    assert!(out.contains("UE_PGMRWHO_DOWN at node 8 (state 0) — members 1–7 — COMPLETED (node 8 was not a member)"), "{out}");
    let err = String::from_utf8(h.stderr).unwrap();
    assert!(!err.contains("2026-") && !err.contains("Z "), "{err}");
}

/// Every name a scenario gives is checked against the site before anything
/// runs: nodes, events, commands, variables; each wrong one is a located
/// error with the closest name.
#[test]
fn scenario_names_are_checked_with_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(
        dir.path(),
        r#"
[[at]]
time = "0s"
start = [1, 2, 9]

[[at]]
time = "1s"
raise = { event = "UE_PGMRWHO_DONW", location = 2 }

[[at]]
time = "2s"
observe = { node = 3, variable = "IBM.PSSP.Prog.xpcont", instance = "NodeNum=3;ProgName=rwhod;UserName=root", value = "0;1;" }

[[override]]
command = "rwho_restrat"
status = 1
"#,
    );
    let o = hacmp(&["sim", &sc]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    for want in [
        "scenario.toml:3:1: happening 1: node 9 is not a node of the site (nodes 1–4)",
        "scenario.toml:7:1: happening 2: `raise`: no rule is named `UE_PGMRWHO_DONW`: did you mean `UE_PGMRWHO_DOWN`?",
        "happening 3: `observe`: `IBM.PSSP.Prog.xpcont` is not a resource variable of the catalog: did you mean `IBM.PSSP.Prog.xpcount`?",
        "override 1: no program runs a command `rwho_restrat`: did you mean `rwho_restart`?",
    ] {
        assert!(err.contains(want), "{want}\n---\n{err}");
    }
    let o = hacmp(&[
        "run",
        "examples/rwho/site.toml",
        "--event",
        "UE_PGMRWHO_DONW",
        "--location",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `UE_PGMRWHO_DOWN`?"));
    let o = hacmp(&[
        "observe",
        "IBM.PSSP.Prog.xpcont",
        "NodeNum=1",
        "1",
        "--feed",
        dir.path().join("f").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `IBM.PSSP.Prog.xpcount`?"));
}

/// The SVG stays legible from 4 to 128 nodes: no two event titles on one
/// row overlap, none runs past the picture's right edge, and every title
/// keeps its full text for hover.
#[test]
fn the_svg_titles_never_overlap_from_4_to_128_nodes() {
    for n in [4u32, 16, 128] {
        let dir = tempfile::tempdir().unwrap();
        let site = site_with_nodes(dir.path(), n.max(4));
        let nodes: Vec<String> = (1..=n).map(|k| k.to_string()).collect();
        let sc = scenario_on(
            &site,
            dir.path(),
            &format!(
                "[[at]]\ntime = \"0s\"\nstart = [{}]\n[[at]]\ntime = \"60s\"\nraise = {{ event = \"UE_PGMRWHO_DOWN\", location = 3 }}\n\
                 [[at]]\ntime = \"70s\"\ncrash = 2\n",
                nodes.join(", ")
            ),
        );
        let svg = dir.path().join("p.svg");
        let o = hacmp(&["sim", &sc, "--svg", svg.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let picture = std::fs::read_to_string(&svg).unwrap();
        let width: f64 = attr(picture.lines().next().unwrap(), "width").unwrap();
        // Titles are the bold texts in the three rows above the lanes.
        let mut rows: std::collections::BTreeMap<i64, Vec<(f64, f64)>> = Default::default();
        let mut titles = 0;
        for line in picture
            .lines()
            .filter(|l| l.starts_with("<text") && l.contains("font-weight=\"bold\""))
        {
            let (Some(x), Some(y)) = (attr(line, "x"), attr(line, "y")) else {
                continue;
            };
            if y > 40.0 {
                continue; // a lane's name
            }
            let shown = &line[line.find('>').unwrap() + 1..line.find("<title>").unwrap()];
            let full = &line[line.find("<title>").unwrap() + 7..line.find("</title>").unwrap()];
            assert!(
                full.starts_with(shown.trim_end_matches('…')),
                "{shown} / {full}"
            );
            let w = shown.chars().count() as f64 * 6.3;
            assert!(
                x + w <= width + 1.0,
                "{n} nodes: {full:?} ends at {} past {width}",
                x + w
            );
            rows.entry(y as i64).or_default().push((x, x + w));
            titles += 1;
        }
        assert!(titles >= n as usize, "{n} nodes: {titles} titles");
        for (y, mut spans) in rows {
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            for w in spans.windows(2) {
                assert!(
                    w[0].1 <= w[1].0 + 0.5,
                    "{n} nodes, row {y}: {:?} overlaps {:?}",
                    w[0],
                    w[1]
                );
            }
        }
    }
}

fn attr(line: &str, name: &str) -> Option<f64> {
    let key = format!(" {name}=\"");
    let at = line.find(&key)? + key.len();
    line[at..].split('"').next()?.parse().ok()
}

/// A node that loses the group's network gives the group up (network_down
/// releases there, the others acquire); back up, nothing moves until a
/// reason; an adapter swap moves the addresses on the node that keeps them.
#[test]
fn network_down_moves_the_web_group_in_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let site = repo().join("examples/ha-web/site.toml");
    let sc = scenario_on(
        &site,
        dir.path(),
        "[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n\
         [[at]]\ntime = \"5s\"\nnetwork_down = { node = 1, network = 1 }\n\
         [[at]]\ntime = \"10s\"\nswap_adapter = { node = 2, network = 1 }\n\
         [[at]]\ntime = \"15s\"\ncrash = 2\n\
         [[at]]\ntime = \"20s\"\nnetwork_up = { node = 1, network = 1 }\n",
    );
    let o = hacmp(&["sim", &sc, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let evs = v["events"].as_array().unwrap();
    let on = |name: &str| -> Vec<serde_json::Value> {
        evs.iter()
            .filter(|e| e["name"] == name)
            .map(|e| e["placement"]["web"]["nodes"].clone())
            .collect()
    };
    assert_eq!(on("TE_FAIL_NETWORK"), [serde_json::json!([2])]);
    // Node 2 fails while node 1 has no network: node 3, not node 1.
    assert_eq!(on("TE_FAIL_NODE"), [serde_json::json!([3])]);
    // Network back on node 1: web stays on 3 (no fallback on network_up).
    assert_eq!(on("TE_JOIN_NETWORK"), [serde_json::json!([3])]);
    let swap = evs.iter().find(|e| e["name"] == "TE_SWAP_ADAPTER").unwrap();
    assert_eq!(swap["outcome"], "completed");
    let did: Vec<&serde_json::Value> = swap["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "command_start" && r["node"] == 2)
        .map(|r| &r["command"])
        .collect();
    assert!(did.iter().any(|c| *c == "resources swap"), "{did:?}");
    let fail = evs.iter().find(|e| e["name"] == "TE_FAIL_NETWORK").unwrap();
    assert!(fail["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "resource"
            && r["node"] == 1
            && r["command"] == "web"
            && r["detail"] == "offline"));
}

/// A deploy played in the simulator: the new site adds node 4 and puts
/// `web` on node 2 first; node 3 crashes between prepare and switch. The
/// survivors switch in the same event, the group moves in
/// TE_DARE_RESOURCE, and node 4 joins with the new site. A deploy that
/// drops a running node fails its prepare: nobody switches.
#[test]
fn a_deploy_in_the_simulator_switches_the_survivors_together() {
    let dir = tempfile::tempdir().unwrap();
    let site_dir = dir.path().join("site");
    common::copy_tree(&repo().join("examples/ha-web"), &site_dir);
    // The switch waits on a command (10 s on node 3): node 3 crashes there,
    // between its prepare and its switch.
    let text = std::fs::read_to_string(site_dir.join("site.toml")).unwrap()
        + "\n[event_scripts.reconfig_topology_complete]\npre = \"/usr/local/ha-web/web-check\"\n";
    std::fs::write(site_dir.join("site.toml"), &text).unwrap();
    let four = text
        .replace(
            "# Cascading:",
            "[[node]]\nnumber = 4\nname = \"node4\"\n[[node.adapter]]\nnetwork = \"net0\"\ninterface = \"eth0\"\nrole = \"boot\"\naddress = \"10.77.0.14\"\n\n# Cascading:",
        )
        .replace(
            "nodes = [\"node1\", \"node2\", \"node3\"]",
            "nodes = [\"node2\", \"node1\", \"node3\", \"node4\"]",
        );
    assert_ne!(four, text);
    std::fs::write(site_dir.join("four.toml"), &four).unwrap();
    let two = text
        .replace("[[node]]\nnumber = 3\nname = \"node3\"\n", "")
        .replace("[[node.adapter]]\nnetwork = \"net0\"\ninterface = \"eth0\"\nrole = \"boot\"\naddress = \"10.77.0.13\"\n", "")
        .replace("nodes = [\"node1\", \"node2\", \"node3\"]", "nodes = [\"node1\", \"node2\"]");
    std::fs::write(site_dir.join("two.toml"), &two).unwrap();
    let site = site_dir.join("site.toml");
    let run = |body: &str| -> serde_json::Value {
        let sc = scenario_on(&site, dir.path(), body);
        let o = hacmp(&["sim", &sc, "--format", "json"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = run(
        "[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n\
         [[at]]\ntime = \"5s\"\ndeploy = \"site/four.toml\"\n\
         [[at]]\nwhen = { event = \"TE_DARE_TOPOLOGY\", command = \"/usr/local/ha-web/web-check\", node = 3 }\ncrash = 3\n\
         [[at]]\ntime = \"30s\"\nstart = [4]\n\
         [[override]]\ncommand = \"/usr/local/ha-web/web-check\"\nnode = 3\nevent = \"TE_DARE_TOPOLOGY\"\nduration = \"10s\"\n",
    );
    let evs = v["events"].as_array().unwrap();
    let find = |name: &str| {
        evs.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {v}"))
    };
    let topo = find("TE_DARE_TOPOLOGY");
    let switched: Vec<u64> = topo["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["kind"] == "command_end"
                && r["command"] == "bundle switch"
                && r["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("switched from bundle"))
        })
        .map(|r| r["node"].as_u64().unwrap())
        .collect();
    assert_eq!(switched, [1, 2], "{topo}");
    assert_eq!(
        find("TE_DARE_RESOURCE")["placement"]["web"]["nodes"],
        serde_json::json!([2])
    );
    let join4 = evs
        .iter()
        .rfind(|e| e["name"] == "TE_JOIN_NODE" && e["location"] == 4)
        .expect("node 4 joined");
    assert_eq!(join4["location"], 4);
    assert_eq!(join4["outcome"], "completed");

    let v = run("[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n\
         [[at]]\ntime = \"5s\"\ndeploy = \"site/two.toml\"\n");
    let evs = v["events"].as_array().unwrap();
    let topo = evs
        .iter()
        .find(|e| e["name"] == "TE_DARE_TOPOLOGY")
        .unwrap();
    assert_eq!(topo["outcome"], "failed", "{topo}");
    let text = topo.to_string();
    assert!(
        text.contains("node 3 is not a node of the new site"),
        "{text}"
    );
    assert!(
        !text.contains("switched from bundle"),
        "nobody switches: {text}"
    );
    let res = evs
        .iter()
        .find(|e| e["name"] == "TE_DARE_RESOURCE")
        .unwrap();
    assert_eq!(
        res["placement"]["web"]["nodes"],
        serde_json::json!([1]),
        "nothing moves"
    );
}

/// An operator's move played in the simulator: the timeline names it and
/// the group is where the move put it; a misspelt group is a located error
/// with a suggestion before anything runs.
#[test]
fn a_move_in_the_simulator_puts_the_group_where_it_was_told() {
    let dir = tempfile::tempdir().unwrap();
    let site = repo().join("examples/ha-web/site.toml");
    let sc = scenario_on(
        &site,
        dir.path(),
        "[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n[[at]]\ntime = \"5s\"\nmove = { group = \"web\", to = 3 }\n",
    );
    let o = hacmp(&["sim", &sc]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("operator: move web to node 3"), "{out}");
    assert!(out.contains("TE_RG_MOVE"), "{out}");
    assert!(
        out.contains("4 events: 4 completed; 0 unexpected statuses"),
        "{out}"
    );
    assert!(out.contains("groups: web on node 3"), "{out}");
    let sc = scenario_on(
        &site,
        dir.path(),
        "[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n[[at]]\ntime = \"5s\"\nmove = { group = \"webb\" }\n",
    );
    let o = hacmp(&["sim", &sc]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("scenario.toml:") && err.contains("did you mean `web`?"),
        "{err}"
    );
}

/// `hacmp sim --real` with a command that fails under `wait`: nobody but
/// an operator could resume it, so the run ends at once, says who waits
/// and how to resume, and exits 1 (as a simulation does), instead of
/// waiting for the scenario's limit.
#[test]
fn a_real_run_with_a_failed_command_reports_it_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let site_dir = dir.path().join("site");
    common::copy_tree(&repo().join("examples/rwho"), &site_dir);
    let script = site_dir.join("root/usr/sbin/cluster/local/rwho_msg_remote");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'cannot reach the message service' >&2\nexit 2\n",
    )
    .unwrap();
    let sc = scenario_on(
        &site_dir.join("site.toml"),
        dir.path(),
        "[[at]]\ntime = \"0s\"\nstart = [1, 2]\n[[at]]\ntime = \"1s\"\nraise = { event = \"UE_PGMRWHO_DOWN\", location = 1 }\n",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(["sim", "--real", &sc])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read to the end on a thread: the run must end by itself.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        let _ = tx.send(s);
    });
    let err = match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(s) => s,
        Err(_) => {
            let _ = child.kill();
            panic!("hacmp sim --real did not end");
        }
    };
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("did not settle"), "{err}");
    assert!(
        err.contains("exit 2 (expected 0)") && err.contains("hacmp resume"),
        "{err}"
    );
}

/// Operators' stops of a node in each mode, and its starts, played in the
/// simulator: graceful leaves `web` stopped, takeover moves it, forced is
/// a failure the others take over from (the node takes no part in it).
#[test]
fn operators_stop_and_start_a_node_in_the_simulator_in_each_mode() {
    let dir = tempfile::tempdir().unwrap();
    let site = repo().join("examples/ha-web/site.toml");
    let sc = scenario_on(
        &site,
        dir.path(),
        "[[at]]\ntime = \"0s\"\nstart = [1, 2, 3]\n\
         [[at]]\ntime = \"5s\"\nstop_node = { node = 1 }\n\
         [[at]]\ntime = \"10s\"\nstart_node = 1\n\
         [[at]]\ntime = \"15s\"\nstop_node = { node = 1, mode = \"takeover\" }\n\
         [[at]]\ntime = \"20s\"\nstart_node = 1\n\
         [[at]]\ntime = \"25s\"\nstop_node = { node = 1, mode = \"forced\" }\n",
    );
    let o = hacmp(&["sim", &sc]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let after = |what: &str| {
        let at = out.find(what).unwrap_or_else(|| panic!("{what}: {out}"));
        let rest = &out[at..];
        let g = rest
            .find("groups: ")
            .unwrap_or_else(|| panic!("{what}: {out}"));
        rest[g..].lines().next().unwrap().to_string()
    };
    assert_eq!(
        after("operator: stop node 1 (graceful)"),
        "groups: web stopped (node 1 left without takeover)"
    );
    assert_eq!(after("operator: start node 1"), "groups: web on node 1");
    assert_eq!(
        after("operator: stop node 1 (takeover)"),
        "groups: web on node 2"
    );
    assert_eq!(
        after("operator: stop node 1 (forced)"),
        "groups: web on node 2"
    );
    assert!(
        out.contains("#8 TE_FAIL_NODE at node 1 (state 0) — members 2, 3"),
        "{out}"
    );
    assert!(
        out.contains("8 events: 8 completed; 0 unexpected statuses"),
        "{out}"
    );
}
