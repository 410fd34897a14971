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
    #[error("stored benchmark run {id} cannot be read: {message}")]
    Corrupt { id: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, HistoryError>;

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

/// A refusal naming the field.
fn invalid_field(field: &str, message: String) -> Result<()> {
    Err(HistoryError::Invalid(format!("{field}: {message}")))
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
        let corrupt = |message: String| HistoryError::Corrupt {
            id: id.to_string(),
            message,
        };
        match bytes.split_first() {
            Some((&FORMAT_JSON, json)) => {
                serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))
            }
            Some((format, _)) => Err(corrupt(format!(
                "unknown format {format} (written by a newer etcd-monitor?)"
            ))),
            None => Err(corrupt("empty record".into())),
        }
    }

    /// Checks a run handed in from outside (the API) before it is stored: every time
    /// in [`crate::time`]'s range, counts, durations and rates finite and within
    /// bounds no real run reaches, text and lists bounded. The error names the field.
    pub fn validate(&self) -> Result<()> {
        self.check_identity()?;
        self.check_sizes()?;
        crate::time::check("report.started_unix_ms", self.report.started_unix_ms)
            .map_err(HistoryError::Invalid)?;
        self.check_seconds()?;
        self.check_rates()?;
        self.check_counts()?;
        self.check_signed()?;
        let r = &self.report;
        if r.spec.duration.is_some_and(|d| d > MAX_DURATION) {
            return invalid_field(
                "report.spec.duration",
                format!("longer than {}", humantime::format_duration(MAX_DURATION)),
            );
        }
        r.spec
            .validate()
            .map_err(|e| HistoryError::Invalid(format!("report.spec: {e}")))
    }

    /// The id (what the file and the pages name the run by) and its cluster.
    fn check_identity(&self) -> Result<()> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(HistoryError::Invalid(
                "id: 1 to 64 characters of A-Z a-z 0-9 - _ . :".into(),
            ));
        }
        if self.id != self.report.run_id {
            return Err(HistoryError::Invalid(format!(
                "id {} differs from report.run_id {}",
                self.id, self.report.run_id
            )));
        }
        if self.cluster.is_empty() {
            return Err(HistoryError::Invalid("cluster: must not be empty".into()));
        }
        Ok(())
    }

    /// Texts and lists, each within what is kept.
    fn check_sizes(&self) -> Result<()> {
        let r = &self.report;
        self.texts()
            .into_iter()
            .try_for_each(|(field, text, max)| {
                if text.len() > max {
                    invalid_field(
                        &field,
                        format!("{} bytes; at most {max} are kept", text.len()),
                    )
                } else {
                    Ok(())
                }
            })?;
        for (field, len, max) in [
            ("report.histogram", r.histogram.len(), MAX_BUCKETS),
            ("report.percentiles", r.percentiles.len(), MAX_BUCKETS),
            ("report.errors", r.errors.len(), MAX_LIST_ITEMS),
            ("facts.members", self.facts.members.len(), MAX_LIST_ITEMS),
            ("facts.errors", self.facts.errors.len(), MAX_LIST_ITEMS),
            (
                "indicators.errors",
                self.indicators.errors.len(),
                MAX_LIST_ITEMS,
            ),
        ] {
            if len > max {
                return invalid_field(field, format!("{len} entries; at most {max}"));
            }
        }
        Ok(())
    }

    /// Every duration a number of seconds in 0..=MAX_SECS.
    fn check_seconds(&self) -> Result<()> {
        let r = &self.report;
        let s = &r.summary;
        let mut secs = vec![
            ("report.summary.total_secs", s.total_secs),
            ("report.summary.slowest_secs", s.slowest_secs),
            ("report.summary.fastest_secs", s.fastest_secs),
            ("report.summary.average_secs", s.average_secs),
            ("report.summary.stddev_secs", s.stddev_secs),
        ];
        secs.extend(
            r.histogram
                .iter()
                .map(|b| ("report.histogram.mark_secs", b.mark_secs)),
        );
        secs.extend(
            r.percentiles
                .iter()
                .map(|p| ("report.percentiles.secs", p.secs)),
        );
        let i = &self.indicators;
        secs.extend(
            [
                ("indicators.wal_fsync_p99_seconds", i.wal_fsync_p99_seconds),
                (
                    "indicators.backend_commit_p99_seconds",
                    i.backend_commit_p99_seconds,
                ),
            ]
            .into_iter()
            .filter_map(|(f, v)| v.map(|v| (f, v))),
        );
        for (field, v) in secs {
            if !(0.0..=MAX_SECS).contains(&v) {
                return invalid_field(
                    field,
                    format!("{v} is not a number of seconds in 0..={MAX_SECS}"),
                );
            }
        }
        Ok(())
    }

    /// Rates and fractional counts finite and in range; percentiles in 0..=100.
    fn check_rates(&self) -> Result<()> {
        let (r, i) = (&self.report, &self.indicators);
        let s = &r.summary;
        let mut rates = vec![("report.summary.requests_per_sec", s.requests_per_sec)];
        rates.extend(r.spec.rate.map(|v| ("report.spec.rate", v)));
        rates.extend(i.leader_changes.map(|v| ("indicators.leader_changes", v)));
        rates.extend(
            i.proposals_failed
                .map(|v| ("indicators.proposals_failed", v)),
        );
        for (field, v) in rates {
            if !(0.0..=MAX_COUNT as f64).contains(&v) {
                return invalid_field(field, format!("{v} is not a number in 0..={MAX_COUNT}"));
            }
        }
        if let Some(p) = r
            .percentiles
            .iter()
            .find(|p| !(0.0..=100.0).contains(&p.percent))
        {
            return invalid_field(
                "report.percentiles.percent",
                format!("{} is not in 0..=100", p.percent),
            );
        }
        Ok(())
    }

    /// Whole counts at most MAX_COUNT.
    fn check_counts(&self) -> Result<()> {
        let (r, i) = (&self.report, &self.indicators);
        let s = &r.summary;
        let mut counts = vec![
            ("report.summary.requests", s.requests),
            ("report.summary.errors", s.errors),
            ("report.ops.reads", r.ops.reads),
            ("report.ops.writes", r.ops.writes),
            ("report.ops.keepalives", r.ops.keepalives),
            ("report.ops.watch_events", r.ops.watch_events),
            (
                "report.cluster.raft_index_before",
                r.cluster.raft_index_before,
            ),
            (
                "report.cluster.raft_index_after",
                r.cluster.raft_index_after,
            ),
            ("report.spec.key_space_size", r.spec.key_space_size),
            ("report.spec.conns", r.spec.conns as u64),
            ("report.spec.clients", r.spec.clients as u64),
            ("report.spec.key_size", r.spec.key_size as u64),
            ("report.spec.val_size", r.spec.val_size as u64),
            ("host.cpus", self.host.cpus as u64),
            ("indicators.members_observed", i.members_observed as u64),
        ];
        counts.extend(r.spec.total.map(|t| ("report.spec.total", t)));
        counts.extend(
            r.histogram
                .iter()
                .map(|b| ("report.histogram.count", b.count)),
        );
        counts.extend(r.errors.values().map(|n| ("report.errors", *n)));
        for (field, v) in counts {
            if v > MAX_COUNT {
                return invalid_field(field, format!("{v} is more than {MAX_COUNT}"));
            }
        }
        Ok(())
    }

    /// Revisions and sizes in 0..=MAX_COUNT.
    fn check_signed(&self) -> Result<()> {
        let r = &self.report;
        let mut signed = vec![
            ("report.keys_deleted", r.keys_deleted),
            ("report.cluster.revision_before", r.cluster.revision_before),
            ("report.cluster.revision_after", r.cluster.revision_after),
        ];
        signed.extend(self.facts.db_size_bytes.map(|b| ("facts.db_size_bytes", b)));
        signed.extend(
            self.facts
                .members
                .iter()
                .filter_map(|m| m.db_size_bytes.map(|b| ("facts.members.db_size_bytes", b))),
        );
        for (field, v) in signed {
            if !(0..=MAX_COUNT as i64).contains(&v) {
                return invalid_field(field, format!("{v} is not in 0..={MAX_COUNT}"));
            }
        }
        Ok(())
    }

    /// Every text of the run: (field, text, most bytes kept).
    fn texts(&self) -> Vec<(String, &str, usize)> {
        let r = &self.report;
        let mut out: Vec<(String, &str, usize)> = vec![
            ("cluster".into(), self.cluster.as_str(), MAX_TEXT),
            ("report.prefix".into(), r.prefix.as_str(), MAX_TEXT),
            (
                "report.cluster.endpoint".into(),
                r.cluster.endpoint.as_str(),
                MAX_TEXT,
            ),
            (
                "host.hostname".into(),
                self.host.hostname.as_str(),
                MAX_NAME,
            ),
            ("host.os".into(), self.host.os.as_str(), MAX_NAME),
            ("host.arch".into(), self.host.arch.as_str(), MAX_NAME),
            (
                "host.monitor_version".into(),
                self.host.monitor_version.as_str(),
                MAX_NAME,
            ),
            (
                "report.hdr_histogram_v2_base64".into(),
                r.hdr_histogram_v2_base64.as_deref().unwrap_or(""),
                MAX_HDR_BASE64,
            ),
        ];
        if let RunSource::Schedule { name } = &self.source {
            out.push(("source.name".into(), name.as_str(), MAX_NAME));
        }
        if let Some(p) = &r.spec.prefix {
            out.push(("report.spec.prefix".into(), p.as_str(), MAX_TEXT));
        }
        let f = &self.facts;
        for (field, v) in [
            ("facts.cluster_id", &f.cluster_id),
            ("facts.leader", &f.leader),
            ("facts.version", &f.version),
        ] {
            if let Some(v) = v {
                out.push((field.into(), v.as_str(), MAX_NAME));
            }
        }
        for m in &f.members {
            out.push(("facts.members.id".into(), m.id.as_str(), MAX_NAME));
            out.push(("facts.members.name".into(), m.name.as_str(), MAX_NAME));
            if let Some(e) = &m.endpoint {
                out.push(("facts.members.endpoint".into(), e.as_str(), MAX_TEXT));
            }
            if let Some(v) = &m.version {
                out.push(("facts.members.version".into(), v.as_str(), MAX_NAME));
            }
        }
        for e in &f.errors {
            out.push(("facts.errors".into(), e.as_str(), MAX_TEXT));
        }
        for e in &self.indicators.errors {
            out.push(("indicators.errors".into(), e.as_str(), MAX_TEXT));
        }
        for e in r.errors.keys() {
            out.push(("report.errors".into(), e.as_str(), MAX_TEXT));
        }
        out
    }
}

