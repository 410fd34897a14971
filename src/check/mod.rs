//! Checks with a verdict: the disk under etcd's WAL (`disk`), etcdctl's `check perf`
//! workload (`perf`) and a readiness report of a running cluster (`cluster`).
//!
//! Every result is a set of [`Finding`]s, each PASS, WARN or FAIL with a
//! recommendation that says what to do; reports are plain serde data so that runs
//! can be stored and compared. No CLI parsing or printing here: the binary's
//! `check` command does that.

pub mod cluster;
pub mod disk;
pub mod inspect;
pub mod perf;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::etcd::EtcdError;

/// A finding's verdict, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }

    /// The exit status of `etcd-monitor check`: 0 every finding PASS, 1 the worst is a
    /// WARN, 2 the worst is a FAIL (as monitoring plugins do: OK, WARNING, CRITICAL).
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Pass => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One verdict of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What was checked, e.g. `wal fsync p99`.
    pub check: String,
    pub status: Status,
    /// What was found, with the figures.
    pub detail: String,
    /// What to do about it (for a PASS, what keeps it so or nothing).
    pub recommendation: String,
}

impl Finding {
    pub fn new(
        check: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        recommendation: impl Into<String>,
    ) -> Self {
        Finding {
            check: check.into(),
            status,
            detail: detail.into(),
            recommendation: recommendation.into(),
        }
    }

    pub fn pass(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding::new(check, Status::Pass, detail, "")
    }
}

/// The worst status among `findings` (PASS when there are none).
pub fn worst(findings: &[Finding]) -> Status {
    findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Pass)
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The directory given to the disk check is unusable (missing, not writable, full).
    #[error("{0}")]
    Dir(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// fio could not be started or waited for.
    #[error("fio: {what}: {source}")]
    FioIo {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("fio: its JSON output does not parse: {0}")]
    FioOutput(#[source] serde_json::Error),
    /// fio ran and said something else than a result.
    #[error("fio: {0}")]
    Fio(String),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// The perf check's prefix already holds keys.
    #[error("prefix {prefix:?} has keys. Delete with etcdctl del --prefix {prefix} first")]
    PrefixNotEmpty { prefix: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, CheckError>;

/// Latency figures in milliseconds, from an hdrhistogram of nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Latency {
        let ms = |ns: u64| ns as f64 / 1e6;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1e6,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// A histogram of nanoseconds from 1 ns to 10 minutes at 3 significant digits.
pub fn new_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 600_000_000_000, 3)
        .expect("constant histogram bounds are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_pass_warn_fail() {
        assert_eq!(worst(&[]), Status::Pass);
        let f = |s| Finding::new("x", s, "", "");
        assert_eq!(worst(&[f(Status::Pass), f(Status::Warn)]), Status::Warn);
        assert_eq!(
            worst(&[f(Status::Fail), f(Status::Warn), f(Status::Pass)]),
            Status::Fail
        );
        assert_eq!(Status::Pass.exit_code(), 0);
        assert_eq!(Status::Warn.exit_code(), 1);
        assert_eq!(Status::Fail.exit_code(), 2);
        assert_eq!(
            serde_json::to_string(&Status::Warn).unwrap(),
            "\"WARN\"".to_string()
        );
    }

    #[test]
    fn latency_percentiles_of_a_known_distribution() {
        let mut h = new_histogram();
        // 1..=1000 microseconds, once each: p50 is 500 us, p99 990 us, max 1 ms.
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(l.count, 1000);
        assert!((l.p50_ms - 0.5).abs() < 0.001, "{l:?}");
        assert!((l.p99_ms - 0.99).abs() < 0.001, "{l:?}");
        assert!((l.max_ms - 1.0).abs() < 0.001, "{l:?}");
        assert!((l.min_ms - 0.001).abs() < 0.0001, "{l:?}");
        assert!((l.mean_ms - 0.5005).abs() < 0.001, "{l:?}");
        assert_eq!(
            Latency::from_histogram(&new_histogram()),
            Latency::default()
        );
    }
}
