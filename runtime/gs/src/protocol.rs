//! The group protocol, written once: pure functions from the group's state
//! ([`GroupState`]) to the transactions that move it on. No I/O and no
//! clock of its own: the coordinator, the nodes and operators carry the
//! transactions out on whichever store the group lives in.
//!
//! The rules, each one transaction guarded so that only one node's attempt
//! takes effect:
//! - **Incarnations.** A node is up while its `alive` key exists; the key's
//!   create revision names the incarnation. Every write of a node compares
//!   that revision, so a node that was declared failed (or fenced itself)
//!   can no longer change anything: it must join again.
//! - **Failure, exactly once.** An incarnation is a participant once its
//!   join event started (`roster`). When a participant is no longer up, the
//!   coordinator deletes its roster entry and queues its node failure in
//!   one transaction (the queue key names the incarnation): one failure,
//!   one node_down, however many nodes notice.
//! - **Next event.** With nothing running and the queue settled, the
//!   highest-priority event that can run is claimed with a new sequence
//!   number and a membership fixed with its incarnations. A join waits
//!   while a failure of an earlier incarnation of the same node is queued
//!   (the takeover of what it held comes first); events of dead
//!   incarnations are dropped, said why; a failure with no member left to
//!   run it is dropped (the whole group went down: nobody holds anything).
//! - **End.** When every live member is done, the event ends with its
//!   outcome: as ended early, else failed if a live member's failure was
//!   not resolved, else completed; interrupted when no member finished.

use std::collections::BTreeSet;
use std::time::Duration;

use std::time::Instant;

use super::state::{
    AliveRecord, DecisionRecord, DownRecord, Ended, GroupState, OutcomeRecord, RosterRecord,
    OUTCOMES_KEPT,
};
use super::store::{Compare, LeaseId, Op, Revision, Txn};
use super::{Decision, FailureReport, SyncPoint};
use hacmp_model::event::{EventKind, EventRequest, NodeId, Outcome, QueuedEvent};
use hacmp_model::placement::{PlacementChange, Placer};
use hacmp_model::{ClaimedEvent, Identity};

/// Keys of the group (see `state` for the table).
pub mod keys {
    use super::super::state::sync_key;
    use super::super::SyncPoint;
    use hacmp_model::event::NodeId;

    pub const IDENTITY: &str = "s/identity";
    pub const SEQ: &str = "s/seq";
    pub const CURRENT: &str = "s/current";
    /// Where resource groups are: written with each claim.
    pub const PLACEMENT: &str = "s/placement";
    pub const QUEUE: &str = "s/queue/";
    /// Rewritten with every event queued: a claim compares it, so the
    /// event claimed is the highest-priority one queued when it starts.
    pub const QUEUED: &str = "s/queued";
    pub const STATUS: &str = "status/";

    pub fn alive(n: NodeId) -> String {
        format!("s/alive/{n}")
    }
    pub fn beat(n: NodeId) -> String {
        format!("s/beat/{n}")
    }
    pub fn roster(n: NodeId) -> String {
        format!("s/roster/{n}")
    }
    pub fn queue(id: &str) -> String {
        format!("s/queue/{id}")
    }
    pub fn event(seq: u64) -> String {
        format!("s/ev/{seq}/")
    }
    pub fn arrive(seq: u64, at: SyncPoint, n: NodeId) -> String {
        format!("s/ev/{seq}/arrive/{}/{n}", sync_key(at))
    }
    pub fn done(seq: u64, n: NodeId) -> String {
        format!("s/ev/{seq}/done/{n}")
    }
    pub fn failed(seq: u64, n: NodeId) -> String {
        format!("s/ev/{seq}/failed/{n}")
    }
    pub fn decision(seq: u64, n: NodeId) -> String {
        format!("s/ev/{seq}/decision/{n}")
    }
    pub fn ended(seq: u64) -> String {
        format!("s/ev/{seq}/ended")
    }
    pub fn outcome(seq: u64) -> String {
        format!("s/outcome/{seq}")
    }
    pub fn status(n: NodeId) -> String {
        format!("status/{n}")
    }
    /// An operator's stop of node n (`super::super::control`).
    pub fn control(n: NodeId) -> String {
        format!("s/control/{n}")
    }
    /// Since when node n is out of the cluster (written with the claim of
    /// its node-down, deleted with the claim of its node-up).
    pub fn down(n: NodeId) -> String {
        format!("s/down/{n}")
    }
    /// The queue id of a membership event: one per incarnation and kind.
    pub fn membership_id(kind: &str, n: NodeId, inc: i64) -> String {
        format!("{kind}-{n}-{inc}")
    }
}

