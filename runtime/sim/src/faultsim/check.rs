//! The invariants of the group protocol, checked from outside it: from
//! every committed change of the store (a mirror of its keys, kept here),
//! from each barrier a node passes, and at the end from the nodes' own
//! journals. The rules are restated here in their simplest form, not taken
//! from the protocol's code, so that a mistake there shows up as a
//! disagreement here.

use std::collections::{BTreeMap, BTreeSet};

use hacmp_gs::state::{Ended, RosterRecord};
use hacmp_gs::store::{Change, KeyValue, Revision};
use hacmp_gs::{Decision, SyncPoint};
use hacmp_model::event::{EventKind, NodeId, Outcome, QueuedEvent};
use hacmp_model::ClaimedEvent;
use hacmp_node::journal::{EventEntry, RecordKind};

use super::world::work_id;

/// One incarnation of a node.
pub type Inc = (NodeId, Revision);

#[derive(Default)]
pub struct Checker {
    kvs: BTreeMap<String, KeyValue>,
    pub violations: Vec<String>,
    /// Every claimed event, by sequence number.
    pub claims: BTreeMap<u64, ClaimedEvent>,
    pub outcomes: BTreeMap<u64, Outcome>,
    /// Node failures claimed, per incarnation.
    failures: BTreeMap<Inc, u32>,
    /// Failures queued and not yet claimed or dropped.
    pending_failures: BTreeSet<Inc>,
    /// Incarnations that took part in a join and are gone without a
    /// node-down yet.
    participants: BTreeSet<Inc>,
    /// Incarnations whose failure was dropped because nobody was left.
    unattended: BTreeSet<Inc>,
    /// User events raised (by id) and how often each was claimed.
    pub raised: BTreeMap<u64, u32>,
    pub cancelled: BTreeSet<u64>,
    /// Incarnations whose own stop event ran, with its membership.
    pub stopped: BTreeMap<Inc, Vec<NodeId>>,
    last_seq: u64,
    /// What happened, in order (for the report and the determinism check).
    pub trace: Vec<String>,
    /// Resource steps that failed, each recorded as an unexpected status.
    pub resource_failures: usize,
}

fn parse<T: serde::de::DeserializeOwned>(b: &[u8]) -> Option<T> {
    serde_json::from_slice(b).ok()
}

impl Checker {
    fn violation(&mut self, rev: Revision, what: String) {
        self.trace.push(format!("r{rev} VIOLATION {what}"));
        self.violations.push(format!("at revision {rev}: {what}"));
    }

    fn alive(&self, n: NodeId) -> Option<Revision> {
        self.kvs.get(&format!("s/alive/{n}")).map(|kv| kv.create)
    }

    fn roster(&self) -> BTreeMap<NodeId, RosterRecord> {
        self.kvs
            .range("s/roster/".to_string()..)
            .take_while(|(k, _)| k.starts_with("s/roster/"))
            .filter_map(|(k, kv)| Some((k["s/roster/".len()..].parse().ok()?, parse(&kv.value)?)))
            .collect()
    }

    fn members(&self) -> BTreeSet<NodeId> {
        self.roster()
            .into_iter()
            .filter(|(n, r)| r.joined && self.alive(*n) == Some(r.inc))
            .map(|(n, _)| n)
            .collect()
    }

    fn queue(&self) -> Vec<(String, QueuedEvent)> {
        self.kvs
            .range("s/queue/".to_string()..)
            .take_while(|(k, _)| k.starts_with("s/queue/"))
            .filter_map(|(k, kv)| {
                let mut q: QueuedEvent = parse(&kv.value)?;
                q.arrival = kv.create as u64;
                Some((k.clone(), q))
            })
            .collect()
    }

    fn current(&self) -> Option<ClaimedEvent> {
        self.kvs.get("s/current").and_then(|kv| parse(&kv.value))
    }

    /// Whether a queued event could run now, by the rules of the spec.
    fn runnable(&self, q: &QueuedEvent, queue: &[(String, QueuedEvent)]) -> bool {
        let members = self.members();
        let r = &q.request;
        let n = r.location;
        match r.kind {
            EventKind::NodeJoin => {
                q.incarnation.is_some()
                    && self.alive(n) == q.incarnation
                    && !queue.iter().any(|(_, o)| {
                        o.request.kind == EventKind::NodeFailure && o.request.location == n
                    })
            }
            EventKind::NodeStop { .. } => members.contains(&n) && self.alive(n) == q.incarnation,
            // (A stop of a node whose join has yet to run waits for it.)
            EventKind::NodeFailure => members.iter().any(|m| *m != n),
            // A later state of the same network runs instead.
            EventKind::NetworkDown { .. } | EventKind::NetworkUp { .. } => {
                !members.is_empty() && !queue.iter().any(|(_, o)| o.supersedes(q))
            }
            _ => !members.is_empty(),
        }
    }

