//! Signed bundles on the simulated cluster: a deploy runs only when a key
//! the nodes trust signed it, unless the site they run is a lab's.

use crate::common;

use std::sync::Arc;

use common::*;
use hacmp_compiler::signing::SigningKey;
use hacmp_compiler::Bundle;
use hacmp_model::Outcome;
use hacmp_sim::cluster::Cluster;

/// The site deployed: the rwho site with a longer settle interval.
fn changed(lab: bool) -> Bundle {
    rwho_bundle(|s| {
        s.cluster.settle = hacmp_stdlib::Duration(std::time::Duration::from_millis(300));
        s.cluster.unsigned_bundles = lab;
    })
}

async fn three(lab: bool) -> Cluster {
    let mut c = sim_cluster(rwho_bundle(|s| s.cluster.unsigned_bundles = lab), vec![]);
    for n in 1..=3 {
        c.start(n).await.unwrap();
    }
    c.wait_idle().await.unwrap();
    c
}

/// The hash every member runs, as the group says.
async fn runs(c: &Cluster) -> Vec<String> {
    let s = c.operator().state().await.unwrap();
    let mut v: Vec<String> = s.alive.values().map(|a| a.record.hash.clone()).collect();
    v.extend(s.identity.map(|i| i.value.hash));
    v.dedup();
    v
}

/// The deploy's TE_DARE_TOPOLOGY: its outcome and what its records say.
fn dare(c: &Cluster) -> (Option<Outcome>, String) {
    let e = events(c.journal())
        .into_iter()
        .rev()
        .find(|e| e.name == "TE_DARE_TOPOLOGY")
        .expect("a TE_DARE_TOPOLOGY event");
    let text = serde_json::to_string(&e.records).unwrap();
    (e.outcome, text)
}

#[tokio::test(start_paused = true)]
async fn a_bundle_nobody_trusted_signed_is_refused_by_every_node() {
    let mut c = three(false).await;
    let before = runs(&c).await;
    assert_eq!(before.len(), 1);

    // Unsigned, as whoever can write the store could stage it.
    let new = changed(false);
    c.deploy_as_is(Arc::new(new.clone())).await.unwrap();
    c.wait_idle().await.unwrap();
    let (outcome, text) = dare(&c);
    assert_eq!(outcome, Some(Outcome::Failed), "{text}");
    assert!(text.contains("is not signed"), "{text}");
    assert_eq!(runs(&c).await, before, "nobody switched");

    // Signed by a key the nodes do not hold.
    let mallory = SigningKey::generate("mallory").unwrap();
    let mut forged = new.clone();
    mallory.sign(&mut forged);
    c.deploy_as_is(Arc::new(forged.clone())).await.unwrap();
    c.wait_idle().await.unwrap();
    let (outcome, text) = dare(&c);
    assert_eq!(outcome, Some(Outcome::Failed), "{text}");
    assert!(
        text.contains("mallory") && text.contains("does not hold"),
        "{text}"
    );
    assert_eq!(runs(&c).await, before);

    // The bundle claims to be a lab's: its own word counts for nothing.
    let mut claims = changed(true);
    mallory.sign(&mut claims);
    c.deploy_as_is(Arc::new(claims)).await.unwrap();
    c.wait_idle().await.unwrap();
    assert_eq!(dare(&c).0, Some(Outcome::Failed));
    assert_eq!(runs(&c).await, before);

    // The operator's deploy, signed with the key the nodes trust.
    c.deploy(Arc::new(new.clone())).await.unwrap();
    c.wait_idle().await.unwrap();
    let (outcome, text) = dare(&c);
    assert_eq!(outcome, Some(Outcome::Completed), "{text}");
    assert_eq!(runs(&c).await, [new.hash]);
}

#[tokio::test(start_paused = true)]
async fn a_lab_runs_unsigned_bundles_until_it_deploys_a_site_that_is_not_one() {
    let mut c = three(true).await;
    // Unsigned, into a lab: taken. The new site is no lab any more.
    let signed_only = changed(false);
    c.deploy_as_is(Arc::new(signed_only.clone())).await.unwrap();
    c.wait_idle().await.unwrap();
    assert_eq!(dare(&c).0, Some(Outcome::Completed), "{}", dare(&c).1);
    assert_eq!(runs(&c).await, std::slice::from_ref(&signed_only.hash));
    // From now on an unsigned bundle is refused.
    let back = rwho_bundle(|s| s.cluster.unsigned_bundles = true);
    c.deploy_as_is(Arc::new(back)).await.unwrap();
    c.wait_idle().await.unwrap();
    let (outcome, text) = dare(&c);
    assert_eq!(outcome, Some(Outcome::Failed), "{text}");
    assert!(text.contains("is not signed"), "{text}");
    assert_eq!(runs(&c).await, [signed_only.hash]);
}
