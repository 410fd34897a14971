//! Stored benchmark runs: every run with what produced it and what the cluster and the
//! host were at the time, kept in the store's `bench_runs` table, and the comparison
//! of two or more runs with regressions flagged.
//!
//! Runs are kept as JSON behind a format byte, not postcard: a run is the API's own
//! shape (an internally tagged workload, optional fields), which postcard cannot read
//! back, and runs are kept for years while their fields grow; JSON reads an old run
//! with the new fields' defaults. They are a few KB each and written once per run.

use serde::{Deserialize, Serialize};

use super::observe::{ClusterFacts, HostFacts, RunIndicators};
use super::BenchReport;
use crate::store::{Store, StoreError};

mod validate;

pub const RUNS_TABLE: &str = "bench_runs";
/// First byte of every stored run: how the rest is encoded.
const FORMAT_JSON: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no benchmark run {0}")]
    NotFound(String),
    #[error("a benchmark run {0} is already stored")]
    Exists(String),
    #[error("stored benchmark run {id} cannot be read: {why}")]
    Corrupt {
        id: String,
        #[source]
        why: CorruptRun,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, HistoryError>;

/// Why a stored run cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CorruptRun {
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    #[error("unknown format {0} (written by a newer etcd-monitor?)")]
    UnknownFormat(u8),
    #[error("empty record")]
    Empty,
}

/// Who started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunSource {
    /// `etcd-monitor bench` on the command line.
    Cli,
    /// A `[[bench.schedules]]` entry, by name.
    Schedule { name: String },
}

impl std::fmt::Display for RunSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunSource::Cli => f.write_str("cli"),
            RunSource::Schedule { name } => write!(f, "schedule {name}"),
        }
    }
}

/// One run as stored: the report plus its context.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRun {
    /// The report's run id (time-ordered).
    pub id: String,
    /// The configured cluster's name, or the endpoints given on the command line.
    pub cluster: String,
    pub source: RunSource,
    pub report: BenchReport,
    #[serde(default)]
    pub facts: ClusterFacts,
    #[serde(default)]
    pub host: HostFacts,
    #[serde(default)]
    pub indicators: RunIndicators,
}

/// What a list of runs shows of each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    pub id: String,
    pub cluster: String,
    pub source: String,
    pub workload: String,
    pub started_unix_ms: i64,
    pub conns: usize,
    pub clients: usize,
    pub rate: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    pub total_secs: f64,
    pub requests_per_sec: f64,
    pub p50_secs: Option<f64>,
    pub p95_secs: Option<f64>,
    pub p99_secs: Option<f64>,
    pub interrupted: bool,
    pub version: Option<String>,
}

impl StoredRun {
    pub fn percentile(&self, percent: f64) -> Option<f64> {
        self.report
            .percentiles
            .iter()
            .find(|p| p.percent == percent)
            .map(|p| p.secs)
            .filter(|_| self.report.summary.requests > 0)
    }

