//! `bench` against a real 3-member cluster: every workload's counts are checked against
//! what the cluster saw (revisions for writes, the members' gRPC counters for reads and
//! keep-alives), the prefix is empty after every run, a non-empty prefix is refused,
//! and the binary's `--output json` parses.

use std::process::Command;
use std::time::Duration;

use etcd_client::{Client, GetOptions};
use etcd_monitor::bench::{self, BenchError, BenchReport, BenchSpec, Consistency, Workload};
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::etcd::Connector;
use etcd_monitor::localetcd::LocalClusterOptions;

use crate::harness::*;
use crate::process::{signal, BIN};

fn connector(urls: &[String]) -> Connector {
    Connector::new(
        &ClusterConfig::plain("bench", urls.to_vec()),
        Duration::from_secs(5),
        Duration::from_secs(2),
    )
    .unwrap()
}

async fn revision(client: &mut Client) -> i64 {
    client
        .get("any", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision()
}

async fn count(client: &mut Client, prefix: &str) -> i64 {
    client
        .get(
            prefix,
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await
        .unwrap()
        .count()
}

/// Sum over the members of a gRPC counter for `method` (`handled` counts OK calls,
/// `received` counts stream messages).
async fn grpc_counter(http: &reqwest::Client, urls: &[String], metric: &str, method: &str) -> u64 {
    let mut sum = 0.0;
    for url in urls {
        let text = http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in text.lines() {
            if line.starts_with(metric)
                && line.contains(&format!("grpc_method=\"{method}\""))
                && (!metric.contains("handled") || line.contains("grpc_code=\"OK\""))
            {
                sum += line
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .parse::<f64>()
                    .unwrap_or(0.0);
            }
        }
    }
    sum as u64
}

async fn run(spec: &BenchSpec, urls: &[String]) -> BenchReport {
    let mut calls = 0;
    let report = bench::run(
        spec,
        &connector(urls),
        urls,
        |_| calls += 1,
        std::future::pending(),
    )
    .await
    .unwrap_or_else(|e| panic!("{} failed: {e}", spec.workload.name()));
    assert!(calls >= 1, "progress reported at least at the end");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(!report.interrupted);
    report
}

/// Checks the writes of a run against the cluster's revision, and the prefix is empty.
async fn check_writes(client: &mut Client, before: i64, report: &BenchReport) {
    // Each put or write transaction is one revision; the cleanup's delete one more.
    let after = revision(client).await;
    let cleanup = i64::from(report.keys_deleted > 0);
    assert_eq!(
        after - before,
        report.ops.writes as i64 + cleanup,
        "{}: revisions vs writes {:?}",
        report.spec.workload.name(),
        report.ops
    );
    assert_eq!(
        report.cluster.revision_after - report.cluster.revision_before,
        report.ops.writes as i64
    );
    assert!(
        report.cluster.raft_index_after >= report.cluster.raft_index_before + report.ops.writes
    );
    assert_eq!(
        count(client, &report.prefix).await,
        0,
        "prefix left non-empty"
    );
    assert!(report.prefix.starts_with("/etcd-monitor-bench/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_each_workload_matches_what_the_cluster_saw() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let mut client = Client::connect(&urls, None).await.unwrap();
    let http = reqwest::Client::new();
    let base = BenchSpec {
        conns: 3,
        clients: 6,
        total: Some(300),
        key_space_size: 50,
        val_size: 64,
        ..BenchSpec::default()
    };

    // put, to the leader only, sequential keys: 50 distinct keys deleted afterwards.
    let before = revision(&mut client).await;
    let spec = BenchSpec {
        target_leader: true,
        sequential_keys: true,
        ..base.clone()
    };
    let r = run(&spec, &urls).await;
    assert_eq!(r.summary.requests, 300);
    assert_eq!(r.ops.writes, 300);
    assert_eq!(r.keys_deleted, 50);
    assert_eq!(r.histogram.len(), 11);
    assert_eq!(r.histogram.iter().map(|b| b.count).sum::<u64>(), 300);
    assert_eq!(r.percentiles.len(), 8);
    check_writes(&mut client, before, &r).await;
    let leader = etcdctl_endpoint_status(&urls)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Status"]["leader"] == s["Status"]["header"]["member_id"])
        .map(|s| s["Endpoint"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(r.cluster.endpoint, leader);

    // put with a rate: corrected latencies, and it takes about total/rate.
    let before = revision(&mut client).await;
    let spec = BenchSpec {
        rate: Some(500.0),
        total: Some(200),
        ..base.clone()
    };
    let r = run(&spec, &urls).await;
    assert!(r.corrected_for_coordinated_omission);
    assert!(r.summary.total_secs >= 0.39, "{}", r.summary.total_secs);
    assert_eq!(r.ops.writes, 200);
    check_writes(&mut client, before, &r).await;

    // range, serializable and linearizable: every read is a Range call the members handled.
    for consistency in [Consistency::Serializable, Consistency::Linearizable] {
        let ranges = grpc_counter(&http, &urls, "grpc_server_handled_total", "Range").await;
        let before = revision(&mut client).await;
        let spec = BenchSpec {
            workload: Workload::Range {
                key: "a".into(),
                end: Some("z".into()),
                consistency,
            },
            ..base.clone()
        };
        let r = run(&spec, &urls).await;
        assert_eq!(r.ops.reads, 300);
        // Ours: 300, plus the runner's two prefix counts and the revision read above.
        let seen = grpc_counter(&http, &urls, "grpc_server_handled_total", "Range").await - ranges;
        assert!(
            (300..=305).contains(&seen),
            "{consistency:?}: {seen} Range calls"
        );
        check_writes(&mut client, before, &r).await;
    }

    // txn-put: one revision per transaction of 3 puts.
    let before = revision(&mut client).await;
    let spec = BenchSpec {
        workload: Workload::TxnPut { txn_ops: 3 },
        ..base.clone()
    };
    let r = run(&spec, &urls).await;
    assert_eq!(r.ops.writes, 300);
    check_writes(&mut client, before, &r).await;

    // txn-mixed: reads + writes are the Txn calls; writes the revisions.
    let txns = grpc_counter(&http, &urls, "grpc_server_handled_total", "Txn").await;
    let before = revision(&mut client).await;
    let spec = BenchSpec {
        workload: Workload::TxnMixed {
            rw_ratio: 2.0,
            consistency: Consistency::Serializable,
        },
        ..base.clone()
    };
    let r = run(&spec, &urls).await;
    assert_eq!(r.ops.reads + r.ops.writes, 300);
    assert!(r.ops.reads > r.ops.writes, "{:?}", r.ops);
    let seen = grpc_counter(&http, &urls, "grpc_server_handled_total", "Txn").await - txns;
    assert_eq!(seen, 300);
    check_writes(&mut client, before, &r).await;

    // mixed: 70% reads.
    let before = revision(&mut client).await;
    let spec = BenchSpec {
        workload: Workload::Mixed {
            read_percent: 70,
            consistency: Consistency::Linearizable,
        },
        total: Some(1000),
        ..base.clone()
    };
    let r = run(&spec, &urls).await;
    assert_eq!(r.ops.reads + r.ops.writes, 1000);
    assert!((550..=850).contains(&r.ops.reads), "{:?}", r.ops);
    check_writes(&mut client, before, &r).await;

    // watch-latency: every put reaches every watcher.
    let before = revision(&mut client).await;
    let spec = BenchSpec {
        workload: Workload::WatchLatency {
            streams: 3,
            watchers_per_stream: 4,
            put_rate: 200.0,
        },
        total: Some(60),
        ..base.clone()
    };
    let r = run(&spec, &urls).await;
    assert_eq!(r.ops.writes, 60);
    assert_eq!(r.ops.watch_events, 60 * 12);
    assert_eq!(r.summary.requests, 60 * 12);
    assert_eq!(r.keys_deleted, 1);
    check_writes(&mut client, before, &r).await;

    // lease-keepalive: every renewal is a message the members received; no lease left.
    let received = grpc_counter(
        &http,
        &urls,
        "grpc_server_msg_received_total",
        "LeaseKeepAlive",
    )
    .await;
    let before = revision(&mut client).await;
    let spec = BenchSpec {
        workload: Workload::LeaseKeepalive,
        ..base.clone()
    };
    let r = run(&spec, &urls).await;
    assert_eq!(r.ops.keepalives, 300);
    let seen = grpc_counter(
        &http,
        &urls,
        "grpc_server_msg_received_total",
        "LeaseKeepAlive",
    )
    .await
        - received;
    // Opening each client's keep-alive stream renews once (6 clients), untimed.
    assert_eq!(seen, 300 + 6);
    assert!(client.leases().await.unwrap().leases().is_empty());
    check_writes(&mut client, before, &r).await;

    // --duration instead of --total.
    let spec = BenchSpec {
        total: None,
        duration: Some(Duration::from_millis(700)),
        ..base.clone()
    };
    let before = revision(&mut client).await;
    let r = run(&spec, &urls).await;
    assert!(r.summary.requests > 0);
    assert!(r.summary.total_secs >= 0.7 && r.summary.total_secs < 6.0);
    check_writes(&mut client, before, &r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_refuses_a_non_empty_prefix_and_the_binary_prints_json() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let mut client = Client::connect(&urls, None).await.unwrap();
    client.put("/mine/keep", "x", None).await.unwrap();

    // In the library: a typed refusal, and the key is untouched.
    let spec = BenchSpec {
        prefix: Some("/mine/".into()),
        total: Some(10),
        ..BenchSpec::default()
    };
    let err = bench::run(
        &spec,
        &connector(&urls),
        &urls,
        |_| {},
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, BenchError::PrefixNotEmpty { count: 1, .. }),
        "{err}"
    );
    let endpoints = urls.join(",");
    let refused = Command::new(BIN)
        .args([
            "bench",
            "--no-save",
            "--endpoints",
            &endpoints,
            "--prefix",
            "/mine/",
            "put",
            "--total",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("prefix /mine/ already holds 1 key(s)"),
        "{stderr}"
    );
    assert_eq!(count(&mut client, "/mine/").await, 1);

    // The binary, etcd's flag layout, JSON out.
    let before = revision(&mut client).await;
    let out = Command::new(BIN)
        .args([
            "bench",
            "--no-save",
            "--endpoints",
            &endpoints,
            "--conns",
            "2",
            "--clients",
            "4",
            "put",
            "--total",
            "200",
            "--key-size",
            "8",
            "--val-size",
            "256",
            "--key-space-size",
            "20",
            "--sequential-keys",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["requests"], 200);
    assert_eq!(json["ops"]["writes"], 200);
    assert_eq!(json["keys_deleted"], 20);
    assert_eq!(json["spec"]["val_size"], 256);
    assert_eq!(json["percentiles"].as_array().unwrap().len(), 8);
    let prefix = json["prefix"].as_str().unwrap();
    assert_eq!(count(&mut client, prefix).await, 0);
    assert_eq!(revision(&mut client).await - before, 201);

    // Simple output has etcd's sections.
    let out = Command::new(BIN)
        .args([
            "bench",
            "--no-save",
            "--endpoints",
            &endpoints,
            "mixed",
            "--total",
            "50",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for section in [
        "\nSummary:\n  Total:\t",
        "\n  Requests/sec:\t",
        "\nResponse time histogram:\n",
        "\nLatency distribution:\n  10% in ",
        "  99.9% in ",
    ] {
        assert!(text.contains(section), "{section:?} missing in {text}");
    }
    assert_eq!(count(&mut client, "/etcd-monitor-bench/").await, 0);

    // Ctrl-C in the middle of a run: the report says so, the keys are gone, exit 130.
    let child = Command::new(BIN)
        .args([
            "bench",
            "--no-save",
            "--endpoints",
            &endpoints,
            "--clients",
            "4",
            "--duration",
            "60s",
            "put",
            "--key-space-size",
            "1000",
            "--output",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the run's first keys", Duration::from_secs(20), || async {
        let mut c = Client::connect(&urls, None)
            .await
            .map_err(|e| e.to_string())?;
        match count(&mut c, "/etcd-monitor-bench/").await {
            0 => Err("no key yet".to_string()),
            n => Ok(n),
        }
    })
    .await;
    signal(&child, libc::SIGINT);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["interrupted"], true);
    assert!(json["summary"]["total_secs"].as_f64().unwrap() < 30.0);
    assert!(json["keys_deleted"].as_i64().unwrap() > 0);
    assert_eq!(count(&mut client, "/etcd-monitor-bench/").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_over_tls_with_auth() {
    let cluster = start_tls_cluster(3).await;
    enable_auth(&cluster, "b3nch-pw").await;
    let tls = cluster.tls();
    let urls = cluster.client_urls();
    let options = cluster.connect_options().unwrap();

    // Bare host:port with TLS flags means https, as with etcdctl.
    let endpoints = urls
        .iter()
        .map(|u| u.trim_start_matches("https://"))
        .collect::<Vec<_>>()
        .join(",");
    let bench = |user: &str| {
        Command::new(BIN)
            .args([
                "bench",
                "--no-save",
                "--endpoints",
                &endpoints,
                "--conns",
                "3",
                "--clients",
                "6",
            ])
            .arg("--cacert")
            .arg(&tls.ca_file)
            .arg("--cert")
            .arg(&tls.cert_file)
            .arg("--key")
            .arg(&tls.key_file)
            .args(["--user", user])
            .args([
                "txn-put",
                "--total",
                "100",
                "--key-space-size",
                "10",
                "--output",
                "json",
            ])
            .output()
            .unwrap()
    };
    let out = bench("root:b3nch-pw");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ops"]["writes"], 100);
    assert_eq!(json["keys_deleted"], 10);
    assert_eq!(json["summary"]["errors"], 0);

    let wrong = bench("root:not-the-pw");
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!stderr.contains("not-the-pw"), "{stderr}");

    let mut client = Client::connect(&urls, Some(options.with_user("root", "b3nch-pw")))
        .await
        .unwrap();
    assert_eq!(count(&mut client, "/etcd-monitor-bench/").await, 0);
}
