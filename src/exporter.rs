//! The monitor's findings in the Prometheus text exposition format (0.0.4), for
//! `GET /metrics`: what Prometheus cannot compute from etcd's own metrics (a
//! cluster's status, quorum margin, leader agreement, HashKV agreement, index
//! spreads, each member's reachability and why not), the state of each alert,
//! and the monitor's own health.
//!
//! Written here rather than with the `prometheus-client` crate: every value is
//! read from the latest snapshots at scrape time, so there is no registry of live
//! metric objects to keep in step with clusters and alerts that come and go; what
//! is needed of the format (HELP and TYPE lines, label escaping, float text) is a
//! page of code, and `promtool check metrics` checks it in the tests.

use std::fmt::Write;
use std::sync::Arc;

use crate::alert::eval::AlertPhase;
use crate::alert::manager::AlertsView;
use crate::collect::snapshot::{
    ClusterSnapshot, ClusterStatus, MemberProbeCounts, MemberSnapshot, ProbeCounts,
};
use crate::store::StoreHealth;

/// The `Content-Type` of what [`render`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything a scrape shows, read by the caller at the moment of the scrape.
pub struct Inputs<'a> {
    pub clusters: &'a [Arc<ClusterSnapshot>],
    pub alerts: &'a AlertsView,
    pub store: &'a StoreHealth,
    /// The store file's size in bytes, when it could be read.
    pub store_file_bytes: Option<u64>,
    /// Samples ingested and dropped by the store, since it was made.
    pub store_samples: (u64, u64),
    /// What the store holds in memory.
    pub store_memory: crate::store::StoreMemory,
    pub start_time_unix_s: f64,
    pub resident_memory_bytes: Option<u64>,
    /// Each `[[remote_write]]` target's figures.
    pub remote_write: &'a [crate::remote_write::RemoteWriteStatus],
}

/// One exposition being written: families one after another, each with its
/// HELP and TYPE lines first.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
    }

    /// A family of one gauge per cluster, for the clusters `value` gives one.
    fn per_cluster(
        &mut self,
        clusters: &[Arc<ClusterSnapshot>],
        name: &str,
        help: &str,
        value: impl Fn(&ClusterSnapshot) -> Option<f64>,
    ) {
        self.family(name, "gauge", help);
        for c in clusters {
            if let Some(v) = value(c) {
                self.sample(name, &[("cluster", &c.name)], v);
            }
        }
    }

    /// A family of one gauge per member of every cluster, for the members `value`
    /// gives one.
    fn per_member(
        &mut self,
        clusters: &[Arc<ClusterSnapshot>],
        name: &str,
        help: &str,
        value: impl Fn(&MemberSnapshot) -> Option<f64>,
    ) {
        self.family(name, "gauge", help);
        for c in clusters {
            for m in &c.members {
                if let Some(v) = value(m) {
                    self.sample(name, &[("cluster", &c.name), ("member", &m.name)], v);
                }
            }
        }
    }
}