    pub fn summary(&self) -> RunSummary {
        let r = &self.report;
        RunSummary {
            id: self.id.clone(),
            cluster: self.cluster.clone(),
            source: self.source.to_string(),
            workload: r.spec.workload.name().to_string(),
            started_unix_ms: r.started_unix_ms,
            conns: r.spec.conns,
            clients: r.spec.clients,
            rate: r.spec.rate,
            requests: r.summary.requests,
            errors: r.summary.errors,
            total_secs: r.summary.total_secs,
            requests_per_sec: r.summary.requests_per_sec,
            p50_secs: self.percentile(50.0),
            p95_secs: self.percentile(95.0),
            p99_secs: self.percentile(99.0),
            interrupted: r.interrupted,
            version: self.facts.version.clone(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_JSON];
        // Serializing plain data to a Vec cannot fail.
        serde_json::to_writer(&mut out, self).expect("a run serializes");
        out
    }

    pub fn decode(id: &str, bytes: &[u8]) -> Result<StoredRun> {
        let corrupt = |why: CorruptRun| HistoryError::Corrupt {
            id: id.to_string(),
            why,
        };
        match bytes.split_first() {
            Some((&FORMAT_JSON, json)) => {
                serde_json::from_slice(json).map_err(|e| corrupt(CorruptRun::Json(e)))
            }
            Some((&format, _)) => Err(corrupt(CorruptRun::UnknownFormat(format))),
            None => Err(corrupt(CorruptRun::Empty)),
        }
    }
}

/// max_count` (at most this) keeps the number lower.
pub const MAX_STORED_RUNS: u64 = 100_000;

/// Stores a new run; an id already stored is refused (runs are never overwritten).
pub fn save(store: &Store, run: &StoredRun) -> Result<()> {
    run.validate()?;
    if store.read_record(RUNS_TABLE, run.id.as_bytes())?.is_some() {
        return Err(HistoryError::Exists(run.id.clone()));
    }
    let stored = store.count_records(RUNS_TABLE)?;
    if stored >= MAX_STORED_RUNS {
        return Err(HistoryError::Invalid(format!(
            "bench runs: {stored} are stored, the most a store keeps; delete some (etcd-monitor bench delete) or lower [bench.retention]"
        )));
    }
    let value = run.encode();
    store.write_records(&[(RUNS_TABLE, run.id.as_bytes(), Some(&value))])?;
    let s = run.summary();
    let event = crate::collect::events::ClusterEvent {
        at_unix_ms: s.started_unix_ms,
        cluster: s.cluster.clone(),
        kind: crate::collect::events::EventKind::BenchmarkRun,
        member: None,
        from: None,
        to: None,
        detail: Some(s.id.clone()),
        message: format!(
            "benchmark {} ({}): {:.0} requests/s, p99 {}",
            s.workload,
            s.id,
            s.requests_per_sec,
            s.p99_secs.map_or("–".into(), |p| crate::units::human(
                p,
                crate::units::Unit::Seconds
            ))
        ),
    };
    if let Err(e) = crate::collect::events::append(store, &[event]) {
        tracing::warn!("benchmark run {} not in the timeline: {e}", run.id);
    }
    Ok(())
}

/// Deletes a stored run (readable or not).
pub fn delete(store: &Store, id: &str) -> Result<()> {
    if store.read_record(RUNS_TABLE, id.as_bytes())?.is_none() {
        return Err(HistoryError::NotFound(id.to_string()));
    }
    store.write_records(&[(RUNS_TABLE, id.as_bytes(), None)])?;
    Ok(())
}

/// How long stored runs are kept, and how many (`[bench.retention]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunRetention {
    /// A run that started longer ago than this is deleted.
    #[serde(with = "crate::time::duration")]
    pub max_age: std::time::Duration,
    /// Past this many runs the oldest (in id order, which is time order for the
    /// runs etcd-monitor makes) are deleted.
    pub max_count: u64,
}

impl Default for RunRetention {
    fn default() -> Self {
        RunRetention {
            max_age: std::time::Duration::from_secs(400 * 86_400),
            max_count: 10_000,
        }
    }
}

impl RunRetention {
    /// `Err((field, message))`.
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        let age = self.max_age.as_secs();
        if !(3600..=100 * 366 * 86_400).contains(&age) {
            return Err((
                "bench.retention.max_age".into(),
                "must be between 1h and 100 years".into(),
            ));
        }
        if !(1..=MAX_STORED_RUNS).contains(&self.max_count) {
            return Err((
                "bench.retention.max_count".into(),
                format!("must be 1..={MAX_STORED_RUNS}"),
            ));
        }
        Ok(())
    }
}

/// Deletes the runs past `retention` as of `now_ms`: older than its age, then the
/// oldest past its count. A run that cannot be read is kept by age (its time is
/// unknown; it is listed as unreadable, to delete by hand) and counted by id.
/// Returns how many were deleted.
pub fn apply_retention(store: &Store, retention: &RunRetention, now_ms: i64) -> Result<u64> {
    let max_age_ms = i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now_ms.saturating_sub(max_age_ms);
    let mut expired: Vec<Vec<u8>> = Vec::new();
    let mut kept: Vec<Vec<u8>> = Vec::new();
    // Oldest first, a page at a time.
    const PAGE: usize = 500;
    let mut from: Vec<u8> = Vec::new();
    loop {
        let rows = store.scan_records(RUNS_TABLE, &from, None, PAGE, false)?;
        for (key, value) in &rows {
            let id = String::from_utf8_lossy(key);
            match StoredRun::decode(&id, value) {
                Ok(run) if run.report.started_unix_ms < cutoff => expired.push(key.clone()),
                _ => kept.push(key.clone()),
            }
        }
        match rows.last() {
            Some((key, _)) if rows.len() == PAGE => {
                from = key.clone();
                from.push(0);
            }
            _ => break,
        }
    }
    let over = (kept.len() as u64).saturating_sub(retention.max_count) as usize;
    expired.extend(kept.into_iter().take(over));
    for chunk in expired.chunks(PAGE) {
        let ops: Vec<crate::store::RecordOp<'_>> = chunk
            .iter()
            .map(|k| (RUNS_TABLE, k.as_slice(), None))
            .collect();
        store.write_records(&ops)?;
    }
    Ok(expired.len() as u64)
}

