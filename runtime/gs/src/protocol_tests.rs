//! Tests of `protocol`.

use super::*;
use crate::store::{Change, KeyValue};

/// A tiny store for pure tests: applies a transaction to a state.
struct Model {
    rev: Revision,
    kvs: std::collections::BTreeMap<String, KeyValue>,
    state: GroupState,
}

impl Model {
    fn new() -> Model {
        Model {
            rev: 0,
            kvs: Default::default(),
            state: GroupState::default(),
        }
    }

    fn run(&mut self, t: &Txn) -> bool {
        let holds = t.when.iter().all(|c| match c {
            Compare::Missing(k) => !self.kvs.contains_key(k),
            Compare::Exists(k) => self.kvs.contains_key(k),
            Compare::Modified(k, r) => self.kvs.get(k).is_some_and(|v| v.modified == *r),
            Compare::Created(k, r) => self.kvs.get(k).is_some_and(|v| v.create == *r),
            Compare::Value(k, b) => self.kvs.get(k).is_some_and(|v| v.value == *b),
        });
        if !holds {
            return false;
        }
        self.rev += 1;
        let mut changes = Vec::new();
        for op in &t.then {
            match op {
                Op::Put { key, value, lease } => {
                    let create = self.kvs.get(key).map_or(self.rev, |v| v.create);
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create,
                        modified: self.rev,
                        lease: lease.unwrap_or(0),
                    };
                    self.kvs.insert(key.clone(), kv.clone());
                    changes.push(Change::Put(kv));
                }
                Op::Delete(k) => {
                    if self.kvs.remove(k).is_some() {
                        changes.push(Change::Delete {
                            key: k.clone(),
                            revision: self.rev,
                        });
                    }
                }
                Op::DeletePrefix(p) => {
                    let ks: Vec<String> = self
                        .kvs
                        .keys()
                        .filter(|k| k.starts_with(p.as_str()))
                        .cloned()
                        .collect();
                    for k in ks {
                        self.kvs.remove(&k);
                        changes.push(Change::Delete {
                            key: k,
                            revision: self.rev,
                        });
                    }
                }
            }
        }
        self.state.apply(self.rev, &changes);
        true
    }

    fn join(&mut self, node: NodeId) -> Incarnation {
        let id = identity();
        let p = crate::process::Process::default();
        assert!(self.run(&join(&self.state.clone(), node, node as i64, &p, &id)));
        let me = Incarnation {
            node,
            inc: self.rev,
            lease: node as i64,
        };
        assert!(self.run(&queue_join(&me)));
        me
    }

    fn kill(&mut self, node: NodeId) {
        let k = keys::alive(node);
        self.kvs.remove(&k);
        self.rev += 1;
        self.state.apply(
            self.rev,
            &[Change::Delete {
                key: k,
                revision: self.rev,
            }],
        );
    }

    /// Runs the coordinator's chores until there are none; the notes.
    fn settle(&mut self, by: &Incarnation) -> Vec<Note> {
        let mut notes = Vec::new();
        loop {
            let now = Instant::now();
            let plan = chores(&self.state, by, &identity(), now, now, None);
            let mut any = false;
            for c in plan.chores {
                if self.run(&c.txn) {
                    notes.push(c.note);
                    any = true;
                }
            }
            if !any {
                return notes;
            }
        }
    }

    /// Every live member of the running event finishes it.
    fn finish_all(&mut self) {
        let c = self.state.current.clone().unwrap().value;
        for (n, inc) in &c.incarnations {
            let me = Incarnation {
                node: *n,
                inc: *inc,
                lease: 0,
            };
            self.run(&done(&me, c.seq));
        }
    }
}

fn identity() -> Identity {
    Identity {
        hash: "h".into(),
        ..Identity::default()
    }
}

