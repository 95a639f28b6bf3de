//! Real clusters: `hacmpd` processes on one etcd (or three), on loopback.
//! Each test starts its own etcd on free ports with a temporary data
//! directory. Without an `etcd` binary the tests say loudly that they were
//! skipped, unless `HACMP_REQUIRE_ETCD=1`, under which they fail.

use crate::harness;

use std::process::Command;
use std::time::Duration;

use harness::*;
use serde_json::Value;

#[test]
fn four_daemons_join_one_by_one_in_the_documented_order() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("four_daemons_join_one_by_one_in_the_documented_order", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let ds = join_one_by_one(&site, &url, base.path(), 4, |_| vec!["--no-monitor"]);
    // Every node took part in node 4's join, in the order of node_up.rp.
    until("every journal to record node 4's join", 40, || {
        ds.iter().all(|d| d.has("TE_JOIN_NODE", 4))
    });
    let joins: Vec<Value> = ds.iter().map(|d| d.event("TE_JOIN_NODE", 4)).collect();
    for j in &joins {
        assert_eq!(j["membership"], serde_json::json!([1, 2, 3, 4]));
        assert_eq!(j["outcome"], "completed");
    }
    let n4_up = records(&joins[3], "command_start", "node_up")[0];
    assert_eq!(n4_up["nodeset"], "event");
    let n4_start = n4_up["wall_ms"].as_u64().unwrap();
    let n4_end = records(&joins[3], "command_end", "node_up")[0]["wall_ms"]
        .as_u64()
        .unwrap();
    for j in &joins[..3] {
        let end = records(j, "command_end", "node_up")[0];
        assert_eq!(end["nodeset"], "other");
        assert!(
            end["wall_ms"].as_u64().unwrap() <= n4_start,
            "the others run node_up before node 4 starts its own"
        );
    }
    for j in &joins {
        let s = records(j, "command_start", "node_up_complete")[0]["wall_ms"]
            .as_u64()
            .unwrap();
        assert!(s >= n4_end, "node_up_complete after node 4's node_up ended");
        assert_eq!(
            j["records"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["kind"] == "cbarrier_done")
                .count(),
            1
        );
    }
    // A node publishes its status a moment after its state changes (on a
    // busy machine, after this test reads it): wait for all four.
    until("every node's status", 40, || {
        let st = status(&url);
        st["members"] == serde_json::json!([1, 2, 3, 4])
            && st["nodes"].as_array().is_some_and(|n| n.len() == 4)
    });
}

#[test]
fn a_killed_daemon_releases_the_barrier_and_rejoins_after_restart() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start(
        "a_killed_daemon_releases_the_barrier_and_rejoins_after_restart",
        1,
    )
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    // Node 3 is slow in group 1 of rwho.rp.
    site.script(
        "rwho_msg_remote",
        "if [ \"$HACMP_NODE\" = 3 ]; then echo $$ > \"$HACMP_ROOT/out/slow.pid\"; sleep 60; fi\necho remote",
    );
    let mut ds = join_one_by_one(&site, &url, base.path(), 4, |_| vec!["--no-monitor"]);
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "2",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("nodes 1, 2, 4 at barrier 1", 20, || {
        let st = status(&url);
        st["nodes"].as_array().is_some_and(|a| {
            a.iter()
                .filter(|n| n["at"] == serde_json::json!({"barrier": 1}))
                .count()
                == 3
        })
    });
    let killed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ds[2].kill9();
    kill_recorded_group(&site.root().join("out/slow.pid"));
    // 2. The barrier completes for the live members within the TTL plus a margin.
    until("the event to end on the survivors", 15, || {
        [0, 1, 3].iter().all(|i| ds[*i].has("UE_PGMRWHO_DOWN", 2))
    });
    let ue = ds[0].event("UE_PGMRWHO_DOWN", 2);
    assert_eq!(ue["outcome"], "completed");
    let passed = ue["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "barrier_done")
        .unwrap()["wall_ms"]
        .as_u64()
        .unwrap();
    assert!(
        passed - killed < 2000 + 3000,
        "barrier released {} ms after the kill (ttl 2 s)",
        passed - killed
    );
    // ...then node_down of 3 runs on the survivors.
    until("node_down 3", 15, || {
        [0, 1, 3].iter().all(|i| ds[*i].has("TE_FAIL_NODE", 3))
    });
    let down = ds[0].event("TE_FAIL_NODE", 3);
    assert_eq!(down["membership"], serde_json::json!([1, 2, 4]));
    assert_eq!(down["outcome"], "completed");
    // 3. Restarted, it reports the interrupted event and rejoins by node_up.
    let d3 = Daemon::spawn(&site, 3, &url, base.path(), &["--no-monitor"]);
    until("node 3 to rejoin", 30, || {
        d3.events()
            .iter()
            .filter(|e| e["name"] == "TE_JOIN_NODE" && e["location"] == 3)
            .count()
            == 2
    });
    assert!(
        d3.log().contains("interrupted by the last stop: event #")
            && d3.log().contains("UE_PGMRWHO_DOWN at node 2"),
        "{}",
        d3.log()
    );
    until("node 3 a member again", 10, || {
        status(&url)["members"] == serde_json::json!([1, 2, 3, 4])
    });
}

