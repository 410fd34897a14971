//! Load benchmarks in the manner of etcd's `benchmark` tool: N gRPC connections, each
//! dialing one endpoint (round-robin), M clients pinned to them, latencies in an
//! hdrhistogram, a report in etcd's shape. A run writes only under its own empty
//! prefix and deletes it afterwards, also when interrupted or failing.
//!
//! No CLI parsing and no web here: `run(spec, connector, endpoints, progress, stop)`.

pub mod history;
pub mod observe;
pub mod report;
pub mod schedule;
pub mod spec;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Client, GetOptions, KvClient, LeaseClient, LeaseKeepAliveStream, LeaseKeeper, Txn, TxnOp,
};
use tokio::task::JoinSet;

pub use report::{BenchReport, Bucket, ClusterDelta, OpCounts, Percentile, Recorder, Summary};
pub use spec::{new_run_id, BenchSpec, Consistency, Workload};

use crate::etcd::{error_chain, with_deadline, Connector, EtcdError};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error("prefix {prefix} already holds {count} key(s); a benchmark writes only under an empty prefix and deletes it afterwards, so it refuses to run (choose another --prefix, or delete those keys if they are a benchmark's leftovers)")]
    PrefixNotEmpty { prefix: String, count: i64 },
    #[error("the benchmark's keys under {prefix} could not be deleted ({source}); delete them with: etcdctl del --prefix '{prefix}'")]
    Cleanup {
        prefix: String,
        #[source]
        source: EtcdError,
    },
    #[error("the benchmark's keys under {prefix} could not be deleted (keys were still there after three deletions); delete them with: etcdctl del --prefix '{prefix}'")]
    CleanupIncomplete { prefix: String },
}

pub type Result<T> = std::result::Result<T, BenchError>;

/// Reported to the caller's callback about five times a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub elapsed: Duration,
    pub duration: Option<Duration>,
}

/// What the clients share: the next request number, the limits, the stop flag.
struct Shared {
    next: AtomicU64,
    done: AtomicU64,
    stop: AtomicBool,
    total: Option<u64>,
    end: Option<Instant>,
    start: Instant,
    rate: Option<f64>,
}

impl Shared {
    /// The next request's number, or `None` when the run is over.
    fn ticket(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        if self.end.is_some_and(|end| Instant::now() >= end) {
            return None;
        }
        let t = self.next.fetch_add(1, Ordering::Relaxed);
        match self.total {
            Some(n) if t >= n => None,
            _ => Some(t),
        }
    }

