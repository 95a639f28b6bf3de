//! Conformance tests of the runtime against the spec's examples, on the
//! in-process cluster with simulated commands (time is simulated too).

use crate::common;

use std::time::Duration;

use common::*;
use hacmp_gs::{Decision, OperatorCommand, SyncPoint};
use hacmp_model::Outcome;
use hacmp_node::exec::sim::Override;
use hacmp_node::journal::RecordKind;

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// 1. The documentation's node_up example: node 3 joins nodes 1, 2, 4.
#[tokio::test(start_paused = true)]
async fn node_up_runs_in_the_documented_order() {
    let mut c = sim_cluster(rwho_bundle(|_| {}), vec![]);
    for n in [1, 2, 4] {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    c.start(3).await.unwrap();
    settle().await;
    c.wait_idle().await.unwrap();
    let evs = events(c.journal());
    assert_eq!(
        names(c.journal()),
        [
            ("TE_JOIN_NODE".into(), 1),
            ("TE_JOIN_NODE".into(), 2),
            ("TE_JOIN_NODE".into(), 4),
            ("TE_JOIN_NODE".into(), 3)
        ]
    );
    let e = &evs[3];
    assert_eq!(e.membership, [1, 2, 3, 4]);
    assert_eq!(e.outcome, Some(Outcome::Completed));
    // Nodes 1, 2, 4 run `node_up` (other) and end it before node 3 starts its own.
    let n3_start = find(e, 3, RecordKind::CommandStart, "node_up");
    assert_eq!(n3_start.len(), 1);
    for n in [1, 2, 4] {
        let end = find(e, n, RecordKind::CommandEnd, "node_up");
        assert_eq!(end.len(), 1, "node {n} runs node_up once");
        assert_eq!(end[0].nodeset.as_deref(), Some("other"));
        assert!(
            end[0].t_ms <= n3_start[0].t_ms,
            "node {n} ended node_up at {} after node 3 started at {}",
            end[0].t_ms,
            n3_start[0].t_ms
        );
    }
    assert_eq!(n3_start[0].nodeset.as_deref(), Some("event"));
    // node_up_complete starts on no node before node 3's node_up ended.
    let n3_end = find(e, 3, RecordKind::CommandEnd, "node_up")[0].t_ms;
    for n in 1..=4 {
        let s = find(e, n, RecordKind::CommandStart, "node_up_complete");
        assert_eq!(s.len(), 1, "node {n} runs node_up_complete");
        assert!(s[0].t_ms >= n3_end);
        assert_eq!(
            kinds(e, n, RecordKind::CbarrierDone).len(),
            1,
            "node {n} reaches the cbarrier"
        );
    }
    // While node 3 ran, the others waited at barrier 2.
    for n in [1, 2, 4] {
        let arrive = kinds(e, n, RecordKind::BarrierArrive)
            .into_iter()
            .find(|r| r.group == Some(2))
            .unwrap();
        assert!(arrive.t_ms <= n3_start[0].t_ms);
    }
    c.shutdown().await;
}

/// 2. The priority example: 1 and 2 up; 3, 4, 5 start together; 3 fails
/// during its own join.
#[tokio::test(start_paused = true)]
async fn joins_outrank_failures() {
    let bundle = rwho_bundle(|s| {
        for n in 5..=5 {
            s.nodes.push(hacmp_compiler::site::Node {
                number: n,
                name: format!("node{n}"),
            });
        }
    });
    // Node 3's own node_up takes long enough to crash it in the middle.
    let o = Override {
        command: "node_up".into(),
        node: Some(3),
        location: Some(3),
        duration: Some(Duration::from_secs(10)),
        ..Override::default()
    };
    let mut c = sim_cluster(bundle, vec![o]);
    c.start(1).await.unwrap();
    c.start(2).await.unwrap();
    c.wait_idle().await.unwrap();
    let mut feed = c.journal().subscribe();
    for n in [3, 4, 5] {
        c.start(n).await.unwrap();
    }
    // Crash node 3 while it runs its node_up in its own join.
    loop {
        let f = feed.recv().await.unwrap();
        if f.record.node == 3
            && f.record.kind == RecordKind::CommandStart
            && f.record.nodeset.as_deref() == Some("event")
        {
            break;
        }
    }
    c.crash(3);
    c.wait_idle().await.unwrap();
    let n = names(c.journal());
    assert_eq!(
        n[2..],
        [
            ("TE_JOIN_NODE".into(), 3),
            ("TE_JOIN_NODE".into(), 4),
            ("TE_JOIN_NODE".into(), 5),
            ("TE_FAIL_NODE".into(), 3)
        ]
    );
    let evs = events(c.journal());
    // The join of 3 completed for the live members; node_down 3 runs on the others.
    assert_eq!(evs[2].membership, [1, 2, 3]);
    assert_eq!(evs[5].membership, [1, 2, 4, 5]);
    assert_eq!(kinds(&evs[2], 1, RecordKind::CbarrierDone).len(), 1);
    c.shutdown().await;
}

/// 3. `node_up` fails on node 2 in the first group: with `wait`, the others
/// wait at barrier 1 and the report says so; each resume choice does what it
/// says; with `abort` the event fails and the queue moves on.
#[tokio::test(start_paused = true)]
async fn wait_policy_stops_at_barrier_1_until_resumed() {
    for decision in [
        Decision::Continue,
        Decision::Rerun,
        Decision::Skip,
        Decision::SkipAndCancel,
    ] {
        let (c, seq) = node_up_fails_on_2_in_group_1(Some(1)).await;
        // Everyone but node 2 waits at barrier 1; node 2 reports its failure.
        let statuses = c.statuses().await.unwrap();
        for n in [1, 3, 4] {
            let s = statuses.iter().find(|s| s.node == n).unwrap();
            assert_eq!(s.at, Some(SyncPoint::Barrier(1)), "node {n}: {s:?}");
        }
        let s2 = statuses.iter().find(|s| s.node == 2).unwrap();
        let f = s2.failure.as_ref().expect("node 2 reports its failure");
        assert_eq!(
            (
                f.command.as_str(),
                f.expected.as_str(),
                f.actual.as_str(),
                f.group
            ),
            ("node_up", "0", "exit 1", 1)
        );
        assert!(!f.output_tail.is_empty());
        // A user event queued meanwhile: cancelled only by skip-and-cancel.
        c.raise(hacmp_model::EventRequest::user(
            "UE_PGMRWHO_DOWN",
            0,
            4,
            None,
        ))
        .await
        .unwrap();
        c.command(OperatorCommand::Resume {
            seq,
            node: Some(2),
            decision,
        })
        .await
        .unwrap();
        c.wait_idle().await.unwrap();
        let evs = events(c.journal());
        let e = evs.iter().find(|e| e.seq == seq).unwrap();
        let expected = match decision {
            Decision::Continue => Outcome::Completed,
            Decision::Rerun => Outcome::Completed,
            Decision::Skip | Decision::SkipAndCancel => Outcome::Skipped,
        };
        assert_eq!(e.outcome, Some(expected), "{decision:?}");
        let decisions: Vec<_> = kinds(e, 2, RecordKind::Decision)
            .iter()
            .map(|r| r.detail.clone().unwrap())
            .collect();
        match decision {
            Decision::Continue => {
                assert_eq!(decisions, ["continue"]);
                assert_eq!(
                    find(e, 2, RecordKind::CommandStart, "node_up").len(),
                    1,
                    "not re-run"
                );
                assert_eq!(
                    kinds(e, 1, RecordKind::CbarrierDone).len(),
                    1,
                    "the rest of the program ran"
                );
            }
            Decision::Rerun => {
                assert_eq!(decisions, ["rerun"]);
                let runs = find(e, 2, RecordKind::CommandEnd, "node_up");
                assert_eq!(
                    runs.iter().map(|r| r.status.unwrap()).collect::<Vec<_>>(),
                    [1, 0]
                );
                assert_eq!(kinds(e, 2, RecordKind::CbarrierDone).len(), 1);
            }
            Decision::Skip | Decision::SkipAndCancel => {
                // Nothing after barrier 1 ran anywhere.
                for n in [1, 2, 3, 4] {
                    assert!(find(e, n, RecordKind::CommandStart, "node_down_complete").is_empty());
                    assert!(kinds(e, n, RecordKind::CbarrierDone).is_empty(), "node {n}");
                }
            }
        }
        let ran_user_event = evs.iter().any(|e| e.name == "UE_PGMRWHO_DOWN");
        assert_eq!(
            ran_user_event,
            decision != Decision::SkipAndCancel,
            "{decision:?}"
        );
        c.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn abort_policy_fails_the_event_and_the_queue_moves_on() {
    let bundle = rwho_bundle(|s| s.defaults.on_failure = hacmp_stdlib::FailurePolicy::Abort);
    let o = Override {
        command: "node_up".into(),
        node: Some(2),
        location: Some(3),
        status: Some(1),
        ..Override::default()
    };
    let mut c = sim_cluster(bundle, vec![o]);
    for n in [1, 2, 4] {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    c.start(3).await.unwrap();
    c.raise(hacmp_model::EventRequest::user(
        "UE_PGMRWHO_DOWN",
        0,
        4,
        None,
    ))
    .await
    .unwrap();
    c.wait_idle().await.unwrap();
    let evs = events(c.journal());
    let e = evs
        .iter()
        .find(|e| e.name == "TE_JOIN_NODE" && e.location == 3)
        .unwrap();
    let seq = e.seq;
    assert_eq!(e.outcome, Some(Outcome::Failed));
    for n in [1, 2, 3, 4] {
        assert!(
            kinds(e, n, RecordKind::CbarrierDone).is_empty(),
            "node {n} stopped at barrier 1"
        );
    }
    assert!(evs.iter().any(|x| x.name == "UE_PGMRWHO_DOWN"
        && x.seq > seq
        && x.outcome == Some(Outcome::Completed)));
    c.shutdown().await;
}

/// The spec's example: node 3 joins nodes 1, 2, 4, and `node_up` fails on
/// node 2 in the first group (node 2 runs it as one of the `other` nodes).
/// Returns when node 2 reported the failure and 1, 3, 4 wait at barrier 1.
async fn node_up_fails_on_2_in_group_1(times: Option<u32>) -> (hacmp_sim::cluster::Cluster, u64) {
    let bundle = rwho_bundle(|_| {});
    let o = Override {
        command: "node_up".into(),
        node: Some(2),
        location: Some(3),
        status: Some(1),
        times,
        ..Override::default()
    };
    let mut c = sim_cluster(bundle, vec![o]);
    for n in [1, 2, 4] {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    c.start(3).await.unwrap();
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let st = c.statuses().await.unwrap();
        let failed = st.iter().any(|s| s.node == 2 && s.failure.is_some());
        let waiting = st
            .iter()
            .filter(|s| s.at == Some(SyncPoint::Barrier(1)))
            .count();
        if failed && waiting == 3 {
            break;
        }
    }
    let seq = c.current().unwrap().0.seq;
    (c, seq)
}

/// 4. A member crashes while the others wait at a barrier: the barrier
/// completes for the live members, nothing hangs, its node_down runs next.
#[tokio::test(start_paused = true)]
async fn a_crash_releases_the_barrier_and_queues_node_down() {
    // Node 3 is slow in group 1 of rwho.rp; the others wait at barrier 1.
    let o = Override {
        command: "/usr/sbin/cluster/local/rwho_msg_remote".into(),
        node: Some(3),
        duration: Some(Duration::from_secs(100)),
        ..Override::default()
    };
    let mut c = sim_cluster(rwho_bundle(|_| {}), vec![o]);
    for n in 1..=4 {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    c.raise(hacmp_model::EventRequest::user(
        "UE_PGMRWHO_DOWN",
        0,
        2,
        None,
    ))
    .await
    .unwrap();
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let st = c.statuses().await.unwrap();
        if st
            .iter()
            .filter(|s| s.at == Some(SyncPoint::Barrier(1)))
            .count()
            == 3
        {
            break;
        }
    }
    let before = tokio::time::Instant::now();
    c.crash(3);
    c.wait_idle().await.unwrap();
    assert!(
        before.elapsed() < Duration::from_secs(10),
        "released at once, not after node 3's command"
    );
    let evs = events(c.journal());
    let n = names(c.journal());
    assert_eq!(
        n[4..],
        [("UE_PGMRWHO_DOWN".into(), 2), ("TE_FAIL_NODE".into(), 3)]
    );
    let ue = &evs[4];
    assert_eq!(ue.outcome, Some(Outcome::Completed));
    for node in [1, 2, 4] {
        assert_eq!(
            kinds(ue, node, RecordKind::CbarrierDone).len(),
            1,
            "node {node}"
        );
    }
    assert_eq!(evs[5].membership, [1, 2, 4]);
    c.shutdown().await;
}

/// An etcd leader change as the simulated store has it: unreachable for a
/// while, then every lease renewed. Shorter than the time to live less a
/// renewal interval, it fences nobody, at whatever point of the renewals
/// it begins (a failed renewal is tried again soon, not a third of the
/// time to live later).
#[tokio::test(start_paused = true)]
async fn a_store_outage_shorter_than_the_ttl_fences_nobody() {
    let mut c = sim_cluster(rwho_bundle(|_| {}), vec![]);
    c.set_ttl(Duration::from_secs(2));
    for n in [1, 2] {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    for _ in 0..8 {
        // Each outage begins at another point of the renewals (every
        // 667 ms).
        tokio::time::sleep(Duration::from_millis(290)).await;
        c.store().outage(Duration::from_millis(1000));
        tokio::time::sleep(Duration::from_secs(2)).await;
        c.wait_idle().await.unwrap();
    }
    assert_eq!(
        names(c.journal()),
        [("TE_JOIN_NODE".into(), 1), ("TE_JOIN_NODE".into(), 2)],
        "no node-down, no rejoin"
    );
    assert_eq!(c.members(), [1, 2]);
    c.shutdown().await;
}

/// 5. Graceful stop: the leaving node takes part and runs the `event` lines
/// of node_down.rp; the others run the `other` lines after it.
#[tokio::test(start_paused = true)]
async fn graceful_stop_runs_the_leaving_nodes_part() {
    let mut c = sim_cluster(rwho_bundle(|_| {}), vec![]);
    for n in 1..=4 {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    c.stop(2, false).await;
    c.wait_idle().await.unwrap();
    let evs = events(c.journal());
    let e = evs.last().unwrap();
    assert_eq!((e.name.as_str(), e.location), ("TE_FAIL_NODE", 2));
    assert_eq!(e.membership, [1, 2, 3, 4], "the leaving node takes part");
    let leaving = find(e, 2, RecordKind::CommandEnd, "node_down");
    assert_eq!(leaving.len(), 1);
    assert_eq!(leaving[0].nodeset.as_deref(), Some("event"));
    for n in [1, 3, 4] {
        let s = find(e, n, RecordKind::CommandStart, "node_down");
        assert_eq!(s[0].nodeset.as_deref(), Some("other"));
        assert!(
            s[0].t_ms >= leaving[0].t_ms,
            "the others take over after node 2 released"
        );
    }
    assert_eq!(c.members(), [1, 3, 4]);
    assert_eq!(c.running(), [1, 3, 4]);
    c.shutdown().await;
}

/// The priority of topology events: queued together behind a running
/// event, they run swap adapter and standby events first, then network up,
/// then network down, then user events (join > failure > swap adapter >
/// network up > network down > user; joins and failures above).
#[tokio::test(start_paused = true)]
async fn topology_events_run_in_priority_order() {
    use hacmp_model::event::{EventKind, EventRequest};
    let o = Override {
        command: "node_up".into(),
        node: Some(4),
        location: Some(4),
        duration: Some(Duration::from_secs(10)),
        ..Override::default()
    };
    let mut c = sim_cluster(rwho_bundle(|_| {}), vec![o]);
    for n in [1, 2, 3] {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    let mut feed = c.journal().subscribe();
    c.start(4).await.unwrap();
    loop {
        let f = feed.recv().await.unwrap();
        if f.record.node == 4 && f.record.kind == RecordKind::CommandStart {
            break;
        }
    }
    let net = |kind, node| EventRequest::system(kind, node);
    for r in [
        EventRequest::user("UE_PGMRWHO_DOWN", 0, 1, None),
        net(EventKind::NetworkDown { network: 1 }, 3),
        net(EventKind::NetworkUp { network: 1 }, 2),
        net(EventKind::AdapterSwap { network: 1 }, 1),
        net(EventKind::StandbyJoin { network: 1 }, 2),
    ] {
        c.raise(r).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    assert_eq!(
        names(c.journal())[3..],
        [
            ("TE_JOIN_NODE".into(), 4),
            ("TE_SWAP_ADAPTER".into(), 1),
            ("TE_JOIN_STANDBY".into(), 2),
            ("TE_JOIN_NETWORK".into(), 2),
            ("TE_FAIL_NETWORK".into(), 3),
            ("UE_PGMRWHO_DOWN".into(), 1),
        ]
    );
    c.shutdown().await;
}

/// How many commands node `n`'s published status shows running.
async fn running_on(c: &hacmp_sim::cluster::Cluster, n: u32) -> Option<usize> {
    c.statuses()
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|s| s.node == n)
        .map(|s| s.running.len())
}

/// A node that fences itself in the middle of a command no longer shows
/// it as running: what it publishes after is true (its status listed the
/// command for as long as the daemon ran).
#[tokio::test(start_paused = true)]
async fn a_node_that_fences_mid_command_shows_nothing_running() {
    let long = Override {
        command: "node_up".into(),
        node: Some(2),
        location: Some(2),
        duration: Some(Duration::from_secs(600)),
        times: Some(1),
        ..Override::default()
    };
    let mut c = sim_cluster(rwho_bundle(|_| {}), vec![long]);
    c.start(1).await.unwrap();
    c.wait_idle().await.unwrap();
    c.start(2).await.unwrap();
    let mut shown = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        shown = running_on(&c, 2).await;
        if shown == Some(1) {
            break;
        }
    }
    assert_eq!(shown, Some(1), "node 2 shows its long node_up running");
    c.expire(2);
    let mut after = shown;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = running_on(&c, 2).await;
        if after == Some(0) {
            break;
        }
    }
    assert_eq!(
        after,
        Some(0),
        "node 2 still shows a command it no longer runs"
    );
    c.shutdown().await;
}
