//! The built-in pack as a Prometheus rule file (`etcd-monitor alerts
//! export-prometheus`), for users who also run Prometheus over their etcd members.
//!
//! The expressions are the etcd project's own (contrib/mixin), with the config's
//! thresholds, `for` and severities, and one fix: the failed-gRPC rule counts unary
//! calls only, as long-lived Watch and LeaseKeepAlive streams end with codes such as
//! Unavailable whenever a client goes away, which made the original fire on healthy
//! clusters. Rules that need the monitor's own probes (leader disagreement, HashKV,
//! alarms, certificates, cluster unavailable) have no metric to express them and are
//! left out.
//!
//! The YAML is written by hand: every string is emitted as a JSON string, which is a
//! valid YAML double-quoted scalar, so no quoting rule of YAML can bite.

use std::fmt::Write as _;
use std::time::Duration;

use super::rules::{AlertingSettings, BuiltinCheck, Condition, Rule, RuleError};

/// Which etcd targets the expressions select, as in the mixin's default config.
pub const ETCD_SELECTOR: &str = r#"job=~".*etcd.*""#;

const FAILURE_CODES: &str =
    "Unknown|FailedPrecondition|ResourceExhausted|Internal|Unavailable|DataLoss|DeadlineExceeded";

/// The PromQL of a built-in check with threshold `t`; `None` for checks that only the
/// monitor's probes can make.
pub fn promql(check: BuiltinCheck, t: f64) -> Option<String> {
    let s = ETCD_SELECTOR;
    Some(match check {
        BuiltinCheck::MembersDown => format!(
            "max without (endpoint) (sum without (instance) (up{{{s}}} == bool 0) or count without (To) (sum without (instance) (rate(etcd_network_peer_sent_failures_total{{{s}}}[120s])) > {t})) > 0"
        ),
        BuiltinCheck::InsufficientMembers => format!(
            "sum(up{{{s}}} == bool 1) without (instance) < ((count(up{{{s}}}) without (instance) + 1) / 2)"
        ),
        BuiltinCheck::NoLeader => format!("etcd_server_has_leader{{{s}}} == 0"),
        BuiltinCheck::LeaderChanges => format!(
            "increase((max without (instance) (etcd_server_leader_changes_seen_total{{{s}}}) or 0*absent(etcd_server_leader_changes_seen_total{{{s}}}))[15m:1m]) >= {t}"
        ),
        BuiltinCheck::FailedGrpc => format!(
            "100 * sum(rate(grpc_server_handled_total{{{s}, grpc_type=\"unary\", grpc_code=~\"{FAILURE_CODES}\"}}[5m])) without (grpc_type, grpc_code) / sum(rate(grpc_server_handled_total{{{s}, grpc_type=\"unary\"}}[5m])) without (grpc_type, grpc_code) > {t}"
        ),
        BuiltinCheck::GrpcSlow => format!(
            "histogram_quantile(0.99, sum(rate(grpc_server_handling_seconds_bucket{{{s}, grpc_method!=\"Defragment\", grpc_type=\"unary\"}}[5m])) without (grpc_type)) > {t}"
        ),
        BuiltinCheck::PeerRttSlow => format!(
            "histogram_quantile(0.99, rate(etcd_network_peer_round_trip_time_seconds_bucket{{{s}}}[5m])) > {t}"
        ),
        BuiltinCheck::FailedProposals => {
            format!("rate(etcd_server_proposals_failed_total{{{s}}}[15m]) > {t}")
        }
        BuiltinCheck::FsyncSlow => format!(
            "histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket{{{s}}}[5m])) > {t}"
        ),
        BuiltinCheck::CommitSlow => format!(
            "histogram_quantile(0.99, rate(etcd_disk_backend_commit_duration_seconds_bucket{{{s}}}[5m])) > {t}"
        ),
        BuiltinCheck::QuotaLowSpace => format!(
            "(last_over_time(etcd_mvcc_db_total_size_in_bytes{{{s}}}[5m]) / last_over_time(etcd_server_quota_backend_bytes{{{s}}}[5m])) * 100 > {t}"
        ),
        BuiltinCheck::ExcessiveGrowth => format!(
            "predict_linear(etcd_mvcc_db_total_size_in_bytes{{{s}}}[4h], {}) > etcd_server_quota_backend_bytes{{{s}}}",
            t * 3600.0
        ),
        BuiltinCheck::Fragmentation => format!(
            "(last_over_time(etcd_mvcc_db_total_size_in_use_in_bytes{{{s}}}[5m]) / last_over_time(etcd_mvcc_db_total_size_in_bytes{{{s}}}[5m])) < {t} and etcd_mvcc_db_total_size_in_use_in_bytes{{{s}}} > 104857600"
        ),
        BuiltinCheck::MemberUnreachable => format!("up{{{s}}} == 0"),
        BuiltinCheck::ClusterUnavailable
        | BuiltinCheck::LeaderDisagreement
        | BuiltinCheck::HashMismatch
        | BuiltinCheck::AlarmActive
        | BuiltinCheck::CertificateExpiring => return None,
    })
}

