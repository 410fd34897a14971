//! `check perf`: etcdctl's `check perf` workload and pass criteria.
//!
//! Puts of a random 256-byte key and a 1,024-byte value under a prefix that must be
//! empty, paced at the profile's write rate by `clients` concurrent writers for the
//! profile's seconds; the keys are deleted afterwards. PASS needs no errors, an
//! achieved rate above 90% of the limit, the slowest request within 0.5 s and a
//! standard deviation within 0.1 s (etcdctl/ctlv3/command/check.go).
//!
//! Unlike etcdctl (one client per writer), writers share one connection per
//! endpoint, each connection dialling one endpoint, which costs less client CPU.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, DeleteOptions, GetOptions};
use serde::{Deserialize, Serialize};

use super::{new_histogram, CheckError, Finding, Latency, Result, Status};
use crate::etcd::{with_deadline, Connector};

pub const DEFAULT_PREFIX: &str = "/etcd-monitor-check-perf/";
pub const KEY_SIZE: usize = 256;
pub const VALUE_SIZE: usize = 1024;

/// etcdctl's workload models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Load {
    S,
    M,
    L,
    Xl,
}

/// Write rate limit (puts/s), concurrent clients and seconds of a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub limit: u64,
    pub clients: usize,
    pub seconds: u64,
}

impl Load {
    pub fn profile(self) -> Profile {
        let (limit, clients) = match self {
            Load::S => (150, 50),
            Load::M => (1000, 200),
            Load::L => (8000, 500),
            Load::Xl => (15000, 1000),
        };
        Profile {
            limit,
            clients,
            seconds: 60,
        }
    }
}

