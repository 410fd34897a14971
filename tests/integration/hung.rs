//! One hung member (SIGSTOPped: its kernel still accepts TCP, the process answers
//! nothing; quorum intact) fails no request: `ctl get` with the hung endpoint first
//! and last, and the key browser's API, also when the member hangs after the
//! browser's client was made. etcdctl's balancer never fails here either.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;

use crate::harness::*;
use crate::process::BIN;

/// A paused member, resumed (SIGCONT) when dropped, on a panic too: a stopped
/// process would outlive the test's cluster otherwise.
struct Paused<'a> {
    cluster: &'a mut TestCluster,
    index: usize,
}

impl<'a> Paused<'a> {
    fn new(cluster: &'a mut TestCluster, index: usize) -> Paused<'a> {
        cluster.pause(index).unwrap();
        Paused { cluster, index }
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        let _ = self.cluster.resume(self.index);
    }
}

/// Indexes of the members that are not the leader (pausing a follower keeps the
/// leader, so no election muddles what is measured).
async fn followers(cluster: &TestCluster) -> Vec<usize> {
    let urls = cluster.client_urls();
    wait_for("a leader", Duration::from_secs(15), || async {
        let mut client = etcd_client::Client::connect(&urls[..1], None)
            .await
            .map_err(|e| e.to_string())?;
        let leader = client.status().await.map_err(|e| e.to_string())?.leader();
        let mut out = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let mut c = etcd_client::Client::connect([url], None)
                .await
                .map_err(|e| e.to_string())?;
            let id = c
                .status()
                .await
                .map_err(|e| e.to_string())?
                .header()
                .map_or(0, |h| h.member_id());
            if id != leader {
                out.push(i);
            }
        }
        if out.len() == 2 {
            Ok(out)
        } else {
            Err(format!("leader {leader:x}, followers {out:?}"))
        }
    })
    .await
}

fn ctl_get(endpoints: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args([
            "ctl",
            &format!("--endpoints={}", endpoints.join(",")),
            "--command-timeout=2s",
            "--dial-timeout=1s",
            "get",
            "hung/k",
            "--print-value-only",
        ])
        .env_remove("ETCDCTL_ENDPOINTS")
        .env_remove("ETCD_MONITOR_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out, started.elapsed())
}

/// The key browser's API answers a listing and a value `rounds` times, each
/// within the request deadline.
async fn browse(monitor: &Monitor, rounds: usize, deadline: Duration, failures: &mut Vec<String>) {
    for round in 0..rounds {
        for path in [
            "/api/v1/clusters/c/keys?prefix=hung/",
            "/api/v1/clusters/c/keys/value?key=hung/k",
        ] {
            let started = Instant::now();
            let (code, body) = monitor.get(path).await;
            let took = started.elapsed();
            if code != 200 {
                failures.push(format!("round {round}: GET {path}: {code} {body}"));
            } else if took > deadline {
                failures.push(format!("round {round}: GET {path} took {took:?}"));
            } else if path.contains("value") {
                assert_eq!(body["value"], "v", "{body}");
            } else {
                assert_eq!(body["keys"].as_array().map(Vec::len), Some(1), "{body}");
                assert_eq!(body["folders"][0]["keys"], 2, "{body}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_member_fails_no_ctl_read_and_no_key_browser_request() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let mut client = etcd_client::Client::connect(&urls, None).await.unwrap();
    for (k, v) in [("hung/k", "v"), ("hung/dir/a", "1"), ("hung/dir/b", "2")] {
        client.put(k, v, None).await.unwrap();
    }
    let followers = followers(&cluster).await;

    // The browser knows the two followers only, so that one of the two pauses
    // below hangs the member its cached client asks first.
    let request_timeout = Duration::from_secs(2);
    let mut settings = test_settings(
        vec![ClusterConfig::plain(
            "c",
            followers.iter().map(|&i| urls[i].clone()).collect(),
        )],
        Duration::from_secs(2),
    );
    settings.collect.request_timeout = request_timeout;
    settings.collect.dial_timeout = Duration::from_secs(1);
    let monitor = Monitor::start(settings).await;
    let mut failures = Vec::new();
    browse(&monitor, 1, request_timeout, &mut failures).await;
    assert_eq!(failures, Vec::<String>::new(), "before any pause");

    for &hung in &followers {
        let good = followers.iter().copied().find(|&i| i != hung).unwrap();
        let (hung_url, good_url) = (urls[hung].clone(), urls[good].clone());
        {
            let _paused = Paused::new(&mut cluster, hung);
            for order in [[&hung_url, &good_url], [&good_url, &hung_url]] {
                let order = order.map(String::as_str);
                for run in 0..6 {
                    let (out, took) = ctl_get(&order);
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    if !out.status.success() || stdout.trim() != "v" {
                        failures.push(format!(
                            "ctl --endpoints={} get, run {run} ({took:?}): {}{}",
                            order.join(","),
                            stdout,
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
            }
            browse(&monitor, 4, request_timeout, &mut failures).await;
        }
        cluster
            .wait_healthy(hung, Duration::from_secs(15))
            .await
            .unwrap();
    }
    assert_eq!(failures, Vec::<String>::new());
    monitor.stop().await;
}