pub fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Plain data to a Vec: cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Queues `q` under `id`: the key, and the mark of a queue change.
fn queue_ops(id: &str, q: &QueuedEvent) -> [Op; 2] {
    [
        Op::put(keys::queue(id), json(q)),
        Op::put(keys::QUEUED, id.to_string()),
    ]
}

/// Holds while no event was queued since the state `s` was read.
fn queue_unchanged(s: &GroupState) -> Compare {
    match s.queued {
        Some(m) => Compare::Modified(keys::QUEUED.into(), m),
        None => Compare::Missing(keys::QUEUED.into()),
    }
}

/// Holds while no event was claimed since the state `s` was read.
fn seq_unchanged(s: &GroupState) -> Compare {
    match &s.seq {
        Some(v) => Compare::Modified(keys::SEQ.into(), v.modified),
        None => Compare::Missing(keys::SEQ.into()),
    }
}

/// One incarnation of a node: what its writes are guarded by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incarnation {
    pub node: NodeId,
    pub inc: Revision,
    pub lease: LeaseId,
}

impl Incarnation {
    /// Holds while this incarnation is up.
    pub fn guard(&self) -> Compare {
        Compare::Created(keys::alive(self.node), self.inc)
    }
}

/// Holds while event `seq` is the running one.
fn in_event(seq: u64) -> [Compare; 2] {
    [
        Compare::Exists(keys::CURRENT.into()),
        Compare::Value(keys::SEQ.into(), seq.to_string().into_bytes()),
    ]
}

/// The membership of an event, fixed when it starts: the members, plus the
/// node that joins, minus the node that failed (on a graceful stop the
/// leaving node is still a member and takes part).
pub fn event_membership(
    members: impl IntoIterator<Item = NodeId>,
    request: &EventRequest,
) -> BTreeSet<NodeId> {
    let mut m: BTreeSet<NodeId> = members.into_iter().collect();
    match request.kind {
        EventKind::NodeJoin => {
            m.insert(request.location);
        }
        EventKind::NodeFailure => {
            m.remove(&request.location);
        }
        _ => {}
    }
    m
}

/// What a chore did, for the log and the journal.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// Published the group's identity (its holder's lease lapsed).
    Identity,
    /// Declared a participant failed: its node failure is queued.
    Declared {
        node: NodeId,
        inc: Revision,
    },
    /// Ended the running event.
    Finished {
        seq: u64,
        outcome: Outcome,
    },
    Claimed {
        seq: u64,
        event: QueuedEvent,
    },
    /// Removed a queued event that can never run.
    Dropped {
        event: QueuedEvent,
        why: String,
    },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::Identity => f.write_str("published the group's site identity"),
            Note::Declared { node, inc } => write!(
                f,
                "node {node} failed (incarnation {inc} is gone): its node-down event is queued"
            ),
            Note::Finished { seq, outcome } => {
                write!(f, "event #{seq} ended: {}", outcome.as_str())
            }
            Note::Claimed { seq, event } => write!(
                f,
                "event #{seq} {} at node {} starts",
                event.request.name, event.request.location
            ),
            Note::Dropped { event, why } => write!(
                f,
                "dropped queued event {} at node {}: {why}",
                event.request.name, event.request.location
            ),
        }
    }
}

/// One transaction of the coordinator and what it means.
#[derive(Clone, Debug)]
pub struct Chore {
    pub txn: Txn,
    pub note: Note,
}

/// What the coordinator should do now, and when to look again if nothing
/// changes.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub chores: Vec<Chore>,
    pub wake_at: Option<Instant>,
}