impl FromStr for Load {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Load, String> {
        // etcdctl's aliases.
        match s {
            "s" | "small" => Ok(Load::S),
            "m" | "medium" => Ok(Load::M),
            "l" | "large" => Ok(Load::L),
            "xl" | "xLarge" | "xlarge" => Ok(Load::Xl),
            _ => Err(format!("unknown load option {s} (s, m, l or xl)")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PerfOptions {
    pub load: Load,
    pub prefix: String,
    /// Shorter (or longer) than the profile's 60 s.
    pub duration: Option<Duration>,
}

/// What the run measured (etcdctl's report: successful requests only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerfStats {
    pub requests: u64,
    pub total_seconds: f64,
    pub requests_per_second: f64,
    pub slowest_seconds: f64,
    pub fastest_seconds: f64,
    pub average_seconds: f64,
    pub stddev_seconds: f64,
    pub latency: Latency,
    /// Error message -> count.
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PerfReport {
    pub load: Load,
    pub profile: Profile,
    pub prefix: String,
    pub duration_seconds: f64,
    pub stats: PerfStats,
    pub keys_deleted: i64,
    /// Endpoints left out because they did not answer, with why.
    pub skipped_endpoints: Vec<String>,
    /// The lines etcdctl check perf prints, in its words.
    pub lines: Vec<String>,
    pub findings: Vec<Finding>,
}

impl PerfReport {
    pub fn passed(&self) -> bool {
        super::worst(&self.findings) == Status::Pass
    }
}

/// etcdctl's verdict lines and one finding per criterion.
pub fn judge(limit: u64, s: &PerfStats) -> (Vec<String>, Vec<Finding>) {
    let mut lines = Vec::new();
    let mut findings = Vec::new();
    if !s.errors.is_empty() {
        lines.push("FAIL: too many errors".to_string());
        for (e, n) in &s.errors {
            lines.push(format!("FAIL: ERROR({e}) -> {n}"));
        }
        let total: u64 = s.errors.values().sum();
        findings.push(Finding::new(
            "errors",
            Status::Fail,
            format!("{total} requests failed"),
            "Read the errors above: no leader or timeouts point at the cluster's health, \
             'database space exceeded' at the quota; fix that and run again.",
        ));
    } else {
        findings.push(Finding::pass("errors", "no request failed"));
    }
    let shown = s.requests_per_second as u64 + 1;
    if s.requests_per_second / limit as f64 <= 0.9 {
        lines.push(format!("FAIL: Throughput too low: {shown} writes/s"));
        findings.push(Finding::new(
            "throughput",
            Status::Fail,
            format!("{shown} writes/s of the {limit} asked"),
            "The cluster cannot sustain this load: check the members' disks (check disk, \
             wal fsync p99), CPU and network, or size for a smaller load.",
        ));
    } else {
        lines.push(format!("PASS: Throughput is {shown} writes/s"));
        findings.push(Finding::pass(
            "throughput",
            format!("{shown} writes/s of the {limit} asked"),
        ));
    }
    if s.slowest_seconds > 0.5 {
        lines.push(format!(
            "Slowest request took too long: {:.6}s",
            s.slowest_seconds
        ));
        findings.push(Finding::new(
            "slowest request",
            Status::Fail,
            format!("{:.6}s (limit 0.5s)", s.slowest_seconds),
            "Requests stall: look for slow fsyncs, leader elections or CPU starvation on the members during the run.",
        ));
    } else {
        lines.push(format!(
            "PASS: Slowest request took {:.6}s",
            s.slowest_seconds
        ));
        findings.push(Finding::pass(
            "slowest request",
            format!("{:.6}s", s.slowest_seconds),
        ));
    }
    if s.stddev_seconds > 0.1 {
        lines.push(format!("Stddev too high: {:.6}s", s.stddev_seconds));
        findings.push(Finding::new(
            "stddev",
            Status::Fail,
            format!("{:.6}s (limit 0.1s)", s.stddev_seconds),
            "Latency varies too much: look for a disk or network shared with bursty work.",
        ));
    } else {
        lines.push(format!("PASS: Stddev is {:.6}s", s.stddev_seconds));
        findings.push(Finding::pass("stddev", format!("{:.6}s", s.stddev_seconds)));
    }
    let ok = findings.iter().all(|f| f.status == Status::Pass);
    lines.push(if ok { "PASS" } else { "FAIL" }.to_string());
    (lines, findings)
}

/// One writer's tallies, merged at the end.
struct Tally {
    hist: hdrhistogram::Histogram<u64>,
    sum: f64,
    sum_sq: f64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            hist: new_histogram(),
            sum: 0.0,
            sum_sq: 0.0,
            errors: BTreeMap::new(),
        }
    }

    /// Adds another writer's tally to this one.
    fn add(&mut self, other: Tally) -> Result<()> {
        self.hist
            .add(&other.hist)
            .map_err(|e| CheckError::Invalid(format!("merging latencies: {e}")))?;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        for (e, n) in other.errors {
            *self.errors.entry(e).or_default() += n;
        }
        Ok(())
    }
}

/// The statistics of etcd's report package: population stddev of the latencies.
pub fn stats_from(
    hist: &hdrhistogram::Histogram<u64>,
    sum: f64,
    sum_sq: f64,
    errors: BTreeMap<String, u64>,
    total: Duration,
) -> PerfStats {
    let n = hist.len();
    let total_seconds = total.as_secs_f64();
    let average = if n > 0 { sum / n as f64 } else { 0.0 };
    let variance = if n > 0 {
        (sum_sq / n as f64 - average * average).max(0.0)
    } else {
        0.0
    };
    PerfStats {
        requests: n,
        total_seconds,
        requests_per_second: if total_seconds > 0.0 {
            n as f64 / total_seconds
        } else {
            0.0
        },
        slowest_seconds: if n > 0 { hist.max() as f64 / 1e9 } else { 0.0 },
        fastest_seconds: if n > 0 { hist.min() as f64 / 1e9 } else { 0.0 },
        average_seconds: average,
        stddev_seconds: variance.sqrt(),
        latency: Latency::from_histogram(hist),
        errors,
    }
}

/// A random 256-byte key as etcdctl makes it: a varint of a random number, then zeros.
fn random_key(prefix: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + KEY_SIZE);
    key.extend_from_slice(prefix);
    let mut n = fastrand::u64(..i64::MAX as u64);
    let mut k = [0u8; KEY_SIZE];
    let mut i = 0;
    // Go's PutVarint: zig-zag, then 7 bits a byte.
    n <<= 1;
    while n >= 0x80 {
        k[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    k[i] = n as u8;
    key.extend_from_slice(&k);
    key
}

/// Runs the workload against `endpoints`; `progress` gets the seconds elapsed.
pub async fn run(
    connector: &Connector,
    endpoints: &[String],
    opts: &PerfOptions,
    progress: &(dyn Fn(Duration, Duration) + Sync),
) -> Result<PerfReport> {
    let profile = opts.load.profile();
    let duration = opts
        .duration
        .unwrap_or(Duration::from_secs(profile.seconds));
    if endpoints.is_empty() {
        return Err(CheckError::Invalid("no endpoints".into()));
    }
    let timeout = connector.request_timeout();
    let (conns, skipped) = connect_answering(connector, endpoints, timeout).await?;
    let mut first = conns[0].clone();
    let prefix = opts.prefix.clone();
    ensure_empty(&mut first, &prefix, timeout).await?;

    let value = vec![0u8; VALUE_SIZE];
    let start = tokio::time::Instant::now();
    let pace = Arc::new(Pace {
        start,
        end: start + duration,
        period: Duration::from_secs_f64(1.0 / profile.limit as f64),
        next: AtomicU64::new(0),
    });
    // Requests still in flight at the end may take this long before we give up.
    let request_deadline = timeout.max(Duration::from_secs(5));
    let tasks: Vec<_> = (0..profile.clients)
        .map(|w| {
            tokio::spawn(write_at_pace(
                conns[w % conns.len()].clone(),
                prefix.clone().into_bytes(),
                value.clone(),
                pace.clone(),
                request_deadline,
            ))
        })
        .collect();
    let ticker = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            progress(start.elapsed().min(duration), duration);
        }
    };
    let joined = tokio::select! {
        j = futures::future::join_all(tasks) => j,
        _ = ticker => unreachable!("the ticker never ends"),
    };
    let total = start.elapsed();
    progress(duration, duration);
    let mut all = Tally::new();
    for j in joined {
        let t = j.map_err(|e| CheckError::Invalid(format!("a writer failed: {e}")))?;
        all.add(t)?;
    }
    let stats = stats_from(&all.hist, all.sum, all.sum_sq, all.errors, total);

