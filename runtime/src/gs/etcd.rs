//! Group services on etcd: real multi-node clusters, one daemon per node.
//!
//! Keys live under `/hacmp/clstrmgr_<id>/`, so several clusters share one
//! etcd. Under `s/` (watched as one prefix):
//!
//! | key | what |
//! |---|---|
//! | `s/identity` | the group's bundle hash and file hashes (set by the first node) |
//! | `s/alive/<node>` | on the node's lease: the node is up (a lapsed lease is a failure) |
//! | `s/roster/<node>` | the node completed its join (no lease) |
//! | `s/queue/<id>` | a queued event; ties break on the key's create revision |
//! | `s/seq`, `s/current` | the last claimed event, and the running one (claimed by a transaction) |
//! | `s/ev/<seq>/arrive/<at>/<node>` | barrier arrivals |
//! | `s/ev/<seq>/{done,failed,decision}/<node>`, `s/ev/<seq>/ended` | the rest of the event's protocol |
//! | `s/outcome/<seq>` | how it ended |
//!
//! Statuses (`status/<node>`, on the node's lease) live outside `s/` so that
//! reporting wakes nobody. Every wait is a watch on `s/`; every decision that
//! more than one node may take (claiming, finishing, declaring a failure) is
//! a transaction that only one of them wins. When etcd cannot be reached,
//! operations wait and retry, saying so in the log: a node never goes on
//! blind.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, PutOptions,
    Txn, TxnOp, WatchOptions,
};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{
    BarrierOutcome, ClaimedEvent, Decision, FailureReport, GroupServices, GsError, Identity,
    NodeStatus, OperatorCommand, Step, SyncPoint, View, Wake,
};
use crate::event::{EventKind, EventRequest, NodeId, Outcome, QueuedEvent};

#[derive(Clone, Debug)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    pub cluster_id: u32,
    pub node: NodeId,
    /// Lease time to live: a node silent this long has failed.
    pub ttl: Duration,
    pub settle: Duration,
}

/// What one read of `s/` holds.
#[derive(Default, Debug)]
struct Snap {
    revision: i64,
    identity: Option<Identity>,
    alive: BTreeSet<NodeId>,
    roster: BTreeMap<NodeId, i64>,
    /// (key, event, create revision)
    queue: Vec<(String, QueuedEvent, i64)>,
    seq: u64,
    seq_mod: i64,
    current: Option<ClaimedEvent>,
    current_mod: i64,
    arrived: BTreeMap<String, BTreeSet<NodeId>>,
    done: BTreeSet<NodeId>,
    failed: BTreeSet<NodeId>,
    decisions: BTreeMap<NodeId, Decision>,
    ended: Option<Outcome>,
    lost: BTreeSet<NodeId>,
    outcomes: BTreeMap<u64, Outcome>,
}

impl Snap {
    /// Members of the running event that are still up.
    fn live(&self) -> BTreeSet<NodeId> {
        self.current.as_ref().map_or_else(BTreeSet::new, |c| {
            c.membership
                .iter()
                .copied()
                .filter(|n| self.alive.contains(n))
                .collect()
        })
    }

    fn sorted_queue(&self) -> Vec<&(String, QueuedEvent, i64)> {
        let mut q: Vec<&(String, QueuedEvent, i64)> = self.queue.iter().collect();
        q.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)));
        q
    }
}

/// Members are the roster's nodes that are up; joining nodes are up and not
/// yet on the roster.
fn view_of(s: &Snap) -> View {
    View {
        version: s.revision as u64,
        members: s
            .roster
            .keys()
            .copied()
            .filter(|n| s.alive.contains(n))
            .collect(),
        joining: s
            .alive
            .iter()
            .copied()
            .filter(|n| !s.roster.contains_key(n))
            .collect(),
    }
}

