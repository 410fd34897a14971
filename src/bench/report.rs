//! Latency recording (hdrhistogram) and the report, rendered in the shape of etcd's
//! `benchmark` tool (pkg/report): Summary, Response time histogram, Latency
//! distribution, Error distribution.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::spec::BenchSpec;

/// The percentiles etcd's tool prints.
pub const PERCENTILES: [f64; 8] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9];

/// etcd's tool draws at most 40 bar characters for the fullest bucket.
const BAR: char = '∎';

/// Latencies of one client (merged at the end): an hdrhistogram in microseconds with 3
/// significant digits for the distribution, and exact sums for Fastest, Slowest,
/// Average and Stddev, which etcd computes from every sample.
#[derive(Debug, Clone)]
pub struct Recorder {
    hist: Histogram<u64>,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    pub errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            // 1 µs .. 1 hour, 3 significant digits; auto-resize past an hour.
            hist: {
                let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
                h.auto(true);
                h
            },
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: 0.0,
            errors: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let micros = (latency.as_micros() as u64).max(1);
        // auto(true): recording cannot fail.
        let _ = self.hist.record(micros);
        self.sum += secs;
        self.sum_sq += secs * secs;
        self.min = self.min.min(secs);
        self.max = self.max.max(secs);
    }

    pub fn record_error(&mut self, message: String) {
        *self.errors.entry(message).or_default() += 1;
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.hist.add(&other.hist);
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for (m, n) in &other.errors {
            *self.errors.entry(m.clone()).or_default() += n;
        }
    }

    /// (lowest value of the bucket in seconds, count), ascending.
    fn recorded(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.hist.iter_recorded().map(|v| {
            let micros = self.hist.lowest_equivalent(v.value_iterated_to());
            (micros as f64 / 1e6, v.count_at_value())
        })
    }

    /// etcd's percentile: the sample at index ceil(p*(n+1)/100)-1 of the sorted latencies.
    pub fn percentiles(&self) -> Vec<Percentile> {
        let n = self.count();
        PERCENTILES
            .iter()
            .map(|&p| {
                let secs = if n == 0 {
                    0.0
                } else {
                    let idx = ((p * (n + 1) as f64 / 100.0).ceil() as i64 - 1)
                        .clamp(0, n as i64 - 1) as u64;
                    let mut seen = 0;
                    let mut value = 0.0;
                    for (v, c) in self.recorded() {
                        seen += c;
                        if seen > idx {
                            value = v;
                            break;
                        }
                    }
                    value
                };
                Percentile { percent: p, secs }
            })
            .collect()
    }

    /// etcd's 10 equal buckets from Fastest to Slowest (11 marks); a sample goes to the
    /// first mark it does not exceed.
    pub fn buckets(&self) -> Vec<Bucket> {
        if self.count() == 0 {
            return Vec::new();
        }
        let (fastest, slowest) = (self.min, self.max);
        let width = (slowest - fastest) / 10.0;
        let mut marks: Vec<f64> = (0..10).map(|i| fastest + width * i as f64).collect();
        marks.push(slowest);
        let mut counts = vec![0u64; marks.len()];
        let mut bi = 0;
        for (v, c) in self.recorded() {
            while v > marks[bi] && bi < marks.len() - 1 {
                bi += 1;
            }
            counts[bi] += c;
        }
        marks
            .into_iter()
            .zip(counts)
            .map(|(mark_secs, count)| Bucket { mark_secs, count })
            .collect()
    }

    pub fn summary(&self, total: Duration) -> Summary {
        let n = self.count();
        let average = if n == 0 { 0.0 } else { self.sum / n as f64 };
        let variance = if n == 0 {
            0.0
        } else {
            (self.sum_sq / n as f64 - average * average).max(0.0)
        };
        Summary {
            total_secs: total.as_secs_f64(),
            requests: n,
            errors: self.errors.values().sum(),
            slowest_secs: if n == 0 { 0.0 } else { self.max },
            fastest_secs: if n == 0 { 0.0 } else { self.min },
            average_secs: average,
            stddev_secs: variance.sqrt(),
            requests_per_sec: if total.is_zero() {
                0.0
            } else {
                n as f64 / total.as_secs_f64()
            },
        }
    }

    /// The histogram in hdrhistogram's V2 format, base64 (for storing runs).
    pub fn hdr_base64(&self) -> Option<String> {
        use hdrhistogram::serialization::{Serializer, V2Serializer};
        let mut buf = Vec::new();
        V2Serializer::new().serialize(&self.hist, &mut buf).ok()?;
        Some(base64_encode(&buf))
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub total_secs: f64,
    /// Successful requests (the samples in the histogram).
    pub requests: u64,
    pub errors: u64,
    pub slowest_secs: f64,
    pub fastest_secs: f64,
    pub average_secs: f64,
    pub stddev_secs: f64,
    pub requests_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bucket {
    /// The bucket holds samples above the previous mark up to this one.
    pub mark_secs: f64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Percentile {
    pub percent: f64,
    pub secs: f64,
}

/// Requests by kind, so that writes can be checked against the cluster's revision.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OpCounts {
    pub reads: u64,
    pub writes: u64,
    pub keepalives: u64,
    pub watch_events: u64,
}

/// What the cluster saw, read before and after the load (before the cleanup).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterDelta {
    pub endpoint: String,
    pub revision_before: i64,
    pub revision_after: i64,
    pub raft_index_before: u64,
    pub raft_index_after: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub run_id: String,
    pub prefix: String,
    pub spec: BenchSpec,
    pub started_unix_ms: i64,
    /// Latencies are measured from each request's scheduled start when `--rate` is set
    /// (corrected for coordinated omission), from its actual start otherwise.
    pub corrected_for_coordinated_omission: bool,
    pub interrupted: bool,
    pub summary: Summary,
    pub histogram: Vec<Bucket>,
    pub percentiles: Vec<Percentile>,
    pub errors: BTreeMap<String, u64>,
    pub ops: OpCounts,
    pub cluster: ClusterDelta,
    /// Keys under the prefix deleted after the run.
    pub keys_deleted: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr_histogram_v2_base64: Option<String>,
}