#[test]
fn a_daemon_with_different_rules_is_refused_with_the_file_named() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start(
        "a_daemon_with_different_rules_is_refused_with_the_file_named",
        1,
    )
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1's node-up", 30, || d1.has("TE_JOIN_NODE", 1));
    let other = Site::new(base.path(), "other");
    std::fs::write(
        other.dir.join("root/usr/sbin/cluster/local/rwho.rp"),
        "all \"/usr/sbin/cluster/local/rwho_msg_complete\" X NULL\n",
    )
    .unwrap();
    let mut d2 = Daemon::spawn(&other, 2, &url, base.path(), &["--no-monitor"]);
    assert_eq!(d2.wait_exit(20), Some(1), "refused");
    let log = d2.log();
    assert!(
        log.contains("different site")
            && log.contains("/usr/sbin/cluster/local/rwho.rp")
            && !log.contains("rules.hacmprd"),
        "{log}"
    );
    assert_eq!(status(&url)["members"], serde_json::json!([1]));
}

#[test]
fn a_user_event_from_a_real_process_death_runs_everywhere() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("a_user_event_from_a_real_process_death_runs_everywhere", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let me = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into());
    let rules = std::fs::read_to_string(site.dir.join("rules.hacmprd")).unwrap();
    std::fs::write(
        site.dir.join("rules.hacmprd"),
        rules.replace("UserName=root", &format!("UserName={me}")),
    )
    .unwrap();
    // All daemons share this machine: only node 2 samples it.
    let ds = join_one_by_one(&site, &url, base.path(), 4, |n| {
        if n == 2 {
            vec![]
        } else {
            vec!["--no-monitor"]
        }
    });
    let root = site.root();
    let st = Command::new(root.join("usr/sbin/cluster/local/rwho_start"))
        .env("HACMP_ROOT", &root)
        .status()
        .unwrap();
    assert!(st.success());
    let pids = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "rwhod")
                    && String::from_utf8_lossy(
                        &std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default(),
                    )
                    .contains(root.to_str().unwrap())
            })
            .collect()
    };
    until("the daemon", 10, || !pids().is_empty());
    std::thread::sleep(Duration::from_millis(1200));
    for p in pids() {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    until("UE_PGMRWHO_DOWN on every node", 30, || {
        ds.iter().all(|d| d.has("UE_PGMRWHO_DOWN", 2))
    });
    for (i, d) in ds.iter().enumerate() {
        let e = d.event("UE_PGMRWHO_DOWN", 2);
        assert_eq!(e["membership"], serde_json::json!([1, 2, 3, 4]));
        let node = i + 1;
        let (local, remote) = (
            records(
                &e,
                "command_start",
                "/usr/sbin/cluster/local/rwho_msg_local",
            ),
            records(
                &e,
                "command_start",
                "/usr/sbin/cluster/local/rwho_msg_remote",
            ),
        );
        if node == 2 {
            assert_eq!((local.len(), remote.len()), (1, 0));
            assert_eq!(
                records(&e, "command_end", "/usr/sbin/cluster/local/rwho_restart")[0]["status"],
                0
            );
        } else {
            assert_eq!((local.len(), remote.len()), (0, 1), "node {node}");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    for p in pids() {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

#[test]
fn etcd_restarts_and_outages_never_make_daemons_go_on_blind() {
    let Some(Lab {
        base,
        mut etcd,
        url,
        ..
    }) = Lab::start(
        "etcd_restarts_and_outages_never_make_daemons_go_on_blind",
        1,
    )
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    // Node 2's part of group 1 takes 3 s.
    site.script("rwho_msg_local", "sleep 3\necho local");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    let d2 = Daemon::spawn(&site, 2, &url, base.path(), &["--no-monitor"]);
    until("node 2", 30, || d2.has("TE_JOIN_NODE", 2));
    // etcd restarted while the cluster is idle: the daemons reconnect.
    etcd[0].stop();
    std::thread::sleep(Duration::from_millis(800));
    etcd[0].start();
    etcd[0].wait_ready();
    // (Down for longer than the 2 s time to live, counting etcd's own
    // start, the nodes fence themselves and join again.)
    until_idle(&url, &[1, 2], 30);
    // The group may look idle just before the nodes' leases lapse and they
    // rejoin: a raise is refused while no node is up, then accepted.
    let mut refused = String::new();
    until("the raise to be accepted", 30, || {
        let o = hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &url,
        ]);
        refused = String::from_utf8_lossy(&o.stderr).into_owned();
        o.status.code() == Some(0)
    });
    assert!(
        refused.is_empty() || refused.contains("no node of the group is up"),
        "{refused}"
    );
    until("the event after the restart", 30, || {
        d1.has("UE_PGMRWHO_DOWN", 1) && d2.has("UE_PGMRWHO_DOWN", 1)
    });
    // etcd unreachable during an event: nobody runs the next group.
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "2",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("node 1 at barrier 1", 20, || {
        status(&url)["nodes"].as_array().is_some_and(|a| {
            a.iter()
                .any(|n| n["node"] == 1 && n["at"] == serde_json::json!({"barrier": 1}))
        })
    });
    etcd[0].stop();
    std::thread::sleep(Duration::from_millis(4500));
    assert!(
        d2.log().contains("unreachable"),
        "node 2 says so: {}",
        d2.log()
    );
    assert!(
        !d2.log().contains("Restarting the \"rwhod\" daemon")
            && !d2.log().contains("Recovery terminated"),
        "group 2 ran blind: {}",
        d2.log()
    );
    // Recorded at most as interrupted (fenced), never as done.
    assert!(d2
        .events()
        .iter()
        .filter(|e| e["name"] == "UE_PGMRWHO_DOWN" && e["location"] == 2)
        .all(|e| e["outcome"] == "interrupted"));
    etcd[0].start();
    etcd[0].wait_ready();
    // Down longer than the lease time to live: each node fenced itself
    // (the group may have declared it failed) and joins again; the event
    // it was in is recorded as interrupted, not completed.
    until("the event to end once etcd is back", 40, || {
        d1.has("UE_PGMRWHO_DOWN", 2) && d2.has("UE_PGMRWHO_DOWN", 2)
    });
    assert_eq!(d2.event("UE_PGMRWHO_DOWN", 2)["outcome"], "interrupted");
    until_idle(&url, &[1, 2], 40);
    assert!(d2.log().contains("fencing itself"), "{}", d2.log());
}

/// The daemon's default time to live, for tests that stop an etcd member:
/// the member may be the leader, and a leader change (up to twice etcd's
/// default 1 s election timeout) outlasts the tests' usual 2 s.
const DEFAULT_TTL: &[&str] = &["--no-monitor", "--ttl", "5s"];

#[test]
fn a_three_member_etcd_keeps_working_with_one_member_stopped() {
    let Some(Lab {
        base,
        mut etcd,
        url,
        ..
    }) = Lab::start(
        "a_three_member_etcd_keeps_working_with_one_member_stopped",
        3,
    )
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), DEFAULT_TTL);
    until("node 1", 40, || d1.has("TE_JOIN_NODE", 1));
    let d2 = Daemon::spawn(&site, 2, &url, base.path(), DEFAULT_TTL);
    until("node 2", 40, || d2.has("TE_JOIN_NODE", 2));
    // Stop the first member, the one every client tries first.
    etcd[0].stop();
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("the event with one member down", 40, || {
        d1.has("UE_PGMRWHO_DOWN", 1) && d2.has("UE_PGMRWHO_DOWN", 1)
    });
    let d3 = Daemon::spawn(&site, 3, &url, base.path(), DEFAULT_TTL);
    let waited = std::panic::catch_unwind(|| {
        until("node 3 joining with one member down", 40, || {
            d3.has("TE_JOIN_NODE", 3)
        })
    });
    if waited.is_err() {
        panic!("node 3 did not join; its log:\n{}", d3.log());
    }
    // Each daemon writes its journal when it learns the outcome (as long
    // as the other waits here: a loaded machine with a member down is slow).
    let recorded = std::panic::catch_unwind(|| {
        until("node 1's record of it", 40, || d1.has("TE_JOIN_NODE", 3))
    });
    if recorded.is_err() {
        panic!(
            "node 1 did not record node 3's join; its log:\n{}",
            d1.log()
        );
    }
    assert_eq!(d1.event("TE_JOIN_NODE", 3)["outcome"], "completed");
}

