//! End to end, real processes: the rwho example. A stand-in daemon runs; it
//! is killed; node 3's Event Management sees it and raises UE_PGMRWHO_DOWN;
//! rwho.rp runs with the right node sets and environment and restarts the
//! daemon; no second event until the daemon is back and dies again.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hacmp_em::agent::{self, AgentConfig};
use hacmp_model::Outcome;
use hacmp_node::exec::real::RealExecutor;
use hacmp_node::journal::{Journal, RecordKind};
use hacmp_sim::cluster::Cluster;

use hacmp_testkit::copy_tree;

/// Pids of our stand-in daemon (named `rwhod`, started from our tree).
fn daemons(root: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            == Some("Z");
        if comm.trim() == "rwhod"
            && !zombie
            && String::from_utf8_lossy(&cmd).contains(&root.display().to_string())
        {
            out.push(pid);
        }
    }
    out
}

/// Kills the stand-in daemons of a tree however the test ends.
struct KillDaemons(std::path::PathBuf);

impl Drop for KillDaemons {
    fn drop(&mut self) {
        for p in daemons(&self.0) {
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
}

async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ue_events(j: &Journal) -> Vec<hacmp_node::journal::EventEntry> {
    j.events()
        .into_iter()
        .filter(|e| e.name == "UE_PGMRWHO_DOWN")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rwhod_dies_on_node_3_and_the_cluster_restarts_it() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("rwho");
    copy_tree(&repo().join("examples/rwho"), &site);
    // The rule watches the daemon of the user running the test.
    let rules = std::fs::read_to_string(site.join("rules.hacmprd")).unwrap();
    std::fs::write(
        site.join("rules.hacmprd"),
        rules.replace("UserName=root", &format!("UserName={}", user_name())),
    )
    .unwrap();
    let root = std::path::absolute(site.join("root")).unwrap();
    let _cleanup = KillDaemons(root.clone());
    let local = root.join("usr/sbin/cluster/local");
    std::fs::create_dir_all(root.join("out")).unwrap();
    // rwho_msg_local also records the environment it was given.
    let dump = "#!/bin/sh\ntr '\\0' '\\n' < /proc/$$/environ > \"$HACMP_ROOT/out/local.env\"\necho \"$TIMESTAMP $EVNAME detected a failure of rwhod on node $EVLOCATION\"\n";
    hacmp_testkit::write_executable(&local.join("rwho_msg_local"), dump);

    let bundle = bundle_of(&site.join("site.toml"), |_| {});
    let bundle = Arc::new(bundle);
    let mut c = Cluster::new(
        bundle.clone(),
        Arc::new(RealExecutor::new()),
        Journal::in_memory(),
        Some(root.clone()),
        Duration::ZERO,
    );
    for n in 1..=4 {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();

    // Start the application as the cluster would (marker file + daemon).
    let st = std::process::Command::new(local.join("rwho_start"))
        .env("HACMP_ROOT", &root)
        .status()
        .unwrap();
    assert!(st.success());
    until("the daemon", 10, || daemons(&root).len() == 1).await;
    let first = daemons(&root)[0];

    let stop = tokio_util::sync::CancellationToken::new();
    let cfg = AgentConfig {
        node: 3,
        interval: Duration::from_millis(200),
        sample: true,
        feed: None,
        stats: Default::default(),
    };
    let agent = tokio::spawn(agent::run(bundle.clone(), c.operator(), cfg, stop.clone()));
    // Let the monitor see it running, then kill it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(ue_events(c.journal()).is_empty(), "no event while it runs");
    unsafe { libc::kill(first, libc::SIGKILL) };

    until("UE_PGMRWHO_DOWN", 20, || ue_events(c.journal()).len() == 1).await;
    let e = &ue_events(c.journal())[0];
    assert_eq!(e.location, 3);
    assert_eq!(e.membership, [1, 2, 3, 4]);
    assert_eq!(e.outcome, Some(Outcome::Completed));
    for n in [1, 2, 4] {
        let r = find(
            e,
            n,
            RecordKind::CommandEnd,
            "/usr/sbin/cluster/local/rwho_msg_remote",
        );
        assert_eq!(
            (r.len(), r[0].nodeset.as_deref()),
            (1, Some("other")),
            "node {n}"
        );
        assert!(find(
            e,
            n,
            RecordKind::CommandStart,
            "/usr/sbin/cluster/local/rwho_restart"
        )
        .is_empty());
    }
    assert_eq!(
        find(
            e,
            3,
            RecordKind::CommandEnd,
            "/usr/sbin/cluster/local/rwho_msg_local"
        )[0]
        .nodeset
        .as_deref(),
        Some("event")
    );
    assert_eq!(
        find(
            e,
            3,
            RecordKind::CommandEnd,
            "/usr/sbin/cluster/local/rwho_restart"
        )[0]
        .status,
        Some(0)
    );
    for n in 1..=4 {
        assert_eq!(
            find(
                e,
                n,
                RecordKind::CommandEnd,
                "/usr/sbin/cluster/local/rwho_msg_complete"
            )
            .len(),
            1
        );
    }
    let env = std::fs::read_to_string(root.join("out/local.env")).unwrap();
    assert!(
        env.contains("EVNAME=UE_PGMRWHO_DOWN\n") && env.contains("EVLOCATION=3\n"),
        "{env}"
    );
    assert!(env.contains("EVRESVAR=IBM.PSSP.Prog.xpcount\n"), "{env}");
    assert!(
        env.contains(&format!(
            "EVINSTVEC=NodeNum=3;ProgName=rwhod;UserName={}\n",
            user_name()
        )),
        "{env}"
    );
    assert!(env.contains("EVVALUE=0;1;\n"), "{env}");

    // rwho_restart brought it back; it runs for a while with no event.
    until("the restarted daemon", 10, || {
        daemons(&root).iter().any(|p| *p != first)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        ue_events(c.journal()).len(),
        1,
        "no second event while it is back"
    );
    for p in daemons(&root) {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    until("the second UE_PGMRWHO_DOWN", 20, || {
        ue_events(c.journal()).len() == 2
    })
    .await;

    // Tidy up: stop the monitor, then anything the restart started again.
    stop.cancel();
    let _ = agent.await;
    c.wait_idle().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in daemons(&root) {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    let events = ue_events(c.journal()).len();
    c.shutdown().await;
    assert_eq!(events, 2);
}