pub fn get(store: &Store, id: &str) -> Result<StoredRun> {
    match store.read_record(RUNS_TABLE, id.as_bytes())? {
        Some(bytes) => StoredRun::decode(id, &bytes),
        None => Err(HistoryError::NotFound(id.to_string())),
    }
}

/// Which runs a list shows.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub cluster: Option<String>,
    pub workload: Option<String>,
    /// Only runs whose id sorts before this one (paging, newest first).
    pub before: Option<String>,
    pub limit: usize,
}

/// A page of runs, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    /// Runs that could not be read, each message naming its id: one bad record
    /// neither hides the others nor fails the list.
    pub unreadable: Vec<String>,
    /// When the limit cut the list: pass it as `before` for the next page.
    pub next_before: Option<String>,
}

pub fn list(store: &Store, filter: &RunFilter) -> Result<RunList> {
    let mut out = RunList::default();
    let mut before = filter.before.clone().map(String::into_bytes);
    // Filters are applied after reading, so read in pages until the limit is met.
    const PAGE: usize = 200;
    loop {
        let rows = store.scan_records(RUNS_TABLE, b"", before.as_deref(), PAGE, true)?;
        for (key, value) in &rows {
            let id = String::from_utf8_lossy(key).into_owned();
            match StoredRun::decode(&id, value) {
                Ok(run) => {
                    let summary = run.summary();
                    let keep = filter
                        .cluster
                        .as_ref()
                        .is_none_or(|c| *c == summary.cluster)
                        && filter
                            .workload
                            .as_ref()
                            .is_none_or(|w| *w == summary.workload);
                    if keep {
                        out.runs.push(summary);
                    }
                }
                Err(e) => out.unreadable.push(e.to_string()),
            }
            if out.runs.len() + out.unreadable.len() >= filter.limit {
                out.next_before = Some(id);
                return Ok(out);
            }
        }
        match rows.last() {
            Some((key, _)) if rows.len() == PAGE => before = Some(key.clone()),
            _ => return Ok(out),
        }
    }
}

/// How two or more runs compare with the first (the baseline).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub baseline: String,
    /// A change worse than this share (0.1 = 10%) is a regression.
    pub threshold: f64,
    pub runs: Vec<ComparedRun>,
    /// Runs with at least one regression.
    pub regressions: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComparedRun {
    pub summary: RunSummary,
    /// Relative to the baseline: -0.25 is a quarter fewer requests per second.
    pub requests_per_sec_change: Option<f64>,
    pub p50_change: Option<f64>,
    pub p99_change: Option<f64>,
    /// What got worse by more than the threshold, in words.
    pub regressions: Vec<String>,
    /// Parameters, cluster or host that differ from the baseline's: the comparison
    /// may say more about those than about the cluster.
    pub differences: Vec<String>,
    pub indicators: RunIndicators,
}

/// `value` relative to `base`; none when either is missing, not finite, or the base
/// is not above 0 (a record of another version may hold anything).
fn change(base: Option<f64>, value: Option<f64>) -> Option<f64> {
    match (base, value) {
        (Some(b), Some(v)) if b > 0.0 && b.is_finite() && v.is_finite() => {
            Some(v / b - 1.0).filter(|c| c.is_finite())
        }
        _ => None,
    }
}