    /// An operator's stop holds its node out: no new incarnation of it
    /// starts while the stop stands.
    fn operator_stops(&mut self, rev: Revision, changes: &[Change]) {
        for c in changes {
            match c {
                Change::Put(kv) if kv.key.starts_with("s/control/") => {
                    self.trace
                        .push(format!("r{rev} operator stop {}", &kv.key[2..]));
                }
                Change::Delete { key, .. } if key.starts_with("s/control/") => {
                    self.trace
                        .push(format!("r{rev} operator start {}", &key[2..]));
                }
                Change::Put(kv) if kv.key.starts_with("s/alive/") && kv.create == rev => {
                    let n = &kv.key["s/alive/".len()..];
                    if self.kvs.contains_key(&format!("s/control/{n}")) {
                        self.violation(
                            rev,
                            format!("node {n} joined while an operator's stop held it out"),
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// Every change the store commits, before the mirror takes it.
    pub fn commit(&mut self, rev: Revision, changes: &[Change]) {
        let put = |k: &str| {
            changes.iter().find_map(|c| match c {
                Change::Put(kv) if kv.key == k => Some(kv.clone()),
                _ => None,
            })
        };
        let deleted: BTreeSet<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Delete { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        self.operator_stops(rev, changes);
        let queue = self.queue();
        let mut claimed_key = None;
        if let Some(kv) = put("s/current") {
            if let Some(c) = parse::<ClaimedEvent>(&kv.value) {
                claimed_key = self.claim(rev, &c, &queue, &deleted);
            }
        }
        let ended: Option<(u64, Ended)> = changes.iter().find_map(|c| match c {
            Change::Put(kv) if kv.key.starts_with("s/ev/") && kv.key.ends_with("/ended") => {
                let seq = kv.key.split('/').nth(2)?.parse().ok()?;
                Some((seq, parse(&kv.value)?))
            }
            _ => None,
        });
        let mut cancelled_keys = BTreeSet::new();
        if let Some((seq, e)) = &ended {
            self.trace.push(format!(
                "r{rev} #{seq} ended: {} ({})",
                e.outcome.as_str(),
                e.by
            ));
            for q in &e.cancelled {
                if !q.cancellable() {
                    self.violation(
                        rev,
                        format!(
                            "an operator cancelled a membership event: {} at node {}",
                            q.request.name, q.request.location
                        ),
                    );
                }
                if let Some(id) = work_id(q) {
                    self.cancelled.insert(id);
                }
            }
            if e.decision == Some(Decision::SkipAndCancel) {
                cancelled_keys = deleted
                    .iter()
                    .filter(|k| k.starts_with("s/queue/"))
                    .cloned()
                    .collect();
            }
        }
        // Queued events that went without being claimed or cancelled.
        for (k, q) in &queue {
            if !deleted.contains(k)
                || claimed_key.as_deref() == Some(k.as_str())
                || cancelled_keys.contains(k)
            {
                continue;
            }
            let withdrawn = deleted.contains(&format!("s/alive/{}", q.request.location));
            // (Taken off by the claim of a later state of its network.)
            let superseded = queue.iter().any(|(_, o)| o.supersedes(q));
            self.dropped(rev, q, withdrawn || superseded);
        }
        for c in changes {
            if let Change::Put(kv) = c {
                if let Some(id) = kv.key.strip_prefix("s/queue/") {
                    if let Some(q) = parse::<QueuedEvent>(&kv.value) {
                        self.queued(rev, id, &q);
                    }
                }
                if kv.key.starts_with("s/outcome/") {
                    if let (Some(seq), Some((o, _))) = (
                        kv.key["s/outcome/".len()..].parse::<u64>().ok(),
                        hacmp_gs::state::OutcomeRecord::parse(&kv.value),
                    ) {
                        self.outcomes.insert(seq, o);
                        self.trace.push(format!("r{rev} #{seq} -> {}", o.as_str()));
                    }
                }
                if let Some(n) = kv.key.strip_prefix("s/roster/") {
                    if let (Ok(n), Some(r)) =
                        (n.parse::<NodeId>(), parse::<RosterRecord>(&kv.value))
                    {
                        self.participants.insert((n, r.inc));
                    }
                }
            }
        }
        // A participant leaves the roster only with its node-down queued,
        // or by its own stop.
        for k in deleted.iter().filter(|k| k.starts_with("s/roster/")) {
            let Some(kv) = self.kvs.get(k) else { continue };
            let Some(r) = parse::<RosterRecord>(&kv.value) else {
                continue;
            };
            let Ok(n) = k["s/roster/".len()..].parse::<NodeId>() else {
                continue;
            };
            let declared = put(&format!("s/queue/fail-{n}-{}", r.inc)).is_some();
            let stop_ended = deleted.contains("s/current")
                && self.current().is_some_and(|c| {
                    matches!(c.event.request.kind, EventKind::NodeStop { .. })
                        && c.event.request.location == n
                        && c.event.incarnation == Some(r.inc)
                });
            if stop_ended {
                self.participants.remove(&(n, r.inc));
            } else if !declared {
                self.violation(
                    rev,
                    format!(
                        "node {n} (incarnation {}) left the roster without a node-down",
                        r.inc
                    ),
                );
            }
        }
        if deleted.contains("s/current") {
            if let Some(c) = self.current() {
                // It left if it finished its own stop event; one that went
                // down before is owed a node-down as a failure.
                let n = c.event.request.location;
                let done = self.kvs.contains_key(&format!("s/ev/{}/done/{n}", c.seq));
                if let (EventKind::NodeStop { .. }, Some(inc), true) =
                    (&c.event.request.kind, c.event.incarnation, done)
                {
                    self.stopped.insert((n, inc), c.membership.clone());
                }
            }
        }
        for c in changes {
            match c {
                Change::Put(kv) => {
                    self.kvs.insert(kv.key.clone(), kv.clone());
                }
                Change::Delete { key, .. } => {
                    self.kvs.remove(key);
                }
            }
        }
    }

    fn queued(&mut self, rev: Revision, id: &str, q: &QueuedEvent) {
        if q.request.kind == EventKind::NodeFailure {
            if let Some(inc) = q.incarnation {
                let n = q.request.location;
                if self.alive(n) == Some(inc) {
                    self.violation(
                        rev,
                        format!(
                            "a node-down was queued for node {n}, which is up (incarnation {inc})"
                        ),
                    );
                }
                if !self.pending_failures.insert((n, inc)) || self.failures.contains_key(&(n, inc))
                {
                    self.violation(
                        rev,
                        format!("a second node-down was queued for node {n} (incarnation {inc})"),
                    );
                }
                self.participants.remove(&(n, inc));
            }
        }
        if let Some(w) = work_id(q) {
            self.raised.entry(w).or_insert(0);
        }
        // (Keys of events an operator or a node raises carry the time: the
        // trace names what they are about.)
        let what = match (&q.request.kind, work_id(q)) {
            (_, Some(w)) => format!("id {w}"),
            (EventKind::Dare { bundle, .. }, _) => {
                format!("bundle {}", &bundle[..bundle.len().min(12)])
            }
            (EventKind::NetworkDown { network } | EventKind::NetworkUp { network }, _) => {
                format!("network {network}")
            }
            (
                EventKind::GroupFailure { group }
                | EventKind::GroupMove { group, .. }
                | EventKind::GroupIntent { group, .. }
                | EventKind::GroupCleanup { group },
                _,
            ) => format!("group {group}: {:?}", q.request.kind),
            (EventKind::GroupMaintenance { groups, on }, _) => {
                format!("maintenance {on} {}", groups.join(" "))
            }
            _ => id.to_string(),
        };
        self.trace.push(format!(
            "r{rev} queued {} at {} ({what})",
            q.request.name, q.request.location
        ));
    }

    /// `withdrawn`: its node went in this change, or (a network event) a
    /// later one of the same node's network is queued.
    fn dropped(&mut self, rev: Revision, q: &QueuedEvent, withdrawn: bool) {
        let r = &q.request;
        let n = r.location;
        self.trace.push(format!("r{rev} dropped {} at {n}", r.name));
        let ok = match r.kind {
            // Gone, or going in this very change (a stop before the join
            // ran withdraws it).
            EventKind::NodeJoin => self.alive(n) != q.incarnation || withdrawn,
            EventKind::NodeStop { .. } => self.alive(n) != q.incarnation,
            EventKind::NodeFailure => {
                let empty = self.members().iter().all(|m| *m == n);
                if let Some(inc) = q.incarnation {
                    self.pending_failures.remove(&(n, inc));
                    if empty {
                        self.unattended.insert((n, inc));
                    }
                }
                empty
            }
            EventKind::NetworkDown { .. } | EventKind::NetworkUp { .. } => withdrawn,
            _ => false,
        };
        if !ok {
            self.violation(
                rev,
                format!(
                    "queued event {} at node {n} was dropped though it could still run",
                    r.name
                ),
            );
        }
    }

    /// A claim: one event at a time, in sequence, with live members, the
    /// highest-priority event that can run; returns its queue key.
    fn claim(
        &mut self,
        rev: Revision,
        c: &ClaimedEvent,
        queue: &[(String, QueuedEvent)],
        deleted: &BTreeSet<String>,
    ) -> Option<String> {
        if self.kvs.contains_key("s/current") {
            self.violation(rev, format!("event #{} started while another ran", c.seq));
        }
        if c.seq != self.last_seq + 1 {
            self.violation(rev, format!("event #{} follows #{}", c.seq, self.last_seq));
        }
        self.last_seq = c.seq;
        for (n, inc) in &c.incarnations {
            if self.alive(*n) != Some(*inc) {
                self.violation(
                    rev,
                    format!(
                        "event #{} counts node {n} (incarnation {inc}) that is not up",
                        c.seq
                    ),
                );
            }
        }
        let r = &c.event.request;
        let key = queue
            .iter()
            .find(|(k, _)| deleted.contains(k) && queue_match(&c.event, &queue_entry(queue, k)))
            .map(|(k, _)| k.clone());
        if key.is_none() {
            self.violation(
                rev,
                format!("event #{} {} was not in the queue", c.seq, r.name),
            );
        }
        if let Some(better) = queue
            .iter()
            .filter(|(k, q)| Some(k) != key.as_ref() && *q < c.event && self.runnable(q, queue))
            .map(|(_, q)| q)
            .next()
        {
            self.violation(
                rev,
                format!(
                    "event #{} {} at {} ran before {} at {}, which outranks it and could run",
                    c.seq, r.name, r.location, better.request.name, better.request.location
                ),
            );
        }
        if r.kind == EventKind::NodeFailure {
            if self.members().contains(&r.location) {
                self.violation(
                    rev,
                    format!(
                        "node-down for node {} while it is a member again",
                        r.location
                    ),
                );
            }
            if let Some(inc) = c.event.incarnation {
                if self.alive(r.location) == Some(inc) {
                    self.violation(
                        rev,
                        format!("node-down for node {} while it is up", r.location),
                    );
                }
                if self.stopped.contains_key(&(r.location, inc)) {
                    self.violation(rev, format!("node-down (failure) for node {} (incarnation {inc}), which had left by its stop", r.location));
                }
                let k = self.failures.entry((r.location, inc)).or_insert(0);
                *k += 1;
                if *k > 1 {
                    self.violation(
                        rev,
                        format!(
                            "second node-down for node {} (incarnation {inc})",
                            r.location
                        ),
                    );
                }
                self.pending_failures.remove(&(r.location, inc));
            }
        }
        if let Some(id) = work_id(&c.event) {
            let k = self.raised.entry(id).or_insert(0);
            *k += 1;
            if *k > 1 {
                self.violation(rev, format!("user event {id} ran twice"));
            }
        }
        self.trace.push(format!(
            "r{rev} #{} {} at {} members {:?}",
            c.seq, r.name, r.location, c.incarnations
        ));
        self.claims.insert(c.seq, c.clone());
        key
    }

    /// Node `node` passed `at` of event `seq`: every member of the event
    /// that is still up must have arrived.
    pub fn passed(&mut self, node: NodeId, seq: u64, at: SyncPoint) {
        let Some(c) = self.current().filter(|c| c.seq == seq) else {
            return;
        };
        if self.kvs.contains_key(&format!("s/ev/{seq}/ended")) {
            return;
        }
        let at_key = hacmp_gs::state::sync_key(at);
        let missing: Vec<NodeId> = c
            .incarnations
            .iter()
            .filter(|(n, inc)| self.alive(**n) == Some(**inc))
            .filter(|(n, _)| {
                !self
                    .kvs
                    .contains_key(&format!("s/ev/{seq}/arrive/{at_key}/{n}"))
            })
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            let rev = self.kvs.values().map(|kv| kv.modified).max().unwrap_or(0);
            self.violation(
                rev,
                format!("node {node} passed {at} of event #{seq} before nodes {missing:?} arrived"),
            );
        }
    }

    /// The end of a run, once the faults stopped and the cluster settled:
    /// every node-down owed ran once, every user event ran once or was
    /// cancelled, and the journals agree with the group and each other.
    pub fn finish(&mut self, journals: &[(Inc, Vec<EventEntry>)]) {
        let end = self.kvs.values().map(|kv| kv.modified).max().unwrap_or(0);
        for inc in self.participants.clone() {
            if self.alive(inc.0) != Some(inc.1)
                && !self.failures.contains_key(&inc)
                && !self.unattended.contains(&inc)
            {
                self.violation(
                    end,
                    format!(
                        "node {} (incarnation {}) went down and no node-down ran for it",
                        inc.0, inc.1
                    ),
                );
            }
        }
        for inc in self.pending_failures.clone() {
            self.violation(
                end,
                format!(
                    "the node-down of node {} (incarnation {}) never ran",
                    inc.0, inc.1
                ),
            );
        }
        for (id, n) in self.raised.clone() {
            if n == 0 && !self.cancelled.contains(&id) {
                self.violation(
                    end,
                    format!("user event {id} was lost: never ran, never cancelled"),
                );
            }
        }
        for (inc, events) in journals {
            for e in events {
                let Some(c) = self.claims.get(&e.seq).cloned() else {
                    self.violation(
                        end,
                        format!(
                            "node {}'s journal has event #{} the group never ran",
                            inc.0, e.seq
                        ),
                    );
                    continue;
                };
                if c.event.request.name != e.name || c.membership != e.membership {
                    self.violation(
                        end,
                        format!(
                            "node {}'s journal has event #{} as {} {:?}, the group ran {} {:?}",
                            inc.0, e.seq, e.name, e.membership, c.event.request.name, c.membership
                        ),
                    );
                }
                if !c.membership.contains(&inc.0) {
                    self.violation(
                        end,
                        format!("node {} ran event #{} it was not a member of", inc.0, e.seq),
                    );
                }
                // Every resource step that failed is an unexpected status
                // of the event (a Failure record follows its end), never a
                // note in a step nobody checks; unless the node's part in
                // the event was cut short (it left the group: the event was
                // interrupted, or ended early for it).
                let interrupted = e.outcome == Some(Outcome::Interrupted)
                    || self.outcomes.get(&e.seq) == Some(&Outcome::Interrupted);
                let cut_short = |node: NodeId, from: usize| {
                    interrupted
                        || e.records[from..]
                            .iter()
                            .any(|x| x.kind == RecordKind::Stopped && x.node == node)
                };
                let mut unrecorded = Vec::new();
                for (i, r) in e.records.iter().enumerate() {
                    let resources = r.kind == RecordKind::CommandEnd
                        && r.command
                            .as_deref()
                            .is_some_and(|c| c.starts_with("resources "))
                        && r.ok == Some(false);
                    if !resources {
                        continue;
                    }
                    let recorded = e.records[i..]
                        .iter()
                        .any(|f| f.kind == RecordKind::Failure && f.node == r.node);
                    if recorded {
                        self.resource_failures += 1;
                    } else if !cut_short(r.node, i) {
                        unrecorded.push(format!(
                            "node {}: `{}` failed in event #{} and no failure was recorded",
                            r.node,
                            r.command.as_deref().unwrap_or(""),
                            e.seq
                        ));
                    }
                }
                for v in unrecorded {
                    self.violation(end, v);
                }
                let mine = e.outcome;
                let group = self.outcomes.get(&e.seq).copied();
                if mine != Some(Outcome::Interrupted) && mine != group {
                    self.violation(
                        end,
                        format!(
                            "node {}'s journal says event #{} {:?}, the group says {:?}",
                            inc.0, e.seq, mine, group
                        ),
                    );
                }
            }
        }
    }
}

fn queue_entry(queue: &[(String, QueuedEvent)], k: &str) -> QueuedEvent {
    queue
        .iter()
        .find(|(x, _)| x == k)
        .map(|(_, q)| q.clone())
        .unwrap_or_else(|| unreachable!("a key of this queue"))
}

fn queue_match(a: &QueuedEvent, b: &QueuedEvent) -> bool {
    // (Two ups of one network may be queued alike: the arrival tells.)
    a.request == b.request && a.incarnation == b.incarnation && a.arrival == b.arrival
}
