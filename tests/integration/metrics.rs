//! Indicators derived from real scrapes under load, and across a member restart.

use std::time::Duration;

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use serde_json::Value;

use crate::harness::*;

async fn indicators_after_writes(
    monitor: &Monitor,
    client: &mut etcd_client::Client,
    round: u32,
) -> Value {
    wait_for(
        "latency quantiles under writes",
        Duration::from_secs(15),
        || {
            let mut client = client.clone();
            async move {
                // Keep writing so every interval has fsyncs and commits to measure.
                for i in 0..20 {
                    client
                        .put(format!("load/{round}/{i}"), "value", None)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let s = monitor.cluster("one").await;
                let ind = s["members"][0]["indicators"].clone();
                let ready = [
                    "wal_fsync_p99_seconds",
                    "backend_commit_p99_seconds",
                    "proposals_committed_per_second",
                ]
                .iter()
                .all(|k| ind[*k].as_f64().is_some_and(|v| v > 0.0));
                if ready {
                    Ok(ind)
                } else {
                    Err(s.to_string())
                }
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quantiles_and_rates_from_a_loaded_member_survive_its_restart() {
    let mut cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("one", cluster.client_urls())],
        Duration::from_millis(500),
    ))
    .await;
    let mut client = etcd_client::Client::connect(cluster.client_urls(), None)
        .await
        .unwrap();
    let ind = indicators_after_writes(&monitor, &mut client, 0).await;
    let fsync = ind["wal_fsync_p99_seconds"].as_f64().unwrap();
    assert!(
        fsync < 10.0,
        "a p99 in seconds, not a raw bucket count: {fsync}"
    );
    assert!(ind["wal_fsync_p50_seconds"].as_f64().unwrap() <= fsync);
    assert!(ind["keys_total"].as_f64().unwrap() >= 20.0);
    assert_eq!(ind["leader_changes_in_interval"].as_f64(), Some(0.0));

    // After a restart every counter starts again from zero: rates stay non-negative.
    cluster.restart(0).unwrap();
    cluster
        .wait_healthy(0, Duration::from_secs(30))
        .await
        .unwrap();
    let ind = indicators_after_writes(&monitor, &mut client, 1).await;
    for (k, v) in ind.as_object().unwrap() {
        if let (true, Some(x)) = (k.ends_with("_per_second"), v.as_f64()) {
            assert!(x >= 0.0, "{k} = {x} after a counter reset");
        }
    }
    monitor.stop().await;
}
