//! The group protocol under faults on real etcd: each test drives one of the
//! faults HA exists for (a node killed at a barrier, SIGTERM during an
//! event, skip-and-cancel with membership events queued, the whole cluster
//! killed and restarted, etcd stalled past the lease time to live, one etcd
//! member of three down, a site copied elsewhere or changed after the group
//! emptied, operators' mistakes) and checks the protocol's invariants in
//! the daemons' journals. Without an `etcd` binary they are skipped loudly,
//! unless `HACMP_REQUIRE_ETCD=1`.

use crate::harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::*;
use serde_json::{json, Value};

fn raise(url: &str, event: &str, location: u32) {
    let o = hacmp(&[
        "raise",
        event,
        "--location",
        &location.to_string(),
        "--etcd",
        url,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `until`, printing every daemon's log when it times out.
fn until_or_logs(what: &str, secs: u64, ds: &[Daemon], f: impl Fn() -> bool) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| until(what, secs, &f))).is_err() {
        let logs: Vec<String> = ds
            .iter()
            .enumerate()
            .map(|(i, d)| format!("node {}'s log:\n{}", i + 1, d.log()))
            .collect();
        panic!("timed out waiting for {what}\n{}", logs.join("\n"));
    }
}

fn records_of<'a>(e: &'a Value, kind: &str) -> Vec<&'a Value> {
    e["records"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["kind"] == kind).collect())
        .unwrap_or_default()
}

/// Every event that ended in a journal, by sequence number, agrees with
/// the other journals that have it (name, membership, outcome), unless one
/// node saw it interrupted.
fn journals_agree(ds: &[&Daemon]) {
    let mut seen: std::collections::BTreeMap<u64, (Value, Value, Value)> = Default::default();
    for d in ds {
        for e in d.events() {
            if e["outcome"] == "interrupted" {
                continue;
            }
            let seq = e["seq"].as_u64().unwrap();
            let v = (
                e["name"].clone(),
                e["membership"].clone(),
                e["outcome"].clone(),
            );
            if let Some(w) = seen.get(&seq) {
                assert_eq!(*w, v, "event #{seq} differs between journals");
            } else {
                seen.insert(seq, v);
            }
        }
    }
}

#[test]
fn a_node_killed_at_a_barrier_gets_exactly_one_node_down_and_is_not_shown_as_arrived() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("a_node_killed_at_a_barrier_gets_exactly_one_node_down", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    // Node 4's part of group 1 goes on until told; 1, 2 and 3 wait at
    // barrier 1.
    site.script(
        "rwho_msg_remote",
        "if [ \"$HACMP_NODE\" = 4 ]; then while [ ! -f \"$HACMP_ROOT/out/go\" ]; do sleep 0.1; done; fi\necho remote",
    );
    let mut ds = join_one_by_one(&site, &url, base.path(), 4, |_| vec!["--no-monitor"]);
    raise(&url, "UE_PGMRWHO_DOWN", 1);
    until("nodes 1, 2, 3 at barrier 1", 20, || {
        let st = status(&url);
        st["current"]["arrived"]["barrier 1"] == json!([1, 2, 3])
    });
    // Node 2 dies while it waits at the barrier.
    ds[1].kill9();
    until("node 2 no longer shown as arrived", 15, || {
        let st = status(&url);
        st["current"]["arrived"]["barrier 1"] == json!([1, 3])
            && st["nodes"]
                .as_array()
                .is_some_and(|n| n.iter().all(|s| s["node"] != 2))
    });
    std::fs::write(site.root().join("out/go"), "").unwrap();
    until_idle(&url, &[1, 3, 4], 40);
    for i in [0, 2, 3] {
        assert_eq!(
            ds[i].count("TE_FAIL_NODE", 2),
            1,
            "node {}: one node-down for node 2",
            i + 1
        );
        let down = ds[i].event("TE_FAIL_NODE", 2);
        assert_eq!(down["membership"], json!([1, 3, 4]));
        assert_eq!(down["outcome"], "completed");
    }
    journals_agree(&[&ds[0], &ds[2], &ds[3]]);
}