/// Builds a snapshot from the keys of `s/` (`p` is the full prefix):
/// (key, value, create revision, mod revision).
fn parse_snap<'a>(
    p: &str,
    revision: i64,
    kvs: impl Iterator<Item = (&'a str, &'a [u8], i64, i64)>,
) -> Snap {
    let mut s = Snap {
        revision,
        ..Snap::default()
    };
    let mut evs: Vec<(u64, String, Vec<u8>)> = Vec::new();
    for (key, value, create, modified) in kvs {
        let Some(rel) = key.strip_prefix(p) else {
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        match parts.as_slice() {
            ["identity"] => s.identity = parse(value),
            ["alive", n] => s.alive.extend(n.parse::<NodeId>().ok()),
            ["roster", n] => {
                if let Ok(n) = n.parse() {
                    s.roster.insert(n, modified);
                }
            }
            ["queue", id] => {
                if let Some(q) = parse::<QueuedEvent>(value) {
                    s.queue.push((id.to_string(), q, create));
                }
            }
            ["seq"] => {
                s.seq = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                s.seq_mod = modified;
            }
            ["current"] => {
                s.current = parse(value);
                s.current_mod = modified;
            }
            ["outcome", seq] => {
                if let (Ok(seq), Some(o)) = (seq.parse(), parse::<Outcome>(value)) {
                    s.outcomes.insert(seq, o);
                }
            }
            ["ev", seq, rest @ ..] => {
                if let Ok(seq) = seq.parse() {
                    evs.push((seq, rest.join("/"), value.to_vec()));
                }
            }
            _ => {}
        }
    }
    let cur = s.current.as_ref().map(|c| c.seq);
    for (seq, rest, value) in evs {
        if Some(seq) != cur {
            continue;
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let node = |x: &str| x.parse::<NodeId>().ok();
        match parts.as_slice() {
            ["arrive", at, n] => {
                if let Some(n) = node(n) {
                    s.arrived.entry(at.to_string()).or_default().insert(n);
                }
            }
            ["done", n] => s.done.extend(node(n)),
            ["failed", n] => s.failed.extend(node(n)),
            ["lost", n] => s.lost.extend(node(n)),
            ["decision", n] => {
                if let (Some(n), Some(d)) = (node(n), parse::<Decision>(&value)) {
                    s.decisions.insert(n, d);
                }
            }
            ["ended"] => s.ended = parse(&value),
            _ => {}
        }
    }
    s
}

fn at_key(at: SyncPoint) -> String {
    match at {
        SyncPoint::Barrier(n) => format!("b{n}"),
        SyncPoint::Cbarrier => "cb".to_string(),
    }
}

/// A key of `s/` as the watch last saw it.
#[derive(Clone, Debug)]
struct Kv {
    value: Vec<u8>,
    create: i64,
    modified: i64,
}

/// `s/` as kept current by the watch: waits evaluate it without a read.
#[derive(Default)]
struct Cache {
    revision: i64,
    kvs: BTreeMap<String, Kv>,
    /// False while the watch is down: reads go to etcd (and wait for it).
    valid: bool,
}

pub struct EtcdGs {
    client: Client,
    prefix: String,
    node: NodeId,
    lease: i64,
    settle: Duration,
    changed: watch::Sender<u64>,
    expelled: AtomicBool,
    counter: AtomicU64,
    /// Queue keys and when they last changed, for the settle interval.
    queue_seen: Mutex<(Vec<String>, Instant)>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    cache: Mutex<Cache>,
}

fn unavailable(e: etcd_client::Error) -> GsError {
    GsError::Unavailable(e.to_string())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn parse<T: DeserializeOwned>(b: &[u8]) -> Option<T> {
    serde_json::from_slice(b).ok()
}

impl EtcdGs {
    /// Connects, takes a lease for this node and starts the lease keeper and
    /// the watch of the group's keys.
    pub async fn connect(cfg: &EtcdConfig) -> Result<Arc<EtcdGs>, GsError> {
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(5));
        let mut client = Client::connect(&cfg.endpoints, Some(opts))
            .await
            .map_err(unavailable)?;
        let ttl = cfg.ttl.as_secs().max(1) as i64;
        // The channel balances over the endpoints: a request that meets a
        // member that is down is tried again, and reaches another.
        let mut tries = 0;
        let lease = loop {
            match client.lease_grant(ttl, None).await {
                Ok(r) => break r.id(),
                Err(e) if tries >= 20 => return Err(unavailable(e)),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        let (tx, _) = watch::channel(0);
        let gs = Arc::new(EtcdGs {
            client,
            prefix: format!("/hacmp/clstrmgr_{}/", cfg.cluster_id),
            node: cfg.node,
            lease,
            settle: cfg.settle,
            changed: tx,
            expelled: AtomicBool::new(false),
            counter: AtomicU64::new(0),
            queue_seen: Mutex::new((Vec::new(), Instant::now())),
            tasks: Mutex::new(Vec::new()),
            cache: Mutex::new(Cache::default()),
        });
        let keeper = tokio::spawn(Self::keep_lease(
            Arc::downgrade(&gs),
            gs.client.clone(),
            lease,
            cfg.ttl,
        ));
        let watcher = tokio::spawn(Self::watch_changes(
            Arc::downgrade(&gs),
            gs.client.clone(),
            format!("{}s/", gs.prefix),
        ));
        gs.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend([keeper, watcher]);
        // Start from a synchronised view (else reads go to etcd until it is).
        let mut rx = gs.changed.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while !gs.cache.lock().unwrap_or_else(|p| p.into_inner()).valid {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        Ok(gs)
    }

    /// A client for operator commands: no lease, no watch of its own.
    pub async fn operator(endpoints: &[String], cluster_id: u32) -> Result<Arc<EtcdGs>, GsError> {
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(5));
        let client = Client::connect(endpoints, Some(opts))
            .await
            .map_err(unavailable)?;
        let (tx, _) = watch::channel(0);
        Ok(Arc::new(EtcdGs {
            client,
            prefix: format!("/hacmp/clstrmgr_{cluster_id}/"),
            node: 0,
            lease: 0,
            settle: Duration::ZERO,
            changed: tx,
            expelled: AtomicBool::new(false),
            counter: AtomicU64::new(0),
            queue_seen: Mutex::new((Vec::new(), Instant::now())),
            tasks: Mutex::new(Vec::new()),
            cache: Mutex::new(Cache::default()),
        }))
    }

    async fn keep_lease(
        me: std::sync::Weak<EtcdGs>,
        mut client: Client,
        lease: i64,
        ttl: Duration,
    ) {
        let every = (ttl / 3).max(Duration::from_millis(200));
        let mut warned = false;
        loop {
            match client.lease_keep_alive(lease).await {
                Ok((mut keeper, mut stream)) => loop {
                    if keeper.keep_alive().await.is_err() {
                        break;
                    }
                    match stream.message().await {
                        Ok(Some(r)) if r.ttl() <= 0 => {
                            tracing::error!(
                                "this node's lease expired: the group has declared it failed"
                            );
                            if let Some(g) = me.upgrade() {
                                g.expelled.store(true, Ordering::SeqCst);
                                g.changed.send_modify(|v| *v += 1);
                            }
                            return;
                        }
                        Ok(Some(_)) => {
                            if warned {
                                tracing::info!("etcd reachable again");
                                warned = false;
                            }
                        }
                        _ => break,
                    }
                    if me.upgrade().is_none() {
                        return;
                    }
                    tokio::time::sleep(every).await;
                },
                Err(e) => {
                    if !warned {
                        tracing::error!("etcd unreachable, cannot renew this node's lease: {e}");
                        warned = true;
                    }
                }
            }
            if me.upgrade().is_none() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Keeps the cache of `s/` current: a read, then a watch from the next
    /// revision; on any break, marks the cache stale and starts again.
    async fn watch_changes(me: std::sync::Weak<EtcdGs>, mut client: Client, prefix: String) {
        loop {
            let synced = async {
                let r = client
                    .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
                    .await?;
                let revision = r.header().map_or(0, |h| h.revision());
                let kvs: BTreeMap<String, Kv> = r
                    .kvs()
                    .iter()
                    .filter_map(|kv| {
                        let key = kv.key_str().ok()?.to_string();
                        Some((
                            key,
                            Kv {
                                value: kv.value().to_vec(),
                                create: kv.create_revision(),
                                modified: kv.mod_revision(),
                            },
                        ))
                    })
                    .collect();
                let opts = WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1);
                let stream = client.watch(prefix.clone(), Some(opts)).await?;
                Ok::<_, etcd_client::Error>((revision, kvs, stream))
            }
            .await;
            let Some(g) = me.upgrade() else { return };
            match synced {
                Ok((revision, kvs, mut stream)) => {
                    *g.cache.lock().unwrap_or_else(|p| p.into_inner()) = Cache {
                        revision,
                        kvs,
                        valid: true,
                    };
                    g.changed.send_modify(|v| *v += 1);
                    drop(g);
                    while let Ok(Some(msg)) = stream.message().await {
                        let Some(g) = me.upgrade() else { return };
                        if msg.canceled() {
                            break;
                        }
                        {
                            let mut c = g.cache.lock().unwrap_or_else(|p| p.into_inner());
                            for ev in msg.events() {
                                let Some(kv) = ev.kv() else { continue };
                                let Ok(key) = kv.key_str() else { continue };
                                match ev.event_type() {
                                    EventType::Put => {
                                        let v = Kv {
                                            value: kv.value().to_vec(),
                                            create: kv.create_revision(),
                                            modified: kv.mod_revision(),
                                        };
                                        c.kvs.insert(key.to_string(), v);
                                    }
                                    EventType::Delete => {
                                        c.kvs.remove(key);
                                    }
                                }
                            }
                            if let Some(h) = msg.header() {
                                c.revision = c.revision.max(h.revision());
                            }
                        }
                        g.changed.send_modify(|v| *v += 1);
                    }
                }
                Err(e) => tracing::debug!("watch failed: {e}"),
            }
            let Some(g) = me.upgrade() else { return };
            g.cache.lock().unwrap_or_else(|p| p.into_inner()).valid = false;
            g.changed.send_modify(|v| *v += 1);
            drop(g);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    fn k(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }

    async fn snapshot(&self) -> Result<Snap, GsError> {
        let p = self.k("s/");
        {
            let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if c.valid {
                return Ok(parse_snap(
                    &p,
                    c.revision,
                    c.kvs
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.value.as_slice(), v.create, v.modified)),
                ));
            }
        }
        let mut c = self.client.clone();
        let r = c
            .get(p.clone(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(unavailable)?;
        let revision = r.header().map_or(0, |h| h.revision());
        Ok(parse_snap(
            &p,
            revision,
            r.kvs().iter().filter_map(|kv| {
                Some((
                    kv.key_str().ok()?,
                    kv.value(),
                    kv.create_revision(),
                    kv.mod_revision(),
                ))
            }),
        ))
    }

    async fn put(&self, rel: &str, value: String, leased: bool) -> Result<(), GsError> {
        let mut c = self.client.clone();
        let opts = leased.then(|| PutOptions::new().with_lease(self.lease));
        c.put(self.k(rel), value, opts).await.map_err(unavailable)?;
        Ok(())
    }

    async fn txn(&self, t: Txn) -> Result<bool, GsError> {
        let mut c = self.client.clone();
        Ok(c.txn(t).await.map_err(unavailable)?.succeeded())
    }

    /// Retries an operation while etcd is unreachable (saying so).
    async fn retry<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T, GsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, GsError>>,
    {
        let mut delay = Duration::from_millis(200);
        let mut told = false;
        loop {
            match f().await {
                Err(GsError::Unavailable(e)) => {
                    if !told {
                        tracing::error!(node = self.node, "etcd unreachable ({e}) while {what}: waiting for it, not going on blind");
                        told = true;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
                other => {
                    if told {
                        tracing::info!(node = self.node, "etcd reachable again ({what})");
                    }
                    return other;
                }
            }
        }
    }

    /// The shared chores every waiter does on a fresh snapshot: declare the
    /// failure of members whose lease lapsed, and finish the current event
    /// once every live member is done. Each is a transaction only one wins.
    async fn chores(&self, s: &Snap) -> Result<(), GsError> {
        for (n, rev) in &s.roster {
            if !s.alive.contains(n) {
                let t = Txn::new()
                    .when([Compare::mod_revision(
                        self.k(&format!("s/roster/{n}")),
                        CompareOp::Equal,
                        *rev,
                    )])
                    .and_then([
                        TxnOp::delete(self.k(&format!("s/roster/{n}")), None),
                        TxnOp::put(
                            self.k(&format!("s/queue/fail-{n}-{rev}")),
                            json(&QueuedEvent::new(
                                EventRequest::system(EventKind::NodeFailure, *n),
                                0,
                            )),
                            None,
                        ),
                    ]);
                if self.txn(t).await? {
                    tracing::warn!(
                        node = self.node,
                        failed = n,
                        "node {n} failed (its lease lapsed): its node-down event is queued"
                    );
                }
            }
        }
        if let Some(c) = &s.current {
            // A joining node that dies during its own join gets a node-down too.
            for n in c.membership.iter().filter(|n| {
                !s.alive.contains(n) && !s.roster.contains_key(n) && !s.lost.contains(n)
            }) {
                let marker = self.k(&format!("s/ev/{}/lost/{n}", c.seq));
                let t = Txn::new()
                    .when([Compare::version(marker.clone(), CompareOp::Equal, 0)])
                    .and_then([
                        TxnOp::put(marker, "1", None),
                        TxnOp::put(
                            self.k(&format!("s/queue/fail-{n}-s{}", c.seq)),
                            json(&QueuedEvent::new(
                                EventRequest::system(EventKind::NodeFailure, *n),
                                0,
                            )),
                            None,
                        ),
                    ]);
                self.txn(t).await?;
            }
            let live = s.live();
            if live.iter().all(|n| s.done.contains(n)) {
                let outcome = s
                    .ended
                    .unwrap_or(if s.failed.iter().any(|n| live.contains(n)) {
                        Outcome::Failed
                    } else {
                        Outcome::Completed
                    });
                let r = &c.event.request;
                let mut ops = vec![
                    TxnOp::delete(self.k("s/current"), None),
                    TxnOp::put(
                        self.k(&format!("s/outcome/{}", c.seq)),
                        json(&outcome),
                        None,
                    ),
                    TxnOp::delete(
                        self.k(&format!("s/ev/{}/", c.seq)),
                        Some(DeleteOptions::new().with_prefix()),
                    ),
                ];
                match r.kind {
                    EventKind::NodeJoin if s.alive.contains(&r.location) => ops.push(TxnOp::put(
                        self.k(&format!("s/roster/{}", r.location)),
                        "1",
                        None,
                    )),
                    EventKind::NodeStop { .. } => {
                        ops.push(TxnOp::delete(
                            self.k(&format!("s/roster/{}", r.location)),
                            None,
                        ));
                        ops.push(TxnOp::delete(
                            self.k(&format!("s/alive/{}", r.location)),
                            None,
                        ));
                    }
                    _ => {}
                }
                let t = Txn::new()
                    .when([Compare::mod_revision(
                        self.k("s/current"),
                        CompareOp::Equal,
                        s.current_mod,
                    )])
                    .and_then(ops);
                self.txn(t).await?;
            }
        }
        Ok(())
    }

    /// Re-reads the group after every change until `f` answers.
    async fn wait_for<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&Snap, &Self) -> Step<T>,
    ) -> Result<T, GsError> {
        let mut rx = self.changed.subscribe();
        loop {
            if self.expelled.load(Ordering::SeqCst) {
                return Err(GsError::Expelled);
            }
            let s = self.retry(what, || self.snapshot()).await?;
            self.retry(what, || self.chores(&s)).await?;
            {
                let mut q = self.queue_seen.lock().unwrap_or_else(|p| p.into_inner());
                let keys: Vec<String> = s.queue.iter().map(|x| x.0.clone()).collect();
                if keys != q.0 {
                    *q = (keys, Instant::now());
                }
            }
            if let Some(v) = super::pause(&mut rx, f(&s, self)).await? {
                return Ok(v);
            }
        }
    }

    fn queue_key(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("s/queue/{t:024}-{}-{n}", self.node)
    }

    /// Tries to claim the highest-priority event; true if this node won.
    async fn claim(&self, s: &Snap) -> Result<bool, GsError> {
        let Some((key, ev, _)) = s.sorted_queue().into_iter().next().cloned() else {
            return Ok(false);
        };
        let r = &ev.request;
        let membership =
            super::event_membership(s.roster.keys().copied().filter(|n| s.alive.contains(n)), r);
        let qk = self.k(&format!("s/queue/{key}"));
        let drop_it = (r.kind == EventKind::NodeJoin && !s.alive.contains(&r.location))
            || membership.is_empty();
        if drop_it {
            let t = Txn::new()
                .when([Compare::version(qk.clone(), CompareOp::Greater, 0)])
                .and_then([TxnOp::delete(qk, None)]);
            self.txn(t).await?;
            return Ok(false);
        }
        let seq = s.seq + 1;
        let claimed = ClaimedEvent {
            seq,
            event: ev.clone(),
            membership: membership.into_iter().collect(),
            why: ev.why_next(s.queue.len() - 1),
        };
        let t = Txn::new()
            .when([
                Compare::mod_revision(self.k("s/seq"), CompareOp::Equal, s.seq_mod),
                Compare::version(self.k("s/current"), CompareOp::Equal, 0),
                Compare::version(qk.clone(), CompareOp::Greater, 0),
            ])
            .and_then([
                TxnOp::put(self.k("s/current"), json(&claimed), None),
                TxnOp::put(self.k("s/seq"), seq.to_string(), None),
                TxnOp::delete(qk, None),
            ]);
        self.txn(t).await
    }

    /// Stops the background tasks and revokes the lease (the node leaves at
    /// once; the others see a failure unless it left gracefully first).
    pub async fn close(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        if self.lease != 0 {
            let mut c = self.client.clone();
            let _ = c.lease_revoke(self.lease).await;
        }
    }
}

#[async_trait]
impl GroupServices for EtcdGs {
    fn group_name(&self) -> String {
        self.prefix
            .trim_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    }

    async fn join(&self, node: NodeId, identity: &Identity) -> Result<(), GsError> {
        let s = self.retry("joining", || self.snapshot()).await?;
        if s.alive.contains(&node) {
            return Err(GsError::Refused(format!("node {node} is already up in the group (another daemon with the same node number?)")));
        }
        match &s.identity {
            Some(g) if g.hash != identity.hash => {
                let files = g.differing(identity);
                return Err(GsError::Refused(format!(
                    "node {node} has a different bundle ({}) from the group's ({}); files that differ: {}",
                    &identity.hash[..identity.hash.len().min(12)],
                    &g.hash[..g.hash.len().min(12)],
                    if files.is_empty() { "none listed (the site configuration differs)".to_string() } else { files.join(", ") }
                )));
            }
            Some(_) => {}
            None => {
                let set = || async {
                    let t = Txn::new()
                        .when([Compare::version(self.k("s/identity"), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(self.k("s/identity"), json(identity), None)]);
                    self.txn(t).await
                };
                if !self.retry("joining", set).await? {
                    // Someone else was first: compare with theirs.
                    return Box::pin(self.join(node, identity)).await;
                }
            }
        }
        let key = format!("s/alive/{node}");
        self.retry("joining", || self.put(&key, "1".into(), true))
            .await?;
        // Seen by our own view before anything else is decided on it.
        self.wait_for("joining", |s, _| {
            if s.alive.contains(&node) {
                Step::Done(Ok(()))
            } else {
                Step::Wait
            }
        })
        .await?;
        self.enqueue(EventRequest::system(EventKind::NodeJoin, node))
            .await
    }

    async fn leave(&self, node: NodeId, takeover: bool) -> Result<(), GsError> {
        let s = self.retry("leaving", || self.snapshot()).await?;
        if !s.roster.contains_key(&node) {
            let key = self.k(&format!("s/alive/{node}"));
            return self
                .retry("leaving", || async {
                    let mut c = self.client.clone();
                    c.delete(key.clone(), None)
                        .await
                        .map(|_| ())
                        .map_err(unavailable)
                })
                .await;
        }
        self.enqueue(EventRequest::system(EventKind::NodeStop { takeover }, node))
            .await
    }

    async fn view(&self) -> Result<View, GsError> {
        Ok(view_of(&self.snapshot().await?))
    }

    async fn watch_view(&self, after: u64) -> Result<View, GsError> {
        self.wait_for("watching the membership", |s, _| {
            if s.revision as u64 > after {
                Step::Done(Ok(view_of(s)))
            } else {
                Step::Wait
            }
        })
        .await
    }

    async fn enqueue(&self, request: EventRequest) -> Result<(), GsError> {
        let key = self.queue_key();
        let v = json(&QueuedEvent::new(request, 0));
        self.retry("queuing an event", || self.put(&key, v.clone(), false))
            .await
    }

    async fn queue(&self) -> Result<Vec<QueuedEvent>, GsError> {
        let s = self.snapshot().await?;
        Ok(s.sorted_queue().into_iter().map(|x| x.1.clone()).collect())
    }

    async fn next_event(&self, node: NodeId, after: u64) -> Result<ClaimedEvent, GsError> {
        // The revision a claim was last tried at: after a lost race, wait for
        // the change that beat it before trying again.
        let mut tried_at = 0i64;
        loop {
            let mut want_claim = false;
            let r = self
                .wait_for("waiting for the next event", |s, this| {
                    if !s.alive.contains(&node)
                        && this.lease != 0
                        && node == this.node
                        && s.revision > 0
                        && !s.alive.is_empty()
                    {
                        // Our key is gone: declared failed, or left.
                        return Step::Done(Err(GsError::Expelled));
                    }
                    if let Some(c) = &s.current {
                        if c.seq > after {
                            return Step::Done(Ok(Some(c.clone())));
                        }
                        return Step::Wait;
                    }
                    if s.queue.is_empty() {
                        return Step::Wait;
                    }
                    let since = this.queue_seen.lock().unwrap_or_else(|p| p.into_inner()).1;
                    if Instant::now() < since + this.settle {
                        return Step::WaitUntil(since + this.settle);
                    }
                    if s.revision <= tried_at {
                        return Step::Wait;
                    }
                    want_claim = true;
                    Step::Done(Ok(None))
                })
                .await?;
            if let Some(c) = r {
                return Ok(c);
            }
            if want_claim {
                let s = self
                    .retry("claiming the next event", || self.snapshot())
                    .await?;
                if s.current.is_none()
                    && !self
                        .retry("claiming the next event", || self.claim(&s))
                        .await?
                {
                    tried_at = s.revision;
                }
            }
        }
    }

    async fn barrier(
        &self,
        node: NodeId,
        seq: u64,
        at: SyncPoint,
    ) -> Result<BarrierOutcome, GsError> {
        let key = format!("s/ev/{seq}/arrive/{}/{node}", at_key(at));
        self.retry("arriving at a barrier", || {
            self.put(&key, "1".into(), false)
        })
        .await?;
        let ak = at_key(at);
        self.wait_for(&format!("waiting at {at}"), |s, _| match &s.current {
            Some(c) if c.seq == seq => {
                if let Some(o) = s.ended {
                    return Step::Done(Ok(BarrierOutcome::Ended(o)));
                }
                let arrived = s.arrived.get(&ak);
                if s.live()
                    .iter()
                    .all(|n| arrived.is_some_and(|a| a.contains(n)))
                {
                    Step::Done(Ok(BarrierOutcome::Passed))
                } else {
                    Step::Wait
                }
            }
            _ => Step::Done(Ok(BarrierOutcome::Ended(
                s.outcomes.get(&seq).copied().unwrap_or(Outcome::Aborted),
            ))),
        })
        .await
    }

    async fn report_failure(&self, report: FailureReport) -> Result<(), GsError> {
        let key = format!("s/ev/{}/failed/{}", report.seq, report.node);
        self.retry("reporting a failure", || {
            self.put(&key, json(&report), false)
        })
        .await
    }

    async fn resolve_failure(&self, node: NodeId, seq: u64) -> Result<(), GsError> {
        let key = self.k(&format!("s/ev/{seq}/failed/{node}"));
        self.retry("resolving a failure", || async {
            let mut c = self.client.clone();
            c.delete(key.clone(), None)
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn end_event(&self, seq: u64, outcome: Outcome) -> Result<(), GsError> {
        let key = self.k(&format!("s/ev/{seq}/ended"));
        self.retry("ending the event", || async {
            let t = Txn::new()
                .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key.clone(), json(&outcome), None)]);
            self.txn(t).await.map(|_| ())
        })
        .await
    }

    async fn finish(&self, node: NodeId, seq: u64) -> Result<(), GsError> {
        let key = format!("s/ev/{seq}/done/{node}");
        self.retry("finishing the event", || self.put(&key, "1".into(), false))
            .await?;
        let s = self
            .retry("finishing the event", || self.snapshot())
            .await?;
        self.retry("finishing the event", || self.chores(&s)).await
    }

    async fn outcome(&self, seq: u64) -> Result<Outcome, GsError> {
        self.wait_for("waiting for the event to end", |s, _| {
            match s.outcomes.get(&seq) {
                Some(o) => Step::Done(Ok(*o)),
                None if s.current.as_ref().is_some_and(|c| c.seq == seq) => Step::Wait,
                None => Step::Done(Ok(Outcome::Aborted)),
            }
        })
        .await
    }

    async fn wait_decision(&self, node: NodeId, seq: u64) -> Result<Wake, GsError> {
        let w = self
            .wait_for("waiting for an operator", |s, _| match &s.current {
                Some(c) if c.seq == seq => {
                    if let Some(d) = s.decisions.get(&node) {
                        return Step::Done(Ok(Wake::Decision(*d)));
                    }
                    match s.ended {
                        Some(o) => Step::Done(Ok(Wake::Ended(o))),
                        None => Step::Wait,
                    }
                }
                _ => Step::Done(Ok(Wake::Ended(
                    s.outcomes.get(&seq).copied().unwrap_or(Outcome::Aborted),
                ))),
            })
            .await?;
        if let Wake::Decision(_) = w {
            let mut c = self.client.clone();
            let _ = c
                .delete(self.k(&format!("s/ev/{seq}/decision/{node}")), None)
                .await;
        }
        Ok(w)
    }

    async fn command(&self, command: OperatorCommand) -> Result<(), GsError> {
        match command {
            OperatorCommand::Raise { event } => self.enqueue(event).await,
            OperatorCommand::Resume {
                seq,
                node,
                decision,
            } => {
                let s = self.snapshot().await?;
                let Some(c) = s.current.as_ref().filter(|c| c.seq == seq) else {
                    return Err(GsError::Refused(format!("event {seq} is not running")));
                };
                let waiting = super::resume_targets(s.failed.iter().copied(), node, seq)?;
                match decision {
                    Decision::Skip | Decision::SkipAndCancel => {
                        self.end_event(c.seq, Outcome::Skipped).await?;
                        if decision == Decision::SkipAndCancel {
                            let mut cl = self.client.clone();
                            cl.delete(self.k("s/queue/"), Some(DeleteOptions::new().with_prefix()))
                                .await
                                .map_err(unavailable)?;
                        }
                    }
                    Decision::Continue | Decision::Rerun => {
                        for n in waiting {
                            self.put(&format!("s/ev/{seq}/decision/{n}"), json(&decision), false)
                                .await?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    async fn report(&self, status: NodeStatus) -> Result<(), GsError> {
        // Best effort: a status that cannot be written is not worth a wait.
        self.put(&format!("status/{}", status.node), json(&status), true)
            .await
    }

    async fn statuses(&self) -> Result<Vec<NodeStatus>, GsError> {
        let mut c = self.client.clone();
        let r = c
            .get(self.k("status/"), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(unavailable)?;
        Ok(r.kvs().iter().filter_map(|kv| parse(kv.value())).collect())
    }
}

impl EtcdGs {
    /// The running event and who arrived where, for `hacmp status`.
    pub async fn current(
        &self,
    ) -> Result<Option<(ClaimedEvent, BTreeMap<String, Vec<NodeId>>, Vec<NodeId>)>, GsError> {
        let s = self.snapshot().await?;
        Ok(s.current.clone().map(|c| {
            (
                c,
                s.arrived
                    .iter()
                    .map(|(k, v)| (k.clone(), v.iter().copied().collect()))
                    .collect(),
                s.failed.iter().copied().collect(),
            )
        }))
    }

    /// Members, joining nodes, and nodes whose lease lapsed and whose
    /// failure is not yet queued.
    pub async fn members(&self) -> Result<(Vec<NodeId>, Vec<NodeId>), GsError> {
        let v = self.view().await?;
        Ok((v.members, v.joining))
    }
}