#[test]
fn status_shows_a_stopped_command_and_resume_ends_the_wait() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("status_shows_a_stopped_command_and_resume_ends_the_wait", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    // Fails once on node 3, then works: a re-run succeeds.
    site.script(
        "rwho_msg_remote",
        "if [ \"$HACMP_NODE\" = 3 ] && [ ! -f \"$HACMP_ROOT/out/ran\" ]; then touch \"$HACMP_ROOT/out/ran\"; echo 'cannot reach the message service' >&2; exit 2; fi\necho remote",
    );
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    let metrics = format!("127.0.0.1:{}", free_port());
    let d3 = Daemon::spawn(
        &site,
        3,
        &url,
        base.path(),
        &["--no-monitor", "--metrics", &metrics],
    );
    until("node 3", 30, || d3.has("TE_JOIN_NODE", 3));
    let scrape = || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&metrics).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    assert!(scrape().contains("hacmp_operator_wait{node=\"3\"} 0"));
    assert_eq!(
        hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &url
        ])
        .status
        .code(),
        Some(0)
    );
    until("node 3 to report its failure", 20, || {
        status(&url)["nodes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n["failure"].is_object()))
    });
    let o = hacmp(&["status", "--etcd", &url]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("at barrier 1: node 1"), "{text}");
    // What needs an operator comes first; every node of the site is
    // listed by name, the two never started as down.
    let seq = status(&url)["current"]["seq"].as_u64().unwrap();
    assert!(
        text.lines().nth(1).is_some_and(|l| l.starts_with(&format!(
            "WAITING FOR AN OPERATOR: event #{seq} on node 3: hacmp resume {seq} continue|rerun|skip|skip-and-cancel --node 3"
        ))),
        "{text}"
    );
    assert!(
        text.contains("node1 (1) up, node2 (2) down, node3 (3) up, node4 (4) down"),
        "{text}"
    );
    assert!(text.contains("STOPPED: `/usr/sbin/cluster/local/rwho_msg_remote` exit 2 (expected 0) in group 1, policy wait"), "{text}");
    assert!(
        text.contains("| cannot reach the message service"),
        "{text}"
    );
    let seq = status(&url)["current"]["seq"].as_u64().unwrap().to_string();
    // What an alert fires on: the node waits for an operator, on that event.
    let text = scrape();
    assert!(text.contains("hacmp_operator_wait{node=\"3\"} 1"), "{text}");
    assert!(
        text.contains(&format!(
            "hacmp_operator_wait_event{{node=\"3\",seq=\"{seq}\",event=\"UE_PGMRWHO_DOWN\"}} 1"
        )),
        "{text}"
    );
    // A resume for a node that is not waiting is refused.
    assert_eq!(
        hacmp(&["resume", &seq, "rerun", "--node", "1", "--etcd", &url])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        hacmp(&["resume", &seq, "rerun", "--node", "3", "--etcd", &url])
            .status
            .code(),
        Some(0)
    );
    until("the event to end", 20, || {
        d1.has("UE_PGMRWHO_DOWN", 1) && d3.has("UE_PGMRWHO_DOWN", 1)
    });
    let e = d3.event("UE_PGMRWHO_DOWN", 1);
    assert_eq!(e["outcome"], "completed");
    let text = scrape();
    assert!(text.contains("hacmp_operator_wait{node=\"3\"} 0"), "{text}");
    // The history, from both nodes' journals: the failure on node 3 and
    // the operator's decision in the event's row.
    let dirs = [base.path().join("node1"), base.path().join("node3")];
    let dirs: Vec<&str> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
    let o = hacmp(&[&["history"][..], &dirs[..]].concat());
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{table}");
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains(&format!("{seq}  UE_PGMRWHO_DOWN")) && row.contains("completed"),
        "newest first: {table}"
    );
    assert!(
        table.contains("node 3: /usr/sbin/cluster/local/rwho_msg_remote"),
        "{table}"
    );
    assert!(table.contains("node 3: rerun"), "{table}");
    let o = hacmp(
        &[
            &["history", "--format", "json", "--event", "TE_JOIN_NODE"][..],
            &dirs[..],
        ]
        .concat(),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let joins = v.as_array().unwrap();
    assert_eq!(joins.len(), 2, "{v}");
    assert!(joins
        .iter()
        .all(|r| r["event"] == "TE_JOIN_NODE" && r["outcome"] == "completed"));
    assert!(
        text.contains("hacmp_command_failures_total{event=\"UE_PGMRWHO_DOWN\"} 1"),
        "{text}"
    );
    let decisions: Vec<&Value> = e["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "decision")
        .collect();
    assert_eq!(decisions[0]["detail"], "rerun");
}

#[test]
fn sigterm_is_a_graceful_stop_in_which_the_node_takes_part() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("sigterm_is_a_graceful_stop_in_which_the_node_takes_part", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let d1 = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1", 30, || d1.has("TE_JOIN_NODE", 1));
    let mut d2 = Daemon::spawn(&site, 2, &url, base.path(), &["--no-monitor", "--takeover"]);
    until("node 2", 30, || d2.has("TE_JOIN_NODE", 2));
    let pid = d2.child.as_ref().unwrap().id() as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(
        d2.wait_exit(30),
        Some(0),
        "leaves and exits 0: {}",
        d2.log()
    );
    let down = d2.event("TE_FAIL_NODE", 2);
    assert_eq!(
        down["membership"],
        serde_json::json!([1, 2]),
        "the leaving node takes part"
    );
    assert_eq!(down["outcome"], "completed");
    let mine: Vec<&Value> = records(&down, "command_start", "node_down");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["nodeset"], "event");
    until("node 1's record", 10, || d1.has("TE_FAIL_NODE", 2));
    assert_eq!(
        records(&d1.event("TE_FAIL_NODE", 2), "command_start", "node_down")[0]["nodeset"],
        "other"
    );
    until("node 2 out of the group", 10, || {
        status(&url)["members"] == serde_json::json!([1])
    });
}

