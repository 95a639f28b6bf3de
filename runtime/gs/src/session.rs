//! A node's session in the group as a pure state machine, in the manner
//! of quinn-proto's `Connection` and raft-rs's `RawNode`: it is given the
//! time and what the group and the store answered, and says what to do
//! next. Nothing here reads a clock, awaits or touches the store; the
//! async drivers (`GroupHandle::begin` for joining, `lease::keep` for a
//! member's lease) carry out what it says, so the rules (how long a
//! joining node waits and for what, when a member renews, when it must
//! fence itself) are tested with plain `#[test]`s.
//!
//! ```text
//!   Joining ──Join──▶ (join transaction) ──▶ Member (Keeper) ──Fence──▶ fenced
//!      │ GiveUp(why)                                    │ lease gone, alive key gone,
//!      ▼                                                ▼ no renewal in time, too late
//!   refused                                          revoke at deadline + guard
//! ```

use std::time::{Duration, Instant};

use hacmp_model::event::NodeId;
use hacmp_model::Identity;

use super::process::Process;
use super::protocol::Refusal;
use super::store::LeaseId;
use super::GsError;

/// What a joining node does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinStep {
    /// The followed state is not read yet: wait for it.
    Unread,
    /// Wait for the group's membership to change, or for the end of the
    /// patience (`Joining::patience`), whichever comes first; `warn` is
    /// said once, the first time.
    Wait { warn: Option<String> },
    /// Our own earlier incarnation, whose process is gone: end its lease,
    /// then look again at once.
    EndPredecessor { lease: LeaseId, warn: String },
    /// Refused for good (the lease granted for the join is revoked).
    GiveUp(GsError),
    /// Nothing stands in the way: make the join transaction.
    Join,
}

/// A node joining as a new incarnation. Another incarnation of its
/// number still up, or a group running another site, may be going (a
/// restart, a whole-cluster stop whose leases have yet to lapse): it
/// waits for them three times the time to live, then gives up.
#[derive(Clone, Debug)]
pub struct Joining {
    node: NodeId,
    patience: Instant,
    warned: bool,
}

impl Joining {
    pub fn new(node: NodeId, ttl: Duration, now: Instant) -> Joining {
        Joining {
            node,
            patience: now + ttl * 3,
            warned: false,
        }
    }

    /// Until when it waits for what stands in its way.
    pub fn patience(&self) -> Instant {
        self.patience
    }

    /// What to do about the group's answer (`protocol::refusal`: `None`
    /// while the state is unread). `own` is this process; `liveness` says
    /// whether another process runs (`None`: on another machine); `group`
    /// and `identity` name the group and this node's site in a refusal.
    pub fn step(
        &mut self,
        answer: Option<Option<Refusal>>,
        own: &Process,
        liveness: impl FnOnce(&Process) -> Option<bool>,
        group: &str,
        identity: &Identity,
        now: Instant,
    ) -> JoinStep {
        let node = self.node;
        let refusal = match answer {
            None => return JoinStep::Unread,
            Some(None) => return JoinStep::Join,
            Some(Some(r)) => r,
        };
        match refusal {
            Refusal::Stopped => JoinStep::GiveUp(GsError::Refused(format!(
                "node {node} is stopped by an operator"
            ))),
            Refusal::Differs(files, theirs) => {
                if now >= self.patience {
                    return JoinStep::GiveUp(GsError::OtherSite(differs(
                        node, group, identity, &files, &theirs,
                    )));
                }
                self.wait(format!(
                    "the group runs another site ({}): waiting up to {} in case its members are going",
                    short(&theirs),
                    humantime::format_duration(self.patience - now)
                ))
            }
            Refusal::NodeUp(lease, process) => {
                // Our own earlier incarnation (fenced) is ended too.
                let mine = process == *own && !process.boot.is_empty();
                match liveness(&process).map(|up| up && !mine) {
                    Some(false) => JoinStep::EndPredecessor {
                        lease,
                        warn: format!(
                            "ending the previous incarnation of node {node} (pid {}, no longer running)",
                            process.pid
                        ),
                    },
                    Some(true) => JoinStep::GiveUp(GsError::Refused(format!(
                        "another hacmpd (pid {}) runs node {node} on this machine",
                        process.pid
                    ))),
                    // On another machine: it goes within its time to live,
                    // or it is a second daemon.
                    None if now >= self.patience => JoinStep::GiveUp(GsError::Refused(format!(
                        "node {node} is already up in the group {group} (another hacmpd with the same node number?)"
                    ))),
                    None => self.wait(format!(
                        "an earlier incarnation of node {node} is still in the group: waiting for it to go (its lease lapses within its time to live)"
                    )),
                }
            }
        }
    }

