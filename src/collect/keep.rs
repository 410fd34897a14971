//! Which scraped series are stored (`store.series` and `[[store.metric_relabel]]`).
//!
//! A member exposes about 1,300 series (etcd 3.4: most are gRPC counters per method
//! and code, and Go runtime figures); every stored series costs memory in the head
//! and bytes in the file for as long as history is kept. By default the store keeps
//! the series the pages, the built-in rules and the indicators are made from, and
//! the ones etcd's documentation names as the metrics that matter; the derived
//! indicators (`etcd_monitor:*`) are always stored. The snapshot, the indicators and
//! the alerts are computed from the whole scrape either way.

use std::collections::HashSet;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::promtext::SampleRef;

/// `store.series`: the series kept before the relabel rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeriesSelection {
    /// [`USED_METRICS`], and the metrics user alert rules name.
    #[default]
    Used,
    /// Every series a member exposes.
    All,
}

/// The metric names `store.series = "used"` keeps (a histogram by its family name:
/// its `_bucket`, `_sum` and `_count`). Names of several etcd versions are listed:
/// each member exposes only its own.
pub const USED_METRICS: &[&str] = &[
    // Leader and raft
    "etcd_server_has_leader",
    "etcd_server_is_leader",
    "etcd_server_is_learner",
    "etcd_server_leader_changes_seen_total",
    "etcd_server_heartbeat_send_failures_total",
    "etcd_server_slow_apply_total",
    "etcd_server_slow_read_indexes_total",
    "etcd_server_health_failures",
    "etcd_server_health_success",
    // Proposals
    "etcd_server_proposals_committed_total",
    "etcd_server_proposals_applied_total",
    "etcd_server_proposals_pending",
    "etcd_server_proposals_failed_total",
    // Versions (a gauge of 1 with the version as a label: an upgrade shows as a new series)
    "etcd_server_version",
    "etcd_cluster_version",
    // Disk
    "etcd_disk_wal_fsync_duration_seconds",
    "etcd_disk_backend_commit_duration_seconds",
    "etcd_debugging_snap_save_total_duration_seconds",
    // Database and keys
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_debugging_mvcc_db_total_size_in_bytes",
    "etcd_server_quota_backend_bytes",
    "etcd_debugging_mvcc_keys_total",
    "etcd_debugging_mvcc_watch_stream_total",
    "etcd_debugging_mvcc_watcher_total",
    "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
    "etcd_mvcc_db_total_size_in_bytes_compacted",
    // Network
    "etcd_network_peer_round_trip_time_seconds",
    "etcd_network_peer_sent_bytes_total",
    "etcd_network_peer_received_bytes_total",
    "etcd_network_peer_sent_failures_total",
    "etcd_network_peer_received_failures_total",
    "etcd_network_client_grpc_sent_bytes_total",
    "etcd_network_client_grpc_received_bytes_total",
    // Process
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

/// Suffixes of a histogram's or a summary's series.
const FAMILY_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// `[[store.metric_relabel]]`: one rule, as in Prometheus' `metric_relabel_configs`
/// with the actions `keep` and `drop`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelRule {
    pub action: RelabelAction,
    /// The labels whose values, joined by `separator`, the regex is matched against;
    /// `__name__` is the metric name. A missing label is the empty string.
    #[serde(default = "default_source_labels")]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Matched against the whole joined value (anchored at both ends, as Prometheus does).
    pub regex: String,
}

fn default_source_labels() -> Vec<String> {
    vec!["__name__".to_string()]
}

fn default_separator() -> String {
    ";".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    /// Drops the series the regex does not match.
    Keep,
    /// Drops the series the regex matches.
    Drop,
}

/// A rule that cannot be used: the field (under `store.metric_relabel[i]`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

/// The longest regex accepted: a rule is matched against every scraped series.
const MAX_REGEX_LEN: usize = 4096;

struct CompiledRule {
    action: RelabelAction,
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
}

/// Decides, per scraped series, whether it is stored.
pub struct SeriesFilter {
    /// `None`: every name passes the first step (`store.series = "all"`).
    names: Option<HashSet<String>>,
    rules: Vec<CompiledRule>,
}