#[test]
fn sigterm_during_an_event_leaves_after_it_through_its_node_down() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start(
        "sigterm_during_an_event_leaves_after_it_through_its_node_down",
        1,
    )
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    site.script(
        "rwho_msg_remote",
        "if [ \"$HACMP_NODE\" = 2 ]; then sleep 3; fi\necho remote",
    );
    let mut ds = join_one_by_one(&site, &url, base.path(), 3, |_| vec!["--no-monitor"]);
    raise(&url, "UE_PGMRWHO_DOWN", 1);
    // Status shows the running command, with its process.
    let mut pid = 0;
    until("node 2's running command in status", 20, || {
        let st = status(&url);
        let n2 = st["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["node"] == 2).cloned());
        pid = n2
            .and_then(|n| n["running"].get(0).and_then(|r| r["pid"].as_u64()))
            .unwrap_or(0) as u32;
        pid > 0
    });
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the pid status shows is a process"
    );
    let text = String::from_utf8_lossy(&hacmp(&["status", "--etcd", &url]).stdout).into_owned();
    assert!(text.contains(&format!("(pid {pid}, ")), "{text}");
    ds[1].signal(libc::SIGTERM);
    assert_eq!(
        ds[1].wait_exit(40),
        Some(0),
        "leaves and exits 0: {}",
        ds[1].log()
    );
    // It finished the event, then took part in its own node-down.
    let seqs = ds[1].seqs();
    let ue = seqs.iter().position(|s| s.1 == "UE_PGMRWHO_DOWN").unwrap();
    assert_eq!(seqs[ue].2, "completed");
    let down = seqs.iter().position(|s| s.1 == "TE_FAIL_NODE").unwrap();
    assert!(down > ue);
    let e = ds[1].event("TE_FAIL_NODE", 2);
    assert_eq!(
        e["membership"],
        json!([1, 2, 3]),
        "the leaving node takes part"
    );
    assert_eq!(e["outcome"], "completed");
    until_idle(&url, &[1, 3], 20);
    for i in [0, 2] {
        assert_eq!(ds[i].count("TE_FAIL_NODE", 2), 1);
    }
    journals_agree(&[&ds[0], &ds[1], &ds[2]]);
}

