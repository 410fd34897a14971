//! Evaluator tests on snapshots built by hand: the state machine's timing,
//! persistence, and user rules. The snapshot helpers here serve the tests of the
//! built-in checks too (checks/tests.rs).

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::alert::rules::{BuiltinOverride, UserRuleConfig};
use crate::collect::snapshot::{Alarm, LeaderInfo, MemberStatus, Quorum, Timestamp};
use crate::collect::view::set_status;
use crate::store::{MemberSamples, Retention};

/// 2026-11-27 00:00:00 UTC.
pub(super) const T0: i64 = 1_795_737_600_000;
pub(super) const STEP: i64 = 15_000;
pub(super) const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
pub(super) const MIB: f64 = 1024.0 * 1024.0;

pub(super) fn healthy_indicators() -> Indicators {
    Indicators {
        interval_seconds: Some(15.0),
        has_leader: Some(true),
        is_leader: Some(false),
        leader_changes_in_interval: Some(0.0),
        proposals_failed_per_second: Some(0.0),
        wal_fsync_p99_seconds: Some(0.002),
        backend_commit_p99_seconds: Some(0.005),
        peer_rtt_p99_seconds: Some(0.001),
        grpc_unary_p99_seconds: Some(0.01),
        grpc_requests_per_second: Some(100.0),
        grpc_failed_per_second: Some(0.0),
        grpc_failed_ratio: Some(0.0),
        db_size_bytes: Some(20.0 * MIB),
        db_size_in_use_bytes: Some(18.0 * MIB),
        quota_backend_bytes: Some(2.0 * GIB),
        quota_usage_ratio: Some(20.0 * MIB / (2.0 * GIB)),
        fragmentation_ratio: Some(0.1),
        peer_sent_failures_per_second: Some(0.0),
        keys_total: Some(100.0),
        ..Default::default()
    }
}

pub(super) fn member(i: usize) -> MemberSnapshot {
    MemberSnapshot {
        id: format!("{i}"),
        name: format!("m{i}"),
        peer_urls: vec![],
        client_urls: vec![format!("http://127.0.0.1:{}", 2379 + i)],
        is_learner: false,
        is_leader: i == 1,
        reachable: true,
        healthy: true,
        error: None,
        status: Some(MemberStatus {
            version: "3.5.1".into(),
            db_size: 20 << 20,
            db_size_in_use: 18 << 20,
            leader: "1".into(),
            raft_term: 2,
            raft_index: 100,
            raft_applied_index: 100,
            revision: 50,
            is_learner: false,
            errors: vec![],
        }),
        flags: vec![],
        indicators: Some(healthy_indicators()),
        metrics_url: None,
        scrape_error: None,
    }
}

pub(super) fn healthy_cluster() -> ClusterSnapshot {
    let mut snap = ClusterSnapshot::pending("prod", &[]);
    snap.members = (1..=3).map(member).collect();
    snap.leader = Some(LeaderInfo {
        id: "1".into(),
        name: "m1".into(),
    });
    snap.raft_term = Some(2);
    snap
}

pub(super) fn down(m: &mut MemberSnapshot) {
    m.reachable = false;
    m.healthy = false;
    m.status = None;
    m.indicators = None;
    m.error = Some("connection refused".into());
}

/// Quorum and status as the probe computes them, stamped `at`.
pub(super) fn finish(mut snap: ClusterSnapshot, at: i64) -> ClusterSnapshot {
    let voting = snap.members.iter().filter(|m| !m.is_learner).count();
    let reachable = snap
        .members
        .iter()
        .filter(|m| !m.is_learner && m.reachable)
        .count();
    snap.quorum = Quorum {
        voting_members: voting,
        reachable_voting_members: reachable,
        needed: voting / 2 + 1,
        has_quorum: reachable > voting / 2,
    };
    if snap.members.iter().all(|m| !m.reachable) {
        snap.leader = None;
    }
    snap.probed_at = Some(Timestamp(UNIX_EPOCH + Duration::from_millis(at as u64)));
    set_status(&mut snap);
    snap
}

pub(super) fn clusters() -> Vec<ClusterConfig> {
    vec![ClusterConfig::plain(
        "prod",
        vec!["http://127.0.0.1:2379".into()],
    )]
}

