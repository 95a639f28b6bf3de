//! Tests of `state`.

use super::*;
use hacmp_model::event::{EventKind, EventRequest};

fn kv(key: &str, value: impl Serialize, create: Revision, lease: LeaseId) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: serde_json::to_vec(&value).unwrap(),
        create,
        modified: create,
        lease,
    }
}

fn alive(n: NodeId, inc: Revision) -> Change {
    Change::Put(kv(
        &format!("s/alive/{n}"),
        AliveRecord {
            hash: "h".into(),
            process: Default::default(),
        },
        inc,
        inc,
    ))
}

fn current(seq: u64, members: &[(NodeId, Revision)]) -> Change {
    let ev = ClaimedEvent {
        seq,
        event: QueuedEvent::new(EventRequest::user("UE", 0, 1, None), 0),
        membership: members.iter().map(|m| m.0).collect(),
        incarnations: members.iter().copied().collect(),
        why: String::new(),
        placement: None,
        membership_env: Default::default(),
    };
    Change::Put(kv("s/current", ev, 100, 0))
}

fn put(key: &str) -> Change {
    Change::Put(kv(key, 1, 200, 0))
}

#[test]
fn barriers_pass_when_every_live_member_arrived_and_a_death_releases_them() {
    let mut s = GroupState::default();
    s.apply(3, &[alive(1, 1), alive(2, 2), alive(3, 3)]);
    s.apply(4, &[current(7, &[(1, 1), (2, 2), (3, 3)])]);
    let b1 = SyncPoint::Barrier(1);
    assert!(!s.passed(b1));
    let t = s.apply(5, &[put("s/ev/7/arrive/b1/1"), put("s/ev/7/arrive/b1/2")]);
    assert!(!t.barrier && !s.passed(b1));
    // Node 3 dies: the barrier completes for the live members.
    let t = s.apply(
        6,
        &[Change::Delete {
            key: "s/alive/3".into(),
            revision: 6,
        }],
    );
    assert!(t.barrier && s.passed(b1));
    assert_eq!(s.live().len(), 2);
    // A new incarnation of node 3 is not a member of event 7.
    s.apply(7, &[alive(3, 7)]);
    assert_eq!(s.live().len(), 2);
    assert!(s.passed(b1));
    // The same counts as a full read would give.
    let mut full = GroupState::default();
    let kvs: Vec<KeyValue> = [
        alive(1, 1),
        alive(2, 2),
        alive(3, 7),
        current(7, &[(1, 1), (2, 2), (3, 3)]),
        put("s/ev/7/arrive/b1/1"),
        put("s/ev/7/arrive/b1/2"),
    ]
    .into_iter()
    .filter_map(|c| match c {
        Change::Put(kv) => Some(kv),
        _ => None,
    })
    .collect();
    full.reset(7, &kvs);
    assert_eq!(full.live(), s.live());
    assert!(full.passed(b1));
}

#[test]
fn an_ended_event_leaves_nothing_behind() {
    let mut s = GroupState::default();
    s.apply(2, &[alive(1, 1), alive(2, 2)]);
    s.apply(3, &[current(4, &[(1, 1), (2, 2)])]);
    s.apply(
        4,
        &[
            put("s/ev/4/arrive/b1/1"),
            put("s/ev/4/arrive/b1/2"),
            put("s/ev/4/done/1"),
        ],
    );
    let gone = |k: &str| Change::Delete {
        key: k.into(),
        revision: 5,
    };
    s.apply(
        5,
        &[
            gone("s/current"),
            gone("s/ev/4/arrive/b1/1"),
            gone("s/ev/4/arrive/b1/2"),
            gone("s/ev/4/done/1"),
        ],
    );
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn done_counts_live_members_only() {
    let mut s = GroupState::default();
    s.apply(2, &[alive(1, 1), alive(2, 2)]);
    s.apply(3, &[current(1, &[(1, 1), (2, 2)])]);
    s.apply(4, &[put("s/ev/1/done/1")]);
    assert!(!s.all_done());
    s.apply(
        5,
        &[Change::Delete {
            key: "s/alive/2".into(),
            revision: 5,
        }],
    );
    assert!(s.all_done());
}

#[test]
fn members_are_joined_roster_entries_of_live_incarnations() {
    let mut s = GroupState::default();
    s.apply(2, &[alive(1, 1), alive(2, 2)]);
    s.apply(
        3,
        &[
            Change::Put(kv(
                "s/roster/1",
                RosterRecord {
                    inc: 1,
                    joined: true,
                },
                3,
                0,
            )),
            Change::Put(kv(
                "s/roster/2",
                RosterRecord {
                    inc: 1,
                    joined: true,
                },
                3,
                0,
            )),
        ],
    );
    assert_eq!(*s.members(), BTreeSet::from([1]));
    assert_eq!(s.joining(), BTreeSet::from([2]));
    let q = QueuedEvent::new(EventRequest::system(EventKind::NodeJoin, 2), 0);
    s.apply(4, &[Change::Put(kv("s/queue/x", q, 4, 0))]);
    assert_eq!(s.queue["x"].arrival, 4);
    assert!(!s.idle());
}

/// Without an identity, the bundle the group keeps says which one it runs
/// only while a member runs it: one kept from before the group emptied
/// decides nothing.
#[test]
fn the_kept_bundle_counts_only_while_a_member_runs_it() {
    let mut s = GroupState::default();
    let kept = |hash: &str| Change::Put(kv("s/bundle", serde_json::json!({ "hash": hash }), 50, 0));
    s.apply(1, &[alive(1, 1)]);
    s.apply(2, &[kept("old")]);
    assert_eq!(s.runs(), None, "nobody runs the kept bundle");
    s.apply(3, &[kept("h")]);
    assert_eq!(s.runs(), Some("h"), "node 1 runs it");
    s.apply(
        4,
        &[Change::Delete {
            key: "s/alive/1".into(),
            revision: 4,
        }],
    );
    assert_eq!(s.runs(), None, "its last runner gone");
}
