//! The in-memory store: the embedded default (`hacmp sim`, `hacmp run`, a
//! one-node site) and the ground the fault simulator stands on. It behaves
//! like one etcd member: revisions, transactions, leases that lapse in
//! (tokio) time, an ordered change feed, and it can be made to stall or to
//! be unreachable for a while, as etcd can.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::store::{
    Change, Compare, Feed, FeedSink, KeyValue, LeaseId, Op, Revision, Store, StoreError, Txn,
    TxnResult,
};

type Hook = Box<dyn Fn(Revision, &[Change]) + Send + Sync>;

struct Lease {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<String>,
}

/// A stall: the store answers nothing until `until`, and no lease lapses
/// meanwhile (etcd stopped with SIGSTOP).
#[derive(Clone, Copy)]
struct Stall {
    until: Instant,
    /// At the end, lapsed leases expire before the renewals that waited
    /// are answered (else after them).
    expire_first: bool,
}

#[derive(Default)]
struct Inner {
    revision: Revision,
    kvs: BTreeMap<String, KeyValue>,
    leases: BTreeMap<LeaseId, Lease>,
    next_lease: LeaseId,
    subscribers: Vec<(String, Arc<dyn FeedSink>)>,
    stall: Option<Stall>,
    down_until: Option<Instant>,
    hooks: Vec<Hook>,
    closed: bool,
}

pub struct MemStore {
    inner: Mutex<Inner>,
    /// Wakes the lease timer when a deadline may have moved earlier.
    timer: Arc<Notify>,
}

impl MemStore {
    /// A new store; its lease timer runs on the current tokio runtime.
    pub fn new() -> Arc<MemStore> {
        let s = Arc::new(MemStore {
            inner: Mutex::new(Inner {
                next_lease: 1,
                ..Inner::default()
            }),
            timer: Arc::new(Notify::new()),
        });
        tokio::spawn(lease_timer(Arc::downgrade(&s)));
        s
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every statement leaves the state consistent: a panic elsewhere
        // must not wedge the cluster.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called after every committed change, in order (the fault
    /// simulator's invariant checks).
    pub fn on_commit(&self, hook: impl Fn(Revision, &[Change]) + Send + Sync + 'static) {
        self.lock().hooks.push(Box::new(hook));
    }

    /// The store stalls for `d`: operations wait, leases do not lapse.
    pub fn stall(&self, d: Duration, expire_first: bool) {
        self.lock().stall = Some(Stall {
            until: Instant::now() + d,
            expire_first,
        });
        self.timer.notify_one();
    }

    /// The store is unreachable for `d`: operations fail, the feed is lost;
    /// when it is back, leases get their whole time to live again (as etcd
    /// renews them when a member restarts).
    pub fn outage(&self, d: Duration) {
        let mut s = self.lock();
        s.down_until = Some(Instant::now() + d);
        for (_, sink) in &s.subscribers {
            sink.deliver(Feed::Lost);
        }
        drop(s);
        self.timer.notify_one();
    }

    /// Every key, for checks.
    pub fn dump(&self) -> Vec<KeyValue> {
        self.lock().kvs.values().cloned().collect()
    }

    /// Stops every operation with `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.timer.notify_one();
    }

    /// Waits out a stall; fails during an outage.
    async fn gate(&self) -> Result<(), StoreError> {
        loop {
            let wait = {
                let mut s = self.lock();
                if s.closed {
                    return Err(StoreError::Closed);
                }
                let now = Instant::now();
                end_outage(&mut s, now);
                if s.down_until.is_some() {
                    return Err(StoreError::Unavailable(
                        "the in-memory store is unreachable (simulated outage)".into(),
                    ));
                }
                match s.stall {
                    Some(st) if now < st.until => st.until,
                    Some(st) => {
                        s.stall = None;
                        if st.expire_first {
                            expire(&mut s, now);
                        }
                        return Ok(());
                    }
                    None => return Ok(()),
                }
            };
            tokio::time::sleep_until(wait).await;
        }
    }
}

/// Ends an outage whose time is up: leases get their time back, feeds
/// start again from a full read.
fn end_outage(s: &mut Inner, now: Instant) {
    if s.down_until.is_some_and(|t| now >= t) {
        s.down_until = None;
        for l in s.leases.values_mut() {
            l.deadline = l.deadline.max(now + l.ttl);
        }
        let subs = s.subscribers.clone();
        for (prefix, sink) in subs {
            sink.deliver(Feed::Reset {
                revision: s.revision,
                kvs: under(&s.kvs, &prefix),
            });
        }
    }
}