/// The coordinator's work on the state as it stands: publish the
/// identity, declare failures, end the running event, drop dead events,
/// claim the next one. `coordinator` is the incarnation doing it (the
/// identity goes on its lease); `settled_at` is when the queue last
/// changed plus the settle interval.
pub fn chores(
    s: &GroupState,
    coordinator: &Incarnation,
    identity: &Identity,
    now: Instant,
    settled_at: Instant,
    placer: Option<&Placer>,
) -> Plan {
    let mut plan = Plan::default();
    let members = s.members();
    // Only a coordinator that runs the group's bundle (see `runs`)
    // publishes the identity again: a node that joined while a deploy
    // switched the others must not undo it.
    let group = s.runs();
    if s.identity.is_none() && !members.is_empty() && group.is_none_or(|g| g == identity.hash) {
        plan.chores.push(Chore {
            txn: Txn::new()
                .when(Compare::Missing(keys::IDENTITY.into()))
                .then(Op::put_leased(
                    keys::IDENTITY,
                    json(identity),
                    coordinator.lease,
                )),
            note: Note::Identity,
        });
    }
    for (n, r) in s
        .undeclared()
        .iter()
        .filter_map(|n| Some((n, s.roster.get(n)?)))
    {
        if !left(s, *n, r.value.inc) {
            let failure = QueuedEvent::of_incarnation(EventKind::NodeFailure, *n, r.value.inc);
            plan.chores.push(Chore {
                txn: Txn::new()
                    .when(Compare::Modified(keys::roster(*n), r.modified))
                    .then(Op::delete(keys::roster(*n)))
                    .then_all(queue_ops(
                        &keys::membership_id("fail", *n, r.value.inc),
                        &failure,
                    )),
                note: Note::Declared {
                    node: *n,
                    inc: r.value.inc,
                },
            });
        }
    }
    let declaring = plan
        .chores
        .iter()
        .any(|c| matches!(c.note, Note::Declared { .. }));
    if let Some(c) = &s.current {
        if s.all_done() {
            plan.chores.push(finish(s, &c.value, c.modified));
        }
        return plan;
    }
    // Failures are queued before the next event is chosen: they may
    // outrank it, or hold back the rejoin of the same node.
    if s.queue.is_empty() || declaring {
        return plan;
    }
    if now < settled_at {
        plan.wake_at = Some(settled_at);
        return plan;
    }
    claim(s, members, placer, &mut plan);
    plan
}

/// Whether incarnation `inc` of node `n` is done with its own stop event:
/// it left, whatever happens to it now.
fn left(s: &GroupState, n: NodeId, inc: Revision) -> bool {
    s.current.as_ref().is_some_and(|c| {
        let c = &c.value;
        matches!(c.event.request.kind, EventKind::NodeStop { .. })
            && c.event.request.location == n
            && c.event.incarnation == Some(inc)
            && s.event_keys(c.seq).is_some_and(|k| k.done.contains(&n))
    })
}

/// How the running event ended.
pub fn outcome_of(s: &GroupState, c: &ClaimedEvent) -> Outcome {
    let keys = s.event_keys(c.seq);
    if let Some(e) = keys.and_then(|k| k.ended.as_ref()) {
        return e.outcome;
    }
    let live = s.live();
    let anyone_done = keys.is_some_and(|k| k.done.iter().any(|n| c.membership.contains(n)));
    if live.is_empty() && !anyone_done {
        return Outcome::Interrupted;
    }
    if keys.is_some_and(|k| k.failed.keys().any(|n| live.contains(n))) {
        Outcome::Failed
    } else {
        Outcome::Completed
    }
}

fn finish(s: &GroupState, c: &ClaimedEvent, modified: Revision) -> Chore {
    let outcome = outcome_of(s, c);
    // The running event first, so followers stop counting it before its
    // keys go.
    let mut t = Txn::new()
        .when(Compare::Modified(keys::CURRENT.into(), modified))
        .then(Op::delete(keys::CURRENT))
        .then(Op::DeletePrefix(keys::event(c.seq)))
        .then(Op::put(
            keys::outcome(c.seq),
            json(&OutcomeRecord {
                outcome,
                name: c.event.request.name.clone(),
                location: c.event.request.location,
                queued_at: c.event.queued_at.clone(),
            }),
        ));
    if c.seq > OUTCOMES_KEPT {
        t = t.then(Op::delete(keys::outcome(c.seq - OUTCOMES_KEPT)));
    }
    let r = &c.event.request;
    let inc = c.event.incarnation;
    let roster = s.roster.get(&r.location);
    match r.kind {
        EventKind::NodeJoin => {
            if let Some(entry) = roster.filter(|e| Some(e.value.inc) == inc) {
                t = t
                    .when(Compare::Modified(keys::roster(r.location), entry.modified))
                    .then(Op::put(
                        keys::roster(r.location),
                        json(&RosterRecord {
                            inc: entry.value.inc,
                            joined: true,
                        }),
                    ));
            }
        }
        EventKind::NodeStop { .. } => {
            if let Some(entry) = roster.filter(|e| Some(e.value.inc) == inc) {
                // Out of the group; the node ends its incarnation itself.
                t = t
                    .when(Compare::Modified(keys::roster(r.location), entry.modified))
                    .then(Op::delete(keys::roster(r.location)));
            }
        }
        _ => {}
    }
    Chore {
        txn: t,
        note: Note::Finished {
            seq: c.seq,
            outcome,
        },
    }
}