pub(super) fn evaluator(alerting: &AlertingSettings) -> Evaluator {
    Evaluator::for_clusters(alerting, &clusters()).unwrap()
}

/// Every built-in with `for` = 0, so one evaluation shows whether a condition holds.
pub(super) fn immediate() -> AlertingSettings {
    let mut a = AlertingSettings::default();
    for b in crate::alert::rules::BUILTIN_RULES {
        a.builtin.insert(
            b.key.to_string(),
            BuiltinOverride {
                for_: Some(Duration::ZERO),
                ..Default::default()
            },
        );
    }
    a
}

pub(super) fn override_rule(a: &mut AlertingSettings, key: &str, o: BuiltinOverride) {
    a.builtin.insert(key.to_string(), o);
}

/// Runs `steps` probes 15 s apart, `change` making each probe's snapshot; returns all
/// transitions.
pub(super) fn run(
    ev: &mut Evaluator,
    start: i64,
    steps: usize,
    change: &dyn Fn(&mut ClusterSnapshot, usize),
) -> Vec<Transition> {
    let mut all = Vec::new();
    for step in 0..steps {
        let at = start + step as i64 * STEP;
        let mut snap = healthy_cluster();
        change(&mut snap, step);
        let snap = finish(snap, at);
        all.extend(ev.evaluate(at, &[snap], None));
    }
    all
}

pub(super) fn fired(transitions: &[Transition]) -> Vec<&str> {
    let mut keys: Vec<&str> = transitions
        .iter()
        .filter(|t| t.kind == TransitionKind::Firing)
        .map(|t| t.alert.rule.as_str())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

pub(super) fn ind(m: &mut MemberSnapshot) -> &mut Indicators {
    m.indicators.as_mut().unwrap()
}

#[test]
fn the_evaluator_can_move_to_another_task() {
    fn send<T: Send + 'static>() {}
    send::<Evaluator>();
    send::<EvaluatorState>();
    // The snapshot board hands out `Arc`s; they go in as they are.
    let board = vec![std::sync::Arc::new(finish(healthy_cluster(), T0))];
    assert!(evaluator(&immediate())
        .evaluate(T0, &board, None)
        .is_empty());
}

#[test]
fn pending_until_for_passes_then_firing_then_resolved() {
    // etcdNoLeader: for = 1m.
    let mut ev = evaluator(&AlertingSettings::default());
    let no_leader = |s: &mut ClusterSnapshot| ind(&mut s.members[1]).has_leader = Some(false);
    let eval = |ev: &mut Evaluator, at: i64, bad: bool| {
        let mut s = healthy_cluster();
        if bad {
            no_leader(&mut s);
        }
        ev.evaluate(at, &[finish(s, at)], None)
    };
    let t = eval(&mut ev, T0, true);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, TransitionKind::Pending);
    assert_eq!(t[0].alert.phase, AlertPhase::Pending);
    let fp = t[0].alert.fingerprint;
    assert!(eval(&mut ev, T0 + 30_000, true).is_empty());
    assert!(eval(&mut ev, T0 + 59_999, true).is_empty());
    let t = eval(&mut ev, T0 + 60_000, true);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, TransitionKind::Firing);
    assert_eq!(t[0].alert.fingerprint, fp, "same labels, same alert");
    assert_eq!(t[0].alert.active_since_ms, T0);
    assert_eq!(t[0].alert.fired_at_ms, Some(T0 + 60_000));
    assert!(eval(&mut ev, T0 + 75_000, true).is_empty(), "fires once");
    let t = eval(&mut ev, T0 + 90_000, false);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, TransitionKind::Resolved);
    assert_eq!(t[0].alert.phase, AlertPhase::Resolved);
    assert_eq!(t[0].alert.resolved_at_ms, Some(T0 + 90_000));
    assert_eq!(ev.active().count(), 0);
}