/// Under systemd (`Type=notify`, `WatchdogSec=`): `READY=1` once the node
/// is in, `WATCHDOG=1` at half the watchdog's period while it runs,
/// `STOPPING=1` when it leaves.
#[test]
fn the_daemon_tells_systemd_it_is_ready_alive_and_stopping() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("the_daemon_tells_systemd_it_is_ready_alive_and_stopping", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let path = base.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    // Its standard error as systemd's journal stream: it logs to the
    // journal, or (no journald here) to standard error as before.
    let log = base.path().join("node1/daemon.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "").unwrap();
    let journal_stream = {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&log).unwrap();
        format!("{}:{}", m.dev(), m.ino())
    };
    let journald = std::path::Path::new("/run/systemd/journal/socket").exists();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut d = Daemon::spawn_env(
        &site.dir.join("site.toml"),
        1,
        &url,
        base.path(),
        &["--no-monitor"],
        None,
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
            ("JOURNAL_STREAM", &journal_stream),
        ],
    );
    let next = || {
        let mut buf = [0u8; 512];
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification ({e}): {}", d.log()));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.contains("READY=1")) {
        seen.push(next());
    }
    let watchdogs = (0..30)
        .map(|_| next())
        .take_while(|m| m.contains("WATCHDOG=1"))
        .count();
    assert!(watchdogs >= 3, "{seen:?}");
    if !journald {
        let log = d.log();
        assert!(log.contains("joined"), "ready once in: {log}");
        assert!(
            log.contains("the journal cannot be reached: logging to standard error"),
            "{log}"
        );
    }
    d.signal(libc::SIGTERM);
    loop {
        let m = next();
        if m.contains("STOPPING=1") {
            break;
        }
        assert!(m.contains("WATCHDOG=1"), "{m}");
    }
    assert_eq!(d.wait_exit(30), Some(0), "{}", d.log());
}

