//! Real processes: parallel groups, the exact environment, timeouts that
//! kill the whole process group, tagged output, and the event-script model.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hacmp_model::{EventRequest, Outcome};
use hacmp_node::exec::real::RealExecutor;
use hacmp_node::journal::{Journal, RecordKind};
use hacmp_sim::cluster::Cluster;

/// A staged site in a temporary directory: a one-rule rules file plus the
/// standard system events, programs and scripts written by the test.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(site_extra: &str, rp: &str, scripts: &[(&str, &str)]) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut rules = hacmp_stdlib::RULES.to_string();
        rules.push_str("UE_TEST\n0\n/usr/sbin/cluster/local/test.rp\n2\n0\n\n\n\n\n");
        write(d, "rules.hacmprd", &rules, 0o644);
        write(
            d,
            "site.toml",
            &format!(
                "[cluster]\nid = 7\nname = \"t\"\nsettle = \"0ms\"\n[[node]]\nnumber = 1\n[[node]]\nnumber = 2\n[paths]\nroot = \"root\"\nrules = \"rules.hacmprd\"\n{site_extra}"
            ),
            0o644,
        );
        for (file, text) in hacmp_stdlib::PROGRAMS {
            write(
                d,
                &format!("root/usr/sbin/cluster/events/{file}"),
                text,
                0o644,
            );
        }
        for def in hacmp_stdlib::event_scripts().0.values() {
            write(
                d,
                &format!("root{}", def.path),
                "#!/bin/sh\nexit 0\n",
                0o755,
            );
        }
        write(d, "root/usr/sbin/cluster/local/test.rp", rp, 0o644);
        for (name, body) in scripts {
            write(
                d,
                &format!("root/usr/sbin/cluster/local/{name}"),
                &format!("#!/bin/sh\n{body}\n"),
                0o755,
            );
        }
        std::fs::create_dir_all(d.join("root/out")).unwrap();
        Site { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn out(&self, name: &str) -> String {
        std::fs::read_to_string(self.root().join("out").join(name)).unwrap_or_default()
    }

    /// A one-node (or two-node) cluster on this site, with real commands.
    async fn cluster(&self, nodes: &[u32]) -> Cluster {
        let bundle = bundle_of(&self.dir.path().join("site.toml"), |_| {});
        let mut c = Cluster::new(
            Arc::new(bundle),
            Arc::new(RealExecutor::new()),
            Journal::in_memory(),
            Some(self.root()),
            Duration::ZERO,
        );
        for n in nodes {
            c.start(*n).await.unwrap();
        }
        c.wait_idle().await.unwrap();
        c
    }
}

