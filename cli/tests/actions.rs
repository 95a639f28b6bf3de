//! Operators' group actions on real etcd: three `hacmpd` on loopback run
//! the rwho site with group `app` (an application whose start and stop
//! mark a file per node). Without an `etcd` binary the tests skip loudly,
//! unless `HACMP_REQUIRE_ETCD=1`.

use crate::harness;

use harness::*;

fn app_on(url: &str) -> serde_json::Value {
    status(url)["resource_groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "app").cloned())
        .map_or(serde_json::Value::Null, |g| g["nodes"].clone())
}

/// What each test runs on: etcd, the rwho site with group `app` on
/// `nodes` (its text passed through `edit`, its scripts written first),
/// `nodes` daemons joined and the cluster idle. `None` (a loud skip)
/// without etcd. Bind every field: one left to `..` is dropped at once
/// (etcd stopped, the directory removed).
struct AppCluster {
    base: tempfile::TempDir,
    _etcd: Vec<Etcd>,
    url: String,
    site: Site,
    ds: Vec<Daemon>,
}

fn app_cluster(
    test: &str,
    nodes: &[u32],
    edit: impl FnOnce(&Site, String) -> String,
) -> Option<AppCluster> {
    let Lab {
        base, etcd, url, ..
    } = Lab::start(test, 1)?;
    let site = Site::new(base.path(), "site");
    site.app_scripts();
    let text = std::fs::read_to_string(site.dir.join("site.toml")).unwrap();
    let text = edit(&site, with_app_group(&text, nodes));
    std::fs::write(site.dir.join("site.toml"), text).unwrap();
    let n = nodes.len() as u32;
    let ds = join_one_by_one(&site, &url, base.path(), n, |_| vec!["--no-monitor"]);
    until_idle(&url, &(1..=n).collect::<Vec<_>>(), 30);
    Some(AppCluster {
        base,
        _etcd: etcd,
        url,
        site,
        ds,
    })
}

#[test]
fn hacmp_move_moves_a_group_and_says_why_when_it_cannot() {
    let Some(AppCluster {
        base: _base,
        _etcd,
        url,
        site,
        ds: _ds,
    }) = app_cluster(
        "hacmp_move_moves_a_group_and_says_why_when_it_cannot",
        &[1, 2, 3],
        |_, t| t,
    )
    else {
        return;
    };
    until("app on node 1", 30, || {
        app_on(&url) == serde_json::json!([1])
    });
    let out = |n: u32| site.root().join(format!("out/app-{n}")).exists();
    assert!(out(1));

    let o = hacmp(&["move", "app", "--to", "node3", "--etcd", &url]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("`app` is on node 3 (TE_RG_MOVE"), "{said}");
    assert_eq!(app_on(&url), serde_json::json!([3]));
    assert!(out(3) && !out(1), "released on node 1, acquired on node 3");

    for (args, says) in [
        (&["move", "ap"][..], "did you mean `app`?"),
        (&["move", "app", "--to", "3"][..], "already on node 3"),
        (&["move", "app", "--to", "node7"][..], "no node `node7`"),
    ] {
        let mut a = args.to_vec();
        a.extend(["--etcd", &url]);
        let o = hacmp(&a);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // No node named: the first other node of its list.
    let o = hacmp(&["move", "app", "--etcd", &url]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(app_on(&url), serde_json::json!([1]));
    assert!(out(1) && !out(3));
}

/// `hacmp offline` is an operator's word the cluster keeps: every daemon
/// killed and started again, the group stays offline, until `hacmp
/// online` brings it back.
#[test]
fn a_group_taken_offline_stays_offline_across_a_restart_of_the_whole_cluster() {
    let Some(AppCluster {
        base,
        _etcd,
        url,
        site,
        mut ds,
    }) = app_cluster(
        "a_group_taken_offline_stays_offline_across_a_restart_of_the_whole_cluster",
        &[1, 2, 3],
        |_, t| t,
    )
    else {
        return;
    };
    until("app on node 1", 30, || {
        app_on(&url) == serde_json::json!([1])
    });
    let out = |n: u32| site.root().join(format!("out/app-{n}")).exists();

    let o = hacmp(&["offline", "app", "--etcd", &url]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        said.contains("`app` is offline (by an operator's word"),
        "{said}"
    );
    assert!(!out(1));
    let o = hacmp(&["status", "--etcd", &url]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("offline (offline by an operator)"), "{text}");

    for d in &mut ds {
        d.kill9();
    }
    let ds = join_one_by_one(&site, &url, &base.path().join("again"), 3, |_| {
        vec!["--no-monitor"]
    });
    until_idle(&url, &[1, 2, 3], 60);
    assert_eq!(
        status(&url)["resource_groups"][0]["intent"],
        "offline",
        "{}",
        status(&url)
    );
    assert!(!(1..=3).any(out), "nothing started it");

    let o = hacmp(&["online", "app", "--etcd", &url]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(said.contains("`app` is on node 1"), "{said}");
    assert!(out(1));
    drop(ds);
}

/// The application cannot start while `root/broken` exists: with the
/// policy `continue` the join completes and `app` is in error on node 1.
/// Repaired, `hacmp cleanup app` starts it there.
#[test]
fn hacmp_cleanup_starts_a_group_again_after_a_failed_start() {
    let Some(AppCluster {
        base: _base,
        _etcd,
        url,
        site,
        ds: _ds,
    }) = app_cluster(
        "hacmp_cleanup_starts_a_group_again_after_a_failed_start",
        &[1, 2],
        |site, text| {
            site.script(
                "app-start",
                "if [ -e \"$HACMP_ROOT/broken\" ]; then echo 'cannot start: broken' >&2; exit 1; fi\ntouch \"$HACMP_ROOT/out/app-$HACMP_NODE\"",
            );
            std::fs::write(site.root().join("broken"), "").unwrap();
            text.replace("on_failure = \"wait\"", "on_failure = \"continue\"")
        },
    )
    else {
        return;
    };
    let state_on_1 = || {
        status(&url)["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["node"] == 1).cloned())
            .map_or(serde_json::Value::Null, |n| n["groups"]["app"].clone())
    };
    until("app in error on node 1", 30, || state_on_1() == "error");
    let o = hacmp(&["cleanup", "app", "--node", "2", "--etcd", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not in error on node 2"));

    std::fs::remove_file(site.root().join("broken")).unwrap();
    let o = hacmp(&["cleanup", "app", "--etcd", &url]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(said.contains("`app` is online on node 1"), "{said}");
    assert!(site.root().join("out/app-1").exists());
    let o = hacmp(&["cleanup", "app", "--etcd", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("in error on no node"));
}

/// Maintenance during a monitor failure: the application is found down
/// (its mark removed) while `app` is in maintenance, and nothing restarts
/// or moves it; off, its monitor restarts it in place.
#[test]
fn maintenance_leaves_a_failed_application_alone_until_it_is_off() {
    let Some(AppCluster {
        base: _base,
        _etcd,
        url,
        site,
        ds,
    }) = app_cluster(
        "maintenance_leaves_a_failed_application_alone_until_it_is_off",
        &[1, 2],
        |site, text| {
            site.script("app-check", "test -e \"$HACMP_ROOT/out/app-$HACMP_NODE\"");
            text.replace(
                "stop = \"/usr/sbin/cluster/local/app-stop\"\n",
                "stop = \"/usr/sbin/cluster/local/app-stop\"\nmonitor = \"/usr/sbin/cluster/local/app-check\"\ninterval = \"200ms\"\nrestarts = 3\n",
            )
        },
    )
    else {
        return;
    };
    let mark = site.root().join("out/app-1");
    until("app up on node 1", 30, || mark.exists());

    let o = hacmp(&["maintenance", "on", "app", "--etcd", &url]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(said.contains("in maintenance"), "{said}");
    let o = hacmp(&["status", "--etcd", &url]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("(MAINTENANCE)"));
    std::fs::remove_file(&mark).unwrap();
    // Absence shows only over time: fifteen monitor intervals.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!mark.exists(), "nothing restarted it");
    assert_eq!(
        ds[0].count("TE_RG_MOVE", 1),
        1,
        "only the maintenance's own event"
    );

    let o = hacmp(&["maintenance", "off", "--etcd", &url]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    until("the monitor restarts it", 30, || mark.exists());
    assert_eq!(app_on(&url), serde_json::json!([1]), "in place");
}

fn said(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn site_node(url: &str, n: u32) -> serde_json::Value {
    status(url)["site_nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|x| x["node"] == n).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// `hacmp stop NODE --mode ...` from another node, in each mode, with the
/// stopped node's daemon staying up (out of the cluster, shown `stopped`,
/// still out after a restart of it) until `hacmp start NODE` brings it
/// back through a node-up.
#[test]
fn hacmp_stop_and_start_a_node_from_any_node_in_each_mode() {
    let Some(AppCluster {
        base,
        _etcd,
        url,
        site,
        mut ds,
    }) = app_cluster(
        "hacmp_stop_and_start_a_node_from_any_node_in_each_mode",
        &[1, 2, 3],
        |_, t| t,
    )
    else {
        return;
    };
    until("app on node 1", 30, || {
        app_on(&url) == serde_json::json!([1])
    });
    let out = |n: u32| site.root().join(format!("out/app-{n}")).exists();
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--etcd", &url]);
        hacmp(&a)
    };

    // Graceful: node 1 releases `app`; the others leave it stopped.
    let o = run(&["stop", "node1", "--mode", "graceful"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(said(&o).contains("node 1 is stopped"), "{}", said(&o));
    assert!(
        said(&o).contains("`app` stopped (node 1 stopped"),
        "{}",
        said(&o)
    );
    assert!(!out(1), "released on node 1");
    assert!(ds[0].running(), "its daemon stays up");
    let n1 = site_node(&url, 1);
    assert_eq!(n1["state"], "stopped", "{n1}");
    assert_eq!(n1["stopped"]["mode"], "graceful", "{n1}");
    assert_eq!(n1["daemon"], true, "{n1}");
    assert!(n1["down"]["since"].is_string(), "{n1}");
    for (args, says) in [
        (&["stop", "1"][..], "already stopped by an operator"),
        (&["start", "2"][..], "was not stopped by an operator"),
        (&["stop", "nod2"][..], "did you mean `node2`?"),
        (&["stop", "7"][..], "the site has no node 7"),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", said(&o));
        assert!(said(&o).contains(says), "{args:?}: {}", said(&o));
    }

    // Back through a node-up: `app` comes home to node 1.
    let o = run(&["start", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(said(&o).contains("node 1 is up"), "{}", said(&o));
    until("app back on node 1", 30, || {
        app_on(&url) == serde_json::json!([1])
    });
    assert!(out(1));
    assert_eq!(ds[0].count("TE_JOIN_NODE", 1), 2, "a second node-up");

    // With takeover: the others take `app` over at once.
    let o = run(&["stop", "1", "--mode", "takeover"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(said(&o).contains("`app` on node 2"), "{}", said(&o));
    assert!(out(2) && !out(1));
    assert!(ds[0].running());
    let o = run(&["start", "node1"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    until("app back on node 1", 30, || {
        app_on(&url) == serde_json::json!([1])
    });
    until_idle(&url, &[1, 2, 3], 30);

    // Forced: node 1 stops at once, releasing what it holds; the others
    // see a failure (TE_FAIL_NODE) and take over.
    let o = run(&["stop", "1", "--mode", "forced"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(said(&o).contains("node 1 is stopped"), "{}", said(&o));
    until("app taken over on node 2", 30, || {
        app_on(&url) == serde_json::json!([2])
    });
    assert!(out(2) && !out(1));
    assert!(ds[0].running());
    until_idle(&url, &[2, 3], 30);
    let n1 = site_node(&url, 1);
    assert_eq!(n1["down"]["failed"], true, "{n1}");
    assert_eq!(n1["stopped"]["mode"], "forced", "{n1}");

    // A daemon started again while its node is stopped stays out.
    ds[0].kill9();
    until("node 1's daemon gone", 30, || {
        site_node(&url, 1)["daemon"] == false
    });
    let human = said(&run(&["status"]));
    assert!(human.contains("stopped (forced) since"), "{human}");
    assert!(human.contains("hacmpd not running"), "{human}");
    let parked = |d: &Daemon| d.log().matches("is stopped by an operator").count();
    let before = parked(&ds[0]);
    ds[0] = Daemon::spawn(&site, 1, &url, base.path(), &["--no-monitor"]);
    until("node 1's daemon shown stopped", 30, || {
        site_node(&url, 1)["daemon"] == true
    });
    assert_eq!(status(&url)["members"], serde_json::json!([2, 3]));
    assert_eq!(parked(&ds[0]), before + 1, "{}", ds[0].log());
    let o = run(&["start", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    until_idle(&url, &[1, 2, 3], 30);
    assert!(site_node(&url, 1)["down"].is_null());

    // A stop taken back while the node's daemon is down: it joins when
    // its daemon starts, and the command says so instead of waiting.
    assert_eq!(run(&["stop", "2"]).status.code(), Some(0));
    ds[1].kill9();
    until("node 2's daemon gone", 30, || {
        site_node(&url, 2)["daemon"] == false
    });
    let o = run(&["start", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(
        said(&o).contains("its hacmpd is not running"),
        "{}",
        said(&o)
    );
    ds[1] = Daemon::spawn(&site, 2, &url, base.path(), &["--no-monitor"]);
    until_idle(&url, &[1, 2, 3], 30);

    // The events the cluster keeps in etcd, without any journal: node 1
    // left three times (graceful, takeover, forced) and joined again.
    let o = run(&["history", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let count = |name: &str| {
        rows.iter()
            .filter(|r| r["event"] == name && r["location"] == 1 && r["outcome"] == "completed")
            .count()
    };
    assert_eq!(count("TE_FAIL_NODE"), 3, "{rows:?}");
    assert!(count("TE_JOIN_NODE") >= 3, "{rows:?}");

    // Its SIGTERM still ends it, stopped or not.
    let o = run(&["stop", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    ds[2].signal(libc::SIGTERM);
    assert_eq!(ds[2].wait_exit(30), Some(0), "{}", ds[2].log());
}