/// `hacmpd --metrics`: a Prometheus text page that a parser reads, with
/// the events that ended, their durations and the membership.
#[test]
fn the_daemon_serves_metrics_that_prometheus_parses() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("the_daemon_serves_metrics_that_prometheus_parses", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let d1 = Daemon::spawn(
        &site,
        1,
        &url,
        base.path(),
        &["--no-monitor", "--metrics", &addr],
    );
    until("node 1", 40, || d1.has("TE_JOIN_NODE", 1));
    let o = hacmp(&[
        "raise",
        "UE_PGMRWHO_DOWN",
        "--location",
        "1",
        "--etcd",
        &url,
    ]);
    assert_eq!(o.status.code(), Some(0));
    until("the event", 40, || d1.has("UE_PGMRWHO_DOWN", 1));
    let get = |path: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let page = get("/metrics");
    assert!(page.starts_with("HTTP/1.0 200 OK"), "{page}");
    let body = page.split_once("\r\n\r\n").unwrap().1;
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => -1.0,
            })
    };
    assert_eq!(
        value(
            "hacmp_events_total",
            &[("event", "UE_PGMRWHO_DOWN"), ("outcome", "completed")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            "hacmp_events_total",
            &[("event", "TE_JOIN_NODE"), ("outcome", "completed")]
        ),
        Some(1.0)
    );
    assert_eq!(value("hacmp_members", &[]), Some(1.0));
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "hacmp_command_duration_seconds"),
        "{body}"
    );
    // OpenMetrics: a counter's family is named without `_total`.
    assert_eq!(
        scrape.docs.get("hacmp_events").map(String::as_str),
        Some("Events that ended on this node, by name and outcome.")
    );
    // Every state is a series; nothing waits for an operator.
    for s in ["init", "stable", "rp_running", "barrier", "done"] {
        assert!(
            value("hacmp_node_state", &[("state", s)]).is_some(),
            "{s}: {body}"
        );
    }
    assert_eq!(
        value("hacmp_operator_wait", &[("node", "1")]),
        Some(0.0),
        "{body}"
    );
    assert_eq!(value("hacmp_build_info", &[]), Some(1.0), "{body}");
    assert!(get("/other").starts_with("HTTP/1.0 404"));
    assert!(
        get("/status.json").starts_with("HTTP/1.0 404"),
        "--metrics serves /metrics only"
    );
    // `hacmp status --watch` shows the cluster again and again.
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(["status", "--watch", "--interval", "100ms", "--etcd", &url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = watch.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while seen.matches("clstrmgr_1: members 1;").count() < 2 {
        use std::io::Read;
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "the watch ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // The reader goes away (`| head`): the watch ends by itself, 0.
    drop(out);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let code = loop {
        if let Some(s) = watch.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            std::time::Instant::now() < end,
            "the watch outlived its reader"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
}

/// The dead man switch (`--deadman`), on a plain file standing for
/// `/dev/watchdog`: written four times per timeout (1 s for the tests'
/// 2 s time to live) while the daemon runs, not at all while it is frozen
/// (a watchdog would reset the machine), again once it wakes, and disarmed
/// (`V`) when it stops. A time to live too short for it is refused.
#[test]
fn the_dead_man_switch_is_kept_alive_until_the_daemon_freezes_and_disarmed_at_exit() {
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start("the_dead_man_switch_is_kept_alive", 1)
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let wd = base.path().join("watchdog");
    std::fs::write(&wd, "").unwrap();
    for (ttl, why) in [("1s", "at least 2 s"), ("2500ms", "whole seconds")] {
        let short = Command::new(env!("CARGO_BIN_EXE_hacmpd"))
            .args(["--site", site.dir.join("site.toml").to_str().unwrap()])
            .args(["--node", "1", "--etcd", &url, "--ttl", ttl])
            .args(["--deadman", wd.to_str().unwrap()])
            .arg("--state-dir")
            .arg(base.path().join("short"))
            .output()
            .unwrap();
        assert_eq!(short.status.code(), Some(2), "{ttl}");
        assert!(
            String::from_utf8_lossy(&short.stderr).contains(why),
            "{ttl}: {}",
            String::from_utf8_lossy(&short.stderr)
        );
    }
    assert_eq!(std::fs::read(&wd).unwrap(), b"", "not opened");
    assert!(!base.path().join("short").exists(), "nothing created");

    let len = || std::fs::metadata(&wd).unwrap().len();
    let mut d = Daemon::spawn(
        &site,
        1,
        &url,
        base.path(),
        &["--no-monitor", "--deadman", wd.to_str().unwrap()],
    );
    until("node 1", 30, || d.has("TE_JOIN_NODE", 1));
    let a = len();
    until("keepalives", 10, || len() >= a + 3);
    d.signal(libc::SIGSTOP);
    // A write under way when it stopped lands at once.
    std::thread::sleep(Duration::from_millis(200));
    let frozen = len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(len(), frozen, "no keepalive while frozen");
    d.signal(libc::SIGCONT);
    until("keepalives again", 10, || len() > frozen);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(30), Some(0));
    let bytes = std::fs::read(&wd).unwrap();
    assert_eq!(bytes.last(), Some(&b'V'), "disarmed");
    assert!(bytes[..bytes.len() - 1].iter().all(|b| *b == b'.'));
    let log = d.log();
    assert!(log.contains("dead man switch armed"), "{log}");
    assert!(log.contains("is not a watchdog device"), "{log}");
}

/// A certificate authority, and certificates it signs (PEM files).
struct Pki {
    ca: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_string());
        let ca = p.self_signed(&key).unwrap();
        Pki { ca, key }
    }

    fn write_ca(&self, path: &std::path::Path) {
        std::fs::write(path, self.ca.pem()).unwrap();
    }

    /// A certificate for `name` (and 127.0.0.1) with its key, as files.
    fn issue(&self, name: &str, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        p.subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_string());
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, &self.ca, &self.key).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