fn under(kvs: &BTreeMap<String, KeyValue>, prefix: &str) -> Vec<KeyValue> {
    kvs.range(prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Revokes every lease past its deadline.
fn expire(s: &mut Inner, now: Instant) {
    let due: Vec<LeaseId> = s
        .leases
        .iter()
        .filter(|(_, l)| l.deadline <= now)
        .map(|(id, _)| *id)
        .collect();
    for id in due {
        revoke(s, id);
    }
}

fn revoke(s: &mut Inner, id: LeaseId) -> bool {
    let Some(l) = s.leases.remove(&id) else {
        return false;
    };
    let ops: Vec<Op> = l.keys.into_iter().map(Op::Delete).collect();
    if !ops.is_empty() {
        commit(s, &ops);
    }
    true
}

fn holds(s: &Inner, c: &Compare) -> bool {
    match c {
        Compare::Missing(k) => !s.kvs.contains_key(k),
        Compare::Exists(k) => s.kvs.contains_key(k),
        Compare::Modified(k, r) => s.kvs.get(k).is_some_and(|kv| kv.modified == *r),
        Compare::Created(k, r) => s.kvs.get(k).is_some_and(|kv| kv.create == *r),
        Compare::Value(k, v) => s.kvs.get(k).is_some_and(|kv| kv.value == *v),
    }
}

/// Applies writes at the next revision and tells subscribers and hooks.
fn commit(s: &mut Inner, ops: &[Op]) {
    let rev = s.revision + 1;
    let mut changes = Vec::new();
    for op in ops {
        match op {
            Op::Put { key, value, lease } => {
                let lease = lease.unwrap_or(0);
                let create = match s.kvs.get(key) {
                    Some(old) => {
                        if old.lease != lease && old.lease != 0 {
                            if let Some(l) = s.leases.get_mut(&old.lease) {
                                l.keys.remove(key);
                            }
                        }
                        old.create
                    }
                    None => rev,
                };
                if let Some(l) = s.leases.get_mut(&lease) {
                    l.keys.insert(key.clone());
                }
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create,
                    modified: rev,
                    lease,
                };
                s.kvs.insert(key.clone(), kv.clone());
                changes.push(Change::Put(kv));
            }
            Op::Delete(key) => delete(s, key, rev, &mut changes),
            Op::DeletePrefix(p) => {
                let keys: Vec<String> = s
                    .kvs
                    .range(p.clone()..)
                    .take_while(|(k, _)| k.starts_with(p.as_str()))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    delete(s, &k, rev, &mut changes);
                }
            }
        }
    }
    if changes.is_empty() {
        return;
    }
    s.revision = rev;
    for (prefix, sink) in &s.subscribers {
        let mine: Vec<Change> = changes
            .iter()
            .filter(|c| match c {
                Change::Put(kv) => kv.key.starts_with(prefix.as_str()),
                Change::Delete { key, .. } => key.starts_with(prefix.as_str()),
            })
            .cloned()
            .collect();
        if !mine.is_empty() && s.down_until.is_none() {
            sink.deliver(Feed::Changes {
                revision: rev,
                changes: mine,
            });
        }
    }
    for h in &s.hooks {
        h(rev, &changes);
    }
}

fn delete(s: &mut Inner, key: &str, rev: Revision, changes: &mut Vec<Change>) {
    if let Some(old) = s.kvs.remove(key) {
        if let Some(l) = s.leases.get_mut(&old.lease) {
            l.keys.remove(key);
        }
        changes.push(Change::Delete {
            key: key.to_string(),
            revision: rev,
        });
    }
}

/// Lapses leases on time, except while the store stalls or is down.
async fn lease_timer(me: Weak<MemStore>) {
    loop {
        let Some(store) = me.upgrade() else { return };
        let next = {
            let mut s = store.lock();
            if s.closed {
                return;
            }
            let now = Instant::now();
            end_outage(&mut s, now);
            match (s.stall, s.down_until) {
                (Some(st), _) if now < st.until => Some(st.until),
                (_, Some(t)) => Some(t),
                _ => {
                    if s.stall.take().is_some_and(|st| !st.expire_first) {
                        // The renewals that waited go first: let them run.
                        Some(now + Duration::from_millis(1))
                    } else {
                        expire(&mut s, now);
                        s.leases.values().map(|l| l.deadline).min()
                    }
                }
            }
        };
        let timer = store.timer.clone();
        drop(store);
        let woken = timer.notified();
        match next {
            Some(t) => {
                tokio::select! {
                    biased;
                    _ = tokio::time::sleep_until(t) => {}
                    _ = woken => {}
                }
            }
            None => woken.await,
        }
    }
}

#[async_trait]
impl Store for MemStore {
    async fn txn(&self, t: Txn) -> Result<TxnResult, StoreError> {
        self.gate().await?;
        let mut s = self.lock();
        if !t.when.iter().all(|c| holds(&s, c)) {
            return Ok(TxnResult {
                succeeded: false,
                revision: s.revision,
            });
        }
        for op in &t.then {
            if let Op::Put { lease: Some(l), .. } = op {
                if !s.leases.contains_key(l) {
                    return Err(StoreError::LeaseNotFound);
                }
            }
        }
        commit(&mut s, &t.then);
        Ok(TxnResult {
            succeeded: true,
            revision: s.revision,
        })
    }