/// Compares `runs[1..]` with `runs[0]`.
pub fn compare(runs: &[StoredRun], threshold: f64) -> Result<Comparison> {
    if runs.len() < 2 {
        return Err(HistoryError::Invalid(
            "a comparison needs at least two runs".into(),
        ));
    }
    if !(threshold > 0.0 && threshold.is_finite()) {
        return Err(HistoryError::Invalid(format!(
            "threshold: must be a share above 0 (0.1 = 10%), got {threshold}"
        )));
    }
    let base = &runs[0];
    let base_summary = base.summary();
    let mut compared = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let summary = run.summary();
        let mut c = ComparedRun {
            requests_per_sec_change: None,
            p50_change: None,
            p99_change: None,
            regressions: Vec::new(),
            differences: Vec::new(),
            indicators: run.indicators.clone(),
            summary,
        };
        if i > 0 {
            let s = &c.summary;
            c.requests_per_sec_change = change(
                Some(base_summary.requests_per_sec),
                Some(s.requests_per_sec),
            );
            c.p50_change = change(base_summary.p50_secs, s.p50_secs);
            c.p99_change = change(base_summary.p99_secs, s.p99_secs);
            if let Some(ch) = c.requests_per_sec_change.filter(|ch| *ch < -threshold) {
                c.regressions.push(format!(
                    "throughput {:+.1}% ({:.0} -> {:.0} requests/s)",
                    ch * 100.0,
                    base_summary.requests_per_sec,
                    s.requests_per_sec
                ));
            }
            if let Some(ch) = c.p99_change.filter(|ch| *ch > threshold) {
                c.regressions.push(format!(
                    "p99 {:+.1}% ({:.2} -> {:.2} ms)",
                    ch * 100.0,
                    base_summary.p99_secs.unwrap_or(0.0) * 1e3,
                    s.p99_secs.unwrap_or(0.0) * 1e3
                ));
            }
            if s.errors > 0 && base_summary.errors == 0 {
                c.regressions
                    .push(format!("{} failed requests (baseline: none)", s.errors));
            }
            c.differences = differences(base, run);
        }
        compared.push(c);
    }
    Ok(Comparison {
        baseline: base.id.clone(),
        threshold,
        regressions: compared
            .iter()
            .filter(|c| !c.regressions.is_empty())
            .count(),
        runs: compared,
    })
}

/// Reads the runs `ids` from `store` and compares them with the first.
pub fn compare_stored(store: &Store, ids: &[String], threshold: f64) -> Result<Comparison> {
    let runs = ids
        .iter()
        .map(|id| get(store, id))
        .collect::<Result<Vec<_>>>()?;
    compare(&runs, threshold)
}

/// What differs between two runs besides their results.
fn differences(a: &StoredRun, b: &StoredRun) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} vs {y}"));
        }
    };
    let (sa, sb) = (&a.report.spec, &b.report.spec);
    differ(
        "workload",
        format!("{:?}", sa.workload),
        format!("{:?}", sb.workload),
    );
    differ("conns", sa.conns.to_string(), sb.conns.to_string());
    differ("clients", sa.clients.to_string(), sb.clients.to_string());
    differ(
        "target leader",
        sa.target_leader.to_string(),
        sb.target_leader.to_string(),
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    differ(
        "total",
        opt(sa.total_limit().map(|t| t.to_string())),
        opt(sb.total_limit().map(|t| t.to_string())),
    );
    differ(
        "duration",
        opt(sa
            .duration
            .map(|d| humantime::format_duration(d).to_string())),
        opt(sb
            .duration
            .map(|d| humantime::format_duration(d).to_string())),
    );
    differ(
        "rate",
        opt(sa.rate.map(|r| r.to_string())),
        opt(sb.rate.map(|r| r.to_string())),
    );
    differ("key size", sa.key_size.to_string(), sb.key_size.to_string());
    differ(
        "value size",
        sa.val_size.to_string(),
        sb.val_size.to_string(),
    );
    differ(
        "key space",
        sa.key_space_size.to_string(),
        sb.key_space_size.to_string(),
    );
    differ(
        "sequential keys",
        sa.sequential_keys.to_string(),
        sb.sequential_keys.to_string(),
    );
    differ("cluster", a.cluster.clone(), b.cluster.clone());
    differ(
        "cluster id",
        opt(a.facts.cluster_id.clone()),
        opt(b.facts.cluster_id.clone()),
    );
    differ(
        "etcd version",
        opt(a.facts.version.clone()),
        opt(b.facts.version.clone()),
    );
    differ(
        "members",
        a.facts.members.len().to_string(),
        b.facts.members.len().to_string(),
    );
    differ("host", a.host.hostname.clone(), b.host.hostname.clone());
    out
}

#[cfg(test)]
mod tests;
