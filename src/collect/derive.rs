//! From one parsed `/metrics` scrape to a small owned [`MetricsSample`], and from two
//! consecutive samples to per-member [`Indicators`]: rates from counter deltas
//! (surviving counter resets) and quantiles from histogram bucket deltas.
//!
//! Metric names differ across etcd versions, so each value is looked up by the
//! names that exist in the scrape, newest first.

use std::time::Instant;

use serde::Serialize;

use crate::promtext::{SampleRef, Scrape};

/// gRPC codes the etcd project's alert rules count as failures.
pub const GRPC_FAILURE_CODES: &[&str] = &[
    "Unknown",
    "FailedPrecondition",
    "ResourceExhausted",
    "Internal",
    "Unavailable",
    "DataLoss",
    "DeadlineExceeded",
];

/// A cumulative histogram: `(upper bound, cumulative count)` sorted by bound, +Inf last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

impl Histogram {
    fn add_bucket(&mut self, le: f64, count: f64) {
        match self.buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => self.buckets.push((le, count)),
        }
    }

    fn finish(&mut self) {
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    /// The observations between `prev` and `self`; a reset (any bucket went down)
    /// means the process restarted, so everything in `self` is new.
    pub fn delta(&self, prev: &Histogram) -> Histogram {
        let reset = self.count < prev.count
            || self.buckets.iter().any(|(le, c)| {
                prev.buckets
                    .iter()
                    .find(|(ple, _)| ple == le)
                    .is_some_and(|(_, pc)| c < pc)
            });
        if reset {
            return self.clone();
        }
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(le, c)| {
                    let before = prev
                        .buckets
                        .iter()
                        .find(|(ple, _)| ple == le)
                        .map_or(0.0, |(_, pc)| *pc);
                    (*le, c - before)
                })
                .collect(),
            count: self.count - prev.count,
            sum: self.sum - prev.sum,
        }
    }

    /// Prometheus' `histogram_quantile`: linear interpolation inside the bucket that
    /// holds the rank. `None` when there are no observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last().map(|(_, c)| *c)?;
        if total <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total;
        let mut prev_le = 0.0;
        let mut prev_count = 0.0;
        for (i, &(le, count)) in self.buckets.iter().enumerate() {
            if count >= rank {
                if le.is_infinite() {
                    // The rank is past the highest finite bound: that bound is the best
                    // estimate Prometheus can give, and so is ours.
                    return Some(if i == 0 { 0.0 } else { prev_le });
                }
                let lower = if i == 0 && le <= 0.0 { le } else { prev_le };
                let in_bucket = count - prev_count;
                if in_bucket <= 0.0 {
                    return Some(le);
                }
                return Some(lower + (le - lower) * (rank - prev_count) / in_bucket);
            }
            prev_le = le;
            prev_count = count;
        }
        Some(prev_le)
    }
}

/// The values the indicators need from one scrape, owned so the scrape text can go.
#[derive(Debug, Clone)]
pub struct MetricsSample {
    pub at: Instant,
    pub server_id: Option<String>,
    pub has_leader: Option<f64>,
    pub is_leader: Option<f64>,
    pub leader_changes: Option<f64>,
    pub proposals_committed: Option<f64>,
    pub proposals_applied: Option<f64>,
    pub proposals_pending: Option<f64>,
    pub proposals_failed: Option<f64>,
    pub db_total: Option<f64>,
    pub db_in_use: Option<f64>,
    pub quota: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub rss: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub client_sent_bytes: Option<f64>,
    pub client_received_bytes: Option<f64>,
    pub peer_sent_bytes: Option<f64>,
    pub peer_received_bytes: Option<f64>,
    pub peer_sent_failures: Option<f64>,
    pub grpc_unary_total: Option<f64>,
    pub grpc_unary_failed: Option<f64>,
    pub watch_streams: Option<f64>,
    pub keys_total: Option<f64>,
    pub wal_fsync: Option<Histogram>,
    pub backend_commit: Option<Histogram>,
    pub peer_rtt: Option<Histogram>,
    pub grpc_unary_handling: Option<Histogram>,
}

