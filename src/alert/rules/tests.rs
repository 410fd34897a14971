//! Validation of `[alerting]`: the built-in pack with overrides, user rules, and the
//! field each mistake is reported at.

use super::*;

fn parse(toml_text: &str) -> AlertingSettings {
    toml::from_str(toml_text).unwrap()
}

fn rule_error(toml_text: &str) -> RuleError {
    parse(toml_text).rules().unwrap_err()
}

#[test]
fn builtin_keys_are_unique_and_every_rule_has_texts() {
    let mut keys = HashSet::new();
    for b in BUILTIN_RULES {
        assert!(keys.insert(b.key), "{} twice", b.key);
        assert!(!b.summary.is_empty() && !b.description.is_empty() && !b.runbook.is_empty());
        assert_eq!(b.key.strip_suffix("Critical").unwrap_or(b.key), b.alertname);
    }
    let rules = AlertingSettings::default().rules().unwrap();
    assert_eq!(rules.len(), BUILTIN_RULES.len());
}

#[test]
fn the_docs_table_matches_the_pack() {
    let doc = include_str!("../../../docs/alerting-rules.md");
    for b in BUILTIN_RULES {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", b.key)))
            .unwrap_or_else(|| panic!("{} missing from docs/alerting-rules.md", b.key));
        let for_ = crate::alert::prometheus::prometheus_duration(Duration::from_secs(b.for_secs));
        let scope = match b.check.scope() {
            Scope::Member => "member",
            Scope::Cluster => "cluster",
        };
        assert!(
            row.ends_with(&format!("| {for_} | {} | {scope} |", b.severity.as_str())),
            "{row}"
        );
    }
}

#[test]
fn the_etcd_projects_thresholds_and_durations() {
    let rules = AlertingSettings::default().rules().unwrap();
    let get = |key: &str| rules.iter().find(|r| r.key == key).unwrap();
    for (key, threshold, for_min, severity) in [
        ("etcdMembersDown", 0.01, 10, Severity::Critical),
        ("etcdInsufficientMembers", 0.0, 3, Severity::Critical),
        ("etcdNoLeader", 0.0, 1, Severity::Critical),
        ("etcdHighNumberOfLeaderChanges", 4.0, 5, Severity::Warning),
        (
            "etcdHighNumberOfFailedGRPCRequests",
            1.0,
            10,
            Severity::Warning,
        ),
        (
            "etcdHighNumberOfFailedGRPCRequestsCritical",
            5.0,
            5,
            Severity::Critical,
        ),
        ("etcdGRPCRequestsSlow", 0.15, 10, Severity::Critical),
        ("etcdMemberCommunicationSlow", 0.15, 10, Severity::Warning),
        (
            "etcdHighNumberOfFailedProposals",
            5.0,
            15,
            Severity::Warning,
        ),
        ("etcdHighFsyncDurations", 0.5, 10, Severity::Warning),
        (
            "etcdHighFsyncDurationsCritical",
            1.0,
            10,
            Severity::Critical,
        ),
        ("etcdHighCommitDurations", 0.25, 10, Severity::Warning),
        ("etcdDatabaseQuotaLowSpace", 95.0, 10, Severity::Critical),
        ("etcdExcessiveDatabaseGrowth", 4.0, 10, Severity::Warning),
        (
            "etcdDatabaseHighFragmentationRatio",
            0.5,
            10,
            Severity::Warning,
        ),
    ] {
        let r = get(key);
        assert_eq!(r.threshold, threshold, "{key}");
        assert_eq!(r.for_, Duration::from_secs(for_min * 60), "{key}");
        assert_eq!(r.severity, severity, "{key}");
    }
}

#[test]
fn builtins_can_be_disabled_and_rethresholded() {
    let s = parse(
        r#"
        [builtin.etcdHighFsyncDurations]
        threshold = 0.3
        for = "5m"
        keep_firing_for = "2m"
        severity = "critical"
        labels = { team = "storage" }
        [builtin.etcdNoLeader]
        enabled = false
        "#,
    );
    let rules = s.rules().unwrap();
    assert!(!rules.iter().any(|r| r.key == "etcdNoLeader"));
    let fsync = rules
        .iter()
        .find(|r| r.key == "etcdHighFsyncDurations")
        .unwrap();
    assert_eq!(fsync.threshold, 0.3);
    assert_eq!(fsync.for_, Duration::from_secs(300));
    assert_eq!(fsync.keep_firing_for, Duration::from_secs(120));
    assert_eq!(fsync.severity, Severity::Critical);
    assert_eq!(fsync.labels["team"], "storage");
}