/// Bounds of a run taken in (see [`StoredRun::validate`]): far above what a run
/// produces, low enough that no page or command has to cope with more.
pub const MAX_TEXT: usize = 1024;
pub const MAX_NAME: usize = 256;
/// etcd's report has 10 histogram buckets and 8 percentiles.
pub const MAX_BUCKETS: usize = 100;
pub const MAX_LIST_ITEMS: usize = 1000;
/// An hdr histogram of a long run with wide latencies is some tens of KB.
pub const MAX_HDR_BASE64: usize = 1 << 20;
/// 10^15: requests, counts, bytes and rates.
pub const MAX_COUNT: u64 = 1_000_000_000_000_000;
/// About 31 years, in seconds: latencies and run times.
pub const MAX_SECS: f64 = 1e9;
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);
/// The most runs a store keeps: a run is refused past it. `[bench.retention]
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
mod tests {
    use super::*;
    use crate::bench::{BenchSpec, ClusterDelta, OpCounts, Percentile, Summary};

    pub(crate) fn run(id: &str, rps: f64, p99_ms: f64, rate: Option<f64>) -> StoredRun {
        StoredRun {
            id: id.into(),
            cluster: "c".into(),
            source: RunSource::Cli,
            report: BenchReport {
                run_id: id.into(),
                prefix: format!("/etcd-monitor-bench/{id}/"),
                spec: BenchSpec {
                    rate,
                    ..BenchSpec::default()
                },
                started_unix_ms: 1,
                corrected_for_coordinated_omission: rate.is_some(),
                interrupted: false,
                summary: Summary {
                    total_secs: 1.0,
                    requests: 100,
                    errors: 0,
                    slowest_secs: p99_ms / 1e3,
                    fastest_secs: 0.001,
                    average_secs: 0.002,
                    stddev_secs: 0.001,
                    requests_per_sec: rps,
                },
                histogram: vec![],
                percentiles: vec![
                    Percentile {
                        percent: 50.0,
                        secs: 0.002,
                    },
                    Percentile {
                        percent: 99.0,
                        secs: p99_ms / 1e3,
                    },
                ],
                errors: Default::default(),
                ops: OpCounts::default(),
                cluster: ClusterDelta::default(),
                keys_deleted: 100,
                hdr_histogram_v2_base64: None,
            },
            facts: ClusterFacts::default(),
            host: HostFacts::default(),
            indicators: RunIndicators::default(),
        }
    }

