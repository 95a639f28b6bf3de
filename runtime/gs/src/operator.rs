//! Operators' commands on a running group (`hacmp status`, `raise`,
//! `resume`, and the simulators' operator). An operator holds no lease: it
//! is not a member and changes the group only through the protocol's
//! guarded transactions.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::protocol;
use super::state::{Ended, GroupState, SHARED};
use super::store::Store;
use super::{Decision, GsError, NodeStatus, Raiser};
use hacmp_model::event::{EventKind, EventRequest, NodeId, Outcome};

pub struct Operator<S: Store + ?Sized> {
    store: Arc<S>,
    counter: AtomicU64,
}

/// What a resume did.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumed {
    /// The nodes the decision went to.
    pub nodes: Vec<NodeId>,
    /// User-defined events removed from the queue (skip-and-cancel).
    pub cancelled: Vec<String>,
}

impl<S: Store + ?Sized> Operator<S> {
    pub fn new(store: Arc<S>) -> Operator<S> {
        Operator {
            store,
            counter: AtomicU64::new(0),
        }
    }

    /// The group's state, read once.
    pub async fn state(&self) -> Result<GroupState, GsError> {
        let (rev, kvs) = self.store.get_prefix(SHARED).await.map_err(GsError::from)?;
        Ok(GroupState::from_kvs(rev, &kvs))
    }

    pub async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError> {
        statuses(&*self.store).await
    }

    /// The finished events the group keeps (the last
    /// [`super::state::OUTCOMES_KEPT`]), by sequence number.
    pub async fn finished(&self) -> Result<Vec<(u64, super::state::OutcomeRecord)>, GsError> {
        let prefix = "s/outcome/";
        let (_, kvs) = self.store.get_prefix(prefix).await.map_err(GsError::from)?;
        Ok(kvs
            .iter()
            .filter_map(|kv| {
                let seq = kv.key.strip_prefix(prefix)?.parse().ok()?;
                Some((seq, super::state::OutcomeRecord::parse(&kv.value)?.1?))
            })
            .collect())
    }

    /// One transaction of an operator's command.
    pub(crate) async fn txn(
        &self,
        t: super::store::Txn,
    ) -> Result<super::store::TxnResult, GsError> {
        self.store.txn(t).await.map_err(GsError::from)
    }

    /// Queues an event as given, unchecked (the simulators, agents).
    pub async fn enqueue(&self, request: EventRequest) -> Result<(), GsError> {
        super::queue::enqueue(&*self.store, 0, &self.counter, request).await
    }

    /// Queues an event after checking it against the site the group runs:
    /// an event its rules handle, at a node of the site.
    pub async fn raise(&self, request: EventRequest) -> Result<(), GsError> {
        let mut s = self.state().await?;
        // Nodes are up but the site they run is being published again (its
        // holder just went): give it a moment.
        for _ in 0..20 {
            if s.identity.is_some() || s.alive.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            s = self.state().await?;
        }
        check_raise(&s, &request)?;
        super::queue::enqueue(&*self.store, 0, &self.counter, request).await
    }

