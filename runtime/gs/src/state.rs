//! The group's shared state as typed data, kept current from the store's
//! feed one change at a time (no re-reading of the whole prefix), with the
//! counts that decide barriers and the end of an event kept as the changes
//! come, so a decision costs the same at 3 nodes as at 4,096.
//!
//! The key layout (relative to the group's prefix):
//!
//! | key | value | lease |
//! |---|---|---|
//! | `s/identity` | the site the group runs ([`Identity`]) | a member's |
//! | `s/alive/<n>` | node n's incarnation is up ([`AliveRecord`]); its create revision names the incarnation | the node's |
//! | `s/roster/<n>` | the incarnation that took part in a join ([`RosterRecord`]) | none |
//! | `s/queue/<id>` | a queued event | none |
//! | `s/queued` | rewritten with every queued event (claims compare it) | none |
//! | `s/seq`, `s/current` | the last claimed sequence number, the running event | none |
//! | `s/ev/<seq>/arrive/<at>/<n>`, `done/<n>`, `failed/<n>`, `decision/<n>`, `ended` | the running event's protocol | none |
//! | `s/outcome/<seq>` | how a finished event ended, and which it was ([`OutcomeRecord`]; the last [`OUTCOMES_KEPT`]) | none |
//! | `s/down/<n>` | node n is out since its node-down ([`DownRecord`]) | none |
//! | `s/control/<n>` | an operator stopped node n, until `hacmp start` ([`super::control`]) | none |
//! | `s/beat/<n>` | node n's incarnation renewed its lease ([`BeatRecord`]; rewritten at each renewal, before the node counts it) | the node's |
//! | `status/<n>` | what node n shows operators (outside `s/`: wakes nobody) | the node's |

use std::collections::{BTreeMap, BTreeSet};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::stop_word::NodeControl;
use super::store::{Change, KeyValue, LeaseId, Revision};
use super::{Decision, FailureReport, SyncPoint};
use hacmp_model::event::{NodeId, Outcome, QueuedEvent};
use hacmp_model::{ClaimedEvent, Identity};

/// Finished outcomes kept in the store; older ones are deleted as new
/// events finish.
pub const OUTCOMES_KEPT: u64 = 32;

/// The watched prefix.
pub const SHARED: &str = "s/";

/// `s/alive/<n>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AliveRecord {
    /// The bundle hash the incarnation runs.
    pub hash: String,
    /// Its process.
    #[serde(default)]
    pub process: super::process::Process,
}

/// `s/beat/<n>`: written at each renewal of node n's lease, which the
/// node counts only once this is written: whoever sees a beat knows the
/// node fences itself at the latest its time to live after (`gs::expel`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeatRecord {
    /// The incarnation that beats.
    pub inc: Revision,
    /// Its lease's time to live.
    pub ttl_ms: u64,
}

/// `s/roster/<n>`: this incarnation's join event started; `joined` once
/// it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RosterRecord {
    pub inc: Revision,
    pub joined: bool,
}

/// `s/outcome/<seq>`: how a finished event ended, with what `hacmp
/// history` shows of it when no journal is at hand (not its members: a
/// list as long as the cluster, read by every node at every event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub outcome: Outcome,
    pub name: String,
    pub location: NodeId,
    /// When it was queued (RFC 3339).
    pub queued_at: String,
}

impl OutcomeRecord {
    /// A stored outcome: a record, or the bare outcome earlier versions
    /// wrote.
    pub fn parse(b: &[u8]) -> Option<(Outcome, Option<OutcomeRecord>)> {
        if let Ok(r) = serde_json::from_slice::<OutcomeRecord>(b) {
            return Some((r.outcome, Some(r)));
        }
        serde_json::from_slice::<Outcome>(b).ok().map(|o| (o, None))
    }
}

/// `s/down/<n>`: node n is out of the cluster since its node-down was
/// claimed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownRecord {
    /// When its node-down was queued (RFC 3339).
    pub since: String,
    /// A failure (else a stop).
    pub failed: bool,
}