/// The description in Prometheus' template language (`$labels`, `$value`).
fn prometheus_description(check: BuiltinCheck) -> &'static str {
    match check {
        BuiltinCheck::MembersDown => {
            r#"etcd cluster "{{ $labels.job }}": members are down ({{ $value }})."#
        }
        BuiltinCheck::InsufficientMembers => {
            r#"etcd cluster "{{ $labels.job }}": insufficient members ({{ $value }})."#
        }
        BuiltinCheck::NoLeader => {
            r#"etcd cluster "{{ $labels.job }}": member {{ $labels.instance }} has no leader."#
        }
        BuiltinCheck::LeaderChanges => {
            r#"etcd cluster "{{ $labels.job }}": {{ $value }} leader changes within the last 15 minutes."#
        }
        BuiltinCheck::FailedGrpc => {
            r#"etcd cluster "{{ $labels.job }}": {{ $value }}% of unary requests for {{ $labels.grpc_method }} failed on etcd instance {{ $labels.instance }}."#
        }
        BuiltinCheck::GrpcSlow => {
            r#"etcd cluster "{{ $labels.job }}": 99th percentile of gRPC requests is {{ $value }}s on etcd instance {{ $labels.instance }} for {{ $labels.grpc_method }} method."#
        }
        BuiltinCheck::PeerRttSlow => {
            r#"etcd cluster "{{ $labels.job }}": member communication with {{ $labels.To }} is taking {{ $value }}s on etcd instance {{ $labels.instance }}."#
        }
        BuiltinCheck::FailedProposals => {
            r#"etcd cluster "{{ $labels.job }}": {{ $value }} proposal failures per second over 15 minutes on etcd instance {{ $labels.instance }}."#
        }
        BuiltinCheck::FsyncSlow => {
            r#"etcd cluster "{{ $labels.job }}": 99th percentile fsync durations are {{ $value }}s on etcd instance {{ $labels.instance }}."#
        }
        BuiltinCheck::CommitSlow => {
            r#"etcd cluster "{{ $labels.job }}": 99th percentile commit durations {{ $value }}s on etcd instance {{ $labels.instance }}."#
        }
        BuiltinCheck::QuotaLowSpace => {
            r#"etcd cluster "{{ $labels.job }}": database size exceeds the defined quota on etcd instance {{ $labels.instance }}, please defrag or increase the quota as the writes to etcd will be disabled when it is full."#
        }
        BuiltinCheck::ExcessiveGrowth => {
            r#"etcd cluster "{{ $labels.job }}": Predicting running out of disk space in the next four hours, based on write observations within the past four hours on etcd instance {{ $labels.instance }}, please check as it might be disruptive."#
        }
        BuiltinCheck::Fragmentation => {
            r#"etcd cluster "{{ $labels.job }}": database size in use on instance {{ $labels.instance }} is {{ $value | humanizePercentage }} of the actual allocated disk space, please run defragmentation (e.g. etcdctl defrag) to retrieve the unused fragmented disk space."#
        }
        BuiltinCheck::MemberUnreachable => {
            r#"etcd cluster "{{ $labels.job }}": instance {{ $labels.instance }} cannot be scraped."#
        }
        BuiltinCheck::ClusterUnavailable
        | BuiltinCheck::LeaderDisagreement
        | BuiltinCheck::HashMismatch
        | BuiltinCheck::AlarmActive
        | BuiltinCheck::CertificateExpiring => "",
    }
}

