//! The alert evaluator on real probes: a killed member's alert goes pending, then
//! firing once, and resolves once when the member is back.

use std::time::{Duration, Instant};

use etcd_monitor::alert::rules::BuiltinOverride;
use etcd_monitor::alert::{AlertingSettings, Evaluator, Transition, TransitionKind};
use etcd_monitor::collect::ClusterProber;
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;

use crate::harness::*;

/// Probes once and evaluates; returns the transitions of `rule`.
async fn step(prober: &mut ClusterProber, ev: &mut Evaluator, rule: &str) -> Vec<Transition> {
    let now = etcd_monitor::unix_ms_now();
    let snap = prober.probe(now).await.snapshot;
    ev.evaluate(etcd_monitor::unix_ms_now(), &[snap], None)
        .into_iter()
        .filter(|t| t.alert.rule == rule)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_member_alert_pends_fires_once_and_resolves_once() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let config = ClusterConfig::plain("trio", cluster.client_urls());
    let settings = test_settings(vec![config.clone()], Duration::from_millis(500));
    let mut alerting = AlertingSettings::default();
    alerting.builtin.insert(
        "etcdMemberUnreachable".into(),
        BuiltinOverride {
            for_: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    );
    let mut ev = Evaluator::for_clusters(&alerting, std::slice::from_ref(&config)).unwrap();
    let mut prober = ClusterProber::new(config, settings.collect.clone()).unwrap();
    let rule = "etcdMemberUnreachable";
    assert!(step(&mut prober, &mut ev, rule).await.is_empty());

    cluster.kill(2).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen
        .iter()
        .any(|t: &Transition| t.kind == TransitionKind::Firing)
    {
        assert!(
            Instant::now() < deadline,
            "the alert did not fire: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        seen.extend(step(&mut prober, &mut ev, rule).await);
    }
    let kinds: Vec<TransitionKind> = seen.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [TransitionKind::Pending, TransitionKind::Firing]);
    let fired = &seen[1].alert;
    assert_eq!(fired.member(), Some("m2"));
    assert_eq!(fired.fingerprint, seen[0].alert.fingerprint);
    assert!(
        fired.fired_at_ms.unwrap() - fired.active_since_ms >= 2000,
        "{fired:?}"
    );
    // Still down: no second Firing.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(step(&mut prober, &mut ev, rule).await.is_empty());
    }

    cluster.restart(2).unwrap();
    cluster
        .wait_healthy(2, Duration::from_secs(20))
        .await
        .unwrap();
    let mut after = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while after.is_empty() {
        assert!(Instant::now() < deadline, "the alert did not resolve");
        tokio::time::sleep(Duration::from_millis(300)).await;
        after.extend(step(&mut prober, &mut ev, rule).await);
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        after.extend(step(&mut prober, &mut ev, rule).await);
    }
    let kinds: Vec<TransitionKind> = after.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [TransitionKind::Resolved]);
    assert_eq!(after[0].alert.fingerprint, fired.fingerprint);
}