/// `s/ev/<seq>/decision/<n>`: the operator's answer to failure `attempt`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub decision: Decision,
    pub attempt: u32,
}

/// `s/ev/<seq>/ended`: the event was ended early for everyone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    pub outcome: Outcome,
    /// Who ended it and why, for the journal.
    pub by: String,
    /// The operator's decision that ended it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Queued events an operator's skip-and-cancel removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled: Vec<QueuedEvent>,
}

/// A node's incarnation as its `alive` key shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alive {
    /// The key's create revision: one per incarnation.
    pub inc: Revision,
    pub lease: LeaseId,
    pub record: AliveRecord,
}

/// A value with the revisions that transactions compare.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored<T> {
    pub value: T,
    pub modified: Revision,
}

/// The keys of one event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventKeys {
    pub arrived: BTreeMap<SyncPoint, BTreeSet<NodeId>>,
    pub done: BTreeSet<NodeId>,
    pub failed: BTreeMap<NodeId, FailureReport>,
    pub decisions: BTreeMap<NodeId, DecisionRecord>,
    pub ended: Option<Ended>,
}

/// Counts over the running event's live members (incarnations that are
/// still up), kept as changes come.
#[derive(Clone, Debug, Default, PartialEq)]
struct Tally {
    seq: u64,
    live: BTreeSet<NodeId>,
    arrived: BTreeMap<SyncPoint, usize>,
    done: usize,
}

/// What a change touched, for waking only the waiters concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Nodes whose alive key changed.
    pub alive: Vec<NodeId>,
    /// Alive keys, the roster, the identity.
    pub membership: bool,
    pub queue: bool,
    /// The running event, its end, failures, decisions, outcomes.
    pub event: bool,
    /// A sync point of the running event became complete.
    pub barrier: bool,
}