/// Whether a queued event can run now, must wait, or never will.
enum Fate {
    Run(BTreeSet<NodeId>),
    Wait,
    Drop(String),
}

fn fate(s: &GroupState, members: &BTreeSet<NodeId>, q: &QueuedEvent) -> Fate {
    let r = &q.request;
    let n = r.location;
    let inc = q.incarnation;
    match r.kind {
        EventKind::NodeJoin => {
            if !inc.is_some_and(|i| s.is_up(n, i)) {
                return Fate::Drop(format!("node {n} went down before its join ran"));
            }
            let failure_first = s
                .queue
                .values()
                .any(|o| o.request.kind == EventKind::NodeFailure && o.request.location == n);
            if failure_first {
                // The takeover of what the earlier incarnation held first.
                return Fate::Wait;
            }
        }
        EventKind::NodeStop { .. } => {
            if !inc.is_some_and(|i| s.is_up(n, i)) {
                return Fate::Drop(format!(
                    "node {n} went down before its stop ran (its departure runs as a failure)"
                ));
            }
            if !members.contains(&n) {
                // Its join has yet to run (it outranks the stop).
                return Fate::Wait;
            }
        }
        EventKind::NodeFailure => {
            let m = event_membership(members.iter().copied(), r);
            if m.is_empty() {
                return Fate::Drop(format!(
                    "no member is left to run node {n}'s node-down (the whole group went down; nobody holds its resources)"
                ));
            }
            return Fate::Run(m);
        }
        _ => {}
    }
    let m = event_membership(members.iter().copied(), r);
    if m.is_empty() {
        // Runs once a member is there.
        Fate::Wait
    } else {
        Fate::Run(m)
    }
}

fn claim(s: &GroupState, members: &BTreeSet<NodeId>, placer: Option<&Placer>, plan: &mut Plan) {
    let queue = s.sorted_queue();
    // A cluster that emptied is over: its node-downs go before the next
    // node's join can start a new cluster (redbook 5.2.1), which runs none
    // of them (joins outrank failures, so they would run after it).
    if members.is_empty() {
        let mut dropped = false;
        for (key, q) in queue
            .iter()
            .filter(|(_, q)| q.request.kind == EventKind::NodeFailure)
        {
            if let Fate::Drop(why) = fate(s, members, q) {
                plan.chores.push(drop_chore(s, key, q, why));
                dropped = true;
            }
        }
        if dropped {
            return;
        }
    }
    for (i, (key, q)) in queue.iter().enumerate() {
        // A later state of the same node's network runs instead, and its
        // claim takes this one off the queue.
        if queue.iter().any(|(_, o)| o.supersedes(q)) {
            continue;
        }
        let m = match fate(s, members, q) {
            Fate::Wait => continue,
            Fate::Drop(why) => {
                plan.chores.push(drop_chore(s, key, q, why));
                continue;
            }
            Fate::Run(m) => m,
        };
        let seq = s.seq.as_ref().map_or(1, |v| v.value + 1);
        let r = &q.request;
        let incarnations = m
            .iter()
            .filter_map(|n| {
                let inc = if *n == r.location && r.kind == EventKind::NodeJoin {
                    q.incarnation?
                } else {
                    s.alive.get(n)?.inc
                };
                Some((*n, inc))
            })
            .collect();
        let mut claimed = ClaimedEvent {
            seq,
            event: (*q).clone(),
            membership: m.into_iter().collect(),
            incarnations,
            why: q.why_next(queue.len() - 1 - i),
            placement: None,
            membership_env: Default::default(),
        };
        if let Some(place) = placer {
            // The first node of a new cluster starts from no placement:
            // nothing is held for nodes of a cluster that is gone.
            let before = if members.is_empty() {
                // ...but what operators took offline stays offline, and
                // what they put in maintenance stays left alone.
                let kept = s.placement.clone().unwrap_or_default();
                hacmp_model::placement::Placement {
                    offline: kept.offline,
                    maintenance: kept.maintenance,
                    ..Default::default()
                }
            } else {
                s.placement.clone().unwrap_or_default()
            };
            let after = place(&before, &claimed);
            claimed.placement = Some(PlacementChange { before, after });
        }
        // Every member still the incarnation counted (a claim planned
        // before a stall may land after leases lapsed).
        let up: Vec<Compare> = claimed
            .incarnations
            .iter()
            .map(|(n, inc)| Compare::Created(keys::alive(*n), *inc))
            .collect();
        let mut t = Txn::new()
            .when(Compare::Missing(keys::CURRENT.into()))
            .when(seq_unchanged(s))
            .when(queue_unchanged(s))
            .when(Compare::Exists(keys::queue(key)))
            .when_all(up)
            .then(Op::put(keys::CURRENT, json(&claimed)))
            .then(Op::put(keys::SEQ, seq.to_string()))
            .then(Op::delete(keys::queue(key)));
        for (k, _) in queue.iter().filter(|(_, o)| q.supersedes(o)) {
            t = t.then(Op::delete(keys::queue(k)));
        }
        if let Some(p) = &claimed.placement {
            t = t.then(Op::put(keys::PLACEMENT, json(&p.after)));
        }
        match r.kind {
            EventKind::NodeFailure | EventKind::NodeStop { .. } => {
                let down = DownRecord {
                    since: q.queued_at.clone(),
                    failed: r.kind == EventKind::NodeFailure,
                };
                t = t.then(Op::put(keys::down(r.location), json(&down)));
            }
            EventKind::NodeJoin => t = t.then(Op::delete(keys::down(r.location))),
            _ => {}
        }
        if let (EventKind::NodeJoin, Some(inc)) = (&r.kind, q.incarnation) {
            // From now on the incarnation is a participant: its death is a
            // failure.
            t = t.then(Op::put(
                keys::roster(r.location),
                json(&RosterRecord { inc, joined: false }),
            ));
        }
        plan.chores.push(Chore {
            txn: t,
            note: Note::Claimed {
                seq,
                event: (*q).clone(),
            },
        });
        return;
    }
}