#[test]
fn user_rules_parse() {
    let s = parse(
        r#"
        [[rules]]
        name = "SlowFsyncAnywhere"
        indicator = "wal_fsync_p99_seconds"
        aggregate = "max"
        op = ">="
        threshold = 0.05
        for = "2m"
        keep_firing_for = "1m"
        severity = "info"
        labels = { team = "db" }
        summary = "fsync {{ value | seconds }} in {{ labels.cluster }}"
        description = "over {{ threshold }}"
        runbook = "look at the disks"

        [[rules]]
        name = "PendingProposals"
        metric = "etcd_server_proposals_pending"
        op = ">"
        threshold = 100
        "#,
    );
    let rules = s.rules().unwrap();
    let mine = &rules[rules.len() - 2];
    assert_eq!(mine.key, "SlowFsyncAnywhere");
    assert_eq!(mine.scope, Scope::Cluster);
    assert_eq!(mine.op, Comparison::Ge);
    assert_eq!(mine.severity, Severity::Info);
    assert_eq!(mine.config_path, "alerting.rules[0]");
    let pending = &rules[rules.len() - 1];
    assert_eq!(pending.scope, Scope::Member);
    assert_eq!(pending.severity, Severity::Warning);
    assert_eq!(
        pending.condition,
        Condition::Metric {
            name: "etcd_server_proposals_pending".into(),
            aggregate: Aggregation::Member
        }
    );
    assert!(pending.summary.contains("labels.member"));
}

#[test]
fn bad_rules_are_named_with_the_field_at_fault() {
    let base = "name = \"R\"\nop = \">\"\nthreshold = 1\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "indicator = \"wal_fsync_p99\"",
            "alerting.rules[0].indicator",
            "not an indicator",
        ),
        (
            "",
            "alerting.rules[0]",
            "exactly one of indicator and metric",
        ),
        (
            "indicator = \"keys_total\"\nmetric = \"x\"",
            "alerting.rules[0]",
            "exactly one",
        ),
        (
            "metric = \"9bad\"",
            "alerting.rules[0].metric",
            "not a metric name",
        ),
        (
            "indicator = \"keys_total\"\nlabels = { cluster = \"x\" }",
            "alerting.rules[0].labels",
            "set by the monitor",
        ),
        (
            "indicator = \"keys_total\"\nlabels = { \"bad-name\" = \"x\" }",
            "alerting.rules[0].labels",
            "not a label name",
        ),
        (
            "indicator = \"keys_total\"\nsummary = \"{{ labels.membr }}\"",
            "alerting.rules[0].summary",
            "undefined",
        ),
        (
            "indicator = \"keys_total\"\ndescription = \"{% if %}\"",
            "alerting.rules[0].description",
            "syntax error",
        ),
    ];
    for (extra, field, message) in cases {
        let e = rule_error(&format!("[[rules]]\n{base}{extra}\n"));
        assert_eq!(e.rule, "R");
        assert_eq!(&e.field, field, "{e}");
        assert!(e.message.contains(message), "{e}");
    }
    let e = rule_error("[[rules]]\nname = \"etcdNoLeader\"\nindicator = \"keys_total\"\nop = \">\"\nthreshold = 1\n");
    assert_eq!(e.field, "alerting.rules[0].name");
    let e = rule_error(&format!(
        "[[rules]]\n{base}indicator = \"keys_total\"\n[[rules]]\n{base}indicator = \"keys_total\"\n"
    ));
    assert_eq!(e.field, "alerting.rules[1].name");
    assert!(e.message.contains("more than one"));
    let e = rule_error("[builtin.etcdNoLeader]\nthreshold = 2\n");
    assert_eq!(e.field, "alerting.builtin.etcdNoLeader.threshold");
    assert!(e.message.contains("no threshold"), "{e}");
    let e = rule_error("[builtin.etcdNoSuchRule]\nenabled = false\n");
    assert_eq!(e.rule, "etcdNoSuchRule");
    assert!(e.message.contains("etcdHighFsyncDurations"), "{e}");
    let e = rule_error("[builtin.etcdHighFsyncDurations]\nthreshold = nan\n");
    assert_eq!(e.field, "alerting.builtin.etcdHighFsyncDurations.threshold");
    // What serde rejects names the field too.
    for (text, what) in [
        ("[[rules]]\nname = \"R\"\nindicator = \"keys_total\"\nop = \"=>\"\nthreshold = 1\n", "=>"),
        ("[[rules]]\nname = \"R\"\nindicator = \"keys_total\"\nop = \">\"\nthreshold = 1\ntreshold = 2\n", "treshold"),
        ("[builtin.etcdNoLeader]\nfor = \"soon\"\n", "for"),
    ] {
        let e = toml::from_str::<AlertingSettings>(text).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    }
}

#[test]
fn comparisons_and_aggregations() {
    assert!(Comparison::Gt.holds(2.0, 1.0));
    assert!(!Comparison::Gt.holds(1.0, 1.0));
    assert!(Comparison::Ge.holds(1.0, 1.0));
    assert!(Comparison::Lt.holds(0.0, 1.0));
    assert!(Comparison::Le.holds(1.0, 1.0));
    assert!(Comparison::Eq.holds(1.0, 1.0));
    assert!(Comparison::Ne.holds(2.0, 1.0));
    assert!(!Comparison::Ne.holds(f64::NAN, 1.0));
    let v = [1.0, 4.0, 2.0];
    assert_eq!(Aggregation::Max.fold(&v), Some(4.0));
    assert_eq!(Aggregation::Min.fold(&v), Some(1.0));
    assert_eq!(Aggregation::Sum.fold(&v), Some(7.0));
    assert_eq!(Aggregation::Avg.fold(&v), Some(7.0 / 3.0));
    assert_eq!(Aggregation::Avg.fold(&[]), None);
}