impl Touched {
    fn or(&mut self, o: Touched) {
        self.alive.extend(o.alive);
        self.membership |= o.membership;
        self.queue |= o.queue;
        self.event |= o.event;
        self.barrier |= o.barrier;
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupState {
    pub revision: Revision,
    pub identity: Option<Stored<Identity>>,
    pub alive: BTreeMap<NodeId, Alive>,
    pub roster: BTreeMap<NodeId, Stored<RosterRecord>>,
    /// By key; `arrival` is the key's create revision.
    pub queue: BTreeMap<String, QueuedEvent>,
    /// When an event was last queued (the mod revision of `s/queued`).
    pub queued: Option<Revision>,
    pub seq: Option<Stored<u64>>,
    /// Shared: every node of a process takes the same one.
    pub current: Option<Stored<std::sync::Arc<ClaimedEvent>>>,
    pub events: BTreeMap<u64, EventKeys>,
    pub outcomes: BTreeMap<u64, Outcome>,
    /// Where resource groups are, as of the last claimed event.
    pub placement: Option<hacmp_model::placement::Placement>,
    /// The hash of the bundle the group keeps (`s/bundle`): which bundle
    /// the group runs while its identity waits to be published again.
    pub bundle: Option<String>,
    /// Nodes an operator stopped.
    pub control: BTreeMap<NodeId, NodeControl>,
    /// Nodes out of the cluster, since when.
    pub down: BTreeMap<NodeId, DownRecord>,
    /// Each node's last lease renewal.
    pub beats: BTreeMap<NodeId, Stored<BeatRecord>>,
    tally: Tally,
    complete: BTreeSet<SyncPoint>,
    /// Kept as alive keys and the roster change (asked at every change).
    members: BTreeSet<NodeId>,
    undeclared: BTreeSet<NodeId>,
}

/// A key of the group, parsed.
enum Key {
    Identity,
    Bundle,
    Alive(NodeId),
    Roster(NodeId),
    Queue(String),
    Queued,
    Seq,
    Current,
    Placement,
    Arrive(u64, SyncPoint, NodeId),
    Done(u64, NodeId),
    Failed(u64, NodeId),
    Decision(u64, NodeId),
    Ended(u64),
    Outcome(u64),
    Control(NodeId),
    Down(NodeId),
    Beat(NodeId),
}

pub fn sync_key(at: SyncPoint) -> String {
    match at {
        SyncPoint::Barrier(n) => format!("b{n}"),
        SyncPoint::Cbarrier => "cb".to_string(),
    }
}

fn parse_sync(s: &str) -> Option<SyncPoint> {
    if s == "cb" {
        Some(SyncPoint::Cbarrier)
    } else {
        s.strip_prefix('b')?.parse().ok().map(SyncPoint::Barrier)
    }
}

fn parse_key(key: &str) -> Option<Key> {
    let rel = key.strip_prefix(SHARED)?;
    let parts: Vec<&str> = rel.split('/').collect();
    let num = |s: &str| s.parse::<u64>().ok();
    let node = |s: &str| s.parse::<NodeId>().ok();
    Some(match parts.as_slice() {
        ["identity"] => Key::Identity,
        ["bundle"] => Key::Bundle,
        ["alive", n] => Key::Alive(node(n)?),
        ["roster", n] => Key::Roster(node(n)?),
        ["queue", id] => Key::Queue((*id).to_string()),
        ["queued"] => Key::Queued,
        ["seq"] => Key::Seq,
        ["placement"] => Key::Placement,
        ["current"] => Key::Current,
        ["ev", s, "arrive", at, n] => Key::Arrive(num(s)?, parse_sync(at)?, node(n)?),
        ["ev", s, "done", n] => Key::Done(num(s)?, node(n)?),
        ["ev", s, "failed", n] => Key::Failed(num(s)?, node(n)?),
        ["ev", s, "decision", n] => Key::Decision(num(s)?, node(n)?),
        ["ev", s, "ended"] => Key::Ended(num(s)?),
        ["outcome", s] => Key::Outcome(num(s)?),
        ["control", n] => Key::Control(node(n)?),
        ["down", n] => Key::Down(node(n)?),
        ["beat", n] => Key::Beat(node(n)?),
        _ => return None,
    })
}

fn parse<T: DeserializeOwned>(b: &[u8]) -> Option<T> {
    serde_json::from_slice(b).ok()
}

impl GroupState {
    /// The hash of the bundle the group runs: its identity's, or while
    /// that waits to be published again, the one the group keeps if a
    /// member runs it (a bundle kept from before the group last emptied,
    /// or one not kept because it is too large, decides nothing).
    pub fn runs(&self) -> Option<&str> {
        self.identity
            .as_ref()
            .map(|i| i.value.hash.as_str())
            .or(self
                .bundle
                .as_deref()
                .filter(|b| self.alive.values().any(|a| a.record.hash == *b)))
    }

    /// The state of a full read.
    pub fn from_kvs(revision: Revision, kvs: &[KeyValue]) -> GroupState {
        let mut s = GroupState::default();
        s.reset(revision, kvs);
        s
    }

    /// Replaces everything with a full read.
    pub fn reset(&mut self, revision: Revision, kvs: &[KeyValue]) -> Touched {
        *self = GroupState::default();
        for kv in kvs {
            self.put(kv);
        }
        self.revision = revision;
        self.recount();
        self.refresh_complete();
        Touched {
            alive: self.alive.keys().copied().collect(),
            membership: true,
            queue: true,
            event: true,
            barrier: true,
        }
    }

    /// Applies the changes of one transaction.
    pub fn apply(&mut self, revision: Revision, changes: &[Change]) -> Touched {
        let mut t = Touched::default();
        for c in changes {
            t.or(match c {
                Change::Put(kv) => self.put(kv),
                Change::Delete { key, .. } => self.delete(key),
            });
        }
        self.revision = self.revision.max(revision);
        if self.refresh_complete() {
            t.barrier = true;
        }
        t
    }

    fn put(&mut self, kv: &KeyValue) -> Touched {
        let mut t = Touched::default();
        let Some(key) = parse_key(&kv.key) else {
            return t;
        };
        let v = kv.value.as_slice();
        match key {
            Key::Identity => {
                self.identity = parse(v).map(|value| Stored {
                    value,
                    modified: kv.modified,
                });
                t.membership = true;
            }
            Key::Alive(n) => {
                if let Some(record) = parse(v) {
                    self.alive.insert(
                        n,
                        Alive {
                            inc: kv.create,
                            lease: kv.lease,
                            record,
                        },
                    );
                    self.relive(n);
                    self.standing(n);
                    t.membership = true;
                    t.alive.push(n);
                }
            }
            Key::Roster(n) => {
                if let Some(value) = parse(v) {
                    self.roster.insert(
                        n,
                        Stored {
                            value,
                            modified: kv.modified,
                        },
                    );
                    self.standing(n);
                    t.membership = true;
                }
            }
            Key::Queue(id) => {
                if let Some(mut q) = parse::<QueuedEvent>(v) {
                    q.arrival = kv.create as u64;
                    self.queue.insert(id, q);
                    t.queue = true;
                }
            }
            Key::Queued => self.queued = Some(kv.modified),
            Key::Placement => self.placement = parse(v),
            Key::Bundle => {
                // Only its hash (the rest of the bundle is not needed here).
                #[derive(serde::Deserialize)]
                struct Hash {
                    hash: String,
                }
                self.bundle = parse::<Hash>(v).map(|h| h.hash);
                t.membership = true;
            }
            Key::Seq => {
                self.seq = std::str::from_utf8(v)
                    .ok()
                    .and_then(|x| x.parse().ok())
                    .map(|value| Stored {
                        value,
                        modified: kv.modified,
                    });
                t.event = true;
            }
            Key::Current => {
                self.current = parse(v).map(|value| Stored {
                    value: std::sync::Arc::new(value),
                    modified: kv.modified,
                });
                self.recount();
                t.event = true;
            }
            Key::Arrive(seq, at, n) => {
                let new = self
                    .events
                    .entry(seq)
                    .or_default()
                    .arrived
                    .entry(at)
                    .or_default()
                    .insert(n);
                if new && seq == self.tally.seq && self.tally.live.contains(&n) {
                    *self.tally.arrived.entry(at).or_default() += 1;
                }
            }
            Key::Done(seq, n) => {
                let new = self.events.entry(seq).or_default().done.insert(n);
                if new && seq == self.tally.seq && self.tally.live.contains(&n) {
                    self.tally.done += 1;
                }
                // Only the coordinator cares (it ends the event).
            }
            Key::Failed(seq, n) => {
                if let Some(r) = parse(v) {
                    self.events.entry(seq).or_default().failed.insert(n, r);
                    t.event = true;
                }
            }
            Key::Decision(seq, n) => {
                if let Some(d) = parse(v) {
                    self.events.entry(seq).or_default().decisions.insert(n, d);
                    t.event = true;
                }
            }
            Key::Ended(seq) => {
                self.events.entry(seq).or_default().ended = parse(v);
                t.event = true;
            }
            Key::Outcome(seq) => {
                if let Some((o, _)) = OutcomeRecord::parse(v) {
                    self.outcomes.insert(seq, o);
                    t.event = true;
                }
            }
            Key::Control(n) => {
                if let Some(c) = parse(v) {
                    self.control.insert(n, c);
                    t.membership = true;
                }
            }
            Key::Down(n) => {
                if let Some(d) = parse(v) {
                    self.down.insert(n, d);
                }
            }
            Key::Beat(n) => {
                if let Some(value) = parse(v) {
                    self.beats.insert(
                        n,
                        Stored {
                            value,
                            modified: kv.modified,
                        },
                    );
                }
            }
        }
        t
    }

    fn delete(&mut self, key: &str) -> Touched {
        let mut t = Touched::default();
        let Some(key) = parse_key(key) else {
            return t;
        };
        match key {
            Key::Identity => {
                self.identity = None;
                t.membership = true;
            }
            Key::Alive(n) => {
                self.alive.remove(&n);
                self.relive(n);
                self.standing(n);
                t.membership = true;
                t.alive.push(n);
            }
            Key::Roster(n) => {
                self.roster.remove(&n);
                self.standing(n);
                t.membership = true;
            }
            Key::Queue(id) => {
                self.queue.remove(&id);
                t.queue = true;
            }
            Key::Queued => self.queued = None,
            Key::Placement => self.placement = None,
            Key::Bundle => {
                self.bundle = None;
                t.membership = true;
            }
            Key::Seq => {
                self.seq = None;
                t.event = true;
            }
            Key::Current => {
                self.current = None;
                self.recount();
                t.event = true;
            }
            Key::Arrive(seq, at, n) => {
                if let Some(e) = self.events.get_mut(&seq) {
                    if let Some(a) = e.arrived.get_mut(&at) {
                        a.remove(&n);
                        if a.is_empty() {
                            e.arrived.remove(&at);
                        }
                    }
                }
                self.forget(seq);
            }
            Key::Done(seq, n) => {
                if let Some(e) = self.events.get_mut(&seq) {
                    e.done.remove(&n);
                }
                self.forget(seq);
            }
            Key::Failed(seq, n) => {
                if let Some(e) = self.events.get_mut(&seq) {
                    e.failed.remove(&n);
                }
                self.forget(seq);
                t.event = true;
            }
            Key::Decision(seq, n) => {
                if let Some(e) = self.events.get_mut(&seq) {
                    e.decisions.remove(&n);
                }
                self.forget(seq);
            }
            Key::Ended(seq) => {
                if let Some(e) = self.events.get_mut(&seq) {
                    e.ended = None;
                }
                self.forget(seq);
            }
            Key::Outcome(seq) => {
                self.outcomes.remove(&seq);
            }
            Key::Control(n) => {
                self.control.remove(&n);
                t.membership = true;
            }
            Key::Down(n) => {
                self.down.remove(&n);
            }
            Key::Beat(n) => {
                self.beats.remove(&n);
            }
        }
        t
    }

    /// After a deletion under `ev/<seq>/`: drops empty records, recounts
    /// when it was the running event's.
    fn forget(&mut self, seq: u64) {
        if self
            .events
            .get(&seq)
            .is_some_and(|e| *e == EventKeys::default())
        {
            self.events.remove(&seq);
        }
        if seq == self.tally.seq && self.current.is_some() {
            self.recount();
        }
    }

    /// Whether incarnation `inc` of node `n` is up.
    pub fn is_up(&self, n: NodeId, inc: Revision) -> bool {
        self.alive.get(&n).is_some_and(|a| a.inc == inc)
    }

    /// Recounts the running event from scratch (a new event, a full read).
    fn recount(&mut self) {
        let mut t = Tally::default();
        if let Some(c) = &self.current {
            let c = &c.value;
            t.seq = c.seq;
            t.live = c
                .membership
                .iter()
                .copied()
                .filter(|n| self.member_is_up(c, *n))
                .collect();
            if let Some(e) = self.events.get(&c.seq) {
                for (at, nodes) in &e.arrived {
                    t.arrived
                        .insert(*at, nodes.iter().filter(|n| t.live.contains(n)).count());
                }
                t.done = e.done.iter().filter(|n| t.live.contains(n)).count();
            }
        }
        self.tally = t;
        // Refilled by `refresh_complete` at the end of the change.
        self.complete.clear();
    }

    fn member_is_up(&self, c: &ClaimedEvent, n: NodeId) -> bool {
        c.incarnations
            .get(&n)
            .is_some_and(|inc| self.is_up(n, *inc))
    }

    /// Node `n`'s alive key changed: its standing in the running event
    /// may have.
    fn relive(&mut self, n: NodeId) {
        let Some(c) = &self.current else { return };
        let up = self.member_is_up(&c.value, n);
        let was = self.tally.live.contains(&n);
        if up == was || !c.value.membership.contains(&n) {
            return;
        }
        let e = self.events.get(&self.tally.seq);
        let delta = |x: &mut usize| {
            if up {
                *x += 1
            } else {
                *x = x.saturating_sub(1)
            }
        };
        if let Some(e) = e {
            for (at, nodes) in &e.arrived {
                if nodes.contains(&n) {
                    delta(self.tally.arrived.entry(*at).or_default());
                }
            }
            if e.done.contains(&n) {
                delta(&mut self.tally.done);
            }
        }
        if up {
            self.tally.live.insert(n);
        } else {
            self.tally.live.remove(&n);
        }
    }

    /// Records sync points that became complete; true if any did.
    fn refresh_complete(&mut self) -> bool {
        let live = self.tally.live.len();
        let mut grew = false;
        for (at, count) in &self.tally.arrived {
            if *count >= live && self.complete.insert(*at) {
                grew = true;
            }
        }
        grew
    }

    /// The running event, if it is `seq`.
    pub fn running(&self, seq: u64) -> Option<&ClaimedEvent> {
        self.current
            .as_ref()
            .map(|c| &*c.value)
            .filter(|c| c.seq == seq)
    }

    /// The keys of event `seq`.
    pub fn event_keys(&self, seq: u64) -> Option<&EventKeys> {
        self.events.get(&seq)
    }

    /// The running event's members that are still up.
    pub fn live(&self) -> &BTreeSet<NodeId> {
        &self.tally.live
    }

    /// Whether every live member of the running event reached `at` (true
    /// for a sync point no live member needs to reach).
    pub fn passed(&self, at: SyncPoint) -> bool {
        self.tally.arrived.get(&at).copied().unwrap_or(0) >= self.tally.live.len()
    }

    /// Whether every live member of the running event finished it.
    pub fn all_done(&self) -> bool {
        self.current.is_some() && self.tally.done >= self.tally.live.len()
    }

    /// Node `n`'s alive key or roster entry changed: is it a member, a
    /// participant gone undeclared?
    fn standing(&mut self, n: NodeId) {
        let r = self.roster.get(&n).map(|r| (r.value.inc, r.value.joined));
        let member = r.is_some_and(|(inc, joined)| joined && self.is_up(n, inc));
        let gone = r.is_some_and(|(inc, _)| !self.is_up(n, inc));
        if member {
            self.members.insert(n);
        } else {
            self.members.remove(&n);
        }
        if gone {
            self.undeclared.insert(n);
        } else {
            self.undeclared.remove(&n);
        }
    }

    /// Members: incarnations whose join ended and that are still up.
    pub fn members(&self) -> &BTreeSet<NodeId> {
        &self.members
    }

    /// Up, and not (yet) members.
    pub fn joining(&self) -> BTreeSet<NodeId> {
        self.alive
            .keys()
            .copied()
            .filter(|n| !self.members.contains(n))
            .collect()
    }

    /// Participants that are gone and whose failure is not yet queued.
    pub fn undeclared(&self) -> &BTreeSet<NodeId> {
        &self.undeclared
    }

    /// The queue in the order events run.
    pub fn sorted_queue(&self) -> Vec<(&String, &QueuedEvent)> {
        let mut q: Vec<(&String, &QueuedEvent)> = self.queue.iter().collect();
        q.sort_by(|a, b| a.1.cmp(b.1));
        q
    }

    /// Nothing runs, nothing is queued or about to be, nobody waits to
    /// join or to leave by an operator's stop; or no node is up to run
    /// anything.
    pub fn idle(&self) -> bool {
        // With no node up nothing can run: the last node's failure waits
        // for a cluster that may never come (and a new one drops it).
        self.alive.is_empty()
            || self.current.is_none()
            && self.queue.is_empty()
            // Members are up: nobody else is when they are as many.
            && self.alive.len() == self.members.len()
            && self.undeclared.is_empty()
            && !self.control.keys().any(|n| self.alive.contains_key(n))
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
