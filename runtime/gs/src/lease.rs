//! An incarnation's lease, kept alive while the node is in the group, and
//! the moment it must fence itself when it cannot be.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::coordinator::Shared;
use super::protocol::Incarnation;
use super::store::{Store, StoreError};

/// Told the moment this node would fence itself, at each renewal before
/// it counts (`None` once it is out of the group): the warden's feed.
pub type FenceHook = Arc<dyn Fn(Option<std::time::Instant>) + Send + Sync>;

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

/// Tells the hook `None` however the keeper ends (an abort included).
struct Disarm(Option<FenceHook>);

impl Drop for Disarm {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h(None);
        }
    }
}

/// Keeps an incarnation's lease: renews as `renewal` says (after a failed
/// renewal, every twentieth of the time to live, 50 to 250 ms);
/// declares the incarnation lost when the store says the lease is gone,
/// when the followed state shows its alive key gone, or when no renewal
/// succeeded for the time to live less a guard (the group may be about to
/// declare it failed: it must fence itself). The guard, a twentieth of
/// the time to live (at most 500 ms), lets a fenced node take its
/// resources down before the store can expire its lease and the others
/// take them over. With `beats`, each renewal counts once its beat is
/// written (`gs::expel`). A renewal answered later than half the guard after
/// the deadline does not count: the warden may have acted by then.
pub(super) async fn keep<S: Store>(
    shared: Arc<Shared<S>>,
    me: Incarnation,
    ttl: Duration,
    lost: watch::Sender<bool>,
    hook: Option<FenceHook>,
    renewal: Renewal,
    renewed: Instant,
) {
    let Renewal { beats, every } = renewal;
    let retry = (ttl / 20).clamp(Duration::from_millis(50), Duration::from_millis(250));
    let fence_after = ttl - guard(ttl);
    // From the renewal (or grant) the join was made with, not from now:
    // the lease has run since.
    let mut deadline = renewed + fence_after;
    let tell = |at: Instant| {
        if let Some(h) = &hook {
            h(Some(at.into_std()));
        }
    };
    tell(deadline);
    let mut disarm = Disarm(hook.clone());
    let mut members = shared.view.subscribe_alive(me.node);
    // With beats, the first one at once: the others can count from it.
    let mut next = if beats {
        Shared::watch_beats(&shared);
        Instant::now()
    } else {
        Instant::now() + every
    };
    let mut told = false;
    let why = loop {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(deadline) => {
                break format!("no renewal of its lease for {} ({} unreachable): fencing itself, since the group may have declared it failed", humantime::format_duration(ttl), shared.store.describe());
            }
            r = members.changed() => {
                if r.is_err() {
                    return;
                }
                // (Once the view has seen this incarnation created.)
                let gone = shared
                    .view
                    .read(|s| s.revision >= me.inc && !s.is_up(me.node, me.inc))
                    .unwrap_or(false);
                if gone {
                    break "its alive key is gone: the group declared it failed, or it left".to_string();
                }
            }
            _ = tokio::time::sleep_until(next) => {
                let sent = Instant::now();
                let renewal = async {
                    shared.store.keep_alive(me.lease).await?;
                    // Counted only once the others can see it (gs::expel).
                    Ok(!beats || shared.store.txn(super::expel::beat(&me, ttl)).await?.succeeded)
                };
                match tokio::time::timeout_at(deadline, renewal).await {
                    Ok(Ok(false)) => {
                        break "its alive key is gone: the group declared it failed".to_string();
                    }
                    Ok(Ok(true)) => {
                        // Told before it counts; checked after the telling,
                        // so the warden had it before its moment.
                        tell(sent + fence_after);
                        if Instant::now() > deadline + guard(ttl) / 2 {
                            break "its lease was renewed too late (the renewal was answered after the moment to fence itself)".to_string();
                        }
                        deadline = sent + fence_after;
                        if told {
                            tracing::info!(node = me.node, "{} reachable again: lease renewed", shared.store.describe());
                            told = false;
                        }
                    }
                    Ok(Err(StoreError::LeaseNotFound)) => {
                        break "its lease lapsed: the group declared it failed".to_string();
                    }
                    Ok(Err(StoreError::Closed)) => return,
                    Ok(Err(StoreError::Unavailable(e))) => {
                        if !told {
                            tracing::error!(node = me.node, "cannot renew this node's lease ({e}): it is fenced if that lasts {}", humantime::format_duration(ttl));
                            told = true;
                        }
                    }
                    Err(_) => {}
                }
                // After a failure, try again soon: an etcd leader elected
                // a moment later must not find the deadline a renewal
                // interval away.
                next = Instant::now() + if told { retry } else { every };
            }
        }
    };
    // Fenced: the warden stays armed for this moment. If the release
    // below is held up (a monitor command holds the node's resources),
    // the warden takes the addresses down all the same; a rejoin arms it
    // again. Only a clean end disarms it.
    disarm.0 = None;
    tracing::error!(
        node = me.node,
        "node {} is out of the group: {why}",
        me.node
    );
    shared.unregister(&me);
    lost.send_replace(true);
    // The group must see this incarnation gone even if the store still
    // holds its lease (a stall that ended with renewals first); but not
    // before the lease could lapse anyway: the others must not take over
    // before this node (or its warden) let go.
    tokio::time::sleep_until(deadline + guard(ttl)).await;
    let mut delay = Duration::from_millis(200);
    for _ in 0..20 {
        match shared.store.revoke(me.lease).await {
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            _ => return,
        }
    }
}

/// Between the moment a node fences itself and the earliest its lease can
/// lapse: a twentieth of the time to live, at most 500 ms.
pub fn guard(ttl: Duration) -> Duration {
    (ttl / 20).min(Duration::from_millis(500))
}
