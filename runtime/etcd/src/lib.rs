//! The etcd store: real multi-node clusters, one `hacmpd` per node. Keys
//! live under `/hacmp/clstrmgr_<id>/`, so several clusters share one etcd.
//! Nothing protocol-shaped is here: this maps the store interface onto
//! etcd's transactions, leases and watches.
//!
//! Every endpoint is used: each has its own client, a request goes to the
//! endpoint that answered last, and one that fails or does not answer in
//! time is set aside for a while and the next one tried, so a member that
//! is down costs one timeout, not every request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare as ECompare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions,
    PutOptions, Txn as ETxn, TxnOp, WatchOptions,
};
use tokio::time::Instant;

mod tls;
pub use tls::EtcdTls;

use hacmp_gs::store::{
    Change, Compare, Feed, FeedSink, KeyValue, LeaseId, Op, Revision, Store, StoreError, Txn,
    TxnResult,
};

/// How long one try of a request may take on one endpoint while others
/// are left to try.
const TRY: Duration = Duration::from_secs(2);
/// The same for a lease renewal, a small request whose whole budget is
/// the lease's time to live: a member that died must not use it up.
const TRY_RENEWAL: Duration = Duration::from_millis(400);
/// How long an endpoint that failed is passed over.
const SET_ASIDE: Duration = Duration::from_secs(3);
/// How long a call waits for an election among the members to end.
const ELECTION_WAIT: Duration = Duration::from_secs(4);

struct Endpoint {
    url: String,
    client: Client,
    bad_until: Mutex<Option<Instant>>,
}

pub struct EtcdStore {
    me: std::sync::Weak<EtcdStore>,
    endpoints: Vec<Endpoint>,
    preferred: AtomicUsize,
    prefix: String,
    /// Background watches; stopped with the store.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Requests, failed requests, and their time (metrics).
    requests: std::sync::atomic::AtomicU64,
    request_errors: std::sync::atomic::AtomicU64,
    request_us: std::sync::atomic::AtomicU64,
    /// Said once: etcd grants longer leases than asked.
    warned_ttl: std::sync::atomic::AtomicBool,
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// Whether another endpoint might do better: anything but a definite
/// answer from etcd.
fn transient(e: &etcd_client::Error) -> bool {
    match e {
        // Another member answers the same to a request it cannot take,
        // or to a user it does not let in.
        etcd_client::Error::GRpcStatus(s) => !matches!(
            s.code(),
            tonic::Code::NotFound
                | tonic::Code::InvalidArgument
                | tonic::Code::FailedPrecondition
                | tonic::Code::PermissionDenied
                | tonic::Code::Unauthenticated
        ),
        _ => true,
    }
}

/// The innermost cause of an error, which says what happened ("Connection
/// refused") without the layers around it.
fn brief(e: &etcd_client::Error) -> String {
    use std::error::Error;
    let mut last = match e {
        etcd_client::Error::GRpcStatus(s) => s.message().to_string(),
        other => other.to_string(),
    };
    let mut src = e.source();
    while let Some(x) = src {
        last = x.to_string();
        src = x.source();
    }
    last
}

/// A member that is up but between leaders.
fn in_election(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.code() == tonic::Code::Unavailable
            && (s.message().contains("leader changed") || s.message().contains("no leader")))
}

/// What one round over the endpoints saw, besides its result.
#[derive(Default, Clone, Copy)]
struct Seen {
    /// A member said it is in an election.
    electing: bool,
    /// A member let the request time out.
    timed_out: bool,
}

/// The client's deadline passed, or the member's ("request timed out").
fn timed_out(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.code() == tonic::Code::DeadlineExceeded
            || s.message().contains("Timeout expired")
            || s.message().contains("request timed out"))
}

fn lease_gone(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s) if s.code() == tonic::Code::NotFound)
}