    let deleted = with_deadline(
        "deleting the check's keys",
        Duration::from_secs(30),
        first.delete(prefix.as_str(), Some(DeleteOptions::new().with_prefix())),
    )
    .await?;
    let (lines, findings) = judge(profile.limit, &stats);
    Ok(PerfReport {
        load: opts.load,
        profile,
        prefix,
        duration_seconds: duration.as_secs_f64(),
        stats,
        keys_deleted: deleted.deleted(),
        skipped_endpoints: skipped,
        lines,
        findings,
    })
}

/// One connection per endpoint, each to that endpoint only; endpoints that do not
/// answer a Status call are left out (etcdctl's balancer avoids them too) and
/// returned as the second list.
async fn connect_answering(
    connector: &Connector,
    endpoints: &[String],
    timeout: Duration,
) -> Result<(Vec<Client>, Vec<String>)> {
    let mut conns: Vec<Client> = Vec::new();
    let mut skipped = Vec::new();
    for e in endpoints {
        let answered = match connector.connect(std::slice::from_ref(e)).await {
            Ok(mut c) => with_deadline(&format!("status of {e}"), timeout, c.status())
                .await
                .map(|_| c),
            Err(err) => Err(err),
        };
        match answered {
            Ok(c) => conns.push(c),
            Err(err) => skipped.push(err.to_string()),
        }
    }
    if conns.is_empty() {
        return Err(CheckError::Invalid(format!(
            "no endpoint answers: {}",
            skipped.join("; ")
        )));
    }
    Ok((conns, skipped))
}

/// The check writes only under a prefix that holds nothing, so deleting it after
/// removes only its own keys.
async fn ensure_empty(client: &mut Client, prefix: &str, timeout: Duration) -> Result<()> {
    let existing = with_deadline(
        "reading the prefix",
        timeout,
        client.get(
            prefix,
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_limit(1)
                    .with_keys_only(),
            ),
        ),
    )
    .await?;
    if !existing.kvs().is_empty() {
        return Err(CheckError::PrefixNotEmpty {
            prefix: prefix.to_string(),
        });
    }
    Ok(())
}

/// The writers' shared schedule: the n-th put may start at `start + n * period`.
struct Pace {
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    period: Duration,
    next: AtomicU64,
}