fn write(dir: &Path, rel: &str, text: &str, mode: u32) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn run_test_event(c: &Cluster, location: u32) -> hacmp_node::journal::EventEntry {
    c.raise(EventRequest::user("UE_TEST", 0, location, None))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.wait_idle().await.unwrap();
    c.journal()
        .events()
        .into_iter()
        .rev()
        .find(|e| e.name == "UE_TEST")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_of_one_group_run_in_parallel() {
    let site = Site::new(
        "",
        "all \"/usr/sbin/cluster/local/slow a\" 0 NULL\nall \"/usr/sbin/cluster/local/slow b\" 0 NULL\n",
        &[("slow", "sleep 0.4")],
    );
    let c = site.cluster(&[1]).await;
    let e = run_test_event(&c, 1).await;
    assert_eq!(e.outcome, Some(Outcome::Completed));
    let (a_start, a_end) = (
        find(
            &e,
            1,
            RecordKind::CommandStart,
            "/usr/sbin/cluster/local/slow a",
        )[0]
        .t_ms,
        find(
            &e,
            1,
            RecordKind::CommandEnd,
            "/usr/sbin/cluster/local/slow a",
        )[0]
        .t_ms,
    );
    let (b_start, b_end) = (
        find(
            &e,
            1,
            RecordKind::CommandStart,
            "/usr/sbin/cluster/local/slow b",
        )[0]
        .t_ms,
        find(
            &e,
            1,
            RecordKind::CommandEnd,
            "/usr/sbin/cluster/local/slow b",
        )[0]
        .t_ms,
    );
    assert!(
        a_start < b_end && b_start < a_end,
        "a {a_start}..{a_end}, b {b_start}..{b_end} do not overlap"
    );
    assert!(a_end - a_start >= 400 && b_end - b_start >= 400);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sees_exactly_the_environment_of_the_spec() {
    let site = Site::new(
        "[defaults]\nverbose_logging = \"high\"\n",
        "all \"/usr/sbin/cluster/local/envdump\" 0 NULL\n",
        &[(
            "envdump",
            "tr '\\0' '\\n' < /proc/$$/environ > \"$HACMP_ROOT/out/env.$HACMP_NODE\"",
        )],
    );
    let c = site.cluster(&[1, 2]).await;
    let e = run_test_event(&c, 2).await;
    assert_eq!(e.outcome, Some(Outcome::Completed));
    for node in [1u32, 2] {
        let text = site.out(&format!("env.{node}"));
        let mut env: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.sort();
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "EVLOCATION",
                "EVNAME",
                "EVQUALIFIER",
                "HACMP_COMMAND",
                "HACMP_MEMBERSHIP",
                "HACMP_NODE",
                "HACMP_NODESET",
                "HACMP_ROOT",
                "PATH",
                "TIMESTAMP",
                "VERBOSE_LOGGING"
            ],
            "node {node}"
        );
        let get = |k: &str| {
            env.iter()
                .find(|(x, _)| x == k)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        assert_eq!(get("EVNAME"), "UE_TEST");
        assert_eq!(get("EVQUALIFIER"), "0");
        assert_eq!(get("EVLOCATION"), "2");
        assert_eq!(get("HACMP_NODE"), node.to_string());
        assert_eq!(get("HACMP_NODESET"), "all");
        assert_eq!(get("HACMP_MEMBERSHIP"), "1 2");
        assert_eq!(get("VERBOSE_LOGGING"), "high");
        assert_eq!(get("HACMP_ROOT"), site.root().display().to_string());
        assert!(
            humantime::parse_rfc3339(get("TIMESTAMP")).is_ok(),
            "{}",
            get("TIMESTAMP")
        );
    }
    c.shutdown().await;
}

fn alive(pid: i32) -> bool {
    // A zombie is dead: only its parent (init, here) still has to reap it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_the_command_and_its_grandchild() {
    let site = Site::new(
        "[defaults]\ntimeout = \"500ms\"\nkill_grace = \"300ms\"\non_failure = \"abort\"\n",
        "all \"/usr/sbin/cluster/local/hang\" 0 NULL\n",
        &[("hang", "trap '' TERM\nsleep 1000 &\necho $! > \"$HACMP_ROOT/out/grandchild\"\necho started\nwhile :; do sleep 1; done")],
    );
    let c = site.cluster(&[1]).await;
    let started = std::time::Instant::now();
    let e = run_test_event(&c, 1).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(e.outcome, Some(Outcome::Failed));
    let end = find(
        &e,
        1,
        RecordKind::CommandEnd,
        "/usr/sbin/cluster/local/hang",
    )[0];
    assert_eq!(end.detail.as_deref(), Some("timed out"));
    let grandchild: i32 = site.out("grandchild").trim().parse().unwrap();
    assert!(!alive(grandchild), "grandchild {grandchild} survived");
    c.shutdown().await;
}

/// Captures tracing output for one test.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: the capturing subscriber is set for this thread only.
#[tokio::test]
async fn output_lines_reach_the_log_with_their_tags() {
    let cap = Capture::default();
    let w = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || w.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let site = Site::new(
        "",
        "all \"/usr/sbin/cluster/local/talk hello\" 0 NULL\n",
        &[("talk", "echo \"out: $1\"\necho 'err: oops' >&2")],
    );
    let c = site.cluster(&[1]).await;
    run_test_event(&c, 1).await;
    c.shutdown().await;
    let log = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let out = lines
        .iter()
        .find(|l| l["fields"]["message"] == "out: hello")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(out["fields"]["node"], 1);
    assert_eq!(out["fields"]["event"], "UE_TEST");
    assert_eq!(
        out["fields"]["command"],
        "/usr/sbin/cluster/local/talk hello"
    );
    assert_eq!(out["fields"]["stream"], "stdout");
    let err = lines
        .iter()
        .find(|l| l["fields"]["message"] == "err: oops")
        .unwrap();
    assert_eq!(err["fields"]["stream"], "stderr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_script_model_runs_notify_pre_recovery_retry_post_in_order() {
    let log = "echo \"$1 ${HACMP_SCRIPT_PHASE:-main} ${HACMP_SCRIPT_RESULT:-}\" >> \"$HACMP_ROOT/out/order\"";
    let site = Site::new(
        "[event_scripts.flaky]\npath = \"/usr/sbin/cluster/local/flaky\"\nnotify = \"/usr/sbin/cluster/local/log notify\"\npre = \"/usr/sbin/cluster/local/log pre\"\npost = \"/usr/sbin/cluster/local/log post\"\nrecovery = \"/usr/sbin/cluster/local/log recovery\"\nretry = 2\n",
        "all \"flaky\" 0 NULL\n",
        &[
            ("log", log),
            // Fails twice, then succeeds.
            ("flaky", "n=$(cat \"$HACMP_ROOT/out/tries\" 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > \"$HACMP_ROOT/out/tries\"\necho \"main try$n\" >> \"$HACMP_ROOT/out/order\"\n[ $n -ge 3 ]"),
        ],
    );
    let c = site.cluster(&[1]).await;
    let e = run_test_event(&c, 1).await;
    assert_eq!(e.outcome, Some(Outcome::Completed));
    assert_eq!(
        site.out("order").lines().collect::<Vec<_>>(),
        [
            "notify start ",
            "pre pre ",
            "main try1",
            "recovery recovery ",
            "main try2",
            "recovery recovery ",
            "main try3",
            "post post ",
            "notify end success",
        ]
    );
    let roles: Vec<&str> = e
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::CommandStart)
        .map(|r| r.role.as_deref().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["notify", "pre", "main", "recovery", "main", "recovery", "main", "post", "notify"]
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_with_takeover_says_so_in_the_environment() {
    let site = Site::new(
        "",
        "all \"/usr/sbin/cluster/local/a\" 0 NULL\n",
        &[("a", "exit 0")],
    );
    // node_down on every node records its stop mode.
    let dump = "echo \"$HACMP_NODE $HACMP_NODESET $HACMP_STOP\" >> \"$HACMP_ROOT/out/stop\"";
    write(
        site.dir.path(),
        "root/usr/sbin/cluster/events/node_down",
        &format!("#!/bin/sh\n{dump}\n"),
        0o755,
    );
    let mut c = site.cluster(&[1, 2]).await;
    c.stop(2, true).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.wait_idle().await.unwrap();
    let mut lines: Vec<String> = site.out("stop").lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["1 other takeover", "2 event takeover"]);
    c.shutdown().await;
}
