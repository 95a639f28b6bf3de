//! Operators' group actions on the simulated cluster: `hacmp move` as the
//! group services carry it (checked, queued, run as TE_RG_MOVE).

use crate::common;

use common::*;
use hacmp_gs::GsError;
use hacmp_model::placement::Place;
use hacmp_model::Outcome;

fn ha_web() -> hacmp_sim::cluster::Cluster {
    sim_cluster(
        bundle_of(&repo().join("examples/ha-web/site.toml"), |_| {}),
        vec![],
    )
}

/// The nodes holding any resource of `web`.
fn holders(c: &hacmp_sim::cluster::Cluster) -> Vec<u32> {
    let g = c.bundle().site.resources.group("web").unwrap();
    c.agent().holders(g).into_keys().collect()
}

async fn web(c: &hacmp_sim::cluster::Cluster) -> Place {
    let s = c.operator().state().await.unwrap();
    s.placement.unwrap_or_default().get("web").clone()
}

fn refused(r: Result<hacmp_gs::actions::Moving, GsError>) -> String {
    match r {
        Err(GsError::Refused(why)) => why,
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_group_moves_where_the_operator_says_and_a_move_that_cannot_be_is_refused() {
    let mut c = ha_web();
    for n in 1..=3 {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    assert_eq!(web(&c).await, Place::Online { nodes: vec![1] });
    let op = c.operator();

    let m = op.move_group("web", Some("node3")).await.unwrap();
    assert_eq!((m.from, m.to), (1, Some(3)));
    c.wait_idle().await.unwrap();
    assert_eq!(web(&c).await, Place::Online { nodes: vec![3] });
    assert_eq!(holders(&c), [3]);
    let e = events(c.journal()).pop().unwrap();
    assert_eq!((e.name.as_str(), e.location), ("TE_RG_MOVE", 1));
    assert_eq!(e.outcome, Some(Outcome::Completed));

    // Without a node: where the policy puts it among the others.
    op.move_group("web", None).await.unwrap();
    c.wait_idle().await.unwrap();
    assert_eq!(web(&c).await, Place::Online { nodes: vec![1] });
    assert_eq!(holders(&c), [1]);

    let why = refused(op.move_group("webb", Some("2")).await);
    assert!(why.contains("did you mean `web`?"), "{why}");
    let why = refused(op.move_group("web", Some("1")).await);
    assert!(why.contains("already on node 1"), "{why}");
    let why = refused(op.move_group("web", Some("node9")).await);
    assert!(why.contains("no node `node9`"), "{why}");
    c.crash(2);
    c.wait_idle().await.unwrap();
    let why = refused(op.move_group("web", Some("2")).await);
    assert!(why.contains("node 2 is not up"), "{why}");
    c.crash(3);
    c.wait_idle().await.unwrap();
    let why = refused(op.move_group("web", None).await);
    assert!(why.contains("no other node"), "{why}");
    assert_eq!(holders(&c), [1], "nothing moved");
}

#[tokio::test(start_paused = true)]
async fn a_group_taken_offline_stays_offline_through_failures_and_joins() {
    let mut c = ha_web();
    for n in 1..=3 {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    let op = c.operator();
    assert_eq!(
        op.group_intent("web", true).await.unwrap(),
        1,
        "queued at its holder"
    );
    c.wait_idle().await.unwrap();
    assert_eq!(web(&c).await, Place::Offline);
    assert!(holders(&c).is_empty(), "released");
    match op.group_intent("web", true).await {
        Err(GsError::Refused(why)) => assert!(why.contains("already offline"), "{why}"),
        other => panic!("{other:?}"),
    }
    c.crash(1);
    c.wait_idle().await.unwrap();
    c.start(1).await.unwrap();
    c.wait_idle().await.unwrap();
    assert_eq!(web(&c).await, Place::Offline);
    assert!(holders(&c).is_empty());
    op.group_intent("web", false).await.unwrap();
    c.wait_idle().await.unwrap();
    assert_eq!(web(&c).await, Place::Online { nodes: vec![1] });
    assert_eq!(holders(&c), [1]);
}

/// Until node 1 has published `web` in `state` (within simulated seconds).
async fn published(c: &hacmp_sim::cluster::Cluster, state: hacmp_model::placement::RgState) {
    for _ in 0..100 {
        let st = c.statuses().await.unwrap_or_default();
        if st
            .iter()
            .any(|s| s.node == 1 && s.groups.get("web") == Some(&state))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("node 1 never published `web` {state:?}");
}

/// A start that failed leaves `web` in error on node 1 (policy continue:
/// the event completes); `cleanup` acquires it there again (as the
/// acquire step of any later event there would).
#[tokio::test(start_paused = true)]
async fn a_cleanup_tries_a_group_in_error_again_on_its_node() {
    let bundle = bundle_of(&repo().join("examples/ha-web/site.toml"), |s| {
        s.defaults.on_failure = hacmp_stdlib::FailurePolicy::Continue;
    });
    let mut c = sim_cluster(bundle, vec![]);
    let op = c.operator();
    c.agent().fail(
        1,
        "web/httpd",
        hacmp_node::resources::sim::Failing::Start,
        2,
    );
    // Twice: both acquire steps of the join. One node: any later event
    // would try the group again there anyway.
    c.start(1).await.unwrap();
    c.wait_idle().await.unwrap();
    let state =
        |c: &hacmp_sim::cluster::Cluster| c.groups().get(&1).and_then(|g| g.get("web").copied());
    assert_eq!(state(&c), Some(hacmp_model::placement::RgState::Error));
    // An operator's check reads what the node published (soon after).
    published(&c, hacmp_model::placement::RgState::Error).await;
    let why = match op.cleanup_group("web", Some(2)).await {
        Err(GsError::Refused(why)) => why,
        other => panic!("{other:?}"),
    };
    assert!(why.contains("not in error on node 2"), "{why}");
    assert_eq!(op.cleanup_group("web", None).await.unwrap(), 1);
    c.wait_idle().await.unwrap();
    assert_eq!(state(&c), Some(hacmp_model::placement::RgState::Online));
    assert_eq!(holders(&c), [1]);
    published(&c, hacmp_model::placement::RgState::Online).await;
    let why = match op.cleanup_group("web", None).await {
        Err(GsError::Refused(why)) => why,
        other => panic!("{other:?}"),
    };
    assert!(why.contains("in error on no node"), "{why}");
}

/// In maintenance, `web` is left alone: its monitor does not act on a
/// stopped application, a crash of its node takes it down and nobody
/// starts it. Off, it is managed again: it goes to the next node.
#[tokio::test(start_paused = true)]
async fn a_group_in_maintenance_is_left_alone_until_it_is_off() {
    let mut c = ha_web();
    for n in 1..=3 {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    let op = c.operator();
    assert_eq!(op.maintenance(None, true).await.unwrap(), ["web"]);
    c.wait_idle().await.unwrap();
    match op.maintenance(Some("web"), true).await {
        Err(GsError::Refused(why)) => assert!(why.contains("already in maintenance"), "{why}"),
        other => panic!("{other:?}"),
    }
    c.agent().fail(
        1,
        "web/httpd",
        hacmp_node::resources::sim::Failing::Monitor,
        1,
    );
    // Absence shows only over time: many monitor intervals (5 s).
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    assert_eq!(c.agent().monitor_failures().len(), 1, "no monitor looked");
    let moves = names(c.journal())
        .into_iter()
        .filter(|(n, _)| n == "TE_RG_MOVE")
        .count();
    assert_eq!(moves, 1, "only the maintenance's own event");
    c.crash(1);
    c.wait_idle().await.unwrap();
    assert_eq!(
        web(&c).await,
        Place::Offline,
        "gone with its node; nobody starts it"
    );
    assert!(holders(&c).is_empty());
    op.maintenance(Some("web"), false).await.unwrap();
    c.wait_idle().await.unwrap();
    assert_eq!(web(&c).await, Place::Online { nodes: vec![2] });
    assert_eq!(holders(&c), [2]);
}
