//! Stored benchmark runs: the binary stores each run (in the store file, or through
//! the running monitor's API when the monitor holds the file), `bench list | show |
//! compare`, the API and the pages show them, a rate-limited run is flagged as a
//! regression, and a scheduled benchmark runs and is stored. Hostile stored runs
//! break nothing, posted ones are refused; runs are deleted and kept to a count.
//!
//! One cluster for the module: every test has its own store and its runs their own
//! prefixes, each checked empty after its run.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use etcd_client::{Client, GetOptions};
use etcd_monitor::bench::history::RUNS_TABLE;
use etcd_monitor::bench::schedule::ScheduleConfig;
use etcd_monitor::bench::spec::PREFIX_ROOT;
use etcd_monitor::bench::{BenchSpec, Workload};
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use etcd_monitor::store::{Retention, Store};
use serde_json::Value;

use crate::harness::*;
use crate::process::BIN;

static CLUSTER: SharedCluster = SharedCluster::new(3, LocalClusterOptions::default);

fn bench(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("bench")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a put benchmark through the binary and returns its run id.
fn stored_put(data_dir: &Path, endpoints: &str, extra: &[&str], total: &str) -> (String, String) {
    let mut args = vec!["--endpoints", endpoints, "--conns", "2", "--clients", "8"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "put",
        "--total",
        total,
        "--key-space-size",
        "50",
        "--output",
        "json",
    ]);
    let out = bench(data_dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = report["run_id"].as_str().unwrap().to_string();
    let err = stderr(&out);
    assert!(err.contains(&format!("run {id} stored in ")), "{err}");
    (id, err)
}

/// The keys left under the prefixes of the runs `ids` (`""`: of every run).
async fn bench_keys(urls: &[String], ids: &[&str]) -> i64 {
    let mut c = Client::connect(urls, None).await.unwrap();
    let mut left = 0;
    for id in ids {
        let prefix = match id {
            &"" => PREFIX_ROOT.to_string(),
            id => format!("{PREFIX_ROOT}{id}/"),
        };
        left += c
            .get(
                prefix,
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await
            .unwrap()
            .count();
    }
    left
}

/// A fast run, as fast as the cluster goes, and a slow one of `slow_total` requests
/// held to 40 requests/s (far below what 8 clients get from 3 members on loopback),
/// stored in `dir`; returns their ids.
fn fast_and_slow(dir: &Path, endpoints: &str, slow_total: &str) -> (String, String) {
    let (fast, err) = stored_put(dir, endpoints, &[], "400");
    assert!(
        err.contains(&dir.join("etcd-monitor.redb").display().to_string()),
        "{err}"
    );
    let (slow, _) = stored_put(dir, endpoints, &["--rate", "40"], slow_total);
    (fast, slow)
}

/// Settings for a monitor over `urls` (cluster `main`) holding the store in `dir`.
fn holding(dir: &Path, urls: &[String]) -> etcd_monitor::config::Settings {
    let mut settings = test_settings(
        vec![ClusterConfig::plain("main", urls.to_vec())],
        Duration::from_secs(1),
    );
    settings.store.data_dir = dir.to_path_buf();
    settings
}

/// GET `path` from the monitor: the status and the body.
async fn page(monitor: &Monitor, path: &str) -> (u16, String) {
    let resp = monitor
        .http
        .get(format!("{}{path}", monitor.base))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The ids of the runs `/api/v1/benchmarks` lists.
fn listed(list: &Value) -> Vec<&str> {
    list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[test]
fn schedules_only_run_against_clusters_that_allow_benchmarks() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let write = |allow: bool, cron: &str| {
        std::fs::write(
            &config,
            format!(
                "[[clusters]]\nname = \"prod\"\nendpoints = [\"http://127.0.0.1:2379\"]\nallow_benchmark = {allow}\n\n[[bench.schedules]]\nname = \"nightly\"\ncluster = \"prod\"\ncron = \"{cron}\"\n[bench.schedules.spec]\nworkload = {{ kind = \"put\" }}\nclients = 10\ntotal = 1000\n"
            ),
        )
        .unwrap();
        Command::new(BIN)
            .args(["config", "check", "-c"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = write(false, "0 30 3 * * *");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bench.schedules[0].cluster") && err.contains("allow_benchmark = true"),
        "{err}"
    );
    let out = write(true, "30 3 * * *");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bench.schedules[0].cron"),
        "{}",
        stderr(&out)
    );
    let out = write(true, "0 30 3 * * *");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A run as another version (or a damaged file) may have stored it: times past
/// year 9999, counts at the top of u64, absurd durations and rates.
fn hostile(run: &Value, id: &str) -> Value {
    let mut run = run.clone();
    run["id"] = id.into();
    run["report"]["run_id"] = id.into();
    run["report"]["started_unix_ms"] = i64::MAX.into();
    let summary = &mut run["report"]["summary"];
    summary["requests"] = u64::MAX.into();
    summary["errors"] = u64::MAX.into();
    summary["total_secs"] = 1e300.into();
    summary["requests_per_sec"] = 1e300.into();
    summary["slowest_secs"] = (-1.0).into();
    for b in run["report"]["histogram"].as_array_mut().unwrap() {
        b["count"] = u64::MAX.into();
    }
    run["report"]["spec"]["duration"] = "500000000years".into();
    run["report"]["keys_deleted"] = i64::MIN.into();
    run["facts"]["db_size_bytes"] = i64::MAX.into();
    run
}

fn encoded(run: &Value) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend(serde_json::to_vec(run).unwrap());
    out
}

/// Two runs into the store file: listed newest first, each shown with what a
/// stored run keeps besides the report; the slowed run regresses against the fast
/// one (exit status 1, said why), a run against itself does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_the_file_are_listed_shown_and_compared() {
    let cluster = CLUSTER.get().await;
    let urls = cluster.client_urls();
    let endpoints = urls.join(",");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (fast, slow) = fast_and_slow(dir, &endpoints, "80");

    let out = bench(dir, &["list", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [slow.as_str(), fast.as_str()], "newest first");
    assert_eq!(list["runs"][0]["cluster"], endpoints);
    assert_eq!(list["runs"][0]["requests"], 80);

    // What a stored run keeps besides the report.
    let out = bench(dir, &["show", &fast, "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["report"]["summary"]["requests"], 400);
    assert_eq!(run["source"]["kind"], "cli");
    let members = run["facts"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m["is_leader"] == true).count(), 1);
    assert!(run["facts"]["version"].as_str().unwrap().starts_with("3."));
    assert!(run["facts"]["db_size_bytes"].as_i64().unwrap() > 0);
    assert_eq!(
        run["indicators"]["members_observed"], 3,
        "{}",
        run["indicators"]
    );
    // 400 puts were fsynced on every member: the WAL histogram moved.
    assert!(run["indicators"]["wal_fsync_p99_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(run["indicators"]["leader_changes"], 0.0);
    assert!(!run["host"]["hostname"].as_str().unwrap().is_empty());
    let text = stdout(&bench(dir, &["show", &fast]));
    assert!(
        text.contains("During run: WAL fsync p99 ") && text.contains("\nSummary:\n"),
        "{text}"
    );

    // The slowed run regresses against the fast one: exit status 1, said why.
    let out = bench(dir, &["compare", &fast, &slow]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("REGRESSION: throughput -"), "{text}");
    assert!(
        text.contains("not like for like: ") && text.contains("rate: - vs 40"),
        "{text}"
    );
    assert!(text.contains("1 of 1 runs regressed."), "{text}");
    // A run against itself: no change, exit 0.
    let out = bench(dir, &["compare", &fast, &fast, "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let same: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(same["regressions"], 0);
    assert_eq!(same["runs"][1]["requests_per_sec_change"], 0.0);
    let out = bench(dir, &["show", "no-such-run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no benchmark run no-such-run"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        bench_keys(&urls, &[&fast, &slow]).await,
        0,
        "every run deleted its keys"
    );
}

/// A monitor holds the store: the binary cannot open the file, so it stores and
/// reads through the API; the API lists, shows and compares the runs (a threshold
/// past the drop forgives it) and says what is wrong with bad requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_monitor_holding_the_store_runs_go_through_its_api() {
    let cluster = CLUSTER.get().await;
    let urls = cluster.client_urls();
    let endpoints = urls.join(",");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (fast, slow) = fast_and_slow(dir, &endpoints, "20");
    let monitor = Monitor::start(holding(dir, &urls)).await;

    let (third, err) = stored_put(dir, &endpoints, &["--monitor-url", &monitor.base], "100");
    assert!(
        err.contains(&format!(
            "stored in the running monitor at {}",
            monitor.base
        )),
        "{err}"
    );
    let out = bench(
        dir,
        &["--monitor-url", &monitor.base, "compare", &fast, &slow],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("REGRESSION: throughput -"));

    let (status, all) = monitor.get("/api/v1/benchmarks?limit=1000").await;
    assert_eq!(status, 200);
    let ids = listed(&all);
    for id in [&fast, &slow, &third] {
        assert!(ids.contains(&id.as_str()), "{id} not in {ids:?}");
    }
    let (status, one) = monitor.get(&format!("/api/v1/benchmarks/{third}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["report"]["summary"]["requests"], 100);
    let (status, cmp) = monitor
        .get(&format!("/api/v1/benchmarks/compare?a={fast}&b={slow}"))
        .await;
    assert_eq!(status, 200, "{cmp}");
    assert_eq!(cmp["baseline"], fast.as_str());
    assert_eq!(cmp["regressions"], 1);
    assert!(cmp["runs"][1]["requests_per_sec_change"].as_f64().unwrap() < -0.5);
    // A threshold past the drop forgives it.
    let (_, loose) = monitor
        .get(&format!(
            "/api/v1/benchmarks/compare?a={fast}&b={slow}&threshold=1000"
        ))
        .await;
    assert_eq!(loose["regressions"], 0, "{loose}");

    // Bad requests say what is wrong.
    let (status, e) = monitor
        .get(&format!("/api/v1/benchmarks/compare?a={fast}"))
        .await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("two runs"),
        "{e}"
    );
    let (status, _) = monitor.get("/api/v1/benchmarks/nope").await;
    assert_eq!(status, 404);
    let (status, e) = monitor.get("/api/v1/benchmarks?limit=0").await;
    assert_eq!(status, 400, "{e}");
    let again = monitor
        .http
        .post(format!("{}/api/v1/benchmarks", monitor.base))
        .json(&one)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    monitor.stop().await;
    assert_eq!(
        bench_keys(&urls, &[&fast, &slow, &third]).await,
        0,
        "every run deleted its keys"
    );
}

/// The pages: the list with a checkbox per run, a run with its histogram and a link
/// to the comparison with the previous run, the comparison flagging the regressed
/// run, and a bad comparison.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_list_show_and_compare_the_runs() {
    let cluster = CLUSTER.get().await;
    let urls = cluster.client_urls();
    let endpoints = urls.join(",");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (fast, slow) = fast_and_slow(dir, &endpoints, "20");
    let monitor = Monitor::start(holding(dir, &urls)).await;
    let (third, _) = stored_put(dir, &endpoints, &["--monitor-url", &monitor.base], "100");

    let (status, html) = page(&monitor, "/benchmarks").await;
    assert_eq!(status, 200);
    for id in [&fast, &slow, &third] {
        assert!(
            html.contains(&format!("value=\"{id}\"")),
            "{id} has no checkbox"
        );
    }
    let (status, html) = page(&monitor, &format!("/benchmarks/{slow}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Response time histogram"));
    assert!(html.contains("<rect class=\"s0\""), "histogram bars");
    assert!(
        // askama writes & as &#38;
        html.contains(&format!("/benchmarks/compare?a={fast}&#38;b={slow}\"")),
        "no link to the previous run: {html}"
    );
    let (status, html) = page(
        &monitor,
        &format!("/benchmarks/compare?ids={slow}&ids={fast}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("1 run</strong>") || html.contains("1 run regressed"),
        "{html}"
    );
    assert!(
        html.contains("<rect class=\"bad\""),
        "the regressed run's bar is flagged"
    );
    assert!(html.contains("throughput -"));
    let (status, _) = page(&monitor, "/benchmarks/compare?ids=x").await;
    assert_eq!(status, 400);
    monitor.stop().await;
}

/// A benchmark scheduled every 3 seconds runs and is stored, as the schedule's; once
/// the monitor stopped, no run left keys (one it interrupted included: a cluster of
/// its own, where every benchmark key is this test's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_benchmark_runs_and_is_stored() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(
        vec![ClusterConfig {
            allow_benchmark: true,
            ..ClusterConfig::plain("main", urls.clone())
        }],
        Duration::from_secs(1),
    );
    settings.store.data_dir = data.path().to_path_buf();
    settings.bench.schedules = vec![ScheduleConfig {
        name: "every-3s".into(),
        cluster: "main".into(),
        cron: "*/3 * * * * *".into(),
        spec: BenchSpec {
            workload: Workload::Put,
            clients: 2,
            total: Some(30),
            ..BenchSpec::default()
        },
    }];
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;

    let scheduled = wait_for("a scheduled run", Duration::from_secs(30), || async {
        let (_, v) = monitor.get("/api/v1/benchmarks?cluster=main").await;
        v["runs"]
            .as_array()
            .and_then(|r| r.first().cloned())
            .ok_or_else(|| v.to_string())
    })
    .await;
    assert_eq!(scheduled["source"], "schedule every-3s");
    assert_eq!(scheduled["requests"], 30);
    monitor.stop().await;
    assert_eq!(
        bench_keys(&urls, &[""]).await,
        0,
        "every run deleted its keys"
    );
}

/// Runs written straight into the file, as an older version or a bad disk would
/// have: one far in the future with counts at the top of u64, one garbled, one of
/// an unknown format.
const FAR: &str = "99991231T235959.999Z-far";
const GARBLED: &str = "garbled-run";
const UNKNOWN: &str = "format-9-run";

/// A good run stored by the binary in `dir`, then [`FAR`], [`GARBLED`] and
/// [`UNKNOWN`] written into the file; returns the good run's id and its JSON.
fn hostile_store(dir: &Path, endpoints: &str) -> (String, Value) {
    let (good, _) = stored_put(dir, endpoints, &[], "50");
    let out = bench(dir, &["show", &good, "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = Store::open_dir(dir, Retention::default()).unwrap();
    let far_bytes = encoded(&hostile(&run, FAR));
    store
        .write_records(&[
            (RUNS_TABLE, FAR.as_bytes(), Some(far_bytes.as_slice())),
            (RUNS_TABLE, GARBLED.as_bytes(), Some(&[1, b'{'][..])),
            (RUNS_TABLE, UNKNOWN.as_bytes(), Some(&[9, 1, 2][..])),
        ])
        .unwrap();
    (good, run)
}

/// `bench ARGS` on `dir` that ends as a command should (0 or 1, no panic): the
/// exit code, stdout and stderr.
fn clean(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bench(dir, args);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)) && !e.contains("panicked"),
        "{args:?}: {:?}\n{o}\n{e}",
        out.status
    );
    (out.status.code(), o, e)
}

/// Hostile stored runs break neither the commands (list, show, compare) nor the
/// pages and the API, which count the unreadable ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_stored_runs_break_neither_the_commands_nor_the_pages() {
    let cluster = CLUSTER.get().await;
    let urls = cluster.client_urls();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (good, _) = hostile_store(dir, &urls.join(","));
    let (code, text, _) = clean(dir, &["list"]);
    assert_eq!(code, Some(0));
    assert!(text.contains(&format!("unix ms {}", i64::MAX)), "{text}");
    assert!(
        text.contains(&format!("unreadable: stored benchmark run {GARBLED}")),
        "{text}"
    );
    assert!(text.contains("unknown format 9"), "{text}");
    let (code, text, _) = clean(dir, &["show", FAR]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains(&format!("Started:    unix ms {}", i64::MAX)),
        "{text}"
    );
    clean(dir, &["compare", &good, FAR]);
    clean(dir, &["compare", FAR, &good, "--output", "json"]);
    let (code, _, err) = clean(dir, &["show", GARBLED]);
    assert_eq!(code, Some(1));
    assert!(err.contains(GARBLED), "{err}");

    let monitor = Monitor::start(holding(dir, &urls)).await;
    let (status, html) = page(&monitor, "/benchmarks").await;
    assert_eq!(status, 200);
    assert!(html.contains(FAR) && html.contains(GARBLED), "{html}");
    let (status, html) = page(&monitor, &format!("/benchmarks/{FAR}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("unix ms {}", i64::MAX)), "{html}");
    let (status, _) = page(&monitor, &format!("/benchmarks/compare?a={good}&b={FAR}")).await;
    assert_eq!(status, 200);
    let (status, _) = page(&monitor, &format!("/benchmarks/compare?a={FAR}&b={good}")).await;
    assert_eq!(status, 200);
    let (status, list) = monitor.get("/api/v1/benchmarks").await;
    assert_eq!(status, 200);
    assert_eq!(list["unreadable"].as_array().unwrap().len(), 2, "{list}");
    monitor.stop().await;
}

/// POST a run.
async fn post(monitor: &Monitor, body: &Value) -> (u16, Value) {
    let resp = monitor
        .http
        .post(format!("{}/api/v1/benchmarks", monitor.base))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// `run` under another id.
fn renamed(run: &Value, id: &str) -> Value {
    let mut posted = run.clone();
    posted["id"] = id.into();
    posted["report"]["run_id"] = id.into();
    posted
}

/// Posted, hostile runs are refused, naming the field; a sane run is still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_hostile_runs_are_refused_naming_the_field() {
    let cluster = CLUSTER.get().await;
    let urls = cluster.client_urls();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (good, _) = stored_put(dir, &urls.join(","), &[], "50");
    let out = bench(dir, &["show", &good, "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let monitor = Monitor::start(holding(dir, &urls)).await;

    let mut posted = renamed(&run, "posted-far");
    posted["report"]["started_unix_ms"] = i64::MAX.into();
    let (status, e) = post(&monitor, &posted).await;
    assert_eq!(status, 400, "{e}");
    assert!(e.to_string().contains("report.started_unix_ms"), "{e}");
    posted["report"]["started_unix_ms"] = run["report"]["started_unix_ms"].clone();
    for (field, value) in [
        ("cluster", Value::from("c".repeat(5000))),
        ("report.summary.requests", Value::from(u64::MAX)),
    ] {
        let mut bad = posted.clone();
        match field {
            "cluster" => bad["cluster"] = value,
            _ => bad["report"]["summary"]["requests"] = value,
        }
        let (status, e) = post(&monitor, &bad).await;
        assert_eq!(status, 400, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    let (status, e) = post(&monitor, &hostile(&run, "posted-hostile")).await;
    assert_eq!(status, 400, "{e}");
    let (status, e) = post(&monitor, &posted).await;
    assert_eq!(status, 201, "a sane run is still taken: {e}");
    monitor.stop().await;
}

/// Runs are deleted through the API, by the command line through the running
/// monitor (the unreadable ones too), and from the file with no monitor running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_deleted_through_the_api_the_monitor_and_the_file() {
    let cluster = CLUSTER.get().await;
    let urls = cluster.client_urls();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (good, run) = hostile_store(dir, &urls.join(","));
    let monitor = Monitor::start(holding(dir, &urls)).await;
    let (status, e) = post(&monitor, &renamed(&run, "posted-far")).await;
    assert_eq!(status, 201, "{e}");

    let delete = |id: &str| {
        let http = monitor.http.clone();
        let url = format!("{}/api/v1/benchmarks/{id}", monitor.base);
        async move { http.delete(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(delete(FAR).await, 200);
    assert_eq!(delete(FAR).await, 404);
    let out = bench(
        dir,
        &["--monitor-url", &monitor.base, "delete", GARBLED, UNKNOWN],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bench(dir, &["--monitor-url", &monitor.base, "delete", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no benchmark run nope"),
        "{}",
        stderr(&out)
    );
    let (_, list) = monitor.get("/api/v1/benchmarks").await;
    assert_eq!(listed(&list), ["posted-far", good.as_str()], "{list}");
    assert_eq!(list["unreadable"], serde_json::json!([]));
    monitor.stop().await;

    // From the file, with no monitor running.
    let out = bench(dir, &["delete", "posted-far"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, text, _) = clean(dir, &["list"]);
    assert!(
        !text.contains("posted-far") && text.contains(&good),
        "{text}"
    );
}

/// Retention: the store's maintenance keeps the newest [bench.retention] max_count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_keeps_the_newest_runs_up_to_the_retention_count() {
    let cluster = CLUSTER.get().await;
    let urls = cluster.client_urls();
    let endpoints = urls.join(",");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    stored_put(dir, &endpoints, &[], "50");
    let (newer, _) = stored_put(dir, &endpoints, &[], "20");
    let mut settings = holding(dir, &urls);
    settings.bench.retention.max_count = 1;
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;
    let store = monitor.store.clone();
    tokio::task::spawn_blocking(move || store.maintain(etcd_monitor::unix_ms_now()))
        .await
        .unwrap()
        .unwrap();
    let (_, list) = monitor.get("/api/v1/benchmarks").await;
    assert_eq!(listed(&list), [newer.as_str()], "{list}");
    monitor.stop().await;
}