/// One writer: takes tickets at the pace until the end, each a put of `value` to a
/// random key under `prefix`.
async fn write_at_pace(
    mut client: Client,
    prefix: Vec<u8>,
    value: Vec<u8>,
    pace: Arc<Pace>,
    request_deadline: Duration,
) -> Tally {
    let mut t = Tally::new();
    loop {
        let n = pace.next.fetch_add(1, Ordering::Relaxed);
        let at = pace.start + pace.period.mul_f64(n as f64);
        if at >= pace.end {
            break;
        }
        tokio::time::sleep_until(at).await;
        let key = random_key(&prefix);
        let sent = Instant::now();
        let r = tokio::time::timeout(request_deadline, client.put(key, value.clone(), None)).await;
        let took = sent.elapsed();
        match r {
            Ok(Ok(_)) => {
                let s = took.as_secs_f64();
                t.hist.saturating_record(took.as_nanos().max(1) as u64);
                t.sum += s;
                t.sum_sq += s * s;
            }
            Ok(Err(e)) => *t.errors.entry(crate::etcd::error_chain(&e)).or_default() += 1,
            Err(_) => {
                *t.errors
                    .entry(format!("no answer within {request_deadline:?}"))
                    .or_default() += 1
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_etcdctls() {
        assert_eq!(
            Load::S.profile(),
            Profile {
                limit: 150,
                clients: 50,
                seconds: 60
            }
        );
        assert_eq!(Load::M.profile().limit, 1000);
        assert_eq!(Load::L.profile().clients, 500);
        assert_eq!(Load::Xl.profile().limit, 15000);
        assert_eq!("small".parse::<Load>().unwrap(), Load::S);
        assert_eq!("xLarge".parse::<Load>().unwrap(), Load::Xl);
        assert!("xxl".parse::<Load>().is_err());
    }

    fn stats(rps: f64, slowest: f64, stddev: f64) -> PerfStats {
        PerfStats {
            requests_per_second: rps,
            slowest_seconds: slowest,
            stddev_seconds: stddev,
            ..Default::default()
        }
    }

    #[test]
    fn pass_lines_are_etcdctls() {
        let (lines, findings) = judge(150, &stats(149.3, 0.012345, 0.002));
        assert_eq!(
            lines,
            vec![
                "PASS: Throughput is 150 writes/s",
                "PASS: Slowest request took 0.012345s",
                "PASS: Stddev is 0.002000s",
                "PASS",
            ]
        );
        assert_eq!(super::super::worst(&findings), Status::Pass);
    }

    #[test]
    fn each_criterion_fails_on_its_own() {
        // 90% of the limit is not enough: etcdctl needs more than 0.9.
        let (lines, f) = judge(150, &stats(135.0, 0.1, 0.01));
        assert_eq!(lines[0], "FAIL: Throughput too low: 136 writes/s");
        assert_eq!(lines.last().unwrap(), "FAIL");
        assert_eq!(
            f.iter().find(|f| f.check == "throughput").unwrap().status,
            Status::Fail
        );
        let (lines, _) = judge(150, &stats(150.0, 0.51, 0.01));
        assert_eq!(lines[1], "Slowest request took too long: 0.510000s");
        assert_eq!(lines.last().unwrap(), "FAIL");
        let (lines, _) = judge(150, &stats(150.0, 0.2, 0.11));
        assert_eq!(lines[2], "Stddev too high: 0.110000s");
        let mut s = stats(150.0, 0.1, 0.01);
        s.errors.insert("etcdserver: too many requests".into(), 3);
        let (lines, f) = judge(150, &s);
        assert_eq!(lines[0], "FAIL: too many errors");
        assert_eq!(lines[1], "FAIL: ERROR(etcdserver: too many requests) -> 3");
        assert_eq!(f[0].status, Status::Fail);
    }

    #[test]
    fn stats_are_those_of_etcds_report() {
        let mut h = new_histogram();
        let lats = [0.010, 0.020, 0.030, 0.040];
        let (mut sum, mut sq) = (0.0, 0.0);
        for l in lats {
            h.record((l * 1e9) as u64).unwrap();
            sum += l;
            sq += l * l;
        }
        let s = stats_from(&h, sum, sq, BTreeMap::new(), Duration::from_secs(2));
        assert_eq!(s.requests, 4);
        assert!((s.requests_per_second - 2.0).abs() < 1e-9);
        assert!((s.average_seconds - 0.025).abs() < 1e-9);
        // Population stddev of 10, 20, 30, 40 ms: sqrt(125) ms.
        assert!(
            (s.stddev_seconds - 125f64.sqrt() / 1000.0).abs() < 1e-6,
            "{s:?}"
        );
        assert!((s.slowest_seconds - 0.040).abs() < 0.0001);
        assert!((s.fastest_seconds - 0.010).abs() < 0.0001);
    }

    #[test]
    fn keys_are_256_random_bytes_under_the_prefix() {
        let a = random_key(b"/p/");
        let b = random_key(b"/p/");
        assert_eq!(a.len(), 3 + KEY_SIZE);
        assert!(a.starts_with(b"/p/"));
        assert_ne!(a, b);
    }
}