    fn wait(&mut self, warn: String) -> JoinStep {
        let first = !std::mem::replace(&mut self.warned, true);
        JoinStep::Wait {
            warn: first.then_some(warn),
        }
    }
}

fn differs(node: NodeId, group: &str, mine: &Identity, files: &[String], theirs: &str) -> String {
    format!(
        "node {node} has a different site ({}) from the group {group}'s ({}); files that differ: {}. \
         The group may have been deployed a new site (hacmp deploy): fetch the bundle it runs with \
         `hacmp bundle fetch --etcd URL --cluster {cluster} --output bundle.json` and start with `hacmpd --site bundle.json`; \
         or change a running group's site with `hacmp deploy` (stopping every node also lets it take another site)",
        short(&mine.hash),
        short(theirs),
        if files.is_empty() {
            "none listed (the site configuration differs)".to_string()
        } else {
            files.join(", ")
        },
        cluster = mine.cluster,
    )
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// How a renewal of the lease failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failed {
    /// Its beat could not be written: the alive key is gone.
    AliveGone,
    /// The store no longer knows the lease.
    LeaseGone,
    /// The store could not be reached.
    Unavailable(String),
    /// No answer before the moment to fence.
    TimedOut,
}

/// What a member does after a renewal was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Renew again at `Keeper::next_renewal`; `log` says the store's
    /// reachability changed.
    Renewing { log: Option<Reach> },
    /// Out of the group: fence, for this reason.
    Fence(String),
}

/// A change in whether renewals reach the store (said once per change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Renewals fail: the node is fenced if that lasts the time to live.
    Lost(String),
    /// A renewal succeeded again.
    Again,
}

/// A member's lease: when to renew it, and the moment to fence itself
/// when no renewal succeeded — the time to live less a guard (a
/// twentieth, at most 500 ms), so a fenced node takes its resources down
/// before the store can expire its lease and the others take them over.
/// After a failed renewal it tries every twentieth of the time to live
/// (50 to 250 ms): an etcd leader elected a moment later must not find the
/// deadline a renewal interval away. A renewal answered later than half
/// the guard after the deadline does not count: the warden may have
/// acted by then.
#[derive(Clone, Debug)]
pub struct Keeper {
    ttl: Duration,
    renewal: Renewal,
    retry: Duration,
    fence_after: Duration,
    deadline: Instant,
    next: Instant,
    failing: bool,
}

impl Keeper {
    /// `renewed`: when the lease the join was made with was last granted
    /// or renewed (the lease has run since). With beats, the first renewal
    /// is at once: the others count from the first beat.
    pub fn new(ttl: Duration, renewal: Renewal, renewed: Instant, now: Instant) -> Keeper {
        let fence_after = ttl - guard(ttl);
        Keeper {
            ttl,
            renewal,
            retry: (ttl / 20).clamp(Duration::from_millis(50), Duration::from_millis(250)),
            fence_after,
            deadline: renewed + fence_after,
            next: if renewal.beats {
                now
            } else {
                now + renewal.every
            },
            failing: false,
        }
    }

    /// The moment to fence itself if no renewal succeeds before.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// When to renew next.
    pub fn next_renewal(&self) -> Instant {
        self.next
    }

    /// Why it fences itself at the deadline (`store`: what it could not reach).
    pub fn expired(&self, store: &str) -> String {
        format!(
            "no renewal of its lease for {} ({store} unreachable): fencing itself, since the group may have declared it failed",
            humantime::format_duration(self.ttl)
        )
    }

    /// A renewal sent at `sent` succeeded: the moment to tell the warden
    /// (before it counts). Then `told`.
    pub fn counted(&self, sent: Instant) -> Instant {
        sent + self.fence_after
    }

    /// The warden was told of a renewal sent at `sent`; `now` is read after
    /// the telling, so the warden had it before its moment.
    pub fn told(&mut self, sent: Instant, now: Instant) -> Kept {
        if now > self.deadline + guard(self.ttl) / 2 {
            return Kept::Fence(
                "its lease was renewed too late (the renewal was answered after the moment to fence itself)"
                    .to_string(),
            );
        }
        self.deadline = sent + self.fence_after;
        let log = std::mem::replace(&mut self.failing, false).then_some(Reach::Again);
        self.schedule(now);
        Kept::Renewing { log }
    }