/// `\` and newlines escaped, as HELP text needs.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `\`, `"` and newlines escaped, as a label value needs.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value as Prometheus reads it: `NaN`, `+Inf`, `-Inf`, or the shortest
/// decimal that reads back as the same float.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Whether `name` may be a label name and is not one Prometheus reserves (`__`).
fn valid_label_name(name: &str) -> bool {
    crate::alert::rules::valid_label_name(name) && !name.starts_with("__")
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn unix_seconds(t: &crate::collect::snapshot::Timestamp) -> Option<f64> {
    t.0.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
}

/// Whether every reachable member names the same leader (and one does).
fn leader_agreement(c: &ClusterSnapshot) -> Option<f64> {
    let mut leaders = c
        .members
        .iter()
        .filter_map(|m| m.status.as_ref())
        .map(|s| s.leader.as_str());
    let first = leaders.next()?;
    Some(bool_value(
        !first.is_empty() && first != "0" && leaders.all(|l| l == first),
    ))
}

/// The exposition of `inputs`.
pub fn render(inputs: &Inputs) -> String {
    let clusters = inputs.clusters;
    let mut x = Exposition {
        out: String::with_capacity(4096 + clusters.len() * 4096),
    };

    x.family(
        "etcd_monitor_build_info",
        "gauge",
        "The monitor's version and commit; always 1.",
    );
    x.sample(
        "etcd_monitor_build_info",
        &[
            ("version", crate::build_info::VERSION),
            ("commit", crate::build_info::COMMIT),
        ],
        1.0,
    );
    x.family(
        "etcd_monitor_start_time_seconds",
        "gauge",
        "When the monitor started, in seconds since the Unix epoch.",
    );
    x.sample(
        "etcd_monitor_start_time_seconds",
        &[],
        inputs.start_time_unix_s,
    );
    if let Some(rss) = inputs.resident_memory_bytes {
        x.family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        x.sample("process_resident_memory_bytes", &[], rss as f64);
    }

    // Clusters.
    x.family(
        "etcd_monitor_cluster_status",
        "gauge",
        "The cluster's status as the monitor derives it: 1 for the current one of pending, healthy, degraded, unavailable.",
    );
    for c in clusters {
        for status in ClusterStatus::ALL {
            x.sample(
                "etcd_monitor_cluster_status",
                &[("cluster", &c.name), ("status", status.as_str())],
                bool_value(c.status == status),
            );
        }
    }
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_voting_members",
        "Voting members (not learners) in the member list.",
        |c| Some(c.quorum.voting_members as f64),
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_reachable_voting_members",
        "Voting members that answered the last probe.",
        |c| Some(c.quorum.reachable_voting_members as f64),
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_quorum_margin",
        "Reachable voting members beyond the quorum: how many more may fail before writes stop (negative: quorum lost).",
        |c| {
            (c.quorum.voting_members > 0).then_some(
                c.quorum.reachable_voting_members as f64 - c.quorum.needed as f64,
            )
        },
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_has_leader",
        "1 if the cluster has a leader.",
        |c| (c.status != ClusterStatus::Pending).then(|| bool_value(c.leader.is_some())),
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_leader_agreement",
        "1 if every reachable member names the same leader.",
        leader_agreement,
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_raft_index_spread",
        "Highest minus lowest raft index among the reachable members.",
        |c| c.spread.raft_index.map(|v| v as f64),
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_raft_applied_index_spread",
        "Highest minus lowest applied raft index among the reachable members.",
        |c| c.spread.raft_applied_index.map(|v| v as f64),
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_revision_spread",
        "Highest minus lowest revision among the reachable members.",
        |c| c.spread.revision.map(|v| v as f64),
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_hashkv_agreement",
        "1 if the last HashKV check found every member's hash equal at the same revision.",
        |c| {
            c.consistency
                .as_ref()
                .filter(|k| k.error.is_none())
                .map(|k| bool_value(k.consistent))
        },
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_cluster_hashkv_check_timestamp_seconds",
        "When the last HashKV check ran, in seconds since the Unix epoch.",
        |c| {
            c.consistency
                .as_ref()
                .and_then(|k| unix_seconds(&k.checked_at))
        },
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_probe_duration_seconds",
        "How long the cluster's last probe took.",
        |c| c.probe_duration_ms.map(|ms| ms as f64 / 1e3),
    );
    x.per_cluster(
        clusters,
        "etcd_monitor_probe_timestamp_seconds",
        "When the cluster was last probed, in seconds since the Unix epoch.",
        |c| c.probed_at.as_ref().and_then(unix_seconds),
    );
    for (name, help, count) in [
        (
            "etcd_monitor_probes_total",
            "Probes of the cluster since the monitor started.",
            (|c| c.probes_total) as fn(&ProbeCounts) -> u64,
        ),
        (
            "etcd_monitor_probe_failures_total",
            "Probes of the cluster that no member answered, since the monitor started.",
            |c| c.failed_total,
        ),
    ] {
        x.family(name, "counter", help);
        for c in clusters {
            x.sample(name, &[("cluster", &c.name)], count(&c.counts) as f64);
        }
    }
    for (name, help, count) in [
        (
            "etcd_monitor_member_probe_failures_total",
            "Probes the member did not answer, since the monitor started (members of the last probe).",
            (|m| m.unreachable_total) as fn(&MemberProbeCounts) -> u64,
        ),
        (
            "etcd_monitor_member_metrics_scrape_failures_total",
            "Probes in which the member's /metrics could not be read, since the monitor started.",
            |m| m.scrape_failures_total,
        ),
    ] {
        x.family(name, "counter", help);
        for c in clusters {
            for (member, counts) in &c.counts.members {
                x.sample(name, &[("cluster", &c.name), ("member", member)], count(counts) as f64);
            }
        }
    }
    x.family(
        "etcd_monitor_alarm",
        "gauge",
        "1 for each alarm a member has raised (NOSPACE, CORRUPT).",
    );
    for c in clusters {
        for a in &c.alarms {
            let member = a.member_name.as_deref().unwrap_or(&a.member_id);
            x.sample(
                "etcd_monitor_alarm",
                &[
                    ("cluster", &c.name),
                    ("member", member),
                    ("alarm", &a.alarm),
                ],
                1.0,
            );
        }
    }

    // Members.
    x.per_member(
        clusters,
        "etcd_monitor_member_reachable",
        "1 if the member answered the last probe.",
        |m| Some(bool_value(m.reachable)),
    );
    x.family(
        "etcd_monitor_member_unreachable_reason",
        "gauge",
        "1 for an unreachable member, with why in a small set: timeout, refused, reset, tls, auth, dns, not_started, error.",
    );
    for c in clusters {
        for m in c.members.iter().filter(|m| !m.reachable) {
            x.sample(
                "etcd_monitor_member_unreachable_reason",
                &[
                    ("cluster", &c.name),
                    ("member", &m.name),
                    ("reason", m.unreachable_reason()),
                ],
                1.0,
            );
        }
    }
    x.per_member(
        clusters,
        "etcd_monitor_member_healthy",
        "1 if the member's /health said true at the last probe.",
        |m| m.reachable.then(|| bool_value(m.healthy)),
    );
    x.per_member(
        clusters,
        "etcd_monitor_member_is_leader",
        "1 for the member the cluster names its leader.",
        |m| Some(bool_value(m.is_leader)),
    );
    x.per_member(
        clusters,
        "etcd_monitor_member_is_learner",
        "1 for a learner (a member that does not vote).",
        |m| Some(bool_value(m.is_learner)),
    );
    x.per_member(
        clusters,
        "etcd_monitor_member_metrics_scrape_ok",
        "1 if the member's /metrics was read at the last probe.",
        |m| {
            m.metrics_url
                .as_ref()
                .map(|_| bool_value(m.scrape_error.is_none()))
        },
    );
    x.family(
        "etcd_monitor_member_version_info",
        "gauge",
        "The etcd version each reachable member reports; always 1.",
    );
    for c in clusters {
        for m in &c.members {
            if let Some(s) = &m.status {
                x.sample(
                    "etcd_monitor_member_version_info",
                    &[
                        ("cluster", &c.name),
                        ("member", &m.name),
                        ("version", &s.version),
                    ],
                    1.0,
                );
            }
        }
    }

    // Alerts, as Prometheus' own ALERTS series: the alert's labels and its state.
    x.family(
        "etcd_monitor_alerts",
        "gauge",
        "1 for each pending or firing alert, with its labels and alertstate.",
    );
    for view in &inputs.alerts.alerts {
        let alert = &view.alert;
        let state = match alert.phase {
            AlertPhase::Pending => "pending",
            AlertPhase::Firing => "firing",
            AlertPhase::Resolved => continue,
        };
        let mut labels: Vec<(&str, &str)> = alert
            .labels
            .iter()
            .filter(|(k, _)| valid_label_name(k) && k.as_str() != "alertstate")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.push(("alertstate", state));
        x.sample("etcd_monitor_alerts", &labels, 1.0);
    }

    // Notifications.
    for (name, help, failed) in [
        (
            "etcd_monitor_notifications_total",
            "Notifications a receiver accepted, since the monitor started.",
            false,
        ),
        (
            "etcd_monitor_notifications_failed_total",
            "Notifications given up after their retries, since the monitor started.",
            true,
        ),
    ] {
        x.family(name, "counter", help);
        for (receiver, counts) in &inputs.alerts.notifications {
            let n = if failed { counts.failed } else { counts.sent };
            x.sample(name, &[("receiver", receiver)], n as f64);
        }
    }

    // The store.
    for (name, help, value) in [
        (
            "etcd_monitor_store_samples_ingested_total",
            "Samples the history store took in, since it was made.",
            inputs.store_samples.0,
        ),
        (
            "etcd_monitor_store_samples_dropped_total",
            "Samples the history store dropped (out of order or too old), since it was made.",
            inputs.store_samples.1,
        ),
    ] {
        x.family(name, "counter", help);
        x.sample(name, &[], value as f64);
    }
    if let Some(bytes) = inputs.store_file_bytes {
        x.family(
            "etcd_monitor_store_file_bytes",
            "gauge",
            "Size of the history store's file.",
        );
        x.sample("etcd_monitor_store_file_bytes", &[], bytes as f64);
    }
    x.family(
        "etcd_monitor_store_memory_bytes",
        "gauge",
        "What the history store holds in memory, estimated from its structures: the series registry, the head (its open blocks' streams also apart, as head_streams), blocks and log records waiting for a write, and redb's page cache at most.",
    );
    let m = &inputs.store_memory;
    for (part, bytes) in [
        ("registry", m.registry_bytes),
        ("head", m.head_bytes),
        ("head_streams", m.head_stream_bytes),
        ("pending", m.pending_bytes),
        ("cache_max", m.cache_max_bytes),
    ] {
        x.sample(
            "etcd_monitor_store_memory_bytes",
            &[("part", part)],
            bytes as f64,
        );
    }
    x.family(
        "etcd_monitor_store_write_errors_total",
        "counter",
        "Writes to the history store that failed.",
    );
    x.sample(
        "etcd_monitor_store_write_errors_total",
        &[],
        inputs.store.write_errors_total as f64,
    );
    for (name, help, at) in [
        (
            "etcd_monitor_store_last_checkpoint_timestamp_seconds",
            "When the store last wrote its open blocks whole, in seconds since the Unix epoch.",
            inputs.store.last_checkpoint_ms,
        ),
        (
            "etcd_monitor_store_last_compaction_timestamp_seconds",
            "When the store last deleted expired blocks and compacted, in seconds since the Unix epoch.",
            inputs.store.last_compaction_ms,
        ),
    ] {
        if let Some(ms) = at {
            x.family(name, "gauge", help);
            x.sample(name, &[], ms as f64 / 1e3);
        }
    }

    // Remote write, per target (families only when there is one).
    type Figure = fn(&crate::remote_write::RemoteWriteStatus) -> f64;
    let families: [(&str, &str, &str, Figure); 8] = [
        (
            "etcd_monitor_remote_write_samples_sent_total",
            "counter",
            "Samples the receiver accepted, since the monitor started.",
            |t| t.samples_sent_total as f64,
        ),
        (
            "etcd_monitor_remote_write_samples_failed_total",
            "counter",
            "Samples the receiver refused for good (4xx), since the monitor started.",
            |t| t.samples_failed_total as f64,
        ),
        (
            "etcd_monitor_remote_write_samples_dropped_total",
            "counter",
            "Samples deleted unsent because the queue on disk was full, since the monitor started.",
            |t| t.samples_dropped_total as f64,
        ),
        (
            "etcd_monitor_remote_write_samples_pending",
            "gauge",
            "Samples stored and not yet accepted by the receiver.",
            |t| t.samples_pending as f64,
        ),
        (
            "etcd_monitor_remote_write_retries_total",
            "counter",
            "Requests sent again after a network error, 5xx or 429, since the monitor started.",
            |t| t.retries_total as f64,
        ),
        (
            "etcd_monitor_remote_write_sent_bytes_total",
            "counter",
            "Compressed bytes of accepted requests, since the monitor started.",
            |t| t.bytes_sent_total as f64,
        ),
        (
            "etcd_monitor_remote_write_last_success_timestamp_seconds",
            "gauge",
            "When the receiver last accepted a request, in seconds since the Unix epoch; 0 before.",
            |t| t.last_success_ms as f64 / 1e3,
        ),
        (
            "etcd_monitor_remote_write_highest_sent_timestamp_seconds",
            "gauge",
            "Newest sample timestamp the receiver accepted, in seconds since the Unix epoch; 0 before.",
            |t| t.highest_sent_timestamp_ms as f64 / 1e3,
        ),
    ];
    if !inputs.remote_write.is_empty() {
        for (name, kind, help, figure) in families {
            x.family(name, kind, help);
            for t in inputs.remote_write {
                x.sample(name, &[("target", &t.name)], figure(t));
            }
        }
    }
    x.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_labels_are_written_as_prometheus_reads_them() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(-2.5), "-2.5");
        assert_eq!(format_value(1e300).parse::<f64>().unwrap(), 1e300);
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
        assert!(valid_label_name("severity"));
        assert!(valid_label_name("_x1"));
        for bad in ["", "1a", "a-b", "__name__", "é"] {
            assert!(!valid_label_name(bad), "{bad}");
        }
    }
}