/// Go's `%4.4f`.
fn f4(x: f64) -> String {
    format!("{x:4.4}")
}

impl BenchReport {
    /// The text etcd's `benchmark` prints (default precision `%4.4f`).
    pub fn render_text(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        if s.requests > 0 {
            out.push_str("\nSummary:\n");
            let _ = writeln!(out, "  Total:\t{} secs.", f4(s.total_secs));
            let _ = writeln!(out, "  Slowest:\t{} secs.", f4(s.slowest_secs));
            let _ = writeln!(out, "  Fastest:\t{} secs.", f4(s.fastest_secs));
            let _ = writeln!(out, "  Average:\t{} secs.", f4(s.average_secs));
            let _ = writeln!(out, "  Stddev:\t{} secs.", f4(s.stddev_secs));
            let _ = writeln!(out, "  Requests/sec:\t{}", f4(s.requests_per_sec));
            out.push_str(&render_histogram(&self.histogram));
            out.push_str("\nLatency distribution:\n");
            for p in &self.percentiles {
                if p.secs > 0.0 {
                    let _ = writeln!(out, "  {}% in {} secs.", p.percent, f4(p.secs));
                }
            }
        }
        if !self.errors.is_empty() {
            out.push_str("\nError distribution:\n");
            for (message, n) in &self.errors {
                let _ = writeln!(out, "  [{n}]\t{message}");
            }
        }
        out
    }
}