impl SeriesFilter {
    /// Every series kept.
    pub fn all() -> SeriesFilter {
        SeriesFilter {
            names: None,
            rules: Vec::new(),
        }
    }

    /// The filter of `selection` and `rules`; `also_used` are metric names kept by
    /// `"used"` besides [`USED_METRICS`] (those user alert rules read).
    pub fn new<'a>(
        selection: SeriesSelection,
        also_used: impl IntoIterator<Item = &'a str>,
        rules: &[RelabelRule],
    ) -> Result<SeriesFilter, RuleError> {
        let names = match selection {
            SeriesSelection::All => None,
            SeriesSelection::Used => Some(
                USED_METRICS
                    .iter()
                    .copied()
                    .chain(also_used)
                    .map(str::to_string)
                    .collect(),
            ),
        };
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| compile(i, r))
            .collect::<Result<_, _>>()?;
        Ok(SeriesFilter { names, rules })
    }

    /// Whether the series of `sample` is stored.
    pub fn keeps(&self, sample: &SampleRef<'_>) -> bool {
        if let Some(names) = &self.names {
            let name = sample.name();
            let family = FAMILY_SUFFIXES
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            if !names.contains(name) && !names.contains(family) {
                return false;
            }
        }
        self.rules.iter().all(|rule| {
            let matched = if let [label] = rule.source_labels.as_slice() {
                rule.regex.is_match(value_of(sample, label))
            } else {
                let joined: Vec<&str> = rule
                    .source_labels
                    .iter()
                    .map(|l| value_of(sample, l))
                    .collect();
                rule.regex.is_match(&joined.join(&rule.separator))
            };
            matched == (rule.action == RelabelAction::Keep)
        })
    }
}

fn value_of<'s>(sample: &SampleRef<'s>, label: &str) -> &'s str {
    if label == "__name__" {
        sample.name()
    } else {
        sample.label(label).unwrap_or("")
    }
}