impl EtcdStore {
    /// Requests made (each over every endpoint it needed), failed, and
    /// their total time in seconds.
    pub fn request_stats(&self) -> (u64, u64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.requests.load(Relaxed),
            self.request_errors.load(Relaxed),
            self.request_us.load(Relaxed) as f64 / 1e6,
        )
    }

    /// The store of cluster `cluster_id` on these endpoints (connections
    /// are made when first used).
    pub async fn new(endpoints: &[String], cluster_id: u32) -> Result<Arc<EtcdStore>, StoreError> {
        EtcdStore::connect(endpoints, cluster_id, &EtcdTls::default()).await
    }

    /// The same, over TLS when the endpoints are `https://`.
    pub async fn connect(
        endpoints: &[String],
        cluster_id: u32,
        tls: &EtcdTls,
    ) -> Result<Arc<EtcdStore>, StoreError> {
        if endpoints.is_empty() {
            return Err(StoreError::Unavailable("no etcd endpoint given".into()));
        }
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
        if let Some(t) = tls.options(endpoints).map_err(StoreError::Unavailable)? {
            opts = opts.with_tls(t);
        }
        let mut eps = Vec::new();
        for url in endpoints {
            let client = Client::connect([url.as_str()], Some(opts.clone()))
                .await
                .map_err(|e| StoreError::Unavailable(format!("etcd endpoint `{url}`: {e}")))?;
            eps.push(Endpoint {
                url: url.clone(),
                client,
                bad_until: Mutex::new(None),
            });
        }
        Ok(Arc::new_cyclic(|me| EtcdStore {
            me: me.clone(),
            endpoints: eps,
            preferred: AtomicUsize::new(0),
            prefix: format!("/hacmp/clstrmgr_{cluster_id}/"),
            tasks: Mutex::new(Vec::new()),
            requests: Default::default(),
            request_errors: Default::default(),
            request_us: Default::default(),
            warned_ttl: Default::default(),
        }))
    }

    fn k(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }

    /// Endpoints in the order to try: the last good one, then the others,
    /// those set aside last.
    fn order(&self) -> Vec<usize> {
        let n = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let now = Instant::now();
        let mut v: Vec<usize> = (0..n).map(|i| (first + i) % n).collect();
        v.sort_by_key(|i| {
            self.endpoints[*i]
                .bad_until
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|t| t > now)
        });
        v
    }

    /// Runs `f` on the endpoints in turn until one answers.
    async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        self.call_trying(what, TRY, f).await
    }

    /// `call`, giving each endpoint but the last `each` to answer.
    async fn call_trying<T, F, Fut>(
        &self,
        what: &str,
        each: Duration,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        // A member that answers "leader changed" or "no leader" is in an
        // election, which ends within a second or two: another round then
        // succeeds. So may one that let the request time out (a follower
        // holds a read until a leader is elected; a loaded machine makes
        // elections slow): members that never answer make a round longer
        // than the wait, so they are not tried again. A renewal has its
        // own deadline and is not held up by such a guess.
        let started = Instant::now();
        let mut round = 0u32;
        let renewal = each == TRY_RENEWAL;
        loop {
            let (result, seen) = self.round(what, each, &f).await;
            let electing = seen.electing || (seen.timed_out && !renewal);
            match result {
                Err(StoreError::Unavailable(_))
                    if electing && started.elapsed() < ELECTION_WAIT =>
                {
                    round += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(round.min(5)))).await;
                }
                r => {
                    use std::sync::atomic::Ordering::Relaxed;
                    self.requests.fetch_add(1, Relaxed);
                    self.request_us
                        .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
                    if r.is_err() {
                        self.request_errors.fetch_add(1, Relaxed);
                    }
                    return r;
                }
            }
        }
    }

    /// One try of each endpoint; also what the members said.
    async fn round<T, F, Fut>(
        &self,
        what: &str,
        each: Duration,
        f: &F,
    ) -> (Result<T, StoreError>, Seen)
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let order = self.order();
        let mut last = String::new();
        let mut seen = Seen::default();
        for (k, i) in order.iter().enumerate() {
            let ep = &self.endpoints[*i];
            let limit = if k + 1 == order.len() {
                Duration::from_secs(5)
            } else {
                each
            };
            match tokio::time::timeout(limit, f(ep.client.clone())).await {
                Ok(Ok(v)) => {
                    self.preferred.store(*i, Ordering::Relaxed);
                    *ep.bad_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    return (Ok(v), seen);
                }
                Ok(Err(e)) if lease_gone(&e) => return (Err(StoreError::LeaseNotFound), seen),
                Ok(Err(e)) if !transient(&e) => {
                    return (
                        Err(StoreError::Unavailable(format!(
                            "etcd refused {what}: {}",
                            brief(&e)
                        ))),
                        seen,
                    )
                }
                Ok(Err(e)) => {
                    seen.electing |= in_election(&e);
                    seen.timed_out |= timed_out(&e);
                    // A member that refuses the client's certificate only
                    // closes the connection: say where to look.
                    let tls = !in_election(&e) && ep.url.starts_with("https://");
                    last = format!(
                        "{}: {}{}",
                        ep.url,
                        brief(&e),
                        if tls {
                            " (over TLS: check --etcd-cacert, --etcd-cert and --etcd-key)"
                        } else {
                            ""
                        }
                    );
                }
                Err(_) => {
                    seen.timed_out = true;
                    last = format!(
                        "{}: no answer in {}",
                        ep.url,
                        humantime::format_duration(limit)
                    )
                }
            }
            *ep.bad_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + SET_ASIDE);
        }
        (Err(StoreError::Unavailable(format!("etcd ({last})"))), seen)
    }

    fn compare(&self, c: &Compare) -> ECompare {
        match c {
            Compare::Missing(k) => ECompare::version(self.k(k), CompareOp::Equal, 0),
            Compare::Exists(k) => ECompare::version(self.k(k), CompareOp::Greater, 0),
            Compare::Modified(k, r) => ECompare::mod_revision(self.k(k), CompareOp::Equal, *r),
            Compare::Created(k, r) => ECompare::create_revision(self.k(k), CompareOp::Equal, *r),
            Compare::Value(k, v) => ECompare::value(self.k(k), CompareOp::Equal, v.clone()),
        }
    }

    fn op(&self, o: &Op) -> TxnOp {
        match o {
            Op::Put { key, value, lease } => TxnOp::put(
                self.k(key),
                value.clone(),
                lease.map(|l| PutOptions::new().with_lease(l)),
            ),
            Op::Delete(k) => TxnOp::delete(self.k(k), None),
            Op::DeletePrefix(p) => {
                TxnOp::delete(self.k(p), Some(DeleteOptions::new().with_prefix()))
            }
        }
    }

    fn kv(&self, kv: &etcd_client::KeyValue) -> Option<KeyValue> {
        Some(KeyValue {
            key: kv.key_str().ok()?.strip_prefix(&self.prefix)?.to_string(),
            value: kv.value().to_vec(),
            create: kv.create_revision(),
            modified: kv.mod_revision(),
            lease: kv.lease(),
        })
    }
}