/// Sums the samples named `name` that `keep` accepts; `None` if there is none.
fn sum_where(
    scrape: &Scrape<'_>,
    name: &str,
    keep: impl Fn(&SampleRef<'_>) -> bool,
) -> Option<f64> {
    let mut found = false;
    let mut total = 0.0;
    for s in scrape.samples().filter(|s| s.name() == name) {
        if keep(&s) {
            found = true;
            total += s.value();
        }
    }
    found.then_some(total)
}

fn first_of(scrape: &Scrape<'_>, names: &[&str]) -> Option<f64> {
    names.iter().find_map(|n| sum_where(scrape, n, |_| true))
}

/// Merges every series of histogram `family` that `keep` accepts.
fn histogram(
    scrape: &Scrape<'_>,
    family: &str,
    keep: impl Fn(&SampleRef<'_>) -> bool,
) -> Option<Histogram> {
    let bucket = format!("{family}_bucket");
    let count = format!("{family}_count");
    let sum = format!("{family}_sum");
    let mut h = Histogram::default();
    let mut found = false;
    for s in scrape.samples() {
        let name = s.name();
        if !name.starts_with(family) || !keep(&s) {
            continue;
        }
        if name == bucket {
            let Some(le) = s.label("le").and_then(parse_le) else {
                continue;
            };
            h.add_bucket(le, s.value());
            found = true;
        } else if name == count {
            h.count += s.value();
        } else if name == sum {
            h.sum += s.value();
        }
    }
    h.finish();
    found.then_some(h)
}

fn parse_le(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

impl MetricsSample {
    pub fn from_scrape(scrape: &Scrape<'_>, at: Instant) -> MetricsSample {
        let unary = |s: &SampleRef<'_>| s.label("grpc_type") == Some("unary");
        MetricsSample {
            at,
            server_id: scrape
                .samples()
                .find(|s| s.name() == "etcd_server_id")
                .and_then(|s| s.label("server_id").map(str::to_string)),
            has_leader: first_of(scrape, &["etcd_server_has_leader"]),
            is_leader: first_of(scrape, &["etcd_server_is_leader"]),
            leader_changes: first_of(scrape, &["etcd_server_leader_changes_seen_total"]),
            proposals_committed: first_of(scrape, &["etcd_server_proposals_committed_total"]),
            proposals_applied: first_of(scrape, &["etcd_server_proposals_applied_total"]),
            proposals_pending: first_of(scrape, &["etcd_server_proposals_pending"]),
            proposals_failed: first_of(scrape, &["etcd_server_proposals_failed_total"]),
            db_total: first_of(
                scrape,
                &[
                    "etcd_mvcc_db_total_size_in_bytes",
                    "etcd_debugging_mvcc_db_total_size_in_bytes",
                ],
            ),
            db_in_use: first_of(scrape, &["etcd_mvcc_db_total_size_in_use_in_bytes"]),
            quota: first_of(scrape, &["etcd_server_quota_backend_bytes"]),
            cpu_seconds: first_of(scrape, &["process_cpu_seconds_total"]),
            rss: first_of(scrape, &["process_resident_memory_bytes"]),
            open_fds: first_of(scrape, &["process_open_fds"]),
            max_fds: first_of(scrape, &["process_max_fds"]),
            client_sent_bytes: first_of(scrape, &["etcd_network_client_grpc_sent_bytes_total"]),
            client_received_bytes: first_of(
                scrape,
                &["etcd_network_client_grpc_received_bytes_total"],
            ),
            peer_sent_bytes: first_of(scrape, &["etcd_network_peer_sent_bytes_total"]),
            peer_received_bytes: first_of(scrape, &["etcd_network_peer_received_bytes_total"]),
            peer_sent_failures: first_of(scrape, &["etcd_network_peer_sent_failures_total"]),
            grpc_unary_total: sum_where(scrape, "grpc_server_handled_total", unary),
            grpc_unary_failed: sum_where(scrape, "grpc_server_handled_total", |s| {
                unary(s)
                    && s.label("grpc_code")
                        .is_some_and(|c| GRPC_FAILURE_CODES.contains(&c))
            }),
            watch_streams: first_of(scrape, &["etcd_debugging_mvcc_watch_stream_total"]).or_else(
                || {
                    let watch = |s: &SampleRef<'_>| s.label("grpc_method") == Some("Watch");
                    let started = sum_where(scrape, "grpc_server_started_total", watch)?;
                    let handled =
                        sum_where(scrape, "grpc_server_handled_total", watch).unwrap_or(0.0);
                    Some(started - handled)
                },
            ),
            keys_total: first_of(scrape, &["etcd_debugging_mvcc_keys_total"]),
            wal_fsync: histogram(scrape, "etcd_disk_wal_fsync_duration_seconds", |_| true),
            backend_commit: histogram(scrape, "etcd_disk_backend_commit_duration_seconds", |_| {
                true
            }),
            peer_rtt: histogram(scrape, "etcd_network_peer_round_trip_time_seconds", |_| {
                true
            }),
            // Only served with --metrics=extensive. Defragment is slow by design.
            grpc_unary_handling: histogram(scrape, "grpc_server_handling_seconds", |s| {
                unary(s) && s.label("grpc_method") != Some("Defragment")
            }),
        }
    }
}

/// Per-member indicators from the latest scrape and the one before it. Rates are
/// per second over the interval between the two; `None` means the scrape lacks the
/// metric, there is no previous scrape yet, or (for quantiles) nothing was observed.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Indicators {
    pub interval_seconds: Option<f64>,
    pub has_leader: Option<bool>,
    pub is_leader: Option<bool>,
    pub leader_changes_total: Option<f64>,
    pub leader_changes_in_interval: Option<f64>,
    pub proposals_committed_per_second: Option<f64>,
    pub proposals_applied_per_second: Option<f64>,
    /// committed - applied: should stay within a few thousand.
    pub proposals_commit_apply_gap: Option<f64>,
    pub proposals_pending: Option<f64>,
    pub proposals_failed_per_second: Option<f64>,
    pub wal_fsync_p50_seconds: Option<f64>,
    pub wal_fsync_p99_seconds: Option<f64>,
    pub backend_commit_p50_seconds: Option<f64>,
    pub backend_commit_p99_seconds: Option<f64>,
    pub peer_rtt_p99_seconds: Option<f64>,
    pub grpc_unary_p99_seconds: Option<f64>,
    pub grpc_requests_per_second: Option<f64>,
    pub grpc_failed_per_second: Option<f64>,
    /// failed / all unary requests in the interval (0..1).
    pub grpc_failed_ratio: Option<f64>,
    pub db_size_bytes: Option<f64>,
    pub db_size_in_use_bytes: Option<f64>,
    pub quota_backend_bytes: Option<f64>,
    /// db size / quota (0..1).
    pub quota_usage_ratio: Option<f64>,
    /// 1 - in use / total (0..1).
    pub fragmentation_ratio: Option<f64>,
    /// CPU cores used (CPU seconds per second).
    pub cpu_cores: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub client_sent_bytes_per_second: Option<f64>,
    pub client_received_bytes_per_second: Option<f64>,
    pub peer_sent_bytes_per_second: Option<f64>,
    pub peer_received_bytes_per_second: Option<f64>,
    pub peer_sent_failures_per_second: Option<f64>,
    pub watch_streams: Option<f64>,
    pub keys_total: Option<f64>,
}

/// Increase of a counter; a decrease means the process restarted, so the new value
/// is all increase since then.
pub fn counter_increase(prev: f64, cur: f64) -> f64 {
    if cur >= prev {
        cur - prev
    } else {
        cur
    }
}

fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

impl Indicators {
    pub fn derive(cur: &MetricsSample, prev: Option<&MetricsSample>) -> Indicators {
        let secs = prev
            .map(|p| cur.at.duration_since(p.at).as_secs_f64())
            .filter(|s| *s > 0.0);
        let increase = |f: fn(&MetricsSample) -> Option<f64>| -> Option<f64> {
            Some(counter_increase(f(prev?)?, f(cur)?))
        };
        let rate =
            |f: fn(&MetricsSample) -> Option<f64>| -> Option<f64> { Some(increase(f)? / secs?) };
        let quantile = |f: fn(&MetricsSample) -> &Option<Histogram>, q: f64| -> Option<f64> {
            let delta = f(cur).as_ref()?.delta(f(prev?).as_ref()?);
            delta.quantile(q)
        };
        let grpc_total = increase(|m| m.grpc_unary_total);
        let grpc_failed = increase(|m| m.grpc_unary_failed);
        Indicators {
            interval_seconds: secs,
            has_leader: cur.has_leader.map(|v| v >= 1.0),
            is_leader: cur.is_leader.map(|v| v >= 1.0),
            leader_changes_total: cur.leader_changes,
            leader_changes_in_interval: increase(|m| m.leader_changes),
            proposals_committed_per_second: rate(|m| m.proposals_committed),
            proposals_applied_per_second: rate(|m| m.proposals_applied),
            // The two counters are read a moment apart, so applied can appear ahead.
            proposals_commit_apply_gap: match (cur.proposals_committed, cur.proposals_applied) {
                (Some(c), Some(a)) => Some((c - a).max(0.0)),
                _ => None,
            },
            proposals_pending: cur.proposals_pending,
            proposals_failed_per_second: rate(|m| m.proposals_failed),
            wal_fsync_p50_seconds: quantile(|m| &m.wal_fsync, 0.5),
            wal_fsync_p99_seconds: quantile(|m| &m.wal_fsync, 0.99),
            backend_commit_p50_seconds: quantile(|m| &m.backend_commit, 0.5),
            backend_commit_p99_seconds: quantile(|m| &m.backend_commit, 0.99),
            peer_rtt_p99_seconds: quantile(|m| &m.peer_rtt, 0.99),
            grpc_unary_p99_seconds: quantile(|m| &m.grpc_unary_handling, 0.99),
            grpc_requests_per_second: rate(|m| m.grpc_unary_total),
            grpc_failed_per_second: rate(|m| m.grpc_unary_failed),
            grpc_failed_ratio: match (grpc_failed, grpc_total) {
                (Some(_), Some(0.0)) => Some(0.0),
                (f, t) => ratio(f, t),
            },
            db_size_bytes: cur.db_total,
            db_size_in_use_bytes: cur.db_in_use,
            quota_backend_bytes: cur.quota,
            quota_usage_ratio: ratio(cur.db_total, cur.quota),
            fragmentation_ratio: ratio(cur.db_in_use, cur.db_total).map(|r| 1.0 - r),
            cpu_cores: rate(|m| m.cpu_seconds),
            resident_memory_bytes: cur.rss,
            open_fds: cur.open_fds,
            max_fds: cur.max_fds,
            client_sent_bytes_per_second: rate(|m| m.client_sent_bytes),
            client_received_bytes_per_second: rate(|m| m.client_received_bytes),
            peer_sent_bytes_per_second: rate(|m| m.peer_sent_bytes),
            peer_received_bytes_per_second: rate(|m| m.peer_received_bytes),
            peer_sent_failures_per_second: rate(|m| m.peer_sent_failures),
            watch_streams: cur.watch_streams,
            keys_total: cur.keys_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promtext;
    use std::time::Duration;

    fn hist(buckets: &[(f64, f64)]) -> Histogram {
        Histogram {
            buckets: buckets.to_vec(),
            count: buckets.last().unwrap().1,
            sum: 0.0,
        }
    }

    #[test]
    fn quantile_interpolates_like_prometheus() {
        // 100 observations: 50 <= 1ms, 40 in (1ms, 2ms], 10 in (2ms, 4ms].
        let h = hist(&[
            (0.001, 50.0),
            (0.002, 90.0),
            (0.004, 100.0),
            (f64::INFINITY, 100.0),
        ]);
        assert!((h.quantile(0.5).unwrap() - 0.001).abs() < 1e-12);
        // rank 99 lies 9/10 into (2ms, 4ms]
        assert!((h.quantile(0.99).unwrap() - 0.0038).abs() < 1e-12);
        // rank 25 lies halfway into (0, 1ms]
        assert!((h.quantile(0.25).unwrap() - 0.0005).abs() < 1e-12);
        assert_eq!(
            hist(&[(1.0, 0.0), (f64::INFINITY, 0.0)]).quantile(0.99),
            None
        );
        // Everything above the highest finite bound: that bound.
        let high = hist(&[(1.0, 0.0), (2.0, 0.0), (f64::INFINITY, 5.0)]);
        assert_eq!(high.quantile(0.5), Some(2.0));
    }

    #[test]
    fn histogram_delta_and_reset() {
        let before = hist(&[(0.001, 10.0), (0.01, 20.0), (f64::INFINITY, 20.0)]);
        let after = hist(&[(0.001, 10.0), (0.01, 30.0), (f64::INFINITY, 31.0)]);
        let d = after.delta(&before);
        assert_eq!(
            d.buckets,
            vec![(0.001, 0.0), (0.01, 10.0), (f64::INFINITY, 11.0)]
        );
        assert_eq!(d.count, 11.0);
        // After a restart the counts are smaller: take the new histogram whole.
        let restarted = hist(&[(0.001, 1.0), (0.01, 2.0), (f64::INFINITY, 2.0)]);
        assert_eq!(restarted.delta(&after), restarted);
    }

    #[test]
    fn counter_reset_counts_from_zero() {
        assert_eq!(counter_increase(100.0, 130.0), 30.0);
        assert_eq!(counter_increase(100.0, 7.0), 7.0);
    }

    const SCRAPE_1: &str = r#"# TYPE etcd_server_has_leader gauge
etcd_server_has_leader 1
etcd_server_is_leader 0
etcd_server_id{server_id="8e9e05c52164694d"} 1
etcd_server_leader_changes_seen_total 2
etcd_server_proposals_committed_total 1000
etcd_server_proposals_applied_total 990
etcd_server_proposals_pending 0
etcd_server_proposals_failed_total 1
etcd_mvcc_db_total_size_in_bytes 4.194304e+06
etcd_mvcc_db_total_size_in_use_in_bytes 1.048576e+06
etcd_server_quota_backend_bytes 8.388608e+06
process_cpu_seconds_total 10
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 100
grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 0
grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 50
grpc_server_handled_total{grpc_code="NotFound",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 10
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 10
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 20
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 20
etcd_disk_wal_fsync_duration_seconds_sum 0.02
etcd_disk_wal_fsync_duration_seconds_count 20
etcd_network_peer_round_trip_time_seconds_bucket{To="a",le="0.001"} 1
etcd_network_peer_round_trip_time_seconds_bucket{To="a",le="+Inf"} 1
etcd_network_peer_round_trip_time_seconds_bucket{To="b",le="0.001"} 1
etcd_network_peer_round_trip_time_seconds_bucket{To="b",le="+Inf"} 1
"#;

    #[test]
    fn indicators_from_two_scrapes() {
        let t0 = Instant::now();
        let first = promtext::parse(SCRAPE_1).unwrap();
        let a = MetricsSample::from_scrape(&first, t0);
        assert_eq!(a.server_id.as_deref(), Some("8e9e05c52164694d"));
        assert_eq!(
            a.peer_rtt.as_ref().unwrap().buckets,
            vec![(0.001, 2.0), (f64::INFINITY, 2.0)]
        );
        let only_first = Indicators::derive(&a, None);
        assert_eq!(only_first.has_leader, Some(true));
        assert_eq!(only_first.is_leader, Some(false));
        assert_eq!(only_first.proposals_committed_per_second, None);
        assert_eq!(only_first.quota_usage_ratio, Some(0.5));
        assert_eq!(only_first.fragmentation_ratio, Some(0.75));
        assert_eq!(only_first.proposals_commit_apply_gap, Some(10.0));

        let second_text = SCRAPE_1
            .replace("etcd_server_proposals_committed_total 1000", "etcd_server_proposals_committed_total 1100")
            .replace("process_cpu_seconds_total 10", "process_cpu_seconds_total 15")
            .replace(r#"grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 100"#,
                     r#"grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 190"#)
            .replace(r#"grpc_code="Unavailable",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 0"#,
                     r#"grpc_code="Unavailable",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 10"#)
            .replace(r#"grpc_type="bidi_stream"} 50"#, r#"grpc_type="bidi_stream"} 500"#)
            .replace(r#"{le="0.002"} 20"#, r#"{le="0.002"} 30"#)
            .replace(r#"{le="+Inf"} 20"#, r#"{le="+Inf"} 30"#)
            .replace("fsync_duration_seconds_count 20", "fsync_duration_seconds_count 30");
        let second = promtext::parse(&second_text).unwrap();
        let b = MetricsSample::from_scrape(&second, t0 + Duration::from_secs(10));
        let ind = Indicators::derive(&b, Some(&a));
        assert_eq!(ind.interval_seconds, Some(10.0));
        assert_eq!(ind.proposals_committed_per_second, Some(10.0));
        assert_eq!(ind.cpu_cores, Some(0.5));
        // 100 unary calls, 10 of them Unavailable; the Watch stream's codes do not count.
        assert_eq!(ind.grpc_requests_per_second, Some(10.0));
        assert_eq!(ind.grpc_failed_per_second, Some(1.0));
        assert_eq!(ind.grpc_failed_ratio, Some(0.1));
        // All 10 new fsyncs fell in (1ms, 2ms]: p50 is halfway.
        assert!((ind.wal_fsync_p50_seconds.unwrap() - 0.0015).abs() < 1e-12);
        // No new peer round trips in the interval.
        assert_eq!(ind.peer_rtt_p99_seconds, None);
        assert_eq!(ind.leader_changes_in_interval, Some(0.0));
    }
}
