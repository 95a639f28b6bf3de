//! The payload's invariants, checked at the end of every event from the
//! store's changes and the in-memory agent's table (what the nodes really
//! hold): no group held by two nodes; nothing held by a node its placement
//! does not name, unless that node's step failed (a release that failed
//! leaves the resource up, and the event waits for an operator); every
//! node the placement names that finished the event without a failure
//! holds the group (some of it: a monitored application may be between a
//! failure and its restart).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hacmp_compiler::resources::{Policy, ResourceKind, Resources};

use hacmp_gs::state::Ended;
use hacmp_gs::store::{Change, Revision};
use hacmp_model::event::{NodeId, Outcome};
use hacmp_model::ClaimedEvent;
use hacmp_node::resources::sim::SimAgent;

pub struct Held {
    agent: Arc<SimAgent>,
    /// The groups (their names and resources are the same in every site
    /// the simulation deploys).
    groups: Resources,
    claims: BTreeMap<u64, ClaimedEvent>,
    /// (event, node) that reported a failure, or finished the event.
    failed: BTreeSet<(u64, NodeId)>,
    done: BTreeSet<(u64, NodeId)>,
    alive: BTreeMap<NodeId, Revision>,
    pub violations: Vec<String>,
}

impl Held {
    pub fn new(agent: Arc<SimAgent>, groups: Resources) -> Held {
        Held {
            agent,
            groups,
            claims: BTreeMap::new(),
            failed: BTreeSet::new(),
            done: BTreeSet::new(),
            alive: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    pub fn commit(&mut self, rev: Revision, changes: &[Change]) {
        let mut ended = None;
        for c in changes {
            match c {
                Change::Put(kv) => {
                    let parts: Vec<&str> = kv.key.split('/').collect();
                    match parts.as_slice() {
                        ["s", "current"] => {
                            if let Ok(c) = serde_json::from_slice::<ClaimedEvent>(&kv.value) {
                                self.claims.insert(c.seq, c);
                            }
                        }
                        ["s", "alive", n] => {
                            if let Ok(n) = n.parse() {
                                self.alive.insert(n, kv.create);
                            }
                        }
                        ["s", "ev", seq, what @ ("failed" | "done"), n] => {
                            if let (Ok(seq), Ok(n)) = (seq.parse(), n.parse()) {
                                let set = if *what == "failed" {
                                    &mut self.failed
                                } else {
                                    &mut self.done
                                };
                                set.insert((seq, n));
                            }
                        }
                        ["s", "ev", seq, "ended"] => {
                            if let (Ok(seq), Ok(e)) = (
                                seq.parse::<u64>(),
                                serde_json::from_slice::<Ended>(&kv.value),
                            ) {
                                ended = Some((seq, e));
                            }
                        }
                        _ => {}
                    }
                }
                Change::Delete { key, .. } => {
                    if let Some(n) = key.strip_prefix("s/alive/").and_then(|n| n.parse().ok()) {
                        self.alive.remove(&n);
                    }
                }
            }
        }
        if let Some((seq, e)) = ended {
            self.check(rev, seq, &e);
        }
    }

    fn check(&mut self, rev: Revision, seq: u64, e: &Ended) {
        let Some(c) = self.claims.get(&seq) else {
            return;
        };
        let Some(p) = c.placement.as_ref().map(|p| &p.after) else {
            return;
        };
        let live = |n: &NodeId| {
            c.incarnations
                .iter()
                .any(|(m, inc)| m == n && self.alive.get(n) == Some(inc))
        };
        let mut found = Vec::new();
        for g in &self.groups.groups {
            let holders = self.agent.holders(g);
            if g.policy != Policy::Concurrent && holders.len() > 1 {
                found.push(format!(
                    "group {} is held by nodes {:?} after event #{seq}",
                    g.name,
                    holders.keys().collect::<Vec<_>>()
                ));
            }
            let placed = p.get(&g.name);
            for n in holders.keys() {
                if !placed.holds(*n) && !self.failed.contains(&(seq, *n)) {
                    found.push(format!(
                        "node {n} holds group {} after event #{seq}, which places it {placed:?}, with no failure",
                        g.name
                    ));
                }
            }
            if e.outcome != Outcome::Completed {
                continue;
            }
            let has_address = g
                .resources
                .iter()
                .any(|r| matches!(r.kind, ResourceKind::ServiceIp { .. }));
            let placed_on = match placed {
                hacmp_model::placement::Place::Online { nodes } => nodes.as_slice(),
                _ => &[],
            };
            for &n in placed_on {
                let finished = self.done.contains(&(seq, n)) && live(&n);
                if finished
                    && !self.failed.contains(&(seq, n))
                    && has_address
                    && !holders.contains_key(&n)
                {
                    found.push(format!(
                        "node {n} finished event #{seq} without a failure, and does not hold group {} that it places there",
                        g.name
                    ));
                }
            }
        }
        for f in found {
            self.violations
                .push(format!("at revision {rev}: resources: {f}"));
        }
    }
}