    #[test]
    fn comparison_flags_slower_runs_only_past_the_threshold() {
        let runs = [
            run("a", 1000.0, 10.0, None),
            run("b", 950.0, 10.5, None),
            run("c", 500.0, 25.0, Some(500.0)),
        ];
        let c = compare(&runs, 0.1).unwrap();
        assert_eq!(c.baseline, "a");
        assert_eq!(c.regressions, 1);
        assert!(c.runs[1].regressions.is_empty(), "{:?}", c.runs[1]);
        assert!((c.runs[1].requests_per_sec_change.unwrap() + 0.05).abs() < 1e-9);
        let slow = &c.runs[2];
        assert_eq!(slow.regressions.len(), 2, "{:?}", slow.regressions);
        assert!(slow.regressions[0].starts_with("throughput -50.0%"));
        assert!(slow.regressions[1].starts_with("p99 +150.0%"));
        assert_eq!(slow.differences, vec!["rate: - vs 500".to_string()]);
        // A looser threshold forgives run c's p99 but not its throughput.
        let loose = compare(&runs, 2.0).unwrap();
        assert_eq!(loose.regressions, 0);
        assert!(compare(&runs[..1], 0.1).is_err());
        assert!(compare(&runs, 0.0).is_err());
    }

    #[test]
    fn runs_round_trip_and_bad_records_are_named() {
        let r = run("20261127T000000.000Z-0001", 1.0, 1.0, None);
        let back = StoredRun::decode(&r.id, &r.encode()).unwrap();
        assert_eq!(back.summary(), r.summary());
        let err = StoredRun::decode("x", &[9, 1, 2]).unwrap_err().to_string();
        assert!(
            err.contains("x") && err.contains("unknown format 9"),
            "{err}"
        );
        let err = StoredRun::decode("x", &[1, b'{']).unwrap_err().to_string();
        assert!(err.contains("cannot be read"), "{err}");
        let mut bad = r.clone();
        bad.id = "a/b".into();
        assert!(bad.validate().unwrap_err().to_string().starts_with("id:"));
    }

