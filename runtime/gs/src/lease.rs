//! An incarnation's lease, kept alive while the node is in the group, and
//! the moment it must fence itself when it cannot be.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::coordinator::GroupLink;
use super::protocol::Incarnation;
use super::session::{Failed, Keeper, Kept, Reach, Renewal};
use super::store::{Store, StoreError};

/// Told the moment this node would fence itself, at each renewal before
/// it counts (`None` once it is out of the group): the warden's feed.
pub type FenceHook = Arc<dyn Fn(Option<std::time::Instant>) + Send + Sync>;

/// Tells the hook `None` however the keeper ends (an abort included).
struct Disarm(Option<FenceHook>);

impl Drop for Disarm {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h(None);
        }
    }
}

/// Keeps an incarnation's lease as its `Keeper` says (`session`): renews,
/// tells the warden each fence moment, and declares the incarnation lost
/// when the store says the lease is gone, when the followed state shows
/// its alive key gone, or when no renewal succeeded in time. With beats,
/// each renewal counts once its beat is written (`gs::expel`).
pub(super) async fn keep<S: Store>(
    shared: Arc<GroupLink<S>>,
    me: Incarnation,
    ttl: Duration,
    lost: watch::Sender<bool>,
    hook: Option<FenceHook>,
    renewal: Renewal,
    renewed: Instant,
) {
    let beats = renewal.beats;
    let mut keeper = Keeper::new(ttl, renewal, renewed.into_std(), Instant::now().into_std());
    let tell = |at: std::time::Instant| {
        if let Some(h) = &hook {
            h(Some(at));
        }
    };
    tell(keeper.deadline());
    let mut disarm = Disarm(hook.clone());
    let mut members = shared.view.subscribe_alive(me.node);
    if beats {
        GroupLink::watch_beats(&shared);
    }
    let why = loop {
        let deadline = Instant::from_std(keeper.deadline());
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(deadline) => {
                break keeper.expired(&shared.store.describe());
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
            _ = tokio::time::sleep_until(Instant::from_std(keeper.next_renewal())) => {
                let sent = Instant::now().into_std();
                let renewal = async {
                    shared.store.keep_alive(me.lease).await?;
                    // Counted only once the others can see it (gs::expel).
                    Ok(!beats || shared.store.txn(super::expel::beat(&me, ttl)).await?.succeeded)
                };
                let kept = match tokio::time::timeout_at(deadline, renewal).await {
                    Ok(Ok(true)) => {
                        // Told before it counts.
                        tell(keeper.counted(sent));
                        keeper.told(sent, Instant::now().into_std())
                    }
                    Ok(Ok(false)) => keeper.failed(Failed::AliveGone, Instant::now().into_std()),
                    Ok(Err(StoreError::LeaseNotFound)) => keeper.failed(Failed::LeaseGone, Instant::now().into_std()),
                    Ok(Err(StoreError::Closed)) => return,
                    Ok(Err(StoreError::Unavailable(e))) => keeper.failed(Failed::Unavailable(e), Instant::now().into_std()),
                    Err(_) => keeper.failed(Failed::TimedOut, Instant::now().into_std()),
                };
                match kept {
                    Kept::Fence(why) => break why,
                    Kept::Renewing { log: Some(Reach::Lost(e)) } => {
                        tracing::error!(node = me.node, "cannot renew this node's lease ({e}): it is fenced if that lasts {}", humantime::format_duration(ttl));
                    }
                    Kept::Renewing { log: Some(Reach::Again) } => {
                        tracing::info!(node = me.node, "{} reachable again: lease renewed", shared.store.describe());
                    }
                    Kept::Renewing { log: None } => {}
                }
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
    // holds its lease (a stall that ended with renewals first).
    tokio::time::sleep_until(Instant::from_std(keeper.revoke_at())).await;
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