    /// A renewal failed.
    pub fn failed(&mut self, f: Failed, now: Instant) -> Kept {
        let log = match f {
            Failed::AliveGone => {
                return Kept::Fence(
                    "its alive key is gone: the group declared it failed".to_string(),
                )
            }
            Failed::LeaseGone => {
                return Kept::Fence("its lease lapsed: the group declared it failed".to_string())
            }
            Failed::Unavailable(e) => {
                (!std::mem::replace(&mut self.failing, true)).then_some(Reach::Lost(e))
            }
            Failed::TimedOut => None,
        };
        self.schedule(now);
        Kept::Renewing { log }
    }

    fn schedule(&mut self, now: Instant) {
        self.next = now
            + if self.failing {
                self.retry
            } else {
                self.renewal.every
            };
    }

    /// When a fenced member revokes its lease: not before the lease could
    /// lapse anyway, so the others take nothing over before this node (or
    /// its warden) let go.
    pub fn revoke_at(&self) -> Instant {
        self.deadline + guard(self.ttl)
    }
}

/// How an incarnation renews its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Renewal {
    /// Each renewal writes the node's beat, and counts once it is written
    /// (`gs::expel`).
    pub beats: bool,
    /// Between renewals, while they succeed.
    pub every: Duration,
}

impl Renewal {
    /// Every third of the time to live, without beats (the simulators:
    /// their store lets leases lapse on time).
    pub fn plain(ttl: Duration) -> Renewal {
        Renewal {
            beats: false,
            every: (ttl / 3).max(Duration::from_millis(50)),
        }
    }

    /// With beats, every half of the time to live: the others expel a
    /// node a time to live after its last beat, which is on average half
    /// the interval old when the node falls silent (a quarter of the time
    /// to live, not a sixth). With a dead man switch, every third: its
    /// timeout must fit between a frozen node's last renewal and the
    /// others' takeover, less a renewal interval (`deadman::timeout_for`).
    pub fn beating(ttl: Duration, deadman: bool) -> Renewal {
        Renewal {
            beats: true,
            every: (ttl / if deadman { 3 } else { 2 }).max(Duration::from_millis(50)),
        }
    }
}

