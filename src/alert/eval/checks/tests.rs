//! The built-in checks on snapshots built by hand (helpers in eval/tests.rs): each
//! rule of the pack fires on its condition and stays quiet on a healthy cluster,
//! with the labels and annotations it promises.

use std::collections::HashSet;
use std::time::UNIX_EPOCH;

use crate::alert::eval::tests::*;
use crate::alert::eval::*;
use crate::collect::snapshot::{Alarm, ConsistencyCheck, Timestamp};
use crate::etcd::settings::TlsConfig;

type Change = Box<dyn Fn(&mut ClusterSnapshot, usize)>;

fn bad_cases() -> Vec<(&'static str, Change)> {
    vec![
        ("etcdMembersDown", Box::new(|s, _| down(&mut s.members[2]))),
        (
            "etcdMembersDown",
            Box::new(|s, _| ind(&mut s.members[0]).peer_sent_failures_per_second = Some(0.5)),
        ),
        (
            "etcdInsufficientMembers",
            Box::new(|s, _| {
                down(&mut s.members[1]);
                down(&mut s.members[2]);
            }),
        ),
        (
            "etcdNoLeader",
            Box::new(|s, _| ind(&mut s.members[1]).has_leader = Some(false)),
        ),
        (
            "etcdHighNumberOfLeaderChanges",
            Box::new(|s, step| {
                if step % 3 == 0 {
                    for m in &mut s.members {
                        ind(m).leader_changes_in_interval = Some(1.0);
                    }
                }
            }),
        ),
        (
            "etcdHighNumberOfFailedGRPCRequests",
            Box::new(|s, _| ind(&mut s.members[0]).grpc_failed_per_second = Some(2.0)),
        ),
        (
            "etcdHighNumberOfFailedGRPCRequestsCritical",
            Box::new(|s, _| ind(&mut s.members[0]).grpc_failed_per_second = Some(10.0)),
        ),
        (
            "etcdGRPCRequestsSlow",
            Box::new(|s, _| ind(&mut s.members[0]).grpc_unary_p99_seconds = Some(0.2)),
        ),
        (
            "etcdMemberCommunicationSlow",
            Box::new(|s, _| ind(&mut s.members[0]).peer_rtt_p99_seconds = Some(0.2)),
        ),
        (
            "etcdHighNumberOfFailedProposals",
            Box::new(|s, _| ind(&mut s.members[0]).proposals_failed_per_second = Some(6.0)),
        ),
        (
            "etcdHighFsyncDurations",
            Box::new(|s, _| ind(&mut s.members[0]).wal_fsync_p99_seconds = Some(0.6)),
        ),
        (
            "etcdHighFsyncDurationsCritical",
            Box::new(|s, _| ind(&mut s.members[0]).wal_fsync_p99_seconds = Some(1.5)),
        ),
        (
            "etcdHighCommitDurations",
            Box::new(|s, _| ind(&mut s.members[0]).backend_commit_p99_seconds = Some(0.3)),
        ),
        (
            "etcdDatabaseQuotaLowSpace",
            Box::new(|s, _| {
                let i = ind(&mut s.members[0]);
                i.db_size_bytes = Some(1.95 * GIB);
                i.quota_usage_ratio = Some(0.975);
            }),
        ),
        (
            "etcdExcessiveDatabaseGrowth",
            Box::new(|s, step| {
                // 10 MiB per probe: 40 MiB/min, 9.4 GiB in 4 h.
                ind(&mut s.members[0]).db_size_bytes = Some(20.0 * MIB + step as f64 * 10.0 * MIB);
            }),
        ),
        (
            "etcdDatabaseHighFragmentationRatio",
            Box::new(|s, _| {
                let i = ind(&mut s.members[0]);
                i.db_size_bytes = Some(500.0 * MIB);
                i.db_size_in_use_bytes = Some(200.0 * MIB);
            }),
        ),
        (
            "etcdMemberUnreachable",
            Box::new(|s, _| down(&mut s.members[2])),
        ),
        (
            "etcdClusterUnavailable",
            Box::new(|s, _| {
                down(&mut s.members[1]);
                down(&mut s.members[2]);
            }),
        ),
        (
            "etcdLeaderDisagreement",
            Box::new(|s, _| {
                let st = s.members[2].status.as_mut().unwrap();
                st.leader = "3".into();
                st.raft_term = 3;
            }),
        ),
        (
            "etcdHashKVMismatch",
            Box::new(|s, _| {
                s.consistency = Some(ConsistencyCheck {
                    checked_at: Timestamp(UNIX_EPOCH),
                    revision: 50,
                    compact_revision: None,
                    consistent: false,
                    hashes: vec![],
                    mismatched: vec!["3".into()],
                    error: None,
                });
            }),
        ),
        (
            "etcdAlarmActive",
            Box::new(|s, _| {
                s.alarms.push(Alarm {
                    member_id: "1".into(),
                    member_name: Some("m1".into()),
                    alarm: "NOSPACE".into(),
                });
            }),
        ),
    ]
}