#[test]
fn a_pending_alert_that_clears_is_cancelled_and_starts_over() {
    let mut ev = evaluator(&AlertingSettings::default());
    let bad = |at: i64| {
        let mut s = healthy_cluster();
        ind(&mut s.members[1]).has_leader = Some(false);
        finish(s, at)
    };
    assert_eq!(
        ev.evaluate(T0, &[bad(T0)], None)[0].kind,
        TransitionKind::Pending
    );
    let t = ev.evaluate(T0 + 30_000, &[finish(healthy_cluster(), T0 + 30_000)], None);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, TransitionKind::Cancelled);
    // The timer starts again: not firing 60 s after the first pending.
    assert_eq!(
        ev.evaluate(T0 + 45_000, &[bad(T0 + 45_000)], None)[0].kind,
        TransitionKind::Pending
    );
    assert!(ev
        .evaluate(T0 + 60_000, &[bad(T0 + 60_000)], None)
        .is_empty());
    assert_eq!(
        ev.evaluate(T0 + 105_000, &[bad(T0 + 105_000)], None)[0].kind,
        TransitionKind::Firing
    );
}

#[test]
fn keep_firing_for_holds_a_firing_alert_after_the_condition_clears() {
    let mut a = AlertingSettings::default();
    override_rule(
        &mut a,
        "etcdNoLeader",
        BuiltinOverride {
            for_: Some(Duration::ZERO),
            keep_firing_for: Some(Duration::from_secs(45)),
            ..Default::default()
        },
    );
    let mut ev = evaluator(&a);
    let snap = |at: i64, bad: bool| {
        let mut s = healthy_cluster();
        if bad {
            ind(&mut s.members[1]).has_leader = Some(false);
        }
        finish(s, at)
    };
    assert_eq!(
        ev.evaluate(T0, &[snap(T0, true)], None)[0].kind,
        TransitionKind::Firing
    );
    // Clears at +15 s: still firing until 45 s after that.
    assert!(ev
        .evaluate(T0 + 15_000, &[snap(T0 + 15_000, false)], None)
        .is_empty());
    assert!(ev
        .evaluate(T0 + 30_000, &[snap(T0 + 30_000, false)], None)
        .is_empty());
    // Holds again: the keep-firing clock is reset.
    assert!(ev
        .evaluate(T0 + 45_000, &[snap(T0 + 45_000, true)], None)
        .is_empty());
    assert!(ev
        .evaluate(T0 + 60_000, &[snap(T0 + 60_000, false)], None)
        .is_empty());
    assert!(ev
        .evaluate(T0 + 90_000, &[snap(T0 + 90_000, false)], None)
        .is_empty());
    let t = ev.evaluate(T0 + 105_000, &[snap(T0 + 105_000, false)], None);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, TransitionKind::Resolved);
}

#[test]
fn state_survives_a_restart_without_lost_timers_or_duplicates() {
    let alerting = AlertingSettings::default();
    let bad = |at: i64| {
        let mut s = healthy_cluster();
        ind(&mut s.members[1]).has_leader = Some(false);
        ind(&mut s.members[0]).wal_fsync_p99_seconds = Some(0.7);
        finish(s, at)
    };
    let mut before = evaluator(&alerting);
    // NoLeader (1m) goes pending at T0; fsync (10m) is pending too.
    let t = before.evaluate(T0, &[bad(T0)], None);
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|t| t.kind == TransitionKind::Pending));
    let bytes = before.state().to_bytes().unwrap();
    drop(before);

    let mut after = evaluator(&alerting);
    after.restore(EvaluatorState::from_bytes(&bytes).unwrap());
    assert_eq!(after.active().count(), 2);
    // Before the first probe the cluster is pending: nothing is judged.
    let pending = ClusterSnapshot::pending("prod", &[]);
    assert!(after.evaluate(T0 + 20_000, &[pending], None).is_empty());
    // The first scrape after the restart has no rates yet: fsync is held, not resolved.
    let mut first = healthy_cluster();
    ind(&mut first.members[1]).has_leader = Some(false);
    for m in &mut first.members {
        let i = ind(m);
        i.interval_seconds = None;
        i.wal_fsync_p99_seconds = None;
    }
    assert!(after
        .evaluate(T0 + 30_000, &[finish(first, T0 + 30_000)], None)
        .is_empty());
    // The 1m timer kept running across the restart.
    let t = after.evaluate(T0 + 60_000, &[bad(T0 + 60_000)], None);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, TransitionKind::Firing);
    assert_eq!(t[0].alert.labels["alertname"], "etcdNoLeader");

    // Restart again while it fires: no second Firing.
    let bytes = after.state().to_bytes().unwrap();
    let mut again = evaluator(&alerting);
    again.restore(EvaluatorState::from_bytes(&bytes).unwrap());
    let t = again.evaluate(T0 + 75_000, &[bad(T0 + 75_000)], None);
    assert!(t.is_empty(), "{t:#?}");
    // And the resolve still comes.
    let t = again.evaluate(T0 + 90_000, &[finish(healthy_cluster(), T0 + 90_000)], None);
    let kinds: Vec<TransitionKind> = t.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [TransitionKind::Resolved, TransitionKind::Cancelled]);
}

