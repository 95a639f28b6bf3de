//! DARE on real etcd: `hacmp deploy` changes the site of a running cluster.
//! Three `hacmpd` on loopback run a copy of the rwho site with a resource
//! group `app` (an application whose start and stop commands mark a file);
//! the deployed site adds node 4 and puts `app` on node 2 first. Without an
//! `etcd` binary the tests skip loudly, unless `HACMP_REQUIRE_ETCD=1`.

use crate::harness;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use harness::*;
use serde_json::Value;

/// The rwho site of nodes 1–3 with group `app` on `nodes`, written as
/// `file` in the site's directory (`slow`: the deploy's prepare waits 2 s
/// on every node, to kill one meanwhile).
fn write_site(site: &Site, file: &str, nodes: &[u32], four: bool, slow: bool) {
    let mut t = std::fs::read_to_string(site.dir.join("site.toml")).unwrap();
    if !four {
        t = t.replace("[[node]]\nnumber = 4\nname = \"node4\"\n", "");
    }
    t = with_app_group(&t, nodes);
    if slow {
        t.push_str(
            "\n[event_scripts.reconfig_topology_start]\npre = \"/usr/sbin/cluster/local/slow\"\n",
        );
    }
    std::fs::write(site.dir.join(file), t).unwrap();
}