    /// When request `t` is due with a rate limit.
    fn scheduled(&self, t: u64) -> Option<Instant> {
        self.rate
            .map(|r| self.start + Duration::from_secs_f64(t as f64 / r))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Read,
    Write,
    Keepalive,
}

/// One client's result.
#[derive(Default)]
struct ClientResult {
    recorder: Recorder,
    ops: OpCounts,
}

/// Runs `spec` against the cluster at `endpoints`. `progress` is called about five
/// times a second; when `stop` resolves the clients finish their request in flight
/// and the run ends (reported as interrupted). The prefix is deleted in every case
/// once the load has started; a failed deletion is the error returned.
pub async fn run(
    spec: &BenchSpec,
    connector: &Connector,
    endpoints: &[String],
    mut progress: impl FnMut(&Progress),
    stop: impl Future<Output = ()>,
) -> Result<BenchReport> {
    spec.validate().map_err(BenchError::Invalid)?;
    if endpoints.is_empty() {
        return Err(BenchError::Invalid("no endpoints given".into()));
    }
    if let Workload::TxnPut { txn_ops } = spec.workload {
        if txn_ops as u64 > spec.key_space_size {
            return Err(BenchError::Invalid(format!(
                "--txn-ops {txn_ops} needs --key-space-size of at least {txn_ops} (a transaction cannot put one key twice)"
            )));
        }
    }
    let timeout = connector.request_timeout();
    let targets = if spec.target_leader {
        vec![find_leader(connector, endpoints).await?]
    } else {
        endpoints.to_vec()
    };
    let conns: Vec<Client> = futures::future::try_join_all(
        (0..spec.conns)
            .map(|i| connector.connect(std::slice::from_ref(&targets[i % targets.len()]))),
    )
    .await?;

    let run_id = new_run_id();
    let prefix = spec.prefix_for(&run_id);
    let mut kv = conns[0].kv_client();
    let count = count_prefix(&mut kv, &prefix, timeout).await?;
    if count > 0 {
        return Err(BenchError::PrefixNotEmpty { prefix, count });
    }
    let (revision_before, raft_index_before) = cluster_position(&conns[0], timeout).await?;
    let started_unix_ms = crate::unix_ms_now();

    let (recorder, ops, elapsed, interrupted) =
        drive(spec, &conns, &prefix, timeout, &mut progress, stop).await;

    // What the cluster saw, then the cleanup, which runs whatever happened above.
    let after = cluster_position(&conns[0], timeout).await;
    let deleted = cleanup(&mut kv, &prefix, timeout).await;
    let (revision_after, raft_index_after) = after?;
    let keys_deleted = deleted?;

    let summary = recorder.summary(elapsed);
    Ok(BenchReport {
        run_id,
        prefix,
        spec: spec.clone(),
        started_unix_ms,
        corrected_for_coordinated_omission: spec.rate.is_some()
            || matches!(spec.workload, Workload::WatchLatency { .. }),
        interrupted,
        summary,
        histogram: recorder.buckets(),
        percentiles: recorder.percentiles(),
        errors: recorder.errors.clone(),
        ops,
        cluster: ClusterDelta {
            endpoint: targets[0].clone(),
            revision_before,
            revision_after,
            raft_index_before,
            raft_index_after,
        },
        keys_deleted,
        hdr_histogram_v2_base64: recorder.hdr_base64(),
    })
}

/// Runs `spec` as [`run`] does and gathers what a stored run keeps besides: the
/// cluster's facts at the start, the host, and the members' own indicators over the
/// run (their `/metrics` at `metrics_urls`, else at each member's client URL).
#[allow(clippy::too_many_arguments)]
pub async fn run_observed(
    spec: &BenchSpec,
    connector: &Connector,
    endpoints: &[String],
    metrics_urls: &[String],
    cluster: &str,
    source: history::RunSource,
    progress: impl FnMut(&Progress),
    stop: impl Future<Output = ()>,
) -> Result<history::StoredRun> {
    let (facts, urls) = observe::cluster_facts(connector, endpoints, metrics_urls).await;
    let baseline = observe::baseline(connector, urls).await;
    let report = run(spec, connector, endpoints, progress, stop).await?;
    let indicators = baseline.indicators(connector).await;
    Ok(history::StoredRun {
        id: report.run_id.clone(),
        cluster: cluster.to_string(),
        source,
        report,
        facts,
        host: observe::HostFacts::current(),
        indicators,
    })
}

/// The endpoint whose member is the leader.
async fn find_leader(connector: &Connector, endpoints: &[String]) -> Result<String> {
    let mut last = None;
    for ep in endpoints {
        let attempt = async {
            let client = connector.connect(std::slice::from_ref(ep)).await?;
            let mut m = client.maintenance_client();
            with_deadline(
                &format!("status of {ep}"),
                connector.request_timeout(),
                m.status(),
            )
            .await
        };
        match attempt.await {
            Ok(s) if s.header().is_some_and(|h| h.member_id() == s.leader()) => {
                return Ok(ep.clone())
            }
            Ok(_) => {}
            Err(e) => last = Some(e),
        }
    }
    Err(BenchError::Invalid(match last {
        Some(e) => format!("--target-leader: no endpoint is the leader (last error: {e})"),
        None => "--target-leader: no endpoint is the leader".into(),
    }))
}

async fn count_prefix(kv: &mut KvClient, prefix: &str, timeout: Duration) -> Result<i64> {
    let resp = with_deadline(
        &format!("counting keys under {prefix}"),
        timeout,
        kv.get(
            prefix,
            Some(GetOptions::new().with_prefix().with_count_only()),
        ),
    )
    .await?;
    Ok(resp.count())
}

/// (revision, raft index) as the member behind `client` sees them once it has applied
/// everything committed: the revision comes from a linearizable read (Status alone
/// answers with what this member has applied so far, which may trail a write another
/// member acknowledged a moment ago: 299 of 300 puts were seen that way).
async fn cluster_position(client: &Client, timeout: Duration) -> Result<(i64, u64)> {
    let mut kv = client.kv_client();
    let read = with_deadline(
        "linearizable read of the revision",
        timeout,
        kv.get(
            "/etcd-monitor-bench/",
            Some(GetOptions::new().with_count_only()),
        ),
    )
    .await?;
    let mut m = client.maintenance_client();
    let s = with_deadline("status", timeout, m.status()).await?;
    Ok((read.header().map_or(0, |h| h.revision()), s.raft_index()))
}

/// Deletes the prefix and checks it is empty; the number of keys deleted.
async fn cleanup(kv: &mut KvClient, prefix: &str, timeout: Duration) -> Result<i64> {
    let cleanup_error = |source: EtcdError| BenchError::Cleanup {
        prefix: prefix.to_string(),
        source,
    };
    let mut deleted = 0;
    // A put still in flight when the run was stopped may land after the first delete.
    for _ in 0..3 {
        let resp = with_deadline(
            &format!("deleting {prefix}"),
            timeout,
            kv.delete(
                prefix,
                Some(etcd_client::DeleteOptions::new().with_prefix()),
            ),
        )
        .await
        .map_err(cleanup_error)?;
        deleted += resp.deleted();
        let left = match count_prefix(kv, prefix, timeout).await {
            Ok(n) => n,
            Err(BenchError::Etcd(e)) => return Err(cleanup_error(e)),
            Err(e) => return Err(e),
        };
        if left == 0 {
            return Ok(deleted);
        }
    }
    Err(BenchError::CleanupIncomplete {
        prefix: prefix.to_string(),
    })
}

/// Runs the clients; (latencies, op counts, wall time, interrupted).
async fn drive(
    spec: &BenchSpec,
    conns: &[Client],
    prefix: &str,
    timeout: Duration,
    progress: &mut impl FnMut(&Progress),
    stop: impl Future<Output = ()>,
) -> (Recorder, OpCounts, Duration, bool) {
    let watch = if let Workload::WatchLatency { put_rate, .. } = spec.workload {
        Some(spec.rate.unwrap_or(put_rate))
    } else {
        None
    };
    let start = Instant::now();
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        total: spec.total_limit(),
        end: spec.duration.map(|d| start + d),
        start,
        rate: watch.or(spec.rate),
    });
    let mut set = JoinSet::new();
    if let Workload::WatchLatency {
        streams,
        watchers_per_stream,
        ..
    } = spec.workload
    {
        let key = format!("{prefix}watch-latency");
        set.spawn(watch_latency(
            conns.to_vec(),
            key,
            streams,
            watchers_per_stream,
            spec.val_size,
            timeout,
            shared.clone(),
        ));
    } else {
        let value: Arc<[u8]> = vec![b'v'; spec.val_size].into();
        for j in 0..spec.clients {
            let worker = Worker {
                conn: conns[j % conns.len()].clone(),
                kv: conns[j % conns.len()].kv_client(),
                spec: spec.clone(),
                prefix: prefix.to_string(),
                value: value.clone(),
                rng: fastrand::Rng::new(),
                lease: None,
                timeout,
            };
            set.spawn(client_loop(worker, shared.clone(), timeout));
        }
    }

    let mut recorder = Recorder::new();
    let mut ops = OpCounts::default();
    let mut interrupted = false;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tokio::pin!(stop);
    let report = |shared: &Shared| Progress {
        done: shared.done.load(Ordering::Relaxed),
        total: shared.total,
        elapsed: shared.start.elapsed(),
        duration: spec.duration,
    };
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok(r)) => {
                    recorder.merge(&r.recorder);
                    ops.reads += r.ops.reads;
                    ops.writes += r.ops.writes;
                    ops.keepalives += r.ops.keepalives;
                    ops.watch_events += r.ops.watch_events;
                }
                Some(Err(e)) => recorder.record_error(format!("benchmark client failed: {e}")),
            },
            _ = &mut stop, if !interrupted => {
                interrupted = true;
                shared.stop.store(true, Ordering::Relaxed);
            }
            _ = tick.tick() => progress(&report(&shared)),
        }
    }
    let elapsed = start.elapsed();
    progress(&report(&shared));
    (recorder, ops, elapsed, interrupted)
}