#[test]
fn state_round_trips_through_postcard() {
    let mut ev = evaluator(&immediate());
    run(&mut ev, T0, 2, &|s, _| {
        down(&mut s.members[2]);
        s.alarms.push(Alarm {
            member_id: "1".into(),
            member_name: None,
            alarm: "NOSPACE".into(),
        });
    });
    let state = ev.state().clone();
    assert!(state.alerts.len() >= 3);
    let back = EvaluatorState::from_bytes(&state.to_bytes().unwrap()).unwrap();
    assert_eq!(back, state);
    assert!(EvaluatorState::from_bytes(&[0xff, 0xff, 0xff]).is_err());
}

#[test]
fn alerts_of_rules_disabled_since_are_resolved() {
    let mut ev = evaluator(&immediate());
    run(&mut ev, T0, 1, &|s, _| down(&mut s.members[2]));
    let state = ev.state().clone();
    let mut alerting = immediate();
    override_rule(
        &mut alerting,
        "etcdMemberUnreachable",
        BuiltinOverride {
            enabled: Some(false),
            ..Default::default()
        },
    );
    let mut after = evaluator(&alerting);
    after.restore(state);
    let t = run(&mut after, T0 + STEP, 1, &|s, _| down(&mut s.members[2]));
    let resolved: Vec<&str> = t
        .iter()
        .filter(|t| t.kind == TransitionKind::Resolved)
        .map(|t| t.alert.rule.as_str())
        .collect();
    assert_eq!(resolved, ["etcdMemberUnreachable"]);
}

#[test]
fn alerts_of_a_cluster_no_longer_monitored_are_resolved() {
    let mut ev = evaluator(&immediate());
    run(&mut ev, T0, 1, &|s, _| down(&mut s.members[2]));
    assert!(ev.active().count() > 0);
    let mut other = clusters();
    other[0].name = "other".into();
    ev.set_clusters(&other);
    let t = ev.evaluate::<ClusterSnapshot>(T0 + STEP, &[], None);
    assert!(!t.is_empty());
    assert!(t.iter().all(|t| t.kind == TransitionKind::Resolved));
    assert_eq!(ev.active().count(), 0);
}

fn user_rule(
    name: &str,
    indicator: &str,
    aggregate: Aggregation,
    threshold: f64,
) -> UserRuleConfig {
    UserRuleConfig {
        name: name.into(),
        indicator: Some(indicator.into()),
        metric: None,
        aggregate,
        op: crate::alert::rules::Comparison::Gt,
        threshold,
        for_: None,
        keep_firing_for: None,
        severity: crate::alert::Severity::Info,
        labels: [("team".to_string(), "db".to_string())].into(),
        summary: Some("{{ labels.alertname }}: {{ value }} over {{ threshold }}".into()),
        description: None,
        runbook: Some("look".into()),
    }
}