#[test]
fn skip_and_cancel_keeps_queued_node_events_and_records_what_it_cancelled() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("skip_and_cancel_keeps_queued_node_events", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    // Node 3's part of group 1 fails: it waits for an operator.
    site.script(
        "rwho_msg_remote",
        "if [ \"$HACMP_NODE\" = 3 ]; then echo 'no route to the message service' >&2; exit 2; fi\necho remote",
    );
    let mut ds = join_one_by_one(&site, &url, base.path(), 3, |_| vec!["--no-monitor"]);
    raise(&url, "UE_PGMRWHO_DOWN", 1);
    until("node 3 waiting on its failure", 20, || {
        status(&url)["current"]["failed"] == json!([3])
    });
    let seq = status(&url)["current"]["seq"].as_u64().unwrap();
    // Queued behind it: node 2's node-down, node 4's node-up, a user event.
    ds[1].kill9();
    let d4 = Daemon::spawn(&site, 4, &url, base.path(), &["--no-monitor"]);
    raise(&url, "UE_PGMRWHO_DOWN", 3);
    until("three events queued", 20, || {
        let q = status(&url)["queue"].clone();
        let names: Vec<&str> = q
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["name"].as_str()).collect())
            .unwrap_or_default();
        names == ["TE_JOIN_NODE", "TE_FAIL_NODE", "UE_PGMRWHO_DOWN"]
    });
    let o = hacmp(&[
        "resume",
        &seq.to_string(),
        "skip-and-cancel",
        "--etcd",
        &url,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("cancelled: UE_PGMRWHO_DOWN at node 3"),
        "{out}"
    );
    until_idle(&url, &[1, 3, 4], 40);
    for d in [&ds[0], &ds[2]] {
        let e = d.event("UE_PGMRWHO_DOWN", 1);
        assert_eq!(e["outcome"], "skipped");
        let decisions = records_of(&e, "decision");
        assert_eq!(decisions[0]["detail"], "skip-and-cancel");
        let cancelled = records_of(&e, "cancelled");
        assert_eq!(cancelled.len(), 1);
        assert!(cancelled[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("UE_PGMRWHO_DOWN at node 3"));
        // The membership events still ran; the cancelled one never did.
        assert_eq!(d.count("TE_FAIL_NODE", 2), 1);
        assert_eq!(d.count("TE_JOIN_NODE", 4), 1);
        assert_eq!(d.count("UE_PGMRWHO_DOWN", 3), 0);
    }
    assert_eq!(d4.event("TE_JOIN_NODE", 4)["outcome"], "completed");
    journals_agree(&[&ds[0], &ds[2], &d4]);
}

#[test]
fn a_whole_cluster_killed_mid_event_restarts_with_no_node_down_and_nothing_lost() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("a_whole_cluster_killed_mid_event_restarts", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    // Slow while the marker is there (the site itself stays the same).
    site.script(
        "rwho_msg_remote",
        "if [ -f \"$HACMP_ROOT/out/slow\" ]; then echo $$ >> \"$HACMP_ROOT/out/slow.pids\"; sleep 60; fi",
    );
    std::fs::write(site.root().join("out/slow"), "").unwrap();
    let mut ds = join_one_by_one(&site, &url, base.path(), 3, |_| vec!["--no-monitor"]);
    raise(&url, "UE_PGMRWHO_DOWN", 1);
    until("the event running", 20, || {
        status(&url)["current"]["name"] == "UE_PGMRWHO_DOWN"
    });
    let seq = status(&url)["current"]["seq"].as_u64().unwrap();
    // A second event waits behind it.
    raise(&url, "UE_PGMRWHO_DOWN", 2);
    until("the second event queued", 10, || {
        status(&url)["queue"]
            .as_array()
            .is_some_and(|q| q.len() == 1)
    });
    for d in &mut ds {
        d.kill9();
    }
    for p in std::fs::read_to_string(site.root().join("out/slow.pids"))
        .unwrap_or_default()
        .lines()
    {
        if let Ok(p) = p.trim().parse::<i32>() {
            // SAFETY: the commands of the killed daemons, by their group.
            unsafe { libc::kill(-p, libc::SIGKILL) };
        }
    }
    std::fs::remove_file(site.root().join("out/slow")).unwrap();
    let mut ds: Vec<Daemon> = (1..=3u32)
        .map(|n| Daemon::spawn(&site, n, &url, base.path(), &["--no-monitor"]))
        .collect();
    let logs = |ds: &[Daemon]| {
        ds.iter()
            .map(|d| d.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let waited = std::panic::catch_unwind(|| until_idle(&url, &[1, 2, 3], 60));
    assert!(waited.is_ok(), "{}\n{}", status(&url), logs(&ds));
    for (i, d) in ds.iter_mut().enumerate() {
        let n = i as u64 + 1;
        assert!(d.running());
        // The interrupted event is recorded as interrupted, never completed.
        let e: Vec<Value> = d.events().into_iter().filter(|e| e["seq"] == seq).collect();
        assert_eq!(e.len(), 1, "node {n}: {e:?}");
        assert_eq!(e[0]["outcome"], "interrupted");
        assert!(
            d.log().contains(&format!(
                "event #{seq} UE_PGMRWHO_DOWN at node 1 did not end on this node"
            )),
            "{}",
            d.log()
        );
        // No node-down for live members.
        for m in 1..=3 {
            assert_eq!(
                d.count("TE_FAIL_NODE", m),
                0,
                "node {n} ran a node-down for node {m}"
            );
        }
        // The event queued before the kill ran once, after the rejoin.
        assert_eq!(d.count("UE_PGMRWHO_DOWN", 2), 1, "node {n}");
        assert_eq!(
            d.count("UE_PGMRWHO_DOWN", 1),
            1,
            "node {n}: only the interrupted record"
        );
    }
    let recent = status(&url)["recent"].clone();
    let outcome = recent
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["seq"] == seq)
        .map(|r| r["outcome"].clone());
    assert_eq!(outcome, Some(json!("interrupted")), "{recent}");
    journals_agree(&[&ds[0], &ds[1], &ds[2]]);
}

#[test]
fn an_etcd_stall_past_the_ttl_fences_the_nodes_and_they_rejoin_with_nothing_run_twice() {
    let Some(Lab {
        base, etcd, url, ..
    }) = Lab::start("an_etcd_stall_past_the_ttl_fences_the_nodes", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    site.script(
        "rwho_msg_local",
        "touch \"$HACMP_ROOT/out/started.$HACMP_NODE\"; sleep 6; touch \"$HACMP_ROOT/out/finished.$HACMP_NODE\"",
    );
    let mut ds = join_one_by_one(&site, &url, base.path(), 2, |_| vec!["--no-monitor"]);
    raise(&url, "UE_PGMRWHO_DOWN", 1);
    until("node 1's command running", 20, || {
        site.root().join("out/started.1").exists()
    });
    let seq = status(&url)["current"]["seq"].as_u64().unwrap();
    // etcd stops answering for longer than the 2 s time to live.
    etcd[0].pause(true);
    std::thread::sleep(Duration::from_secs(5));
    etcd[0].pause(false);
    until_idle(&url, &[1, 2], 60);
    for (i, d) in ds.iter_mut().enumerate() {
        assert!(d.running(), "node {} kept running: {}", i + 1, d.log());
        assert!(
            d.log().contains("fencing itself") || d.log().contains("declared it failed"),
            "{}",
            d.log()
        );
        assert_eq!(d.count("TE_JOIN_NODE", i as u64 + 1), 2, "joined again");
    }
    // The fenced node's command was stopped, not finished.
    assert!(!site.root().join("out/finished.1").exists());
    let e = ds[0].event("UE_PGMRWHO_DOWN", 1);
    assert_eq!(e["seq"], seq);
    assert_eq!(e["outcome"], "interrupted");
    // Not run again after the rejoin.
    for d in &ds {
        assert_eq!(d.count("UE_PGMRWHO_DOWN", 1), 1);
        assert!(!d
            .seqs()
            .iter()
            .any(|s| s.0 > seq && s.1 == "UE_PGMRWHO_DOWN"));
    }
    journals_agree(&[&ds[0], &ds[1]]);
}

#[test]
fn a_short_etcd_outage_within_the_ttl_changes_nothing() {
    let Some(Lab {
        base,
        mut etcd,
        url,
        ..
    }) = Lab::start("a_short_etcd_outage_within_the_ttl_changes_nothing", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    site.script("rwho_msg_local", "sleep 2\necho local");
    let ds = join_one_by_one(&site, &url, base.path(), 2, |_| {
        vec!["--no-monitor", "--ttl", "8s"]
    });
    raise(&url, "UE_PGMRWHO_DOWN", 2);
    until("node 1 at barrier 1", 20, || {
        status(&url)["current"]["arrived"]["barrier 1"] == json!([1])
    });
    etcd[0].stop();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(ds[1].log().contains("unreachable"), "{}", ds[1].log());
    // Nobody went on to the next group blind.
    assert!(
        !ds[1].log().contains("Recovery terminated"),
        "{}",
        ds[1].log()
    );
    etcd[0].start();
    etcd[0].wait_ready();
    until("the event to end", 40, || {
        ds.iter().all(|d| d.has("UE_PGMRWHO_DOWN", 2))
    });
    for (i, d) in ds.iter().enumerate() {
        assert_eq!(d.event("UE_PGMRWHO_DOWN", 2)["outcome"], "completed");
        assert_eq!(d.count("TE_JOIN_NODE", i as u64 + 1), 1, "no rejoin");
        assert!(!d.log().contains("fencing itself"), "{}", d.log());
    }
}

#[test]
fn an_identical_site_elsewhere_joins_and_a_changed_site_is_accepted_once_the_group_emptied() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("an_identical_site_elsewhere_joins", 1)
    else {
        return;
    };
    let a = Site::new(base.path(), "a");
    let b = Site::new(&base.path().join("elsewhere"), "copy");
    let mut d1 = Daemon::spawn(&a, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    // The copy, named relatively from its own directory.
    let state = base.path().join("node2");
    std::fs::create_dir_all(&state).unwrap();
    let log = std::fs::File::create(state.join("daemon.log")).unwrap();
    let mut d2 = Daemon {
        child: Some(
            Command::new(env!("CARGO_BIN_EXE_hacmpd"))
                .current_dir(&b.dir)
                .args([
                    "--site",
                    "site.toml",
                    "--node",
                    "2",
                    "--etcd",
                    &url,
                    "--no-monitor",
                    "--ttl",
                    "2s",
                ])
                .arg("--state-dir")
                .arg(&state)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        ),
        state,
    };
    d2.until("node 2 joined with the copy", 30, |d| {
        d.has("TE_JOIN_NODE", 2)
    });
    // Everyone stops: the group forgets its site.
    d2.signal(libc::SIGTERM);
    assert_eq!(d2.wait_exit(30), Some(0));
    d1.signal(libc::SIGTERM);
    assert_eq!(d1.wait_exit(30), Some(0));
    until("an empty group", 10, || {
        let st = status(&url);
        st["site"].is_null() && st["members"] == json!([])
    });
    // A changed site starts a new group.
    std::fs::write(
        a.dir.join("root/usr/sbin/cluster/local/rwho.rp"),
        "all \"/usr/sbin/cluster/local/rwho_msg_complete\" X NULL\n",
    )
    .unwrap();
    let d1 = Daemon::spawn(&a, 1, &url, &base.path().join("again"), &["--no-monitor"]);
    until("node 1 with the changed site", 30, || {
        d1.has("TE_JOIN_NODE", 1)
    });
    // The old site is now the one refused, with the files named and how
    // to change a running group's site.
    let mut d2 = Daemon::spawn(&b, 2, &url, &base.path().join("again"), &["--no-monitor"]);
    assert_eq!(d2.wait_exit(20), Some(1));
    let log = d2.log();
    assert!(
        log.contains("/usr/sbin/cluster/local/rwho.rp")
            && log.contains("hacmp deploy")
            && log.contains("hacmp bundle fetch"),
        "{log}"
    );
}

#[test]
fn operator_commands_check_events_nodes_and_clusters_and_never_hang() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("operator_commands_check_events_nodes_and_clusters", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let o = hacmp(&["raise", "UE_PGMRWHO_DWN", "--location", "1", "--etcd", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("did you mean `UE_PGMRWHO_DOWN`?"),
        "{}",
        err(&o)
    );
    let o = hacmp(&[
        "raise",
        "UE_PGMRWHO_DOWN",
        "--location",
        "99",
        "--etcd",
        &url,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("node 99 is not a node of the site (its nodes: 1, 2, 3, 4)"),
        "{}",
        err(&o)
    );
    let o = hacmp(&[
        "raise",
        "UE_PGMRWHO_DOWN",
        "--location",
        "1",
        "--state",
        "5",
        "--etcd",
        &url,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("with state 0 only"), "{}", err(&o));
    let o = hacmp(&[
        "raise",
        "UE_PGMRWHO_DOWN",
        "--location",
        "1",
        "--cluster",
        "7",
        "--etcd",
        &url,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("no node of the group is up"),
        "{}",
        err(&o)
    );
    let o = hacmp(&["resume", "99", "continue", "--etcd", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("event 99 is not running"), "{}", err(&o));
    // HACMP_ETCD stands for --etcd.
    let o = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(["status", "--format", "json"])
        .env("HACMP_ETCD", &url)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // Nothing listens there: a clear error within the timeout, status 2
    // (the exit-status table: etcd that cannot be reached).
    let nobody = format!("http://127.0.0.1:{}", free_port());
    for args in [
        vec!["status", "--etcd", &nobody, "--timeout", "2s"],
        vec![
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &nobody,
            "--timeout",
            "2s",
        ],
        vec!["resume", "1", "skip", "--etcd", &nobody, "--timeout", "2s"],
    ] {
        let t = Instant::now();
        let o = hacmp(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{args:?} took {:?}",
            t.elapsed()
        );
        assert!(err(&o).contains(&nobody), "{}", err(&o));
    }
}

#[test]
fn one_etcd_member_down_of_three_costs_operators_nothing() {
    let Some(Lab {
        base,
        mut etcd,
        url,
        ..
    }) = Lab::start("one_etcd_member_down_of_three_costs_operators_nothing", 3)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let ds = join_one_by_one(&site, &url, base.path(), 2, |_| {
        // A leader change outlasts the tests' usual 2 s.
        vec!["--no-monitor", "--ttl", "5s"]
    });
    // The member every client tries first goes down.
    etcd[0].stop();
    for i in 0..20 {
        let o = hacmp(&["status", "--format", "json", "--etcd", &url]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "status {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for i in 0..5 {
        raise(&url, "UE_PGMRWHO_DOWN", 1 + i % 2);
    }
    until_idle(&url, &[1, 2], 60);
    // A daemon writes its journal when its view learns the outcome: one
    // whose watch was on the stopped member may be a moment behind.
    let count = |d: &Daemon| d.count("UE_PGMRWHO_DOWN", 1) + d.count("UE_PGMRWHO_DOWN", 2);
    until("every journal with the five events", 40, || {
        ds.iter().all(|d| count(d) >= 5)
    });
    for d in &ds {
        assert_eq!(count(d), 5, "each event once");
    }
    let o = hacmp(&["resume", "1", "skip", "--etcd", &url]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "answered (no event waits), not unreachable"
    );
}

/// With etcd's leader stopped (one member of three), the others elect a
/// new one within the daemons' time to live: nobody fences itself. Then a
/// node frozen past its time to live (SIGSTOP) wakes out of the group: it
/// fences itself and joins again through the two members left, and the
/// group runs its node-down and its new node-up.
#[test]
fn a_node_fenced_with_one_etcd_member_down_joins_again() {
    let Some(Lab {
        base,
        mut etcd,
        url,
        ..
    }) = Lab::start("a_node_fenced_with_one_etcd_member_down_joins_again", 3)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let mut ds = join_one_by_one(&site, &url, base.path(), 2, |_| {
        // A leader change outlasts the tests' usual 2 s; a loaded machine
        // may stretch it past what the default 5 s leaves.
        vec!["--no-monitor", "--ttl", "8s"]
    });
    let leader = (0..3)
        .find(|i| etcd[*i].is_leader())
        .expect("an etcd leader");
    etcd[leader].stop();
    ds[0].signal(libc::SIGSTOP);
    until_or_logs("node 1's node-down on node 2", 40, &ds, || {
        ds[1].has("TE_FAIL_NODE", 1)
    });
    ds[0].signal(libc::SIGCONT);
    until_or_logs("node 1 joined again", 60, &ds, || {
        ds[0].count("TE_JOIN_NODE", 1) == 2 && ds[1].has("TE_JOIN_NODE", 1)
    });
    until_idle(&url, &[1, 2], 60);
    assert!(ds[0].running(), "{}", ds[0].log());
    assert!(ds[0].log().contains("out of the group"), "{}", ds[0].log());
    assert!(
        !ds[1].log().contains("out of the group"),
        "node 2 lived through the leader change: {}",
        ds[1].log()
    );
}

#[test]
fn eight_daemons_started_at_once_all_join() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("eight_daemons_started_at_once_all_join", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let toml = std::fs::read_to_string(site.dir.join("site.toml")).unwrap();
    let more: String = (5..=8)
        .map(|n| format!("\n[[node]]\nnumber = {n}\nname = \"node{n}\"\n"))
        .collect();
    std::fs::write(
        site.dir.join("site.toml"),
        toml.replace("[paths]", &format!("{more}\n[paths]")),
    )
    .unwrap();
    let ds: Vec<Daemon> = (1..=8u32)
        .map(|n| Daemon::spawn(&site, n, &url, base.path(), &["--no-monitor"]))
        .collect();
    let formed = std::panic::catch_unwind(|| until_idle(&url, &[1, 2, 3, 4, 5, 6, 7, 8], 60));
    if formed.is_err() {
        let logs: Vec<String> = ds.iter().map(|d| d.log()).collect();
        panic!("{}\n{}", status(&url), logs.join("\n----\n"));
    }
    // Each node ran its own join once, and saw the joins after it.
    for (i, d) in ds.iter().enumerate() {
        assert_eq!(d.count("TE_JOIN_NODE", i as u64 + 1), 1);
    }
    journals_agree(&ds.iter().collect::<Vec<_>>());
}