/// One client of a request/response workload.
struct Worker {
    conn: Client,
    kv: KvClient,
    spec: BenchSpec,
    prefix: String,
    value: Arc<[u8]>,
    rng: fastrand::Rng,
    lease: Option<(LeaseClient, i64, LeaseKeeper, LeaseKeepAliveStream)>,
    timeout: Duration,
}

impl Worker {
    fn key(&mut self, index: u64) -> Vec<u8> {
        let k = if self.spec.sequential_keys {
            index % self.spec.key_space_size
        } else {
            self.rng.u64(..self.spec.key_space_size)
        };
        format!("{}{k:0width$}", self.prefix, width = self.spec.key_size).into_bytes()
    }

    fn read_options(consistency: Consistency) -> Option<GetOptions> {
        match consistency {
            Consistency::Linearizable => None,
            Consistency::Serializable => Some(GetOptions::new().with_serializable()),
        }
    }

    async fn one(&mut self, t: u64) -> std::result::Result<Kind, etcd_client::Error> {
        match self.spec.workload.clone() {
            Workload::Put => {
                let key = self.key(t);
                self.kv.put(key, self.value.to_vec(), None).await?;
                Ok(Kind::Write)
            }
            Workload::Range {
                key,
                end,
                consistency,
            } => {
                let mut opts = Self::read_options(consistency).unwrap_or_default();
                if let Some(end) = end {
                    opts = opts.with_range(end);
                }
                self.kv.get(key, Some(opts)).await?;
                Ok(Kind::Read)
            }
            Workload::TxnPut { txn_ops } => {
                let first = if self.spec.sequential_keys {
                    t * txn_ops as u64
                } else {
                    self.rng.u64(..self.spec.key_space_size)
                };
                let ops: Vec<TxnOp> = (0..txn_ops as u64)
                    .map(|j| {
                        let k = (first + j) % self.spec.key_space_size;
                        let key = format!("{}{k:0width$}", self.prefix, width = self.spec.key_size);
                        TxnOp::put(key, self.value.to_vec(), None)
                    })
                    .collect();
                self.kv.txn(Txn::new().and_then(ops)).await?;
                Ok(Kind::Write)
            }
            Workload::TxnMixed {
                rw_ratio,
                consistency,
            } => {
                let key = self.key(t);
                let read = self.rng.f64() < rw_ratio / (rw_ratio + 1.0);
                if read {
                    let op = TxnOp::get(key, Self::read_options(consistency));
                    self.kv.txn(Txn::new().and_then(vec![op])).await?;
                    Ok(Kind::Read)
                } else {
                    let op = TxnOp::put(key, self.value.to_vec(), None);
                    self.kv.txn(Txn::new().and_then(vec![op])).await?;
                    Ok(Kind::Write)
                }
            }
            Workload::Mixed {
                read_percent,
                consistency,
            } => {
                let key = self.key(t);
                if self.rng.u8(..100) < read_percent {
                    self.kv.get(key, Self::read_options(consistency)).await?;
                    Ok(Kind::Read)
                } else {
                    self.kv.put(key, self.value.to_vec(), None).await?;
                    Ok(Kind::Write)
                }
            }
            Workload::LeaseKeepalive => {
                if self.lease.is_none() {
                    self.open_lease().await?;
                }
                let (_, id, keeper, stream) = self.lease.as_mut().expect("set above");
                keeper.keep_alive().await?;
                match stream.message().await? {
                    Some(r) if r.ttl() > 0 => Ok(Kind::Keepalive),
                    Some(_) => Err(etcd_client::Error::LeaseKeepAliveError(format!(
                        "lease {id:x} expired"
                    ))),
                    None => Err(etcd_client::Error::LeaseKeepAliveError(
                        "keep-alive stream closed".into(),
                    )),
                }
            }
            Workload::WatchLatency { .. } => unreachable!("watch-latency has its own driver"),
        }
    }