/// A short summary without the monitor's own labels (Prometheus has no `cluster`).
fn prometheus_summary(rule: &Rule) -> String {
    match rule.condition {
        Condition::Builtin(BuiltinCheck::MemberUnreachable) => {
            "etcd member cannot be scraped.".to_string()
        }
        Condition::Builtin(BuiltinCheck::NoLeader) => "etcd cluster has no leader.".to_string(),
        Condition::Builtin(BuiltinCheck::GrpcSlow) => "etcd grpc requests are slow.".to_string(),
        _ => rule
            .summary
            .replace("etcd cluster {{ labels.cluster }}: ", "etcd cluster: ")
            .replace("etcd cluster {{ labels.cluster }}", "etcd cluster")
            .replace(
                "{{ threshold | percent }}",
                &format!("{}%", rule.threshold * 100.0),
            ),
    }
}

/// A duration as Prometheus writes it: `10m`, `1h`, `90s`, `500ms`.
pub fn prometheus_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit_ms, unit) in [(3_600_000, "h"), (60_000, "m"), (1000, "s")] {
        if ms.is_multiple_of(unit_ms) {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
}

fn quoted(s: &str) -> String {
    // A JSON string is a YAML double-quoted scalar.
    serde_json::Value::String(s.to_string()).to_string()
}

/// The built-in pack, with the config's overrides applied (disabled rules left out),
/// as a Prometheus rule file with one group `etcd`.
pub fn export_prometheus_rules(alerting: &AlertingSettings) -> Result<String, RuleError> {
    let rules = alerting.rules()?;
    let mut out = String::new();
    out.push_str("# etcd alert rules exported by etcd-monitor (alerts export-prometheus).\n");
    out.push_str("# Equivalent to the etcd project's contrib/mixin rules; the failed-gRPC\n");
    out.push_str("# rule counts unary calls only. Check with: promtool check rules FILE\n");
    out.push_str("groups:\n  - name: etcd\n    rules:\n");
    for rule in &rules {
        let Condition::Builtin(check) = rule.condition else {
            continue;
        };
        let Some(expr) = promql(check, rule.threshold) else {
            continue;
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "      - alert: {}", quoted(&rule.alertname));
        let _ = writeln!(out, "        expr: {}", quoted(&expr));
        if !rule.for_.is_zero() {
            let _ = writeln!(out, "        for: {}", prometheus_duration(rule.for_));
        }
        if !rule.keep_firing_for.is_zero() {
            let _ = writeln!(
                out,
                "        keep_firing_for: {}",
                prometheus_duration(rule.keep_firing_for)
            );
        }
        out.push_str("        labels:\n");
        let _ = writeln!(
            out,
            "          severity: {}",
            quoted(rule.severity.as_str())
        );
        for (k, v) in &rule.labels {
            let _ = writeln!(out, "          {k}: {}", quoted(v));
        }
        out.push_str("        annotations:\n");
        let _ = writeln!(
            out,
            "          summary: {}",
            quoted(&prometheus_summary(rule))
        );
        let _ = writeln!(
            out,
            "          description: {}",
            quoted(prometheus_description(check))
        );
        let _ = writeln!(out, "          runbook: {}", quoted(&rule.runbook));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rules::BuiltinOverride;

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        assert_eq!(prometheus_duration(Duration::from_secs(600)), "10m");
        assert_eq!(prometheus_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(prometheus_duration(Duration::from_secs(90)), "90s");
        assert_eq!(prometheus_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn export_has_the_mixin_rules_with_their_thresholds() {
        let yaml = export_prometheus_rules(&AlertingSettings::default()).unwrap();
        for (alert, piece) in [
            ("etcdMembersDown", "> 0.01)) > 0"),
            ("etcdInsufficientMembers", "+ 1) / 2)"),
            (
                "etcdNoLeader",
                "etcd_server_has_leader{job=~\\\".*etcd.*\\\"} == 0",
            ),
            ("etcdHighNumberOfLeaderChanges", "[15m:1m]) >= 4"),
            (
                "etcdHighNumberOfFailedGRPCRequests",
                "without (grpc_type, grpc_code) > 5",
            ),
            ("etcdGRPCRequestsSlow", "grpc_method!=\\\"Defragment\\\""),
            ("etcdMemberCommunicationSlow", "[5m])) > 0.15"),
            ("etcdHighNumberOfFailedProposals", "[15m]) > 5"),
            ("etcdHighFsyncDurations", "[5m])) > 1\""),
            ("etcdHighCommitDurations", "[5m])) > 0.25"),
            ("etcdDatabaseQuotaLowSpace", "* 100 > 95"),
            ("etcdExcessiveDatabaseGrowth", "[4h], 14400)"),
            ("etcdDatabaseHighFragmentationRatio", "< 0.5 and"),
        ] {
            assert!(yaml.contains(&format!("alert: \"{alert}\"")), "{alert}");
            assert!(yaml.contains(piece), "{alert}: {piece}\n{yaml}");
        }
        // Unary calls only, numerator and denominator.
        assert_eq!(yaml.matches("grpc_server_handled_total{").count(), 4);
        assert_eq!(yaml.matches("grpc_type=\\\"unary\\\"").count(), 5);
        assert!(yaml.contains("for: 15m"));
        assert!(!yaml.contains("etcdHashKVMismatch"));
    }

    #[test]
    fn export_follows_the_overrides() {
        let mut alerting = AlertingSettings::default();
        alerting.builtin.insert(
            "etcdHighFsyncDurations".into(),
            BuiltinOverride {
                threshold: Some(0.3),
                for_: Some(Duration::from_secs(300)),
                keep_firing_for: Some(Duration::from_secs(120)),
                labels: [("team".to_string(), "storage".to_string())].into(),
                ..Default::default()
            },
        );
        alerting.builtin.insert(
            "etcdNoLeader".into(),
            BuiltinOverride {
                enabled: Some(false),
                ..Default::default()
            },
        );
        let yaml = export_prometheus_rules(&alerting).unwrap();
        assert!(yaml.contains("[5m])) > 0.3\"\n        for: 5m\n        keep_firing_for: 2m\n"));
        assert!(yaml.contains("team: \"storage\""));
        // Summaries carry no minijinja left over (Prometheus templates differ).
        assert!(!yaml.contains("{{ labels") && !yaml.contains("| percent"));
        assert!(yaml.contains("less than 50% of the allocated storage"));
        assert!(!yaml.contains("etcdNoLeader"));
    }

    /// Acceptance 5: promtool accepts the file.
    #[test]
    fn promtool_accepts_the_export() {
        let promtool = std::env::var_os("PROMTOOL").unwrap_or_else(|| "promtool".into());
        let mut alerting = AlertingSettings::default();
        alerting.builtin.insert(
            "etcdMembersDown".into(),
            BuiltinOverride {
                keep_firing_for: Some(Duration::from_secs(300)),
                labels: [("team".to_string(), "it's \"quoted\": yes".to_string())].into(),
                ..Default::default()
            },
        );
        let yaml = export_prometheus_rules(&alerting).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etcd.rules.yml");
        std::fs::write(&path, &yaml).unwrap();
        let out = match std::process::Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .arg(&path)
            .output()
        {
            Ok(out) => out,
            // Not a skip: without promtool nothing here says Prometheus takes the
            // export (scripts/test installs it).
            Err(e) => panic!("running {promtool:?}: {e}; install Debian's prometheus"),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "promtool rejected the export:\n{stdout}\n{stderr}\n{yaml}"
        );
        assert!(stdout.contains("SUCCESS: 16 rules found"), "{stdout}");
    }
}