    async fn get_prefix(&self, prefix: &str) -> Result<(Revision, Vec<KeyValue>), StoreError> {
        self.gate().await?;
        let s = self.lock();
        Ok((s.revision, under(&s.kvs, prefix)))
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.gate().await?;
        let mut s = self.lock();
        let id = s.next_lease;
        s.next_lease += 1;
        s.leases.insert(
            id,
            Lease {
                ttl,
                deadline: Instant::now() + ttl,
                keys: BTreeSet::new(),
            },
        );
        drop(s);
        self.timer.notify_one();
        Ok(id)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<Duration, StoreError> {
        self.gate().await?;
        // Leases lapse only by the timer, so that renewals that waited out
        // a stall are answered as the stall's `expire_first` says.
        let mut s = self.lock();
        match s.leases.get_mut(&lease) {
            Some(l) => {
                l.deadline = Instant::now() + l.ttl;
                Ok(l.ttl)
            }
            None => Err(StoreError::LeaseNotFound),
        }
    }

    async fn revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.gate().await?;
        if revoke(&mut self.lock(), lease) {
            Ok(())
        } else {
            Err(StoreError::LeaseNotFound)
        }
    }

    fn subscribe(&self, prefix: &str, sink: Arc<dyn FeedSink>) {
        let mut s = self.lock();
        sink.deliver(Feed::Reset {
            revision: s.revision,
            kvs: under(&s.kvs, prefix),
        });
        s.subscribers.push((prefix.to_string(), sink));
    }

    fn describe(&self) -> String {
        "the in-memory store".to_string()
    }
}

impl MemStore {
    /// Revokes a lease at once, whatever the store's state (a process that
    /// died and whose death the store saw at once).
    pub fn kill_lease(&self, lease: LeaseId) {
        revoke(&mut self.lock(), lease);
    }

    /// Tells a subscriber everything under `prefix` again, in order with
    /// the changes (a feed that comes back after a partition).
    pub fn resync(&self, prefix: &str, sink: &dyn FeedSink) {
        let s = self.lock();
        sink.deliver(Feed::Reset {
            revision: s.revision,
            kvs: under(&s.kvs, prefix),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Sink(Mutex<Vec<Feed>>);
    impl FeedSink for Sink {
        fn deliver(&self, feed: Feed) {
            self.0.lock().unwrap().push(feed);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transactions_compare_and_set() {
        let s = MemStore::new();
        let t = Txn::new()
            .when(Compare::Missing("a".into()))
            .then(Op::put("a", "1"));
        assert!(s.txn(t.clone()).await.unwrap().succeeded);
        assert!(!s.txn(t).await.unwrap().succeeded, "a exists now");
        let (rev, kvs) = s.get_prefix("").await.unwrap();
        assert_eq!(kvs[0].create, rev);
        let t = Txn::new()
            .when(Compare::Created("a".into(), rev))
            .then(Op::put("a", "2"));
        assert!(s.txn(t).await.unwrap().succeeded);
        let (_, kvs) = s.get_prefix("a").await.unwrap();
        assert_eq!((kvs[0].value.as_slice(), kvs[0].create), (&b"2"[..], rev));
    }

    #[tokio::test(start_paused = true)]
    async fn leases_lapse_and_their_keys_go() {
        let s = MemStore::new();
        let sink = Arc::new(Sink::default());
        s.subscribe("k/", sink.clone());
        let l = s.grant(Duration::from_secs(2)).await.unwrap();
        s.txn(Txn::new().then(Op::put_leased("k/1", "x", l)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        s.keep_alive(l).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(s.get_prefix("k/").await.unwrap().1.len(), 1, "renewed");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(s.get_prefix("k/").await.unwrap().1.is_empty(), "lapsed");
        assert_eq!(s.keep_alive(l).await, Err(StoreError::LeaseNotFound));
        let feeds = sink.0.lock().unwrap();
        assert!(
            matches!(&feeds[2], Feed::Changes { changes, .. } if matches!(&changes[0], Change::Delete { key, .. } if key == "k/1"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_holds_operations_and_leases() {
        let s = MemStore::new();
        let l = s.grant(Duration::from_secs(1)).await.unwrap();
        s.txn(Txn::new().then(Op::put_leased("k", "x", l)))
            .await
            .unwrap();
        s.stall(Duration::from_secs(5), false);
        let t0 = Instant::now();
        // The renewal waits for the stall and is answered first.
        assert!(s.keep_alive(l).await.is_ok());
        assert!(t0.elapsed() >= Duration::from_secs(5));
        assert_eq!(s.get_prefix("k").await.unwrap().1.len(), 1);
        s.stall(Duration::from_secs(5), true);
        assert_eq!(s.keep_alive(l).await, Err(StoreError::LeaseNotFound));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_fails_operations_and_renews_leases_after() {
        let s = MemStore::new();
        let sink = Arc::new(Sink::default());
        s.subscribe("", sink.clone());
        let l = s.grant(Duration::from_secs(1)).await.unwrap();
        s.outage(Duration::from_secs(3));
        assert!(matches!(
            s.txn(Txn::new().then(Op::put("a", "1"))).await,
            Err(StoreError::Unavailable(_))
        ));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            s.keep_alive(l).await.is_ok(),
            "the lease outlived the outage"
        );
        let feeds = sink.0.lock().unwrap();
        assert!(matches!(feeds[1], Feed::Lost));
        assert!(matches!(feeds[2], Feed::Reset { .. }));
    }
}
