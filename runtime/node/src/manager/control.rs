//! An operator's stop and start of this node (`hacmp stop NODE --mode`,
//! `hacmp start NODE`, from any node: `gs::control`). The node leaves the
//! way its `SIGTERM` would, in the mode the operator chose, and its daemon
//! stays up out of the group, shown `stopped`, until the stop is taken
//! back: then it joins again as a new incarnation (a node-up).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;

use super::{stop_now, Exit, Manager, Stop};
use hacmp_gs::control::StopMode;
use hacmp_gs::{GroupServices, GsError};
use hacmp_model::manager_state::ManagerState;

impl<G: GroupServices> Manager<G> {
    /// Waits out an operator's stop of this node, out of the group and
    /// shown `stopped`. `Some` when the daemon is asked to end meanwhile.
    pub(super) async fn while_stopped(
        &self,
        stop: &mut watch::Receiver<Option<Stop>>,
    ) -> Result<Option<Exit>, GsError> {
        let node = self.cfg.node;
        if self.exiting.load(Ordering::SeqCst) {
            return Ok(Some(self.stop_exit()));
        }
        let mut now = tokio::select! {
            biased;
            _ = stop_now(stop) => return Ok(Some(self.stop_exit())),
            c = self.gs.control(None) => c?,
        };
        let Some(mode) = now else {
            return Ok(None);
        };
        tracing::warn!(
            node,
            mode = mode.as_str(),
            "node {node} is stopped by an operator: out of the cluster until `hacmp start {node}`"
        );
        self.show_stopped().await;
        // Up, and waiting: as far as a service manager asks, it started.
        if let Some(tx) = self.joined.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(Ok(()));
        }
        while now.is_some() {
            now = tokio::select! {
                biased;
                _ = stop_now(stop) => {
                    self.gs.stay_shown(None).await;
                    return Ok(Some(Exit::Left));
                }
                c = self.gs.control(Some(now)) => c?,
            };
        }
        // Shown stopped until its join is in (`joined`): never shown gone.
        tracing::info!(node, "started by an operator: joining the cluster");
        Ok(None)
    }

    /// Its join is in: its status is its incarnation's again.
    pub(super) async fn show_joined(&self) {
        self.gs.stay_shown(None).await;
        self.publish();
    }

    /// Shows this node `stopped`, on a lease of its own.
    async fn show_stopped(&self) {
        self.set_state(ManagerState::Stopped, None, None, None)
            .await;
        self.gs.stay_shown(Some(self.status())).await;
    }

    /// During an incarnation: leaves the group when an operator stops this
    /// node, in the mode chosen.
    pub(super) async fn follow_control(self: Arc<Self>) {
        let Ok(Some(mode)) = self.gs.control(Some(None)).await else {
            return;
        };
        self.operator.store(true, Ordering::SeqCst);
        let node = self.cfg.node;
        tracing::warn!(
            node,
            mode = mode.as_str(),
            "stopped by an operator: leaving the cluster; the daemon stays up until `hacmp start {node}`"
        );
        match mode {
            // Like a failure: the others take over once its lease is
            // revoked, after it released what it held.
            StopMode::Forced => {
                self.stop.send_replace(Some(Stop::Now));
            }
            StopMode::Graceful | StopMode::Takeover => self.leave(mode == StopMode::Takeover).await,
        }
    }

    /// After an incarnation: true when it ended by an operator's stop and
    /// the daemon stays (out of the group now, ready to join again).
    pub(super) async fn stopped_by_operator(&self, ran: &Result<Exit, GsError>) -> bool {
        let stays = self.operator.swap(false, Ordering::SeqCst)
            && !self.exiting.load(Ordering::SeqCst)
            && matches!(ran, Ok(_) | Err(GsError::Expelled));
        if stays {
            // Shown stopped before its incarnation's status goes with it.
            self.show_stopped().await;
            // Its lease goes now: after a forced stop the others see a
            // failure and take over what it released.
            self.gs.close().await;
            self.leaving.store(false, Ordering::SeqCst);
            self.gone.store(false, Ordering::SeqCst);
            self.stop.send_replace(None);
        }
        stays
    }
}