/// Between the moment a node fences itself and the earliest its lease can
/// lapse: a twentieth of the time to live, at most 500 ms.
pub fn guard(ttl: Duration) -> Duration {
    (ttl / 20).min(Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(2);

    fn id(hash: &str) -> Identity {
        Identity {
            hash: hash.to_string(),
            cluster: 7,
            ..Identity::default()
        }
    }

    fn proc(pid: u32) -> Process {
        Process {
            boot: "b".into(),
            pid,
            start: 1,
        }
    }

    fn step(
        j: &mut Joining,
        r: Option<Option<Refusal>>,
        live: Option<bool>,
        now: Instant,
    ) -> JoinStep {
        j.step(r, &proc(1), |_| live, "clstrmgr_7", &id("aaaa"), now)
    }

    #[test]
    fn a_join_waits_for_an_earlier_incarnation_elsewhere_three_ttls_then_gives_up() {
        let t0 = Instant::now();
        let mut j = Joining::new(3, TTL, t0);
        let up = || Some(Some(Refusal::NodeUp(9, proc(2))));
        assert_eq!(step(&mut j, None, None, t0), JoinStep::Unread);
        let JoinStep::Wait { warn: Some(w) } = step(&mut j, up(), None, t0) else {
            panic!("waits, saying why")
        };
        assert!(w.contains("earlier incarnation of node 3"), "{w}");
        // Said once.
        assert_eq!(
            step(&mut j, up(), None, t0 + TTL),
            JoinStep::Wait { warn: None }
        );
        assert_eq!(j.patience(), t0 + TTL * 3);
        let JoinStep::GiveUp(GsError::Refused(why)) = step(&mut j, up(), None, t0 + TTL * 3) else {
            panic!("gives up at the end of its patience")
        };
        assert!(why.contains("already up in the group clstrmgr_7"), "{why}");
        assert_eq!(step(&mut j, Some(None), None, t0 + TTL * 3), JoinStep::Join);
    }

    #[test]
    fn a_predecessor_on_this_machine_is_ended_if_gone_and_refused_if_running() {
        let t0 = Instant::now();
        let mut j = Joining::new(3, TTL, t0);
        let up = |p| Some(Some(Refusal::NodeUp(9, p)));
        assert!(matches!(
            step(&mut j, up(proc(2)), Some(false), t0),
            JoinStep::EndPredecessor { lease: 9, .. }
        ));
        let JoinStep::GiveUp(GsError::Refused(why)) = step(&mut j, up(proc(2)), Some(true), t0)
        else {
            panic!("another daemon runs the node here")
        };
        assert!(why.contains("another hacmpd (pid 2)"), "{why}");
        // Our own earlier incarnation (same process, fenced) is ended.
        assert!(matches!(
            step(&mut j, up(proc(1)), Some(true), t0),
            JoinStep::EndPredecessor { .. }
        ));
    }

    #[test]
    fn another_site_is_waited_for_then_named_with_its_files_and_a_stop_refuses_at_once() {
        let t0 = Instant::now();
        let mut j = Joining::new(3, TTL, t0);
        let differs = || {
            Some(Some(Refusal::Differs(
                vec!["rules.hacmprd".into()],
                "bbbb".into(),
            )))
        };
        assert!(matches!(
            step(&mut j, differs(), None, t0),
            JoinStep::Wait { warn: Some(_) }
        ));
        let JoinStep::GiveUp(GsError::OtherSite(why)) = step(&mut j, differs(), None, t0 + TTL * 3)
        else {
            panic!("refused after its patience, as another site")
        };
        assert!(why.contains("files that differ: rules.hacmprd"), "{why}");
        assert!(why.contains("--cluster 7"), "{why}");
        let mut j = Joining::new(3, TTL, t0);
        assert_eq!(
            step(&mut j, Some(Some(Refusal::Stopped)), None, t0),
            JoinStep::GiveUp(GsError::Refused("node 3 is stopped by an operator".into()))
        );
    }

    #[test]
    fn a_member_fences_a_ttl_less_the_guard_after_its_last_counted_renewal() {
        let t0 = Instant::now();
        let r = Renewal::beating(TTL, false);
        let mut k = Keeper::new(TTL, r, t0, t0);
        // Beats: the first renewal at once; the fence moment from the grant.
        assert_eq!(k.next_renewal(), t0);
        assert_eq!(k.deadline(), t0 + TTL - guard(TTL));
        let sent = t0 + Duration::from_millis(10);
        assert_eq!(k.counted(sent), sent + TTL - guard(TTL));
        assert_eq!(k.told(sent, sent), Kept::Renewing { log: None });
        assert_eq!(k.deadline(), sent + TTL - guard(TTL));
        assert_eq!(k.next_renewal(), sent + r.every);
        assert_eq!(k.revoke_at(), k.deadline() + guard(TTL));
        // Without beats the first renewal waits its interval.
        let p = Renewal::plain(TTL);
        assert_eq!(Keeper::new(TTL, p, t0, t0).next_renewal(), t0 + p.every);
    }

    #[test]
    fn failed_renewals_are_retried_soon_said_once_and_recovery_said_once() {
        let t0 = Instant::now();
        let r = Renewal::beating(TTL, false);
        let mut k = Keeper::new(TTL, r, t0, t0);
        let retry = Duration::from_millis(100);
        assert_eq!(
            k.failed(Failed::Unavailable("down".into()), t0),
            Kept::Renewing {
                log: Some(Reach::Lost("down".into()))
            }
        );
        assert_eq!(k.next_renewal(), t0 + retry);
        assert_eq!(
            k.failed(Failed::Unavailable("down".into()), t0),
            Kept::Renewing { log: None }
        );
        assert_eq!(k.failed(Failed::TimedOut, t0), Kept::Renewing { log: None });
        assert_eq!(k.next_renewal(), t0 + retry);
        assert_eq!(
            k.told(t0, t0),
            Kept::Renewing {
                log: Some(Reach::Again)
            }
        );
        assert_eq!(k.next_renewal(), t0 + r.every);
        assert!(matches!(k.failed(Failed::LeaseGone, t0), Kept::Fence(w) if w.contains("lapsed")));
        assert!(
            matches!(k.failed(Failed::AliveGone, t0), Kept::Fence(w) if w.contains("alive key"))
        );
    }

    #[test]
    fn a_renewal_answered_after_the_deadline_and_half_the_guard_does_not_count() {
        let t0 = Instant::now();
        let mut k = Keeper::new(TTL, Renewal::beating(TTL, false), t0, t0);
        let late = k.deadline() + guard(TTL) / 2;
        assert_eq!(k.clone().told(t0, late), Kept::Renewing { log: None });
        let Kept::Fence(why) = k.told(t0, late + Duration::from_millis(1)) else {
            panic!("too late")
        };
        assert!(why.contains("too late"), "{why}");
        assert!(k
            .expired("etcd")
            .contains("no renewal of its lease for 2s (etcd unreachable)"));
    }
}
