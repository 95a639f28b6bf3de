//! The coordination store under group services: keys with revisions,
//! compare-and-set transactions, leases and a change feed. Two stores
//! implement it: in memory (`mem`: the embedded default and the simulators)
//! and etcd (`etcd`: real clusters). Nothing protocol-shaped lives in a
//! store; the protocol (`protocol`, `state`, `group`) is written once over
//! this interface.
//!
//! Keys are relative to the group (`s/alive/1`); a store adds its own
//! prefix.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// A store revision: increases with every successful transaction.
pub type Revision = i64;
/// A lease: keys put with it vanish when it lapses or is revoked.
pub type LeaseId = i64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision at which the key was created (a re-created key gets a new
    /// one: it names one incarnation of the key).
    pub create: Revision,
    pub modified: Revision,
    /// 0 when the key has no lease.
    pub lease: LeaseId,
}

/// A condition of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    Missing(String),
    Exists(String),
    /// The key exists and was last modified at this revision.
    Modified(String, Revision),
    /// The key exists and was created at this revision.
    Created(String, Revision),
    /// The key exists and holds exactly this value.
    Value(String, Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Delete(String),
    /// Every key that starts with this.
    DeletePrefix(String),
}

impl Op {
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease: None,
        }
    }

    pub fn put_leased(key: impl Into<String>, value: impl Into<Vec<u8>>, lease: LeaseId) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease: Some(lease),
        }
    }

    pub fn delete(key: impl Into<String>) -> Op {
        Op::Delete(key.into())
    }
}

/// All of `then` happens, atomically, if every condition of `when` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub when: Vec<Compare>,
    pub then: Vec<Op>,
}

impl Txn {
    pub fn new() -> Txn {
        Txn::default()
    }

    pub fn when(mut self, c: Compare) -> Txn {
        self.when.push(c);
        self
    }

    pub fn when_all(mut self, c: impl IntoIterator<Item = Compare>) -> Txn {
        self.when.extend(c);
        self
    }

    pub fn then(mut self, op: Op) -> Txn {
        self.then.push(op);
        self
    }

    pub fn then_all(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.then.extend(ops);
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnResult {
    pub succeeded: bool,
    /// The store's revision after the transaction (the revision of its
    /// writes when it succeeded and wrote).
    pub revision: Revision,
}

/// One change of a key, in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Put(KeyValue),
    Delete { key: String, revision: Revision },
}

/// What a subscriber is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Every key under the prefix as of `revision` (at the start, and
    /// after the feed was lost).
    Reset {
        revision: Revision,
        kvs: Vec<KeyValue>,
    },
    /// The changes of one transaction.
    Changes {
        revision: Revision,
        changes: Vec<Change>,
    },
    /// The feed broke: what the subscriber holds may be stale until the
    /// next `Reset`.
    Lost,
}

/// Receives a store's feed, in order. Called with the store's delivery
/// order held: it must not call back into the store.
pub trait FeedSink: Send + Sync + 'static {
    fn deliver(&self, feed: Feed);
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The store cannot be reached now; the operation may be tried again.
    Unavailable(String),
    /// The lease lapsed or was revoked.
    LeaseNotFound,
    /// The store was shut down.
    Closed,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(why) => f.write_str(why),
            StoreError::LeaseNotFound => f.write_str("the lease lapsed"),
            StoreError::Closed => f.write_str("the store is closed"),
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn txn(&self, t: Txn) -> Result<TxnResult, StoreError>;

    /// Every key under `prefix`, read once (not followed).
    async fn get_prefix(&self, prefix: &str) -> Result<(Revision, Vec<KeyValue>), StoreError>;

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, StoreError>;

    /// Renews a lease; answers with the time it now has to live.
    async fn keep_alive(&self, lease: LeaseId) -> Result<Duration, StoreError>;

    async fn revoke(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Feeds `sink` every change under `prefix`, starting with a `Reset`,
    /// until the store is dropped.
    fn subscribe(&self, prefix: &str, sink: Arc<dyn FeedSink>);

    /// Drops the history of changes before `revision` (a store that keeps
    /// history must not grow without bound). The current keys stay.
    async fn compact(&self, _revision: Revision) -> Result<(), StoreError> {
        Ok(())
    }

    /// Where the store is, for messages.
    fn describe(&self) -> String;
}