/// An authority (its certificate `ca.pem` in `dir`) and one etcd member
/// serving clients over TLS with a certificate it issued.
fn tls_etcd(bin: &std::path::Path, dir: &std::path::Path) -> (Pki, std::path::PathBuf, Etcd) {
    let pki = Pki::new("hacmp test CA");
    let ca = dir.join("ca.pem");
    pki.write_ca(&ca);
    let (server, key) = pki.issue("localhost", dir);
    let etcd = Etcd::tls(bin, dir, &ca, &server, &key);
    (pki, ca, etcd)
}

/// etcd over TLS, checking clients' certificates: a daemon and the
/// operator commands with `--etcd-cacert/--etcd-cert/--etcd-key` work; a
/// client without a certificate, or trusting another authority, is
/// refused by the handshake (unreachable, 3); https without an authority,
/// or TLS files for http endpoints, are usage errors (2) before any
/// connection.
#[test]
fn etcd_over_tls_with_client_certificates() {
    let Some(bin) = etcd_binary("etcd_over_tls_with_client_certificates") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let (pki, ca, etcd) = tls_etcd(&bin, base.path());
    let (client, client_key) = pki.issue("hacmp", base.path());
    let url = etcd.client.clone();
    assert!(url.starts_with("https://"));
    let site = Site::new(base.path(), "site");
    let tls = [
        "--etcd-cacert",
        ca.to_str().unwrap(),
        "--etcd-cert",
        client.to_str().unwrap(),
        "--etcd-key",
        client_key.to_str().unwrap(),
    ];
    let mut extra = vec!["--no-monitor"];
    extra.extend_from_slice(&tls);
    let d = Daemon::spawn(&site, 1, &url, base.path(), &extra);
    until("node 1 over TLS", 30, || d.has("TE_JOIN_NODE", 1));
    let status = |more: &[&str]| {
        let mut args = vec!["status", "--format", "json", "--etcd", &url];
        args.extend_from_slice(more);
        hacmp(&args)
    };
    let o = status(&tls);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["members"], serde_json::json!([1]), "{st}");

    // Refused: (arguments after the endpoint, exit status, what it says).
    let fails = |url: &str, more: &[&str], code: i32, says: &str| {
        let mut args = vec!["status", "--etcd", url, "--timeout", "5s"];
        args.extend_from_slice(more);
        let o = hacmp(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{more:?}: {err}");
        assert!(err.contains(says), "{more:?}: {err}");
    };
    // No client certificate: the member refuses the handshake.
    let cacert = ca.to_str().unwrap();
    // (etcd that cannot be reached, as the exit table says: 2.)
    fails(
        &url,
        &["--etcd-cacert", cacert],
        2,
        "over TLS: check --etcd-cacert",
    );
    // Another authority: the member's certificate is not trusted.
    let other = Pki::new("another CA");
    let other_ca = base.path().join("other-ca.pem");
    other.write_ca(&other_ca);
    let mut another = vec!["--etcd-cacert", other_ca.to_str().unwrap()];
    another.extend_from_slice(&tls[2..]);
    fails(&url, &another, 2, "UnknownIssuer");
    // Usage errors, said before connecting (and `--watch` stops on them).
    let mut watch = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .args(["status", "--watch", "--etcd", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    let code = loop {
        if let Some(s) = watch.try_wait().unwrap() {
            break s.code();
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = watch.kill();
            let _ = watch.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(2), "status --watch with https and no authority");
    fails(&url, &[], 2, "need the certificate authority");
    fails(
        "http://127.0.0.1:1",
        &["--etcd-cacert", cacert],
        2,
        "no etcd endpoint is https://",
    );
}

/// etcd's access control through client certificates (the README's
/// advice): with auth on, a certificate's common name is its user. A node
/// whose user's role may read and write the cluster's prefix joins and the
/// operator commands answer; a certificate of a user without that role is
/// refused with etcd's "permission denied".
#[test]
fn etcd_access_control_by_certificate_name() {
    let Some(bin) = etcd_binary("etcd_access_control_by_certificate_name") else {
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let (pki, ca, etcd) = tls_etcd(&bin, base.path());
    let (root, root_key) = pki.issue("root", base.path());
    let (client, client_key) = pki.issue("hacmp", base.path());
    let (intruder, intruder_key) = pki.issue("intruder", base.path());
    let url = etcd.client.clone();
    // The administrator (certificate name `root`) sets up users and roles.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let read = |p: &std::path::Path| std::fs::read(p).unwrap();
        let tls = etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(read(&ca)))
            .identity(etcd_client::Identity::from_pem(
                read(&root),
                read(&root_key),
            ));
        let opts = etcd_client::ConnectOptions::new().with_tls(tls);
        let mut c = etcd_client::Client::connect([url.as_str()], Some(opts))
            .await
            .unwrap();
        let no_pwd = || Some(etcd_client::UserAddOptions::new().with_no_pwd());
        c.user_add("root", "", no_pwd()).await.unwrap();
        c.user_grant_role("root", "root").await.unwrap();
        c.role_add("hacmp").await.unwrap();
        c.role_grant_permission(
            "hacmp",
            etcd_client::Permission::read_write("/hacmp/clstrmgr_1/").with_prefix(),
        )
        .await
        .unwrap();
        for u in ["hacmp", "intruder"] {
            c.user_add(u, "", no_pwd()).await.unwrap();
        }
        c.user_grant_role("hacmp", "hacmp").await.unwrap();
        c.auth_enable().await.unwrap();
    });
    let cert = |c: &std::path::Path, k: &std::path::Path| {
        [
            "--etcd-cacert".to_string(),
            ca.to_str().unwrap().to_string(),
            "--etcd-cert".to_string(),
            c.to_str().unwrap().to_string(),
            "--etcd-key".to_string(),
            k.to_str().unwrap().to_string(),
        ]
    };
    let site = Site::new(base.path(), "site");
    let ours = cert(&client, &client_key);
    let mut extra = vec!["--no-monitor"];
    extra.extend(ours.iter().map(String::as_str));
    let d = Daemon::spawn(&site, 1, &url, base.path(), &extra);
    until("node 1 as user hacmp", 30, || d.has("TE_JOIN_NODE", 1));
    let status = |c: &[String]| {
        let mut args = vec![
            "status",
            "--format",
            "json",
            "--etcd",
            &url,
            "--timeout",
            "5s",
        ];
        args.extend(c.iter().map(String::as_str));
        hacmp(&args)
    };
    let o = status(&ours);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = status(&cert(&intruder, &intruder_key));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("etcd refused") && err.contains("permission denied"),
        "{err}"
    );
}