/// Takes a queued event off that will never run.
fn drop_chore(s: &GroupState, key: &str, q: &QueuedEvent, why: String) -> Chore {
    Chore {
        // Judged on the membership as read: valid while no event started
        // since.
        txn: Txn::new()
            .when(Compare::Exists(keys::queue(key)))
            .when(seq_unchanged(s))
            .then(Op::delete(keys::queue(key))),
        note: Note::Dropped {
            event: q.clone(),
            why,
        },
    }
}

/// Why a node may not join, or `None`.
pub fn refusal(s: &GroupState, node: NodeId, mine: &Identity) -> Option<Refusal> {
    if let Some(group) = &s.identity {
        let g = &group.value;
        if g.hash != mine.hash {
            return Some(Refusal::Differs(g.differing(mine), g.hash.clone()));
        }
    } else if let Some((n, a)) = s.alive.iter().find(|(_, a)| a.record.hash != mine.hash) {
        return Some(Refusal::Differs(
            Vec::new(),
            format!("{} (node {n})", a.record.hash),
        ));
    }
    if let Some(a) = s.alive.get(&node) {
        return Some(Refusal::NodeUp(a.lease, a.record.process.clone()));
    }
    if s.control.contains_key(&node) {
        return Some(Refusal::Stopped);
    }
    None
}

#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// The group runs another bundle: files that differ, the group's hash.
    Differs(Vec<String>, String),
    /// An incarnation of this node number is up (a restart before the old
    /// lease lapsed, or a second daemon with the same number): its lease
    /// and process.
    NodeUp(LeaseId, super::process::Process),
    /// An operator stopped this node (`hacmp start` lets it in).
    Stopped,
}

/// Joins as a new incarnation: the alive key on `lease`, and the group's
/// identity if nobody published it.
pub fn join(
    s: &GroupState,
    node: NodeId,
    lease: LeaseId,
    process: &super::process::Process,
    mine: &Identity,
) -> Txn {
    let record = AliveRecord {
        hash: mine.hash.clone(),
        process: process.clone(),
    };
    let t = Txn::new()
        .when(Compare::Missing(keys::alive(node)))
        .when(Compare::Missing(keys::control(node)))
        .then(Op::put_leased(keys::alive(node), json(&record), lease));
    match &s.identity {
        Some(g) => t.when(Compare::Modified(keys::IDENTITY.into(), g.modified)),
        None => t
            .when(Compare::Missing(keys::IDENTITY.into()))
            .then(Op::put_leased(keys::IDENTITY, json(mine), lease)),
    }
}