pub fn render_histogram(buckets: &[Bucket]) -> String {
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0);
    let mut out = String::from("\nResponse time histogram:\n");
    for b in buckets {
        // In u128: a stored run of another version may hold any count.
        let bar = (u128::from(b.count) * 40)
            .checked_div(u128::from(max))
            .unwrap_or(0)
            .min(40) as usize;
        let _ = writeln!(
            out,
            "  {} [{}]\t|{}",
            f4(b.mark_secs),
            b.count,
            BAR.to_string().repeat(bar)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn recorder(ms_values: &[u64]) -> Recorder {
        let mut r = Recorder::new();
        for &v in ms_values {
            r.record(ms(v));
        }
        r
    }

    #[test]
    fn bench_percentiles_follow_etcds_rank_rule() {
        // 1..=10 ms: idx = ceil(p*11/100)-1 -> 10%:1 (2 ms), 25%:2 (3), 50%:5 (6),
        // 75%:8 (9), 90%..99.9%: clamped to 9 (10 ms).
        let r = recorder(&[7, 1, 9, 2, 10, 3, 8, 4, 6, 5]);
        let got: Vec<(f64, f64)> = r
            .percentiles()
            .iter()
            .map(|p| (p.percent, (p.secs * 1e6).round() / 1e3))
            .collect();
        assert_eq!(
            got,
            vec![
                (10.0, 2.0),
                (25.0, 3.0),
                (50.0, 6.0),
                (75.0, 9.0),
                (90.0, 10.0),
                (95.0, 10.0),
                (99.0, 10.0),
                (99.9, 10.0)
            ]
        );
    }

    #[test]
    fn bench_histogram_buckets_split_fastest_to_slowest_in_ten() {
        // Fastest 1 ms, slowest 11 ms: marks 1,2,...,10,11 ms; samples between marks
        // (float marks are not exact) go to the next mark up.
        let mut r = Recorder::new();
        for us in [1000, 1000, 1500, 4500, 4500, 4500, 11000] {
            r.record(Duration::from_micros(us));
        }
        let b = r.buckets();
        assert_eq!(b.len(), 11);
        let marks: Vec<f64> = b.iter().map(|b| (b.mark_secs * 1e6).round()).collect();
        assert_eq!(
            marks,
            vec![
                1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0, 9000.0, 10000.0,
                11000.0
            ]
        );
        let counts: Vec<u64> = b.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2, 1, 0, 0, 3, 0, 0, 0, 0, 0, 1]);
        let text = render_histogram(&b);
        assert!(
            text.contains(&format!("  0.0010 [2]\t|{}\n", "∎".repeat(26))),
            "{text}"
        );
        assert!(text.contains(&format!("  0.0050 [3]\t|{}\n", "∎".repeat(40))));
        assert!(text.contains("  0.0030 [0]\t|\n"));
    }

    #[test]
    fn bench_summary_and_text_have_etcds_shape() {
        let r = recorder(&[1, 3]);
        let s = r.summary(Duration::from_millis(500));
        assert_eq!(s.requests, 2);
        assert!((s.average_secs - 0.002).abs() < 1e-12);
        assert!((s.stddev_secs - 0.001).abs() < 1e-9);
        assert!((s.requests_per_sec - 4.0).abs() < 1e-9);
        let mut errors = BTreeMap::new();
        errors.insert("deadline exceeded".to_string(), 3);
        let report = BenchReport {
            run_id: "x".into(),
            prefix: "/p/".into(),
            spec: BenchSpec::default(),
            started_unix_ms: 0,
            corrected_for_coordinated_omission: false,
            interrupted: false,
            summary: s,
            histogram: r.buckets(),
            percentiles: r.percentiles(),
            errors,
            ops: OpCounts::default(),
            cluster: ClusterDelta::default(),
            keys_deleted: 0,
            hdr_histogram_v2_base64: None,
        };
        let text = report.render_text();
        assert!(
            text.starts_with(
                "\nSummary:\n  Total:\t0.5000 secs.\n  Slowest:\t0.0030 secs.\n  Fastest:\t0.0010 secs.\n  Average:\t0.0020 secs.\n  Stddev:\t0.0010 secs.\n  Requests/sec:\t4.0000\n\nResponse time histogram:\n  0.0010 [1]\t|"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nLatency distribution:\n  10% in 0.0010 secs.\n  25% in 0.0010 secs.\n  50% in 0.0030 secs.\n"),
            "{text}"
        );
        assert!(text.contains("  99.9% in 0.0030 secs.\n"), "{text}");
        assert!(text.ends_with("\nError distribution:\n  [3]\tdeadline exceeded\n"));
    }

    #[test]
    fn bench_merge_and_base64() {
        let mut a = recorder(&[1, 2]);
        a.record_error("e".into());
        let mut b = recorder(&[3]);
        b.record_error("e".into());
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.errors["e"], 2);
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_encode(b"M"), "TQ==");
        assert!(a.hdr_base64().is_some());
    }
}
