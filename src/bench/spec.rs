//! What a benchmark run does: the workload and the parameters etcd's tool takes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Range consistency, as etcd's `--consistency l|s`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    #[default]
    Linearizable,
    Serializable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Workload {
    /// Puts of `key_size`-byte keys (within `key_space_size`) and `val_size`-byte values.
    Put,
    /// Ranges over `[key, end)` (or `key` alone). Keys are absolute: a range reads,
    /// never writes, so it may read outside the run's prefix.
    Range {
        key: String,
        end: Option<String>,
        consistency: Consistency,
    },
    /// Transactions of `txn_ops` puts each.
    TxnPut { txn_ops: usize },
    /// Transactions that either read one key or put one key, `rw_ratio` reads per write.
    TxnMixed {
        rw_ratio: f64,
        consistency: Consistency,
    },
    /// Puts at `put_rate` of one key watched by `streams` x `watchers_per_stream`
    /// watchers; each sample is the time from a put's start to one watcher's event.
    WatchLatency {
        streams: usize,
        watchers_per_stream: usize,
        put_rate: f64,
    },
    /// One lease per client, renewed over a keep-alive stream; each sample is one renewal.
    LeaseKeepalive,
    /// Gets and puts of keys within `key_space_size`, `read_percent` reads.
    Mixed {
        read_percent: u8,
        consistency: Consistency,
    },
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Range { .. } => "range",
            Workload::TxnPut { .. } => "txn-put",
            Workload::TxnMixed { .. } => "txn-mixed",
            Workload::WatchLatency { .. } => "watch-latency",
            Workload::LeaseKeepalive => "lease-keepalive",
            Workload::Mixed { .. } => "mixed",
        }
    }
}

/// A benchmark: a workload and etcd's common parameters. Serializable so runs can be
/// stored with what produced them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenchSpec {
    pub workload: Workload,
    /// gRPC connections; connection i dials endpoint i mod n (only the leader with
    /// `target_leader`).
    pub conns: usize,
    /// Concurrent clients, client j pinned to connection j mod conns.
    pub clients: usize,
    pub target_leader: bool,
    /// Stop after this many requests (puts for watch-latency)...
    pub total: Option<u64>,
    /// ...or after this long (whichever comes first when both are set).
    #[serde(default, with = "crate::time::duration")]
    pub duration: Option<Duration>,
    /// Requests per second over all clients; latencies are then measured from each
    /// request's scheduled start.
    pub rate: Option<f64>,
    pub key_size: usize,
    pub val_size: usize,
    pub key_space_size: u64,
    pub sequential_keys: bool,
    /// Where the run writes; default `/etcd-monitor-bench/<run-id>/`.
    pub prefix: Option<String>,
}

impl Default for BenchSpec {
    /// etcd's defaults: 1 connection, 1 client, 10,000 requests, 8-byte keys and
    /// values, a key space of 1.
    fn default() -> Self {
        BenchSpec {
            workload: Workload::Put,
            conns: 1,
            clients: 1,
            target_leader: false,
            total: None,
            duration: None,
            rate: None,
            key_size: 8,
            val_size: 8,
            key_space_size: 1,
            sequential_keys: false,
            prefix: None,
        }
    }
}

pub const DEFAULT_TOTAL: u64 = 10_000;
pub const PREFIX_ROOT: &str = "/etcd-monitor-bench/";

impl BenchSpec {
    /// The request limit: `total`, or etcd's default when neither total nor duration
    /// is set (10,000; 1,000 puts for watch-latency, at 100 puts/s).
    pub fn total_limit(&self) -> Option<u64> {
        match (self.total, self.duration) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) if matches!(self.workload, Workload::WatchLatency { .. }) => Some(1000),
            (None, None) => Some(DEFAULT_TOTAL),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if self.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        if self.key_space_size == 0 {
            return Err("--key-space-size must be at least 1".into());
        }
        if let Some(r) = self.rate {
            if r.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !r.is_finite() {
                return Err("--rate must be a positive number of requests per second".into());
            }
        }
        if self.total == Some(0) {
            return Err("--total must be at least 1".into());
        }
        if let Some(p) = &self.prefix {
            if p.is_empty() || p == "/" {
                return Err("--prefix must not be empty or /: it is deleted after the run".into());
            }
        }
        match &self.workload {
            Workload::TxnPut { txn_ops } if *txn_ops == 0 => {
                Err("--txn-ops must be at least 1".into())
            }
            Workload::TxnMixed { rw_ratio, .. } if !(*rw_ratio >= 0.0 && rw_ratio.is_finite()) => {
                Err("--rw-ratio must be a number >= 0".into())
            }
            Workload::Mixed { read_percent, .. } if *read_percent > 100 => {
                Err("--read-percent must be 0..100".into())
            }
            Workload::WatchLatency {
                streams,
                watchers_per_stream,
                put_rate,
            } if *streams == 0
                || *watchers_per_stream == 0
                || put_rate.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) =>
            {
                Err("--streams, --watchers-per-stream and --put-rate must be positive".into())
            }
            _ => Ok(()),
        }
    }

    /// The prefix a run with `run_id` writes under.
    pub fn prefix_for(&self, run_id: &str) -> String {
        match &self.prefix {
            Some(p) => p.clone(),
            None => format!("{PREFIX_ROOT}{run_id}/"),
        }
    }
}

/// A time-based run id: UTC `YYYYMMDDTHHMMSS` plus milliseconds and a random suffix,
/// so two runs started in the same millisecond still differ.
pub fn new_run_id() -> String {
    let ms = crate::unix_ms_now();
    let (y, m, d, h, mi, s) = crate::time::utc(ms);
    format!(
        "{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}.{:03}Z-{:04x}",
        ms.rem_euclid(1000),
        fastrand::u16(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_spec_round_trips_through_json() {
        let spec = BenchSpec {
            workload: Workload::Range {
                key: "a".into(),
                end: Some("b".into()),
                consistency: Consistency::Serializable,
            },
            duration: Some(Duration::from_secs(3)),
            ..BenchSpec::default()
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains("\"kind\":\"range\""), "{json}");
        assert!(json.contains("\"serializable\""), "{json}");
        let back: BenchSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.total_limit(), None);
        assert_eq!(BenchSpec::default().total_limit(), Some(10_000));
    }

    #[test]
    fn bench_run_ids_are_dated_and_prefixes_default() {
        assert_eq!(crate::time::utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(crate::time::utc(20_454 * 86_400_000), (2026, 1, 1, 0, 0, 0));
        let id = new_run_id();
        assert_eq!(id.len(), "20261127T134000.123Z-abcd".len(), "{id}");
        let spec = BenchSpec::default();
        assert_eq!(spec.prefix_for("r1"), "/etcd-monitor-bench/r1/");
        assert!(BenchSpec {
            prefix: Some("/".into()),
            ..BenchSpec::default()
        }
        .validate()
        .is_err());
    }
}