fn staged(base: &Path, slow: bool) -> Site {
    let site = Site::new(base, "site");
    site.app_scripts();
    site.script("slow", "sleep 2");
    let orig = std::fs::read_to_string(site.dir.join("site.toml")).unwrap();
    std::fs::write(site.dir.join("orig.toml"), &orig).unwrap();
    write_site(&site, "new.toml", &[2, 1, 3, 4], true, slow);
    write_site(&site, "site.toml", &[1, 2, 3], false, slow);
    for f in ["site.toml", "new.toml"] {
        std::fs::set_permissions(site.dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    site
}

/// What each test runs on: etcd, the staged site, `nodes` daemons joined
/// and the cluster idle (`None`, with a loud skip, without etcd).
struct Running {
    base: tempfile::TempDir,
    _etcd: Vec<Etcd>,
    url: String,
    site: Site,
    ds: Vec<Daemon>,
}

fn running(test: &str, nodes: u32, slow: bool) -> Option<Running> {
    let Lab {
        base, etcd, url, ..
    } = Lab::start(test, 1)?;
    let site = staged(base.path(), slow);
    let ds = join_one_by_one(&site, &url, base.path(), nodes, |_| vec!["--no-monitor"]);
    let all: Vec<u32> = (1..=nodes).collect();
    until_idle(&url, &all, 30);
    Some(Running {
        base,
        _etcd: etcd,
        url,
        site,
        ds,
    })
}

/// `hacmp deploy new.toml --yes --no-wait`: staged and queued.
fn deploy_new(site: &Site, url: &str) {
    let new = site.dir.join("new.toml");
    let o = hacmp(&[
        "deploy",
        new.to_str().unwrap(),
        "--etcd",
        url,
        "--yes",
        "--no-wait",
        "--key",
        &site.key(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn app_on(url: &str) -> Value {
    status(url)["resource_groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "app").cloned())
        .map_or(Value::Null, |g| g["nodes"].clone())
}

/// The hash a node's journal says it switched to in TE_DARE_TOPOLOGY, and
/// the event's sequence number.
fn switch_of(d: &Daemon) -> Option<(u64, String)> {
    d.events().into_iter().find_map(|e| {
        if e["name"] != "TE_DARE_TOPOLOGY" {
            return None;
        }
        let detail = records(&e, "command_end", "bundle switch")
            .first()?
            .get("detail")?
            .as_str()?
            .to_string();
        Some((e["seq"].as_u64()?, detail))
    })
}

#[test]
fn deploy_adds_a_node_and_moves_a_group_while_events_are_queued() {
    let Some(Running {
        base,
        _etcd,
        url,
        site,
        mut ds,
    }) = running(
        "deploy_adds_a_node_and_moves_a_group_while_events_are_queued",
        3,
        false,
    )
    else {
        return;
    };
    until("app on node 1", 30, || {
        app_on(&url) == serde_json::json!([1])
    });
    let new = site.dir.join("new.toml");
    // What it would change, without deploying.
    let o = hacmp(&["deploy", new.to_str().unwrap(), "--etcd", &url, "--dry-run"]);
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{shown}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(shown.contains("+ node 4 (node4)"), "{shown}");
    assert!(
        shown.contains("~ group app: nodes node1, node2, node3 → node2, node1, node3, node4"),
        "{shown}"
    );
    assert!(shown.contains("app: on node 1 → on node 2"), "{shown}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("warning: cluster 1 runs signed bundles only"),
        "a dry run without a key says the nodes would refuse it"
    );
    // Without a terminal and without --yes: not deployed.
    let o = hacmp(&[
        "deploy",
        new.to_str().unwrap(),
        "--etcd",
        &url,
        "--key",
        &site.key(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    // User events queued behind a long one, then the deploy.
    for _ in 0..3 {
        let o = hacmp(&[
            "raise",
            "UE_PGMRWHO_DOWN",
            "--location",
            "2",
            "--etcd",
            &url,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = hacmp(&[
        "deploy",
        new.to_str().unwrap(),
        "--etcd",
        &url,
        "--yes",
        "--key",
        &site.key(),
    ]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(said.contains("every member (1–3) runs bundle"), "{said}");
    // Every journal shows the switch in the same event.
    let switches: Vec<(u64, String)> = ds.iter().map(|d| switch_of(d).expect("a switch")).collect();
    assert!(switches.iter().all(|s| *s == switches[0]), "{switches:?}");
    assert!(
        switches[0].1.starts_with("switched from bundle"),
        "{switches:?}"
    );
    until("app on node 2", 30, || {
        app_on(&url) == serde_json::json!([2])
    });
    assert!(site.root().join("out/app-2").exists() && !site.root().join("out/app-1").exists());
    // Node 4, with the new site, joins.
    let mut d4 = Daemon::spawn_at(&new, 4, &url, base.path(), &["--no-monitor"], None);
    d4.until("node 4's node-up", 40, |d| d.has("TE_JOIN_NODE", 4));
    until_idle(&url, &[1, 2, 3, 4], 60);
    // Node 3 restarted with its old site file starts with the bundle it
    // ran last, kept in its state directory, and joins.
    ds[2].kill9();
    until_idle(&url, &[1, 2, 4], 60);
    let again = Daemon::spawn(&site, 3, &url, base.path(), &["--no-monitor"]);
    again.until("node 3's new node-up", 40, |d| {
        d.count("TE_JOIN_NODE", 3) >= 2
    });
    until_idle(&url, &[1, 2, 3, 4], 60);
    let log = again.log();
    assert!(
        log.contains("starting with the bundle this node ran last")
            && log.contains("which is older"),
        "{log}"
    );
    // Without what it kept, the same file is refused, told how to fetch.
    ds.push(again);
    ds[3].kill9();
    until_idle(&url, &[1, 2, 4], 60);
    std::fs::remove_file(base.path().join("node3/bundle.json")).unwrap();
    let mut stale = Daemon::spawn(&site, 3, &url, base.path(), &["--no-monitor"]);
    assert_eq!(stale.wait_exit(30), Some(1), "refused");
    let log = stale.log();
    assert!(
        log.contains("hacmp bundle fetch") && log.contains("different site"),
        "{log}"
    );
    d4.kill9();
}

#[test]
fn a_node_killed_during_a_deploy_leaves_the_cluster_on_one_bundle() {
    let Some(Running {
        base,
        _etcd,
        url,
        site,
        mut ds,
    }) = running(
        "a_node_killed_during_a_deploy_leaves_the_cluster_on_one_bundle",
        3,
        true,
    )
    else {
        return;
    };
    deploy_new(&site, &url);
    until("the deploy running", 30, || {
        status(&url)["current"]["name"] == "TE_DARE_TOPOLOGY"
    });
    ds[1].kill9();
    until_idle(&url, &[1, 3], 60);
    let st = status(&url);
    let s1 = switch_of(&ds[0]).expect("node 1 switched");
    let s3 = switch_of(&ds[2]).expect("node 3 switched");
    assert_eq!(s1, s3);
    let bundles = st["bundles"].as_object().unwrap();
    assert_eq!(bundles.len(), 2, "{st}");
    assert!(
        bundles.values().all(|h| *h == st["site"]),
        "one bundle: {st}"
    );
    assert!(s1.1.starts_with("switched from bundle"), "{s1:?}");
    // Node 2 comes back with the old site: refused; with the fetched
    // bundle it joins.
    let mut stale = Daemon::spawn(&site, 2, &url, base.path(), &["--no-monitor"]);
    assert_eq!(stale.wait_exit(30), Some(1), "refused: {}", stale.log());
    let fetched = base.path().join("bundle.json");
    let o = hacmp(&[
        "bundle",
        "fetch",
        "--etcd",
        &url,
        "--output",
        fetched.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut back = Daemon::spawn_at(
        &fetched,
        2,
        &url,
        &base.path().join("again"),
        &[
            "--no-monitor",
            "--root",
            site.root().to_str().unwrap(),
            "--trusted-keys",
            site.dir.join("trusted-keys").to_str().unwrap(),
        ],
        None,
    );
    // The fetched bundle carries the deploy's signature: it runs.
    back.until("node 2's node-up", 40, |d| d.has("TE_JOIN_NODE", 2));
    until_idle(&url, &[1, 2, 3], 60);
    back.kill9();
}

/// Whoever can write etcd but holds no trusted key runs nothing: an
/// unsigned deploy is refused before anything is staged, one signed by a
/// key the nodes do not trust fails every member's prepare. Once that key
/// is installed on the nodes (rotation: read at each deploy, no restart),
/// the same deploy goes through.
#[test]
fn a_bundle_signed_by_an_untrusted_key_runs_nowhere_until_its_key_is_trusted() {
    let Some(Running {
        base,
        _etcd,
        url,
        site,
        ds,
    }) = running(
        "a_bundle_signed_by_an_untrusted_key_runs_nowhere_until_its_key_is_trusted",
        2,
        false,
    )
    else {
        return;
    };
    let running = status(&url)["site"].clone();
    let new = site.dir.join("new.toml");
    let o = hacmp(&["deploy", new.to_str().unwrap(), "--etcd", &url, "--yes"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("runs signed bundles only") && err.contains("--key"),
        "{err}"
    );
    let mallory = base.path().join("mallory");
    let o = hacmp(&["key", "new", "mallory", "--out", mallory.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = mallory.join("mallory.key");
    let deploy = || {
        hacmp(&[
            "deploy",
            new.to_str().unwrap(),
            "--etcd",
            &url,
            "--yes",
            "--key",
            key.to_str().unwrap(),
        ])
    };
    let o = deploy();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("did not complete"), "{err}");
    until_idle(&url, &[1, 2], 30);
    assert_eq!(
        status(&url)["site"],
        running,
        "the cluster stays on its bundle"
    );
    for d in &ds {
        let e = d
            .events()
            .into_iter()
            .find(|e| e["name"] == "TE_DARE_TOPOLOGY")
            .unwrap();
        assert_eq!(e["outcome"], "failed", "{e}");
        let text = e.to_string();
        assert!(
            text.contains("mallory") && text.contains("does not hold"),
            "{text}"
        );
        assert!(switch_of(d).is_none());
    }
    // The site trusts mallory's key from now on: the same deploy runs.
    std::fs::copy(
        mallory.join("mallory.pub"),
        site.dir.join("trusted-keys/mallory.pub"),
    )
    .unwrap();
    let o = deploy();
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(said.contains("signed by `mallory`"), "{said}");
    assert!(said.contains("every member (1, 2) runs bundle"), "{said}");
}

/// A deploy whose new command is not installed on the nodes: every member
/// fails its prepare, the deploy is abandoned, the cluster stays on its
/// bundle, and `hacmp deploy` says so.
#[test]
fn a_deploy_whose_files_are_missing_switches_nobody() {
    let Some(Running {
        base,
        _etcd,
        url,
        site,
        ds,
    }) = running("a_deploy_whose_files_are_missing_switches_nobody", 2, false)
    else {
        return;
    };
    let running = status(&url)["site"].clone();
    // The new site starts the application with a command that exists
    // while it is compiled, and is gone from the nodes afterwards.
    site.script("app-start2", "touch \"$HACMP_ROOT/out/app2-$HACMP_NODE\"");
    let text = std::fs::read_to_string(site.dir.join("site.toml"))
        .unwrap()
        .replace("local/app-start\"", "local/app-start2\"");
    std::fs::write(site.dir.join("changed.toml"), text).unwrap();
    let bundle = base.path().join("changed.json");
    let o = hacmp(&[
        "compile",
        site.dir.join("changed.toml").to_str().unwrap(),
        "--output",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_file(site.dir.join("root/usr/sbin/cluster/local/app-start2")).unwrap();
    let o = hacmp(&[
        "deploy",
        bundle.to_str().unwrap(),
        "--etcd",
        &url,
        "--yes",
        "--key",
        &site.key(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("did not complete"), "{err}");
    until_idle(&url, &[1, 2], 30);
    let st = status(&url);
    assert_eq!(st["site"], running, "the cluster stays on its bundle");
    assert!(
        st["bundles"]
            .as_object()
            .unwrap()
            .values()
            .all(|h| *h == running),
        "{st}"
    );
    for d in &ds {
        let e = d
            .events()
            .into_iter()
            .find(|e| e["name"] == "TE_DARE_TOPOLOGY")
            .unwrap();
        assert_eq!(e["outcome"], "failed", "{e}");
        assert!(e.to_string().contains("app-start2"), "the file named: {e}");
        assert!(switch_of(d).is_none());
    }
}

/// A member frozen (SIGSTOP) through a deploy: the others declare it
/// failed and switch without it. When it wakes it finds itself out of the
/// group, is refused with the old bundle, takes the group's from etcd
/// (verified, its commands checked) and joins again, on the new bundle.
#[test]
fn a_member_frozen_through_a_deploy_catches_up_when_it_wakes() {
    let Some(Running {
        base: _base,
        _etcd,
        url,
        site,
        mut ds,
    }) = running(
        "a_member_frozen_through_a_deploy_catches_up_when_it_wakes",
        3,
        false,
    )
    else {
        return;
    };
    let old = status(&url)["site"].clone();
    ds[2].signal(libc::SIGSTOP);
    deploy_new(&site, &url);
    // The deploy, and node 3's node-down, on nodes 1 and 2.
    until("the group on the new bundle", 60, || {
        let st = status(&url);
        st["site"] != old && st["bundles"].as_object().is_some_and(|b| b.len() == 2)
    });
    until_idle(&url, &[1, 2], 60);
    ds[2].signal(libc::SIGCONT);
    until_idle(&url, &[1, 2, 3], 60);
    let st = status(&url);
    let bundles = st["bundles"].as_object().unwrap();
    assert_eq!(bundles.len(), 3, "{st}");
    assert!(
        bundles.values().all(|h| *h == st["site"]),
        "one bundle: {st}"
    );
    assert!(ds[2].running(), "node 3 stopped: {}", ds[2].log());
    let log = ds[2].log();
    assert!(
        log.contains("refused with the old bundle")
            || log.contains("the group runs another bundle"),
        "{log}"
    );
    // Its second node-up: joined again.
    assert_eq!(ds[2].count("TE_JOIN_NODE", 3), 2, "{log}");
}