#[test]
fn user_indicator_rules_per_member_and_across_the_cluster() {
    let mut alerting = AlertingSettings::default();
    alerting.rules.push(user_rule(
        "ManyKeys",
        "keys_total",
        Aggregation::Member,
        150.0,
    ));
    alerting.rules.push(user_rule(
        "KeysInCluster",
        "keys_total",
        Aggregation::Sum,
        400.0,
    ));
    alerting.rules.push(user_rule(
        "Leaderless",
        "has_leader",
        Aggregation::Min,
        -1.0,
    ));
    let mut ev = evaluator(&alerting);
    let t = run(&mut ev, T0, 1, &|s, _| {
        ind(&mut s.members[0]).keys_total = Some(200.0);
        ind(&mut s.members[1]).keys_total = Some(300.0);
    });
    let mut got: Vec<(String, Option<String>, f64)> = t
        .iter()
        .map(|t| {
            (
                t.alert.rule.clone(),
                t.alert.member().map(str::to_string),
                t.alert.value,
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        got,
        [
            ("KeysInCluster".to_string(), None, 600.0),
            ("Leaderless".to_string(), None, 1.0),
            ("ManyKeys".to_string(), Some("m1".to_string()), 200.0),
            ("ManyKeys".to_string(), Some("m2".to_string()), 300.0),
        ]
    );
    let many = t.iter().find(|t| t.alert.rule == "ManyKeys").unwrap();
    assert_eq!(many.alert.labels["team"], "db");
    assert_eq!(many.alert.labels["severity"], "info");
    assert_eq!(
        many.alert.annotations["summary"],
        "ManyKeys: 200.0 over 150.0"
    );
    assert_eq!(
        many.alert.annotations["description"],
        "keys_total is 200.0 (> 150.0)."
    );
}

#[test]
fn user_metric_rules_read_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
    for (member, v) in [("m1", 5.0), ("m2", 500.0)] {
        store
            .ingest(&MemberSamples {
                cluster: "prod".into(),
                member: member.into(),
                at_ms: T0 - 10_000,
                samples: vec![
                    ("etcd_server_proposals_pending".into(), v),
                    ("grpc_server_started_total{grpc_method=\"Range\"}".into(), v),
                ],
            })
            .unwrap();
    }
    let mut alerting = AlertingSettings::default();
    let mut pending = user_rule("ManyPending", "", Aggregation::Member, 100.0);
    pending.indicator = None;
    pending.metric = Some("etcd_server_proposals_pending".into());
    alerting.rules.push(pending);
    let mut started = user_rule("RangeCalls", "", Aggregation::Max, 100.0);
    started.indicator = None;
    started.metric = Some("grpc_server_started_total".into());
    alerting.rules.push(started);
    let mut ev = evaluator(&alerting);
    // Without a store, metric rules decide nothing.
    assert!(ev
        .evaluate(T0, &[finish(healthy_cluster(), T0)], None)
        .is_empty());
    let t = ev.evaluate(T0, &[finish(healthy_cluster(), T0)], Some(&store));
    let got: Vec<(&str, Option<&str>, f64)> = t
        .iter()
        .map(|t| (t.alert.rule.as_str(), t.alert.member(), t.alert.value))
        .collect();
    assert_eq!(
        got,
        [
            ("ManyPending", Some("m2"), 500.0),
            ("RangeCalls", None, 500.0)
        ]
    );
    // Older than the 5-minute lookback: gone, so resolved.
    let later = T0 + 6 * 60_000;
    let t = ev.evaluate(later, &[finish(healthy_cluster(), later)], Some(&store));
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|t| t.kind == TransitionKind::Resolved));
}

#[test]
fn windows_are_refilled_from_stored_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
    // An hour of a DB growing 10 MiB per 15 s probe on m1.
    for step in 0..240i64 {
        let ind = Indicators {
            db_size_bytes: Some(20.0 * MIB + step as f64 * 10.0 * MIB),
            ..healthy_indicators()
        };
        store
            .ingest(&MemberSamples {
                cluster: "prod".into(),
                member: "m1".into(),
                at_ms: T0 + step * STEP,
                samples: crate::collect::probe::indicator_series(&ind),
            })
            .unwrap();
    }
    let now = T0 + 240 * STEP;
    let mut ev = evaluator(&immediate());
    assert!(ev.seed_windows(&store, now).unwrap() >= 240);
    let mut snap = healthy_cluster();
    ind(&mut snap.members[0]).db_size_bytes = Some(20.0 * MIB + 240.0 * 10.0 * MIB);
    let t = ev.evaluate(now, &[finish(snap, now)], None);
    assert_eq!(fired(&t), ["etcdExcessiveDatabaseGrowth"]);
}
