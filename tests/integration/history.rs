//! History from a real cluster: what was scraped comes back from the API, across
//! restarts of the monitor, and survives kill -9.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use serde_json::Value;

use crate::harness::*;
use crate::process::BIN;

/// Points of one series as `[ts, value]` pairs.
async fn points(monitor: &Monitor, query: &str) -> Vec<(i64, f64)> {
    let (code, body) = monitor
        .get(&format!("/api/v1/clusters/c/metrics/history?{query}"))
        .await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_value(body["series"][0]["points"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_points_come_back_and_survive_restarts() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(
        vec![ClusterConfig::plain("c", cluster.client_urls())],
        Duration::from_secs(1),
    );
    settings.store.data_dir = data.path().to_path_buf();
    let started = etcd_monitor::unix_ms_now();
    let monitor = Monitor::start(settings.clone()).await;

    // Count probes as they happen.
    let probes = std::cell::RefCell::new(BTreeSet::new());
    wait_for("5 probes", Duration::from_secs(20), || async {
        let s = monitor.cluster("c").await;
        let mut probes = probes.borrow_mut();
        if let Some(t) = s["probed_at"].as_str() {
            probes.insert(t.to_string());
        }
        if probes.len() >= 5 {
            Ok(())
        } else {
            Err(format!("{} probes", probes.len()))
        }
    })
    .await;
    let query = format!(
        "metric=etcd_server_has_leader&member=m0&from={}&to=now&step=1s&agg=last",
        started / 1000
    );
    let before = points(&monitor, &query).await;
    assert!(before.len() >= 5, "{before:?}");
    assert!(before.iter().all(|(_, v)| *v == 1.0));
    // Stamped on the probe grid: exactly one interval apart.
    assert!(
        before.windows(2).all(|w| w[1].0 - w[0].0 == 1000),
        "{before:?}"
    );
    // An indicator is kept as well, at the same instants.
    let indicator = points(
        &monitor,
        &query.replace("etcd_server_has_leader", "etcd_monitor:has_leader"),
    )
    .await;
    assert_eq!(indicator.len(), before.len());
    let (code, series) = monitor
        .get("/api/v1/clusters/c/metrics/series?member=m0&match=wal_fsync")
        .await;
    assert_eq!(code, 200);
    assert!(series["series"].as_array().unwrap().len() >= 3, "{series}");
    monitor.stop().await;

    // Restart against a dead endpoint (no new samples): the same points come back,
    // twice (the second time from the checkpoint the first shutdown wrote).
    let mut again = settings.clone();
    again.clusters = vec![ClusterConfig::plain(
        "c",
        vec![format!("http://127.0.0.1:{}", free_port().unwrap())],
    )];
    let mut seen = Vec::new();
    for _ in 0..2 {
        let monitor = Monitor::start(again.clone()).await;
        let after = points(&monitor, &query).await;
        assert!(after.len() >= before.len());
        assert_eq!(
            &after[..before.len()],
            &before[..],
            "points before the stop are unchanged"
        );
        seen.push(after);
        let (_, stats) = monitor.get("/api/v1/store").await;
        // store.series = "used": 100 to 140 of a member's series, and the indicators.
        assert!(stats["series"].as_u64().unwrap() > 100, "{stats}");
        assert!(stats["tiers"][0]["bytes_per_sample"].as_f64().unwrap() > 0.0);
        monitor.stop().await;
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rejects_bad_parameters() {
    let dead = format!("http://127.0.0.1:{}", free_port().unwrap());
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("c", vec![dead])],
        Duration::from_secs(1),
    ))
    .await;
    for (query, needle) in [
        ("", "metric is required"),
        ("metric=x&from=yesterday", "from=\"yesterday\""),
        ("metric=x&step=0", "step=\"0\""),
        ("metric=x&agg=median", "unknown aggregate"),
        ("metric=x&from=-1d&step=1s", "at most 11000"),
        ("metric=x&from=now&to=-1h", "from must be before to"),
    ] {
        let (code, body) = monitor
            .get(&format!("/api/v1/clusters/c/metrics/history?{query}"))
            .await;
        assert_eq!(code, 400, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let (code, body) = monitor
        .get("/api/v1/clusters/c/metrics/history?metric=nothing_like_this")
        .await;
    assert_eq!(code, 404, "{body}");
    let (code, _) = monitor
        .get("/api/v1/clusters/nope/metrics/history?metric=x")
        .await;
    assert_eq!(code, 404);
    monitor.stop().await;
}

fn spawn_serve(endpoints: &str, port: u16, data: &std::path::Path) -> Child {
    Command::new(BIN)
        .args(["serve", "--name", "c", "--interval", "1"])
        .arg(format!("--endpoints={endpoints}"))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .env("ETCD_MONITOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn last_point(http: &reqwest::Client, port: u16) -> Result<Option<i64>, String> {
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/clusters/c/metrics/history?metric=etcd_server_has_leader&from=-10m&step=1s&agg=last"
    );
    let resp = http.get(&url).send().await.map_err(|e| e.to_string())?;
    if resp.status() == 404 {
        return Ok(None);
    }
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    Ok(body["series"][0]["points"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|p| p[0].as_i64()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_twenty_times() {
    const INTERVAL_MS: i64 = 1000;
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let endpoints = cluster.client_urls().join(",");
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut killed_at: Option<i64> = None;
    let mut losses = Vec::new();
    for round in 0..20 {
        let port = free_port().unwrap();
        let child = std::cell::RefCell::new(spawn_serve(&endpoints, port, data.path()));
        // The reopen succeeded and the data before the kill is there.
        let first = wait_for(
            "serve answering after a kill -9",
            Duration::from_secs(20),
            || async {
                if let Ok(Some(status)) = child.borrow_mut().try_wait() {
                    panic!("round {round}: serve exited with {status} on reopen");
                }
                match last_point(&http, port).await? {
                    Some(ts) => Ok(ts),
                    None => Err("no point yet".into()),
                }
            },
        )
        .await;
        if let Some(killed) = killed_at {
            // The newest point stored before the kill, as read after the reopen
            // (1 ms buckets: the bucket start is the point's own time).
            let url = format!(
                "http://127.0.0.1:{port}/api/v1/clusters/c/metrics/history?metric=etcd_server_has_leader&from={}&to={}&step=1ms&agg=last",
                (killed - 10_000) as f64 / 1000.0,
                killed as f64 / 1000.0
            );
            let body: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
            let newest = body["series"][0]["points"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()[0]
                .as_i64()
                .unwrap();
            let lost = killed - newest;
            losses.push(lost);
            assert!(
                lost <= INTERVAL_MS + 500,
                "round {round}: newest point {lost} ms before the kill (interval {INTERVAL_MS} ms)"
            );
        }
        // Let it ingest a little, then kill at a different moment of the interval each time.
        wait_for("a new point", Duration::from_secs(10), || async {
            match last_point(&http, port).await? {
                Some(ts) if ts > first => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(137 * (round % 7) + 20)).await;
        let mut child = child.into_inner();
        child.kill().unwrap(); // SIGKILL
        killed_at = Some(etcd_monitor::unix_ms_now());
        child.wait().unwrap();
    }
    eprintln!("ms between the newest stored point and each kill -9: {losses:?}");
    let check = Command::new(BIN)
        .args(["store", "check", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(out.contains("no problem found"), "{out}");
}