/// Follows a prefix: a full read, then a watch from the next revision; on
/// any break, says the feed is lost and starts again (on another endpoint
/// if need be).
async fn follow(store: std::sync::Weak<EtcdStore>, prefix: String, sink: Arc<dyn FeedSink>) {
    let mut told = false;
    loop {
        let Some(s) = store.upgrade() else { return };
        let full = s.k(&prefix);
        let read = s
            .call("a read", |mut c| {
                let full = full.clone();
                async move { c.get(full, Some(GetOptions::new().with_prefix())).await }
            })
            .await;
        let started = match read {
            Ok(r) => {
                let revision = r.header().map_or(0, |h| h.revision());
                let kvs: Vec<KeyValue> = r.kvs().iter().filter_map(|kv| s.kv(kv)).collect();
                let opts = WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1);
                let i = s.preferred.load(Ordering::Relaxed) % s.endpoints.len();
                let mut c = s.endpoints[i].client.clone();
                match tokio::time::timeout(TRY, c.watch(full.clone(), Some(opts))).await {
                    Ok(Ok(stream)) => Some((revision, kvs, stream)),
                    _ => {
                        *s.endpoints[i]
                            .bad_until
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + SET_ASIDE);
                        None
                    }
                }
            }
            Err(e) => {
                if !told {
                    tracing::warn!("cannot follow the group in etcd: {e}; trying again");
                    told = true;
                }
                None
            }
        };
        if let Some((revision, kvs, mut stream)) = started {
            if told {
                tracing::info!("following the group in etcd again");
                told = false;
            }
            sink.deliver(Feed::Reset { revision, kvs });
            drop(s);
            loop {
                let msg = match stream.message().await {
                    Ok(Some(m)) if !m.canceled() => m,
                    _ => break,
                };
                let Some(s) = store.upgrade() else { return };
                // One delivery per revision, in order.
                let mut batch: Vec<Change> = Vec::new();
                let mut rev = 0;
                for ev in msg.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let r = kv.mod_revision();
                    if r != rev && !batch.is_empty() {
                        sink.deliver(Feed::Changes {
                            revision: rev,
                            changes: std::mem::take(&mut batch),
                        });
                    }
                    rev = r;
                    match ev.event_type() {
                        EventType::Put => {
                            if let Some(kv) = s.kv(kv) {
                                batch.push(Change::Put(kv));
                            }
                        }
                        EventType::Delete => {
                            if let Some(key) =
                                kv.key_str().ok().and_then(|k| k.strip_prefix(&s.prefix))
                            {
                                batch.push(Change::Delete {
                                    key: key.to_string(),
                                    revision: r,
                                });
                            }
                        }
                    }
                }
                if !batch.is_empty() {
                    sink.deliver(Feed::Changes {
                        revision: rev,
                        changes: batch,
                    });
                }
            }
            sink.deliver(Feed::Lost);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn txn(&self, t: Txn) -> Result<TxnResult, StoreError> {
        let txn = ETxn::new()
            .when(t.when.iter().map(|c| self.compare(c)).collect::<Vec<_>>())
            .and_then(t.then.iter().map(|o| self.op(o)).collect::<Vec<_>>());
        let r = self
            .call("a transaction", |mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
        Ok(TxnResult {
            succeeded: r.succeeded(),
            revision: r.header().map_or(0, |h| h.revision()),
        })
    }

    async fn get_prefix(&self, prefix: &str) -> Result<(Revision, Vec<KeyValue>), StoreError> {
        let full = self.k(prefix);
        let r = self
            .call("a read", |mut c| {
                let full = full.clone();
                async move { c.get(full, Some(GetOptions::new().with_prefix())).await }
            })
            .await?;
        Ok((
            r.header().map_or(0, |h| h.revision()),
            r.kvs().iter().filter_map(|kv| self.kv(kv)).collect(),
        ))
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        // Whole seconds, rounded up: a lease shorter than asked would lapse
        // before its keeper fences the node.
        let secs = ttl.as_secs_f64().ceil().max(1.0) as i64;
        let r = self
            .call(
                "a lease",
                |mut c| async move { c.lease_grant(secs, None).await },
            )
            .await?;
        // etcd never grants less than one and a half election timeouts
        // (rounded up to a second): the node would fence itself by the
        // time to live it asked for, and be declared failed only by the
        // longer one etcd gave.
        if r.ttl() > secs
            && !self
                .warned_ttl
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                "etcd granted leases of {} s for the {secs} s asked: its minimum lease is 1.5 election timeouts, rounded up to a second; failures are seen after {} s, not {secs} s. For a 1 s time to live run etcd with --heartbeat-interval=50 --election-timeout=500 (docs/group-services.md)",
                r.ttl(),
                r.ttl()
            );
        }
        Ok(r.id())
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<Duration, StoreError> {
        let ttl = self
            .call_trying("a lease renewal", TRY_RENEWAL, |mut c| async move {
                let (mut keeper, mut stream) = c.lease_keep_alive(lease).await?;
                keeper.keep_alive().await?;
                match stream.message().await? {
                    Some(r) => Ok(r.ttl()),
                    None => Err(etcd_client::Error::LeaseKeepAliveError("no answer".into())),
                }
            })
            .await?;
        if ttl <= 0 {
            Err(StoreError::LeaseNotFound)
        } else {
            Ok(Duration::from_secs(ttl as u64))
        }
    }

    async fn revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.call("a lease revocation", |mut c| async move {
            c.lease_revoke(lease).await
        })
        .await
        .map(|_| ())
    }

    fn subscribe(&self, prefix: &str, sink: Arc<dyn FeedSink>) {
        let t = tokio::spawn(follow(self.me.clone(), prefix.to_string(), sink));
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(t);
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.call("a compaction", |mut c| async move {
            c.compact(revision, None).await
        })
        .await
        .map(|_| ())
    }

    fn describe(&self) -> String {
        let urls: Vec<&str> = self.endpoints.iter().map(|e| e.url.as_str()).collect();
        format!("etcd at {}", urls.join(","))
    }
}