    #[test]
    fn store_keeps_runs_newest_first_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path(), crate::store::Retention::default()).unwrap();
        for (i, cluster) in ["x", "y", "x"].iter().enumerate() {
            let mut r = run(&format!("2026010{i}T000000.000Z-0000"), 1.0, 1.0, None);
            r.cluster = cluster.to_string();
            save(&store, &r).unwrap();
        }
        let again = run("20260100T000000.000Z-0000", 1.0, 1.0, None);
        assert!(matches!(save(&store, &again), Err(HistoryError::Exists(_))));
        let all = list(
            &store,
            &RunFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(all.next_before, None);
        let ids: Vec<String> = all.runs.into_iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "20260102T000000.000Z-0000",
                "20260101T000000.000Z-0000",
                "20260100T000000.000Z-0000"
            ]
        );
        let x = list(
            &store,
            &RunFilter {
                cluster: Some("x".into()),
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(x.runs.len(), 1);
        assert_eq!(x.runs[0].id, "20260102T000000.000Z-0000");
        assert_eq!(x.next_before.as_deref(), Some("20260102T000000.000Z-0000"));
        assert!(matches!(
            get(&store, "nope"),
            Err(HistoryError::NotFound(_))
        ));
        assert_eq!(get(&store, &ids[1]).unwrap().cluster, "y");
    }

    #[test]
    fn validation_names_the_field_of_values_no_page_can_show() {
        let good = run("r1", 1.0, 1.0, None);
        good.validate().unwrap();
        type Spoil = Box<dyn Fn(&mut StoredRun)>;
        let cases: Vec<(&str, Spoil)> = vec![
            (
                "report.started_unix_ms",
                Box::new(|r| r.report.started_unix_ms = i64::MAX),
            ),
            (
                "report.started_unix_ms",
                Box::new(|r| r.report.started_unix_ms = -1),
            ),
            (
                "report.summary.requests",
                Box::new(|r| r.report.summary.requests = u64::MAX),
            ),
            (
                "report.summary.total_secs",
                Box::new(|r| r.report.summary.total_secs = f64::NAN),
            ),
            (
                "report.summary.requests_per_sec",
                Box::new(|r| r.report.summary.requests_per_sec = f64::INFINITY),
            ),
            (
                "report.percentiles.secs",
                Box::new(|r| r.report.percentiles[0].secs = -1.0),
            ),
            (
                "report.keys_deleted",
                Box::new(|r| r.report.keys_deleted = i64::MIN),
            ),
            (
                "report.spec.duration",
                Box::new(|r| r.report.spec.duration = Some(std::time::Duration::MAX)),
            ),
            (
                "cluster",
                Box::new(|r| r.cluster = "x".repeat(MAX_TEXT + 1)),
            ),
            (
                "host.hostname",
                Box::new(|r| r.host.hostname = "x".repeat(MAX_NAME + 1)),
            ),
            (
                "report.errors",
                Box::new(|r| {
                    r.report.errors.insert("e".repeat(MAX_TEXT + 1), 1);
                }),
            ),
        ];
        for (field, spoil) in cases {
            let mut r = good.clone();
            spoil(&mut r);
            let e = r.validate().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{field}: ")), "{field}: {e}");
        }
    }

    #[test]
    fn changes_and_histograms_are_total() {
        assert_eq!(change(Some(0.0), Some(1.0)), None);
        assert_eq!(change(Some(f64::MIN_POSITIVE), Some(f64::MAX)), None);
        assert_eq!(change(Some(f64::INFINITY), Some(1.0)), None);
        assert_eq!(change(Some(1.0), Some(f64::NAN)), None);
        assert_eq!(change(Some(2.0), Some(1.0)), Some(-0.5));
        let mut a = run("a", 0.0, 0.0, None);
        a.report.summary.requests = u64::MAX;
        a.report.started_unix_ms = i64::MAX;
        a.report.histogram = vec![
            crate::bench::Bucket {
                mark_secs: f64::MAX,
                count: u64::MAX,
            },
            crate::bench::Bucket {
                mark_secs: 1.0,
                count: u64::MAX / 3,
            },
        ];
        let text = a.report.render_text();
        assert!(text.contains(&format!("[{}]", u64::MAX)), "{text}");
        compare(&[a.clone(), run("b", 1.0, 1.0, None)], 0.1).unwrap();
        compare(&[run("b", 1.0, 1.0, None), a], 0.1).unwrap();
    }

    #[test]
    fn retention_deletes_old_runs_then_the_oldest_past_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path(), crate::store::Retention::default()).unwrap();
        let day = 86_400_000i64;
        let now = 1_800_000_000_000i64;
        for (i, age_days) in [500, 300, 3, 2, 1].iter().enumerate() {
            let mut r = run(&format!("2026010{i}T000000.000Z-0000"), 1.0, 1.0, None);
            r.report.started_unix_ms = now - age_days * day;
            save(&store, &r).unwrap();
        }
        // An unreadable run is kept by age, counted by its id.
        store
            .write_records(&[(RUNS_TABLE, b"0-unreadable", Some(&[1, b'{'][..]))])
            .unwrap();
        let retention = RunRetention {
            max_age: std::time::Duration::from_secs(400 * 86_400),
            max_count: 3,
        };
        retention.validate().unwrap();
        let tasks_retention = retention;
        store.on_maintenance(
            "bench retention",
            Box::new(move |store, now_ms| {
                apply_retention(store, &tasks_retention, now_ms).map_err(|e| e.to_string())
            }),
        );
        store.maintain(now).unwrap();
        let all = list(
            &store,
            &RunFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
        let ids: Vec<&str> = all.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "20260104T000000.000Z-0000",
                "20260103T000000.000Z-0000",
                "20260102T000000.000Z-0000"
            ]
        );
        assert!(all.unreadable.is_empty(), "{:?}", all.unreadable);
        assert_eq!(apply_retention(&store, &retention, now).unwrap(), 0);
        delete(&store, "20260104T000000.000Z-0000").unwrap();
        assert!(matches!(
            delete(&store, "20260104T000000.000Z-0000"),
            Err(HistoryError::NotFound(_))
        ));
        for (field, bad) in [
            (
                "bench.retention.max_count",
                RunRetention {
                    max_count: 0,
                    ..retention
                },
            ),
            (
                "bench.retention.max_count",
                RunRetention {
                    max_count: MAX_STORED_RUNS + 1,
                    ..retention
                },
            ),
            (
                "bench.retention.max_age",
                RunRetention {
                    max_age: std::time::Duration::ZERO,
                    ..retention
                },
            ),
        ] {
            assert_eq!(bad.validate().unwrap_err().0, field);
        }
    }
}
