//! The group protocol under faults: seeded schedules of crashes, restarts,
//! lease lapses, partitions, store stalls and outages, graceful stops,
//! failing commands and operator decisions, played deterministically in
//! simulated time against real managers; every invariant is checked after
//! every change (see `hacmp_sim::faultsim`). `HACMP_FAULT_SEEDS` sets
//! how many seeds the sweep runs (default 2000); `hacmp faults --seed N`
//! replays one.

use hacmp_sim::faultsim::{self, Schedule};

fn seeds() -> u64 {
    std::env::var("HACMP_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

fn check(seed: u64) {
    let r = faultsim::run(&Schedule::generate(seed));
    assert!(
        r.violations.is_empty(),
        "seed {seed} broke the protocol:\n{}\nminimised schedule:\n{}\nreplay: hacmp faults --seed {seed}",
        r.violations.join("\n"),
        faultsim::minimize(&Schedule::generate(seed)).describe()
    );
}

#[test]
fn thousands_of_seeded_fault_schedules_keep_every_invariant() {
    let n = seeds();
    let jobs = std::thread::available_parallelism().map_or(1, |j| j.get()) as u64;
    std::thread::scope(|s| {
        for j in 0..jobs {
            s.spawn(move || {
                let mut seed = 1 + j;
                while seed <= n {
                    check(seed);
                    seed += jobs;
                }
            });
        }
    });
}

/// Seeds whose schedules found mistakes, kept as they were found.
#[test]
fn seeds_that_found_mistakes_stay_fixed() {
    for seed in [
        // A claim planned before a stall landed after every lease lapsed:
        // the event counted members that were gone.
        4979,
        // A node asked to stop while its new incarnation waited to join
        // behind the node-down of its earlier one: the stop was dropped and
        // the node never left.
        91, 675, 4986, // A stop before the join ran withdraws the join (not a drop).
        4998,
        // Every node left gracefully, then a user event was raised: it
        // runs when a node is back.
        4282,
        // A deploy while nodes crashed: a crashed manager's status
        // publisher kept it, and its lease, alive, so its node-down never
        // came and the joiners on the new bundle waited for it forever.
        3103,
        // The whole group went down mid-deploy and came back as nodes on
        // the old and the new bundle: the old one must catch up, not
        // publish the old identity.
        26573, 13500,
        // A node's network went down and up while a node-down ran: by
        // priority the up ran first, then the down, and the network stayed
        // down for the cluster. Only the latest state runs now.
        2,
        // A node that fenced itself could not stop its application (the
        // stop command failed): the survivors started it too. Its start
        // command's process group is killed now.
        1943,
        // A node that left while its group was in maintenance kept its
        // address up; the group came up elsewhere when maintenance ended.
        // A leaving node takes its maintenance groups down now.
        8243, 28113,
        // An operator stopped a node while it joined again after a stall
        // (fenced): its join won the race with the stop. A join now
        // requires that no operator's stop stands.
        5, 16, 21,
    ] {
        check(seed);
    }
}

/// Resource failures are part of the schedules (failed starts, failed
/// application stops, monitors that fail), and every resource step that
/// failed is an unexpected status of its event (the sweep checks it).
#[test]
fn resource_failures_are_driven_and_every_one_is_an_unexpected_status() {
    use hacmp_sim::faultsim::Fault;
    let mut scheduled = 0;
    let mut failed = 0;
    for seed in 1..=100 {
        let s = Schedule::generate(seed);
        scheduled += s
            .steps
            .iter()
            .filter(|x| matches!(x.fault, Fault::Resource { .. }))
            .count();
        let r = faultsim::run(&s);
        assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations);
        failed += r.resource_failures;
    }
    assert!(scheduled > 50, "{scheduled} resource faults in 100 seeds");
    assert!(failed > 5, "{failed} failed resource steps in 100 seeds");
}

/// Operators stop nodes in each mode from another node and start them
/// again; the sweep checks that no stopped node joins before its start.
#[test]
fn operators_stop_nodes_in_every_mode() {
    use hacmp_gs::control::StopMode;
    use hacmp_sim::faultsim::Fault;
    let mut modes = std::collections::BTreeSet::new();
    let mut starts = 0;
    for seed in 1..=60 {
        let s = Schedule::generate(seed);
        for x in &s.steps {
            match x.fault {
                Fault::Node {
                    stop: Some(mode), ..
                } => {
                    modes.insert(mode.as_str());
                }
                Fault::Node { stop: None, .. } => starts += 1,
                _ => {}
            }
        }
        let r = faultsim::run(&s);
        assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations);
    }
    let all: std::collections::BTreeSet<&str> =
        [StopMode::Graceful, StopMode::Takeover, StopMode::Forced]
            .iter()
            .map(|m| m.as_str())
            .collect();
    assert_eq!(modes, all);
    assert!(starts > 10, "{starts} starts in 60 seeds");
}

#[test]
fn a_seed_replays_exactly() {
    // 3103 deploys twice.
    for seed in [7, 4979, 3103] {
        let a = faultsim::run(&Schedule::generate(seed));
        let b = faultsim::run(&Schedule::generate(seed));
        assert_eq!(a.trace, b.trace, "seed {seed}");
        assert_eq!(a.digest, b.digest);
        assert!(a.events > 5, "seed {seed} ran {} events", a.events);
    }
}

#[test]
fn a_failing_schedule_is_minimised_to_what_makes_it_fail() {
    use hacmp_sim::faultsim::Fault;
    // A stand-in for a broken invariant: it "fails" while the schedule
    // crashes node 2 and later raises an event.
    let fails = |s: &Schedule| {
        let crash = s
            .steps
            .iter()
            .position(|x| matches!(x.fault, Fault::Crash { node: 2, .. }));
        let raise = s
            .steps
            .iter()
            .rposition(|x| matches!(x.fault, Fault::Raise { .. }));
        matches!((crash, raise), (Some(c), Some(r)) if c < r)
    };
    let seed = (1..500)
        .find(|s| {
            let s = Schedule::generate(*s);
            fails(&s) && s.steps.len() > 6 && !s.failing.is_empty()
        })
        .unwrap();
    let m = faultsim::minimize_by(&Schedule::generate(seed), fails);
    assert_eq!(m.steps.len(), 2, "{}", m.describe());
    assert!(m.failing.is_empty());
    assert!(fails(&m));
}