fn claimed(notes: &[Note]) -> Vec<(String, NodeId)> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Claimed { event, .. } => {
                Some((event.request.name.clone(), event.request.location))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn one_failure_is_declared_once_however_often_it_is_looked_at() {
    let mut m = Model::new();
    let a = m.join(1);
    m.settle(&a);
    m.finish_all();
    m.settle(&a);
    let b = m.join(2);
    m.settle(&a);
    m.finish_all();
    m.settle(&a);
    assert_eq!(*m.state.members(), BTreeSet::from([1, 2]));
    m.kill(2);
    // Two coordinators look at the same state: one declaration wins.
    let now = Instant::now();
    let p1 = chores(&m.state, &a, &identity(), now, now, None);
    let p2 = chores(&m.state, &b, &identity(), now, now, None);
    let declared = p1
        .chores
        .iter()
        .chain(p2.chores.iter())
        .filter(|c| matches!(c.note, Note::Declared { .. }))
        .filter(|c| m.run(&c.txn))
        .count();
    assert_eq!(declared, 1);
    let notes = m.settle(&a);
    assert_eq!(claimed(&notes), [("TE_FAIL_NODE".to_string(), 2)]);
    let c = m.state.current.clone().unwrap().value;
    assert_eq!(c.membership, [1]);
    m.finish_all();
    m.settle(&a);
    assert!(m.state.idle());
}

#[test]
fn a_rejoin_waits_for_the_node_down_of_its_earlier_incarnation() {
    let mut m = Model::new();
    let a = m.join(1);
    m.settle(&a);
    m.finish_all();
    m.join(2);
    m.settle(&a);
    m.finish_all();
    m.settle(&a);
    m.kill(2);
    m.join(2);
    let notes = m.settle(&a);
    assert_eq!(claimed(&notes), [("TE_FAIL_NODE".to_string(), 2)]);
    let c = m.state.current.clone().unwrap().value;
    assert_eq!(c.membership, [1], "the new incarnation takes no part");
    m.finish_all();
    let notes = m.settle(&a);
    assert_eq!(claimed(&notes), [("TE_JOIN_NODE".to_string(), 2)]);
    let c = m.state.current.clone().unwrap().value;
    assert_eq!(c.membership, [1, 2]);
}

#[test]
fn when_the_whole_group_died_its_running_event_is_interrupted_and_no_node_down_runs() {
    let mut m = Model::new();
    let a = m.join(1);
    m.settle(&a);
    m.finish_all();
    m.join(2);
    m.settle(&a);
    m.finish_all();
    m.settle(&a);
    let q = QueuedEvent::new(EventRequest::user("UE_X", 0, 1, None), 0);
    m.run(&enqueue("u1", &q));
    m.settle(&a);
    let running = m.state.current.clone().unwrap().value;
    assert_eq!(running.event.request.name, "UE_X");
    let q2 = QueuedEvent::new(EventRequest::user("UE_Y", 0, 1, None), 0);
    m.run(&enqueue("u2", &q2));
    m.kill(1);
    m.kill(2);
    let a2 = m.join(1);
    let notes = m.settle(&a2);
    assert!(notes.contains(&Note::Finished {
        seq: running.seq,
        outcome: Outcome::Interrupted
    }));
    let dropped = notes
        .iter()
        .filter(|n| matches!(n, Note::Dropped { event, .. } if event.request.kind == EventKind::NodeFailure))
        .count();
    assert_eq!(dropped, 2);
    assert_eq!(claimed(&notes), [("TE_JOIN_NODE".to_string(), 1)]);
    m.finish_all();
    let notes = m.settle(&a2);
    // The user event queued before the restart is not lost.
    assert_eq!(claimed(&notes), [("UE_Y".to_string(), 1)]);
}

#[test]
fn a_stop_of_a_node_that_then_died_is_dropped_for_its_failure() {
    let mut m = Model::new();
    let a = m.join(1);
    m.settle(&a);
    m.finish_all();
    let b = m.join(2);
    m.settle(&a);
    m.finish_all();
    m.settle(&a);
    let q = QueuedEvent::new(EventRequest::user("UE_X", 0, 1, None), 0);
    m.run(&enqueue("u1", &q));
    m.settle(&a);
    assert!(m.run(&queue_stop(&b, false)));
    m.kill(2);
    m.finish_all();
    let notes = m.settle(&a);
    assert_eq!(claimed(&notes), [("TE_FAIL_NODE".to_string(), 2)]);
    assert!(notes
        .iter()
        .any(|n| matches!(n, Note::Dropped { event, .. } if matches!(event.request.kind, EventKind::NodeStop { .. }))));
}

#[test]
fn writes_of_a_dead_incarnation_change_nothing() {
    let mut m = Model::new();
    let a = m.join(1);
    m.settle(&a);
    let seq = m.state.current.clone().unwrap().value.seq;
    m.kill(1);
    assert!(!m.run(&arrive(&a, seq, SyncPoint::Cbarrier)));
    assert!(!m.run(&done(&a, seq)));
}

/// Ups and downs of one node's network queued behind a running event:
/// only the latest runs, and its claim takes the others off the queue
/// (by priority an up would otherwise run before an earlier down and leave
/// the network taken for down).
#[test]
fn only_the_latest_state_of_a_network_runs() {
    for (order, last) in [
        (&["down", "up"][..], "TE_JOIN_NETWORK"),
        (&["up", "down"][..], "TE_FAIL_NETWORK"),
        (&["down", "up", "down"][..], "TE_FAIL_NETWORK"),
    ] {
        let mut m = Model::new();
        let a = m.join(1);
        m.settle(&a);
        m.finish_all();
        m.join(2);
        // Node 2's join runs while the network changes are queued.
        m.settle(&a);
        for (i, what) in order.iter().enumerate() {
            let kind = if *what == "up" {
                EventKind::NetworkUp { network: 1 }
            } else {
                EventKind::NetworkDown { network: 1 }
            };
            let q = QueuedEvent::new(EventRequest::system(kind, 2), 0);
            assert!(m.run(&enqueue(&format!("net-{i}"), &q)));
        }
        m.finish_all();
        let notes = m.settle(&a);
        assert_eq!(claimed(&notes), [(last.to_string(), 2)], "{order:?}");
        assert!(m.state.queue.is_empty(), "{order:?}: {:?}", m.state.queue);
    }
}