fn compile(i: usize, rule: &RelabelRule) -> Result<CompiledRule, RuleError> {
    let err = |field: &str, message: String| RuleError {
        field: format!("store.metric_relabel[{i}].{field}"),
        message,
    };
    if rule.source_labels.is_empty() {
        return Err(err("source_labels", "must name at least one label".into()));
    }
    for (j, label) in rule.source_labels.iter().enumerate() {
        if label != "__name__" && !crate::labels::is_valid_name(label) {
            return Err(err(
                &format!("source_labels[{j}]"),
                format!("{label:?} is not a label name"),
            ));
        }
    }
    if rule.regex.len() > MAX_REGEX_LEN {
        return Err(err(
            "regex",
            format!("is {} bytes; at most {MAX_REGEX_LEN}", rule.regex.len()),
        ));
    }
    let regex = Regex::new(&format!("^(?:{})$", rule.regex)).map_err(|e| {
        err(
            "regex",
            format!("{:?} is not a regular expression: {e}", rule.regex),
        )
    })?;
    Ok(CompiledRule {
        action: rule.action,
        source_labels: rule.source_labels.clone(),
        separator: rule.separator.clone(),
        regex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "etcd_server_has_leader 1\n\
        etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 3\n\
        etcd_disk_wal_fsync_duration_seconds_sum 0.1\n\
        etcd_disk_wal_fsync_duration_seconds_count 3\n\
        grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\"} 7\n\
        grpc_server_handled_total{grpc_code=\"Unavailable\",grpc_method=\"Range\"} 0\n\
        go_goroutines 40\n";

    fn kept(filter: &SeriesFilter) -> Vec<String> {
        let scrape = crate::promtext::parse(SCRAPE).unwrap();
        scrape
            .samples()
            .filter(|s| filter.keeps(s))
            .map(|s| s.series_text())
            .collect()
    }

    fn rule(action: RelabelAction, labels: &[&str], regex: &str) -> RelabelRule {
        RelabelRule {
            action,
            source_labels: labels.iter().map(|l| l.to_string()).collect(),
            separator: ";".into(),
            regex: regex.into(),
        }
    }

    #[test]
    fn used_keeps_the_named_metrics_and_whole_histograms() {
        let f = SeriesFilter::new(SeriesSelection::Used, [], &[]).unwrap();
        assert_eq!(
            kept(&f),
            [
                "etcd_server_has_leader",
                "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"}",
                "etcd_disk_wal_fsync_duration_seconds_sum",
                "etcd_disk_wal_fsync_duration_seconds_count",
            ]
        );
        let f = SeriesFilter::new(SeriesSelection::Used, ["go_goroutines"], &[]).unwrap();
        assert_eq!(kept(&f).last().unwrap(), "go_goroutines");
        assert_eq!(kept(&SeriesFilter::all()).len(), 7);
    }

    #[test]
    fn rules_keep_and_drop_as_prometheus_does() {
        // Anchored: "grpc" alone matches no name.
        let f = SeriesFilter::new(
            SeriesSelection::All,
            [],
            &[rule(RelabelAction::Keep, &["__name__"], "grpc")],
        )
        .unwrap();
        assert!(kept(&f).is_empty());
        let f = SeriesFilter::new(
            SeriesSelection::All,
            [],
            &[
                rule(RelabelAction::Keep, &["__name__"], "grpc_.*|go_.*"),
                rule(
                    RelabelAction::Drop,
                    &["__name__", "grpc_code"],
                    "grpc_server_handled_total;OK",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            kept(&f),
            [
                "grpc_server_handled_total{grpc_code=\"Unavailable\",grpc_method=\"Range\"}",
                "go_goroutines"
            ]
        );
        // A missing label is the empty string.
        let f = SeriesFilter::new(
            SeriesSelection::All,
            [],
            &[rule(RelabelAction::Drop, &["grpc_code"], "")],
        )
        .unwrap();
        assert_eq!(kept(&f).len(), 2);
    }

    #[test]
    fn the_store_format_lists_every_used_metric() {
        let doc = include_str!("../../docs/store-format.md");
        for name in USED_METRICS {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/store-format.md lacks {name}"
            );
        }
    }

    /// Series per member each setting keeps, as docs/store-format.md states them.
    #[test]
    fn the_store_format_states_how_many_series_each_setting_keeps() {
        let doc = include_str!("../../docs/store-format.md");
        let used = SeriesFilter::new(SeriesSelection::Used, [], &[]).unwrap();
        for (version, text) in [
            (
                "3.4.23",
                include_str!("../../tests/fixtures/metrics/etcd-3.4.23-3member.prom"),
            ),
            (
                "3.5.1",
                include_str!("../../tests/fixtures/metrics/etcd-3.5.1.prom"),
            ),
        ] {
            let scrape = crate::promtext::parse(text).unwrap();
            let kept = scrape.samples().filter(|s| used.keeps(s)).count();
            let row = format!("| {version} | {} | {kept} |", scrape.len());
            assert!(
                doc.contains(&row),
                "docs/store-format.md lacks the row {row}"
            );
        }
    }

    #[test]
    fn bad_rules_are_named() {
        let e = SeriesFilter::new(
            SeriesSelection::All,
            [],
            &[
                rule(RelabelAction::Keep, &["__name__"], ".*"),
                rule(RelabelAction::Keep, &["__name__"], "(unclosed"),
            ],
        )
        .err()
        .unwrap();
        assert_eq!(e.field, "store.metric_relabel[1].regex");
        let e = SeriesFilter::new(
            SeriesSelection::All,
            [],
            &[rule(RelabelAction::Keep, &["bad-label"], ".*")],
        )
        .err()
        .unwrap();
        assert_eq!(e.field, "store.metric_relabel[0].source_labels[0]");
        let e = SeriesFilter::new(
            SeriesSelection::All,
            [],
            &[rule(RelabelAction::Keep, &[], ".*")],
        )
        .err()
        .unwrap();
        assert_eq!(e.field, "store.metric_relabel[0].source_labels");
    }
}
