//! `bench` against a real 3-member cluster: every workload's counts are checked against
//! what the cluster saw (revisions for writes, the members' gRPC counters for reads and
//! keep-alives), the prefix is empty after every run, a non-empty prefix is refused,
//! and the binary's `--output json` parses.
//!
//! Each check counts the cluster's revisions, its gRPC calls or every benchmark key
//! around its run, which another test's requests would change: the workloads run
//! in turn in one test, on a cluster of their own; the binary's tests share one,
//! one at a time ([`Bench::alone`]). Over TLS with auth, a cluster of its own.

use std::process::Command;
use std::time::Duration;

use etcd_client::{Client, GetOptions};
use etcd_monitor::bench::{self, BenchError, BenchReport, BenchSpec, Consistency, Workload};
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::etcd::Connector;
use etcd_monitor::localetcd::LocalClusterOptions;
use tokio::sync::{Mutex, MutexGuard};

use crate::harness::*;
use crate::process::{signal, BIN};

/// A cluster and the lock that keeps the module's tests on it one at a time.
struct Exclusive {
    cluster: SharedCluster,
    lock: Mutex<()>,
}

/// For the binary's runs.
static RUNS: Exclusive = Exclusive {
    cluster: SharedCluster::new(3, LocalClusterOptions::default),
    lock: Mutex::const_new(()),
};

/// A cluster with no other test of the module on it until dropped. Destructured,
/// `_alone` and `_cluster` are bound by name: `..` would drop them at once.
struct Bench {
    _alone: MutexGuard<'static, ()>,
    _cluster: SharedUse,
    urls: Vec<String>,
    client: Client,
}

impl Bench {
    async fn alone(on: &'static Exclusive) -> Bench {
        let alone = on.lock.lock().await;
        let cluster = on.cluster.get().await;
        let urls = cluster.client_urls();
        let client = Client::connect(&urls, None).await.unwrap();
        Bench {
            _alone: alone,
            _cluster: cluster,
            urls,
            client,
        }
    }
}

/// The spec the workload tests start from.
fn base() -> BenchSpec {
    BenchSpec {
        conns: 3,
        clients: 6,
        total: Some(300),
        key_space_size: 50,
        val_size: 64,
        ..BenchSpec::default()
    }
}

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

/// Every workload, each checked against what the cluster saw. One test, the
/// workloads in turn: each check counts the cluster's revisions or the gRPC calls
/// its members handled around its run, so nothing else may reach the cluster
/// meanwhile (as tests of their own, queued on one cluster, they made the module
/// slower).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_each_workload_matches_what_the_cluster_saw() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let mut client = Client::connect(&urls, None).await.unwrap();
    let http = reqwest::Client::new();
    put_to_the_leader_with_sequential_keys_deletes_its_keys(&urls, &mut client).await;
    put_with_a_rate_corrects_latencies_and_takes_total_over_rate(&urls, &mut client).await;
    range_reads_are_range_calls_the_members_handled(&urls, &mut client, &http).await;
    txn_put_is_one_revision_per_transaction(&urls, &mut client).await;
    txn_mixed_reads_and_writes_are_the_txn_calls(&urls, &mut client, &http).await;
    mixed_is_seventy_percent_reads(&urls, &mut client).await;
    watch_latency_every_put_reaches_every_watcher(&urls, &mut client).await;
    lease_keepalive_renewals_are_messages_the_members_received(&urls, &mut client, &http).await;
    a_duration_instead_of_a_total_bounds_the_run(&urls, &mut client).await;
}