/// A local user cannot stop the cluster through the read-only status page:
/// 1,500 idle connections and a slowloris (a header byte a second) against
/// `hacmpd --http`, with the 1,024-descriptor limit a packaged unit gets,
/// while an event runs. The event completes as before, nothing fences, the
/// daemon's descriptors stay few, and the page answers again when the
/// flood stops.
#[test]
fn a_flood_on_the_status_page_changes_nothing_for_the_cluster() {
    use std::io::{Read, Write};
    let Some(Lab {
        base,
        etcd: _etcd,
        url,
        ..
    }) = Lab::start(
        "a_flood_on_the_status_page_changes_nothing_for_the_cluster",
        1,
    )
    else {
        return;
    };
    let site = Site::new(base.path(), "site");
    let addr = format!("127.0.0.1:{}", free_port());
    let d1 = Daemon::spawn(
        &site,
        1,
        &url,
        base.path(),
        &["--no-monitor", "--http", &addr],
    );
    until("node 1", 40, || d1.has("TE_JOIN_NODE", 1));
    let limited = std::process::Command::new("prlimit")
        .args(["--pid", &d1.pid().to_string(), "--nofile=1024:1024"])
        .status();
    if !limited.is_ok_and(|s| s.success()) {
        // prlimit (util-linux) on another process needs root.
        assert!(
            std::env::var("HACMP_REQUIRE_ROOT").as_deref() != Ok("1"),
            "HACMP_REQUIRE_ROOT=1 but prlimit could not limit hacmpd's descriptors"
        );
        eprintln!("SKIPPED a_flood_on_the_status_page_changes_nothing_for_the_cluster: prlimit could not limit hacmpd's descriptors (root and util-linux needed)");
        return;
    }
    let get = |path: &str| -> Option<String> {
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text)
    };
    let raise = |n: usize| {
        let o = hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "1",
            "--etcd",
            &url,
        ]);
        assert_eq!(o.status.code(), Some(0));
        until("the event", 60, || d1.count("UE_PGMRWHO_DOWN", 1) >= n);
        let e = d1
            .events()
            .into_iter()
            .filter(|e| e["name"] == "UE_PGMRWHO_DOWN")
            .nth(n - 1)
            .unwrap();
        assert_eq!(e["outcome"], "completed", "{e}");
        let t: Vec<u64> = e["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["t_ms"].as_u64())
            .collect();
        t.iter().max().unwrap() - t.iter().min().unwrap()
    };
    let quiet = raise(1);
    // The flood: idle connections, and slow ones that never finish their
    // headers.
    let mut idle = Vec::new();
    for _ in 0..1500 {
        if let Ok(s) = std::net::TcpStream::connect(&addr) {
            idle.push(s);
        }
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slow: Vec<_> = (0..32)
        .map(|_| {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    };
                    for b in b"GET / HTTP/1.1\r\nX-Slow: ".iter().cycle() {
                        if stop.load(std::sync::atomic::Ordering::SeqCst)
                            || s.write_all(&[*b]).is_err()
                        {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1000));
                    }
                }
            })
        })
        .collect();
    let busy = raise(2);
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d1.pid()))
        .map(|d| d.count())
        .unwrap_or(0);
    eprintln!(
        "flood: {} idle connections open, 32 slow; event {quiet} ms quiet, {busy} ms under the flood; hacmpd holds {fds} descriptors",
        idle.len()
    );
    assert!(fds < 400, "hacmpd holds {fds} descriptors under the flood");
    assert!(
        busy <= quiet * 3 + 1000,
        "the event took {busy} ms under the flood, {quiet} ms without"
    );
    assert!(!d1.log().contains("fencing itself"), "{}", d1.log());
    assert!(!d1.log().contains("Too many open files"), "{}", d1.log());
    assert_eq!(status(&url)["members"], serde_json::json!([1]));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(idle);
    for t in slow {
        t.join().unwrap();
    }
    until("the page answers again", 20, || {
        get("/status.json").is_some_and(|p| p.starts_with("HTTP/1.0 200"))
    });
}