/// 15 minutes of probes: long enough for every window the pack uses except the 4 h
/// prediction, which needs 10 minutes of history.
const PROBES: usize = 61;

#[test]
fn a_healthy_cluster_raises_nothing() {
    let mut ev = evaluator(&immediate());
    let t = run(&mut ev, T0, PROBES, &|_, _| {});
    assert!(t.is_empty(), "{t:#?}");
    assert_eq!(ev.active().count(), 0);
}

#[test]
fn every_builtin_rule_fires_on_its_condition() {
    let mut covered: HashSet<&str> = HashSet::new();
    for (key, change) in bad_cases() {
        let mut ev = evaluator(&immediate());
        let t = run(&mut ev, T0, PROBES, &*change);
        let fired = fired(&t);
        assert!(fired.contains(&key), "{key} did not fire; fired: {fired:?}");
        let alert = &t
            .iter()
            .find(|t| t.alert.rule == key && t.kind == TransitionKind::Firing)
            .unwrap()
            .alert;
        assert_eq!(alert.cluster(), "prod");
        for part in ["summary", "description", "runbook"] {
            let text = &alert.annotations[part];
            assert!(
                !text.is_empty() && !text.contains("template failed"),
                "{key} {part}: {text}"
            );
        }
        covered.insert(key);
    }
    covered.insert("etcdClientCertificateExpiring"); // its own test below
    for b in crate::alert::rules::BUILTIN_RULES {
        assert!(covered.contains(b.key), "no test case for {}", b.key);
    }
}

#[test]
fn labels_and_annotations_of_a_member_alert() {
    let mut ev = evaluator(&immediate());
    let t = run(&mut ev, T0, 2, &|s, _| {
        let i = ind(&mut s.members[1]);
        i.wal_fsync_p99_seconds = Some(0.75);
    });
    let a = &t[0].alert;
    assert_eq!(t[0].kind, TransitionKind::Firing);
    let labels: Vec<(&str, &str)> = a
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("alertname", "etcdHighFsyncDurations"),
            ("cluster", "prod"),
            ("member", "m2"),
            ("severity", "warning"),
        ]
    );
    assert_eq!(a.fingerprint, Fingerprint::of(&a.labels));
    assert_eq!(a.value, 0.75);
    assert_eq!(
        a.annotations["description"],
        "The 99th percentile of WAL fsync on member m2 of etcd cluster prod is 750 ms."
    );
    // The alarm rule adds its own label.
    let t = run(&mut ev, T0 + 60_000, 1, &|s, _| {
        s.alarms.push(Alarm {
            member_id: "2".into(),
            member_name: None,
            alarm: "CORRUPT".into(),
        });
    });
    let alarm = t
        .iter()
        .find(|t| t.alert.rule == "etcdAlarmActive")
        .unwrap();
    assert_eq!(alarm.alert.labels["alarm"], "CORRUPT");
    assert_eq!(alarm.alert.member(), Some("m2"));
}

#[test]
fn certificate_expiry_fires_within_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("client.crt");
    std::fs::write(&path, cert::tests::TEST_CERT).unwrap();
    let expiry = cert::earliest_expiry_ms(&path).unwrap();
    let mut cluster = clusters().remove(0);
    cluster.tls = Some(TlsConfig {
        ca_file: None,
        cert_file: Some(path),
        key_file: None,
    });
    let mut ev = Evaluator::for_clusters(&AlertingSettings::default(), &[cluster]).unwrap();
    let at = expiry - 31 * 86_400_000;
    assert!(ev
        .evaluate(at, &[finish(healthy_cluster(), at)], None)
        .is_empty());
    // Read again after 10 minutes; by then 29.5 days remain.
    let at = expiry - 29 * 86_400_000 - 43_200_000;
    let t = ev.evaluate(at, &[finish(healthy_cluster(), at)], None);
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0].kind, TransitionKind::Firing);
    assert_eq!(t[0].alert.rule, "etcdClientCertificateExpiring");
    assert_eq!(t[0].alert.member(), None);
    assert!(
        t[0].alert.annotations["description"].contains("expires in 29.5 days"),
        "{}",
        t[0].alert.annotations["description"]
    );
}