/// put, to the leader only, sequential keys: 50 distinct keys deleted afterwards.
async fn put_to_the_leader_with_sequential_keys_deletes_its_keys(
    urls: &[String],
    client: &mut Client,
) {
    let before = revision(client).await;
    let spec = BenchSpec {
        target_leader: true,
        sequential_keys: true,
        ..base()
    };
    let r = run(&spec, urls).await;
    assert_eq!(r.summary.requests, 300);
    assert_eq!(r.ops.writes, 300);
    assert_eq!(r.keys_deleted, 50);
    assert_eq!(r.histogram.len(), 11);
    assert_eq!(r.histogram.iter().map(|b| b.count).sum::<u64>(), 300);
    assert_eq!(r.percentiles.len(), 8);
    check_writes(client, before, &r).await;
    let leader = etcdctl_endpoint_status(urls)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Status"]["leader"] == s["Status"]["header"]["member_id"])
        .map(|s| s["Endpoint"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(r.cluster.endpoint, leader);
}

/// put with a rate: corrected latencies, and it takes about total/rate.
async fn put_with_a_rate_corrects_latencies_and_takes_total_over_rate(
    urls: &[String],
    client: &mut Client,
) {
    let before = revision(client).await;
    let spec = BenchSpec {
        rate: Some(500.0),
        total: Some(200),
        ..base()
    };
    let r = run(&spec, urls).await;
    assert!(r.corrected_for_coordinated_omission);
    assert!(r.summary.total_secs >= 0.39, "{}", r.summary.total_secs);
    assert_eq!(r.ops.writes, 200);
    check_writes(client, before, &r).await;
}

/// range, serializable and linearizable: every read is a Range call the members
/// handled.
async fn range_reads_are_range_calls_the_members_handled(
    urls: &[String],
    client: &mut Client,
    http: &reqwest::Client,
) {
    for consistency in [Consistency::Serializable, Consistency::Linearizable] {
        let ranges = grpc_counter(http, urls, "grpc_server_handled_total", "Range").await;
        let before = revision(client).await;
        let spec = BenchSpec {
            workload: Workload::Range {
                key: "a".into(),
                end: Some("z".into()),
                consistency,
            },
            ..base()
        };
        let r = run(&spec, urls).await;
        assert_eq!(r.ops.reads, 300);
        // Ours: 300, plus the runner's two prefix counts and the revision read above.
        let seen = grpc_counter(http, urls, "grpc_server_handled_total", "Range").await - ranges;
        assert!(
            (300..=305).contains(&seen),
            "{consistency:?}: {seen} Range calls"
        );
        check_writes(client, before, &r).await;
    }
}

/// txn-put: one revision per transaction of 3 puts.
async fn txn_put_is_one_revision_per_transaction(urls: &[String], client: &mut Client) {
    let before = revision(client).await;
    let spec = BenchSpec {
        workload: Workload::TxnPut { txn_ops: 3 },
        ..base()
    };
    let r = run(&spec, urls).await;
    assert_eq!(r.ops.writes, 300);
    check_writes(client, before, &r).await;
}

/// txn-mixed: reads + writes are the Txn calls; writes the revisions.
async fn txn_mixed_reads_and_writes_are_the_txn_calls(
    urls: &[String],
    client: &mut Client,
    http: &reqwest::Client,
) {
    let txns = grpc_counter(http, urls, "grpc_server_handled_total", "Txn").await;
    let before = revision(client).await;
    let spec = BenchSpec {
        workload: Workload::TxnMixed {
            rw_ratio: 2.0,
            consistency: Consistency::Serializable,
        },
        ..base()
    };
    let r = run(&spec, urls).await;
    assert_eq!(r.ops.reads + r.ops.writes, 300);
    assert!(r.ops.reads > r.ops.writes, "{:?}", r.ops);
    let seen = grpc_counter(http, urls, "grpc_server_handled_total", "Txn").await - txns;
    assert_eq!(seen, 300);
    check_writes(client, before, &r).await;
}

/// mixed: 70% reads.
async fn mixed_is_seventy_percent_reads(urls: &[String], client: &mut Client) {
    let before = revision(client).await;
    let spec = BenchSpec {
        workload: Workload::Mixed {
            read_percent: 70,
            consistency: Consistency::Linearizable,
        },
        total: Some(1000),
        ..base()
    };
    let r = run(&spec, urls).await;
    assert_eq!(r.ops.reads + r.ops.writes, 1000);
    assert!((550..=850).contains(&r.ops.reads), "{:?}", r.ops);
    check_writes(client, before, &r).await;
}

/// watch-latency: every put reaches every watcher.
async fn watch_latency_every_put_reaches_every_watcher(urls: &[String], client: &mut Client) {
    let before = revision(client).await;
    let spec = BenchSpec {
        workload: Workload::WatchLatency {
            streams: 3,
            watchers_per_stream: 4,
            put_rate: 200.0,
        },
        total: Some(60),
        ..base()
    };
    let r = run(&spec, urls).await;
    assert_eq!(r.ops.writes, 60);
    assert_eq!(r.ops.watch_events, 60 * 12);
    assert_eq!(r.summary.requests, 60 * 12);
    assert_eq!(r.keys_deleted, 1);
    check_writes(client, before, &r).await;
}

/// lease-keepalive: every renewal is a message the members received; no lease left.
async fn lease_keepalive_renewals_are_messages_the_members_received(
    urls: &[String],
    client: &mut Client,
    http: &reqwest::Client,
) {
    let received = grpc_counter(
        http,
        urls,
        "grpc_server_msg_received_total",
        "LeaseKeepAlive",
    )
    .await;
    let before = revision(client).await;
    let spec = BenchSpec {
        workload: Workload::LeaseKeepalive,
        ..base()
    };
    let r = run(&spec, urls).await;
    assert_eq!(r.ops.keepalives, 300);
    let seen = grpc_counter(
        http,
        urls,
        "grpc_server_msg_received_total",
        "LeaseKeepAlive",
    )
    .await
        - received;
    // Opening each client's keep-alive stream renews once (6 clients), untimed.
    assert_eq!(seen, 300 + 6);
    assert!(client.leases().await.unwrap().leases().is_empty());
    check_writes(client, before, &r).await;
}

/// --duration instead of --total.
async fn a_duration_instead_of_a_total_bounds_the_run(urls: &[String], client: &mut Client) {
    let spec = BenchSpec {
        total: None,
        duration: Some(Duration::from_millis(700)),
        ..base()
    };
    let before = revision(client).await;
    let r = run(&spec, urls).await;
    assert!(r.summary.requests > 0);
    assert!(r.summary.total_secs >= 0.7 && r.summary.total_secs < 6.0);
    check_writes(client, before, &r).await;
}

/// A non-empty prefix is refused: in the library a typed refusal, by the binary
/// exit 1 naming it; the key is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_empty_prefix_is_refused_and_left_untouched() {
    let Bench {
        _alone,
        _cluster,
        urls,
        mut client,
    } = Bench::alone(&RUNS).await;
    let endpoints = urls.join(",");
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
}

/// The binary, etcd's flag layout, JSON out: the counts, the prefix emptied, one
/// revision a put and one for the cleanup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_etcds_flags_and_prints_json() {
    let Bench {
        _alone,
        _cluster,
        urls,
        mut client,
    } = Bench::alone(&RUNS).await;
    let endpoints = urls.join(",");
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
}

/// Simple output has etcd's sections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_output_has_etcds_sections() {
    let Bench {
        _alone,
        _cluster,
        urls,
        mut client,
    } = Bench::alone(&RUNS).await;
    let endpoints = urls.join(",");
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
}

/// Ctrl-C in the middle of a run: the report says so, the keys are gone, exit 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_run_that_reports_it_deletes_its_keys_and_exits_130() {
    let Bench {
        _alone,
        _cluster,
        urls,
        mut client,
    } = Bench::alone(&RUNS).await;
    let endpoints = urls.join(",");
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

/// Over TLS with client certificates and auth: bare host:port means https, as with
/// etcdctl; a wrong password fails without being printed; the run's keys are gone.
/// (Named to run after the tests of the binary's runs: their cluster is then idle
/// and gives up its slot to this test's without being started again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_and_auth_bare_endpoints_mean_https_and_the_password_is_not_printed() {
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
            .args(crate::certs::client_flags(tls))
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