    /// Grants the client's lease and opens its keep-alive stream (which renews once).
    async fn open_lease(&mut self) -> std::result::Result<(), etcd_client::Error> {
        let mut lc = self.conn.lease_client();
        let id = lc.grant(60, None).await?.id();
        let (keeper, stream) = lc.keep_alive(id).await?;
        self.lease = Some((lc, id, keeper, stream));
        Ok(())
    }

    /// Revokes the client's lease, if it has one.
    async fn finish(&mut self) -> Option<String> {
        let (mut lc, id, _, _) = self.lease.take()?;
        with_deadline("revoking the lease", self.timeout, lc.revoke(id))
            .await
            .err()
            .map(|e| e.to_string())
    }
}

async fn client_loop(mut w: Worker, shared: Arc<Shared>, timeout: Duration) -> ClientResult {
    let mut r = ClientResult::default();
    // Setting up a lease is not part of what is measured.
    if matches!(w.spec.workload, Workload::LeaseKeepalive) {
        match tokio::time::timeout(timeout, w.open_lease()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => r.recorder.record_error(error_chain(&e)),
            Err(_) => r
                .recorder
                .record_error(format!("granting a lease: no answer within {timeout:?}")),
        }
    }
    while let Some(t) = shared.ticket() {
        let scheduled = shared.scheduled(t);
        if let Some(at) = scheduled {
            tokio::time::sleep_until(at.into()).await;
        }
        let begin = scheduled.unwrap_or_else(Instant::now);
        match tokio::time::timeout(timeout, w.one(t)).await {
            Ok(Ok(kind)) => {
                r.recorder.record(begin.elapsed());
                match kind {
                    Kind::Read => r.ops.reads += 1,
                    Kind::Write => r.ops.writes += 1,
                    Kind::Keepalive => r.ops.keepalives += 1,
                }
            }
            Ok(Err(e)) => {
                r.recorder.record_error(error_chain(&e));
                // A broken keep-alive stream is opened anew on the next request.
                if let Some((mut lc, id, ..)) = w.lease.take() {
                    let _ = tokio::time::timeout(timeout, lc.revoke(id)).await;
                }
            }
            Err(_) => r
                .recorder
                .record_error(format!("no answer within {timeout:?}")),
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(e) = w.finish().await {
        r.recorder.record_error(e);
    }
    r
}

/// `streams` watch streams (round-robin over the connections) with
/// `watchers_per_stream` watchers each on one key; one putter at the shared rate
/// writes values that carry their send time; each event received is one sample.
async fn watch_latency(
    conns: Vec<Client>,
    key: String,
    streams: usize,
    watchers_per_stream: usize,
    val_size: usize,
    timeout: Duration,
    shared: Arc<Shared>,
) -> ClientResult {
    let mut result = ClientResult::default();
    let base = Instant::now();
    let mut receivers = JoinSet::new();
    let (expected_tx, expected_rx) = tokio::sync::watch::channel(None::<u64>);
    for s in 0..streams {
        let mut wc = conns[s % conns.len()].watch_client();
        let opened = async {
            let mut stream = wc.watch(key.clone(), None).await?;
            for _ in 1..watchers_per_stream {
                stream.watch(key.clone(), None).await?;
            }
            let mut created = 0;
            while created < watchers_per_stream {
                match stream.message().await? {
                    Some(r) if r.created() => created += 1,
                    Some(_) => {}
                    None => {
                        return Err(etcd_client::Error::WatchError("watch stream closed".into()))
                    }
                }
            }
            Ok(stream)
        };
        match tokio::time::timeout(timeout, opened).await {
            Ok(Ok(stream)) => {
                let mut expected = expected_rx.clone();
                receivers.spawn(async move {
                    let mut r = ClientResult::default();
                    let mut stream = stream;
                    let mut seen = 0u64;
                    loop {
                        if let Some(n) = *expected.borrow() {
                            if seen >= n * watchers_per_stream as u64 {
                                break;
                            }
                        }
                        let msg = tokio::select! {
                            m = stream.message() => m,
                            changed = expected.changed() => {
                                if changed.is_err() { break; }
                                continue;
                            }
                        };
                        match msg {
                            Ok(Some(resp)) => {
                                for ev in resp.events() {
                                    let Some(kv) = ev.kv() else { continue };
                                    seen += 1;
                                    let sent = std::str::from_utf8(
                                        &kv.value()[..20.min(kv.value().len())],
                                    )
                                    .ok()
                                    .and_then(|s| s.parse::<u64>().ok());
                                    match sent {
                                        Some(ns) => {
                                            let now = base.elapsed().as_nanos() as u64;
                                            r.recorder.record(Duration::from_nanos(
                                                now.saturating_sub(ns),
                                            ));
                                            r.ops.watch_events += 1;
                                        }
                                        None => r
                                            .recorder
                                            .record_error("watch event without a send time".into()),
                                    }
                                }
                            }
                            Ok(None) => {
                                r.recorder.record_error("watch stream closed".into());
                                break;
                            }
                            Err(e) => {
                                r.recorder.record_error(error_chain(&e));
                                break;
                            }
                        }
                    }
                    r
                });
            }
            Ok(Err(e)) => result.recorder.record_error(error_chain(&e)),
            Err(_) => result
                .recorder
                .record_error(format!("opening a watch: no answer within {timeout:?}")),
        }
    }

    let mut kv = conns[0].kv_client();
    let pad = val_size.saturating_sub(20);
    while let Some(t) = shared.ticket() {
        if let Some(at) = shared.scheduled(t) {
            tokio::time::sleep_until(at.into()).await;
        }
        let sent = base.elapsed().as_nanos() as u64;
        let mut value = format!("{sent:020}").into_bytes();
        value.resize(20 + pad, b'v');
        match tokio::time::timeout(timeout, kv.put(key.clone(), value, None)).await {
            Ok(Ok(_)) => result.ops.writes += 1,
            Ok(Err(e)) => result.recorder.record_error(error_chain(&e)),
            Err(_) => result
                .recorder
                .record_error(format!("put: no answer within {timeout:?}")),
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    // Receivers stop once they have every event, or a deadline after the last put.
    let _ = expected_tx.send(Some(result.ops.writes));
    let collect = async {
        while let Some(joined) = receivers.join_next().await {
            if let Ok(r) = joined {
                result.recorder.merge(&r.recorder);
                result.ops.watch_events += r.ops.watch_events;
            }
        }
    };
    if tokio::time::timeout(timeout, collect).await.is_err() {
        result.recorder.record_error(format!(
            "watch events missing {timeout:?} after the last put"
        ));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::ClusterConfig;

    /// Invalid specs are refused before any connection (the endpoint does not exist).
    #[tokio::test]
    async fn bench_invalid_specs_are_refused_before_connecting() {
        let endpoints = vec!["http://127.0.0.1:1".to_string()];
        let connector = Connector::new(
            &ClusterConfig::plain("t", endpoints.clone()),
            Duration::from_millis(200),
            Duration::from_millis(200),
        )
        .unwrap();
        let cases = [
            (
                BenchSpec {
                    workload: Workload::TxnPut { txn_ops: 3 },
                    ..BenchSpec::default()
                },
                "--txn-ops 3 needs --key-space-size of at least 3",
            ),
            (
                BenchSpec {
                    clients: 0,
                    ..BenchSpec::default()
                },
                "--clients must be at least 1",
            ),
            (
                BenchSpec {
                    rate: Some(0.0),
                    ..BenchSpec::default()
                },
                "--rate must be a positive",
            ),
        ];
        for (spec, message) in cases {
            let err = run(
                &spec,
                &connector,
                &endpoints,
                |_| {},
                std::future::pending(),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(&err, BenchError::Invalid(m) if m.contains(message)),
                "{err}"
            );
        }
        // A valid spec gets as far as connecting, and says where it failed.
        let err = run(
            &BenchSpec::default(),
            &connector,
            &endpoints,
            |_| {},
            std::future::pending(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BenchError::Etcd(_)), "{err}");
    }
}