/// Queues the join event of a new incarnation.
pub fn queue_join(me: &Incarnation) -> Txn {
    let q = QueuedEvent::of_incarnation(EventKind::NodeJoin, me.node, me.inc);
    Txn::new()
        .when(me.guard())
        .then_all(queue_ops(&keys::membership_id("join", me.node, me.inc), &q))
}

/// A member at once, without a join event.
pub fn adopt(me: &Incarnation) -> Txn {
    Txn::new().when(me.guard()).then(Op::put(
        keys::roster(me.node),
        json(&RosterRecord {
            inc: me.inc,
            joined: true,
        }),
    ))
}

/// A graceful stop of a member: its stop event.
pub fn queue_stop(me: &Incarnation, takeover: bool) -> Txn {
    let q = QueuedEvent::of_incarnation(EventKind::NodeStop { takeover }, me.node, me.inc);
    Txn::new()
        .when(me.guard())
        .then_all(queue_ops(&keys::membership_id("stop", me.node, me.inc), &q))
}

/// A graceful stop before the join ran: the join is withdrawn, the node
/// is gone.
pub fn withdraw(me: &Incarnation) -> Txn {
    let join = keys::queue(&keys::membership_id("join", me.node, me.inc));
    Txn::new()
        .when(me.guard())
        .when(Compare::Exists(join.clone()))
        .then(Op::delete(join))
        .then(Op::delete(keys::alive(me.node)))
}

pub fn arrive(me: &Incarnation, seq: u64, at: SyncPoint) -> Txn {
    Txn::new()
        .when(me.guard())
        .when_all(in_event(seq))
        .then(Op::put(keys::arrive(seq, at, me.node), "1"))
}

pub fn done(me: &Incarnation, seq: u64) -> Txn {
    Txn::new()
        .when(me.guard())
        .when_all(in_event(seq))
        .then(Op::put(keys::done(seq, me.node), "1"))
}

pub fn failed(me: &Incarnation, report: &FailureReport) -> Txn {
    Txn::new()
        .when(me.guard())
        .when_all(in_event(report.seq))
        .then(Op::put(keys::failed(report.seq, me.node), json(report)))
}

pub fn resolved(me: &Incarnation, seq: u64) -> Txn {
    Txn::new()
        .when(me.guard())
        .when_all(in_event(seq))
        .then(Op::delete(keys::failed(seq, me.node)))
}

/// Ends the event early for everyone (the first end counts).
pub fn end(guard: Option<&Incarnation>, seq: u64, ended: &Ended, cancel: &[String]) -> Txn {
    let mut t = Txn::new()
        .when_all(in_event(seq))
        .when(Compare::Missing(keys::ended(seq)))
        .then(Op::put(keys::ended(seq), json(ended)));
    if let Some(me) = guard {
        t = t.when(me.guard());
    }
    t.then_all(cancel.iter().map(|k| Op::delete(keys::queue(k))))
}

/// An operator's answer to the failure a node reported (exactly that
/// report: a newer failure needs a newer answer).
pub fn decide(seq: u64, node: NodeId, report: &FailureReport, decision: Decision) -> Txn {
    Txn::new()
        .when_all(in_event(seq))
        .when(Compare::Value(keys::failed(seq, node), json(report)))
        .then(Op::put(
            keys::decision(seq, node),
            json(&DecisionRecord {
                decision,
                attempt: report.attempt,
            }),
        ))
}

/// Queues an event under a fresh key.
pub fn enqueue(id: &str, q: &QueuedEvent) -> Txn {
    Txn::new()
        .when(Compare::Missing(keys::queue(id)))
        .then_all(queue_ops(id, q))
}

/// The running event's end as the nodes see it.
pub fn ended_of(s: &GroupState, seq: u64) -> Option<Ended> {
    match s.running(seq) {
        Some(_) => s.event_keys(seq).and_then(|k| k.ended.clone()),
        None => Some(
            s.event_keys(seq)
                .and_then(|k| k.ended.clone())
                .unwrap_or(Ended {
                    outcome: s.outcomes.get(&seq).copied().unwrap_or(Outcome::Aborted),
                    by: "the event ended".into(),
                    decision: None,
                    cancelled: Vec::new(),
                }),
        ),
    }
}

/// When the queue counts as settled: `settle` after its last change.
pub fn settled_at(last_change: Instant, settle: Duration) -> Instant {
    last_change + settle
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