    /// An operator's decision on the failed commands of event `seq` (of
    /// `node`, or of every node waiting on one).
    pub async fn resume(
        &self,
        seq: u64,
        node: Option<NodeId>,
        decision: Decision,
    ) -> Result<Resumed, GsError> {
        // A node may report or resolve a failure meanwhile: a few tries.
        for _ in 0..5 {
            let s = self.state().await?;
            let Some(c) = s.running(seq) else {
                return Err(GsError::Refused(match s.current.as_ref() {
                    Some(c) => format!("event {seq} is not running (event {} is)", c.value.seq),
                    None => format!("event {seq} is not running (no event is)"),
                }));
            };
            let keys_of = s.event_keys(seq);
            if let Some(e) = keys_of.and_then(|k| k.ended.as_ref()) {
                return Err(GsError::Refused(format!(
                    "event {seq} is already ending: {}",
                    e.by
                )));
            }
            let live = s.live();
            let failed: Vec<(NodeId, &super::FailureReport)> = keys_of
                .map(|k| {
                    k.failed
                        .iter()
                        .filter(|(n, _)| live.contains(n))
                        .map(|(n, r)| (*n, r))
                        .collect()
                })
                .unwrap_or_default();
            let targets = super::resume_targets(failed.iter().map(|(n, _)| *n), node, seq)?;
            match decision {
                Decision::Skip | Decision::SkipAndCancel => {
                    let cancel: Vec<(String, String)> = if decision == Decision::SkipAndCancel {
                        s.queue
                            .iter()
                            .filter(|(_, q)| q.cancellable())
                            .map(|(k, q)| {
                                (
                                    k.clone(),
                                    format!("{} at node {}", q.request.name, q.request.location),
                                )
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let ended = Ended {
                        outcome: Outcome::Skipped,
                        by: format!("operator: {}", decision.as_str()),
                        decision: Some(decision),
                        cancelled: cancel
                            .iter()
                            .filter_map(|(k, _)| s.queue.get(k).cloned())
                            .collect(),
                    };
                    let keys: Vec<String> = cancel.iter().map(|(k, _)| k.clone()).collect();
                    let r = self
                        .store
                        .txn(protocol::end(None, c.seq, &ended, &keys))
                        .await
                        .map_err(GsError::from)?;
                    if r.succeeded {
                        return Ok(Resumed {
                            nodes: targets,
                            cancelled: cancel.into_iter().map(|(_, d)| d).collect(),
                        });
                    }
                }
                Decision::Continue | Decision::Rerun => {
                    let mut all = true;
                    for (n, report) in failed.iter().filter(|(n, _)| targets.contains(n)) {
                        let r = self
                            .store
                            .txn(protocol::decide(seq, *n, report, decision))
                            .await
                            .map_err(GsError::from)?;
                        all &= r.succeeded;
                    }
                    if all {
                        return Ok(Resumed {
                            nodes: targets,
                            cancelled: Vec::new(),
                        });
                    }
                }
            }
        }
        Err(GsError::Refused(format!(
            "event {seq} kept changing while the decision was written; look at `hacmp status` and try again"
        )))
    }
}

/// Why an operator's event would not run as meant, with a suggestion.
pub fn check_raise(s: &GroupState, r: &EventRequest) -> Result<(), GsError> {
    let Some(id) = &s.identity else {
        return Err(GsError::Refused(
            "no node of the group is up: nothing would run the event (start the cluster first)"
                .into(),
        ));
    };
    let id = &id.value;
    if r.kind == EventKind::User && !id.events.is_empty() {
        let known = id
            .events
            .iter()
            .any(|(n, st)| *n == r.name && *st == r.state);
        if !known {
            let same_name: Vec<String> = id
                .events
                .iter()
                .filter(|(n, _)| *n == r.name)
                .map(|(_, st)| st.to_string())
                .collect();
            let why = if !same_name.is_empty() {
                format!(
                    "the site's rules handle `{}` with state {} only, not {}",
                    r.name,
                    same_name.join(", "),
                    r.state
                )
            } else {
                let hint =
                    hacmp_compiler::suggest(&r.name, id.events.iter().map(|(n, _)| n.as_str()))
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                format!("no rule of the site handles `{}`{hint}", r.name)
            };
            return Err(GsError::Refused(why));
        }
    }
    if !id.nodes.is_empty() && !id.nodes.contains(&r.location) {
        let nodes: Vec<String> = id.nodes.iter().map(|n| n.to_string()).collect();
        return Err(GsError::Refused(format!(
            "node {} is not a node of the site (its nodes: {})",
            r.location,
            nodes.join(", ")
        )));
    }
    Ok(())
}

#[async_trait::async_trait]
impl<S: Store + ?Sized> Raiser for Operator<S> {
    async fn raise(&self, request: EventRequest) -> Result<(), GsError> {
        self.enqueue(request).await
    }
}

/// What a deploy queued.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployed {
    /// The node the reconfiguration events are queued at.
    pub location: NodeId,
}

impl<S: Store + ?Sized> Operator<S> {
    /// The bundle the group runs (JSON), when the group keeps it.
    pub async fn running_bundle(&self) -> Result<Option<Vec<u8>>, GsError> {
        let key = super::dare::BUNDLE;
        let (_, kvs) = self.store.get_prefix(key).await.map_err(GsError::from)?;
        Ok(kvs.into_iter().find(|kv| kv.key == key).map(|kv| kv.value))
    }

    /// Stages `bundle` (its JSON) and queues the reconfiguration: the
    /// switch (TE_DARE_TOPOLOGY), then the moves (TE_DARE_RESOURCE), at the
    /// lowest member. Refused when no node is up, when the group already
    /// runs it, or when it is too large to keep in the store.
    pub async fn deploy(&self, hash: &str, bundle: Vec<u8>) -> Result<Deployed, GsError> {
        if bundle.len() > super::dare::MAX_BUNDLE {
            return Err(GsError::Refused(format!(
                "the bundle is {} bytes, more than the {} a deploy can carry: stop the cluster and start it with the new site",
                bundle.len(),
                super::dare::MAX_BUNDLE
            )));
        }
        let s = self.state().await?;
        if s.identity.as_ref().is_some_and(|i| i.value.hash == hash) {
            return Err(GsError::Refused(format!(
                "the group already runs bundle {}",
                &hash[..hash.len().min(12)]
            )));
        }
        let Some(&location) = s.members().iter().next() else {
            return Err(GsError::Refused(
                "no node of the group is up: start the nodes with the new site instead".into(),
            ));
        };
        self.store
            .txn(super::dare::stage(hash, bundle))
            .await
            .map_err(GsError::from)?;
        for resources in [false, true] {
            let kind = EventKind::Dare {
                bundle: hash.to_string(),
                resources,
            };
            self.enqueue(EventRequest::system(kind, location)).await?;
        }
        Ok(Deployed { location })
    }
}

/// What every node shows operators (live nodes only: statuses are leased).
pub(crate) async fn statuses<S: Store + ?Sized>(store: &S) -> Result<Vec<NodeStatus>, GsError> {
    let (_, kvs) = store
        .get_prefix(protocol::keys::STATUS)
        .await
        .map_err(GsError::from)?;
    Ok(kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect())
}
