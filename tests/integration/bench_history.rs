//! Stored benchmark runs: the binary stores each run (in the store file, or through
//! the running monitor's API when the monitor holds the file), `bench list | show |
//! compare`, the API and the pages show them, a rate-limited run is flagged as a
//! regression, and a scheduled benchmark runs and is stored.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use etcd_client::{Client, GetOptions};
use etcd_monitor::bench::schedule::ScheduleConfig;
use etcd_monitor::bench::{BenchSpec, Workload};
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use serde_json::Value;

use crate::harness::*;
use crate::process::BIN;

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

async fn bench_keys(urls: &[String]) -> i64 {
    let mut c = Client::connect(urls, None).await.unwrap();
    c.get(
        "/etcd-monitor-bench/",
        Some(GetOptions::new().with_prefix().with_count_only()),
    )
    .await
    .unwrap()
    .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_are_stored_compared_and_scheduled() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let endpoints = urls.join(",");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();

    // Two runs into the store file: one as fast as the cluster goes, one held to
    // 40 requests/s (far below what 8 clients get from 3 members on loopback).
    let (fast, err) = stored_put(dir, &endpoints, &[], "400");
    assert!(
        err.contains(&dir.join("etcd-monitor.redb").display().to_string()),
        "{err}"
    );
    let (slow, _) = stored_put(dir, &endpoints, &["--rate", "40"], "80");

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

    // A monitor holds the store now, with a benchmark scheduled every 3 seconds.
    let mut settings = test_settings(
        vec![ClusterConfig {
            allow_benchmark: true,
            ..ClusterConfig::plain("main", urls.clone())
        }],
        Duration::from_secs(1),
    );
    settings.store.data_dir = dir.to_path_buf();
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

    // The binary cannot open the file: it stores and reads through the API.
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
    let (status, all) = monitor.get("/api/v1/benchmarks?limit=1000").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = all["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in [&fast, &slow, &third] {
        assert!(listed.contains(&id.as_str()), "{id} not in {listed:?}");
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

    // The pages.
    let page = |path: String| {
        let http = monitor.http.clone();
        let url = format!("{}{path}", monitor.base);
        async move {
            let resp = http.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, html) = page("/benchmarks".into()).await;
    assert_eq!(status, 200);
    for id in [&fast, &slow, &third] {
        assert!(
            html.contains(&format!("value=\"{id}\"")),
            "{id} has no checkbox"
        );
    }
    let (status, html) = page(format!("/benchmarks/{slow}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Response time histogram"));
    assert!(html.contains("<rect class=\"s0\""), "histogram bars");
    assert!(
        // askama writes & as &#38;
        html.contains(&format!("/benchmarks/compare?a={fast}&#38;b={slow}\"")),
        "no link to the previous run: {html}"
    );
    let (status, html) = page(format!("/benchmarks/compare?ids={slow}&ids={fast}")).await;
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
    let (status, _) = page("/benchmarks/compare?ids=x".into()).await;
    assert_eq!(status, 400);

    monitor.stop().await;
    assert_eq!(bench_keys(&urls).await, 0, "every run deleted its keys");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_runs_are_refused_stored_ones_break_nothing_and_runs_are_deleted() {
    use etcd_monitor::bench::history::RUNS_TABLE;
    use etcd_monitor::store::{Retention, Store};

    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let endpoints = urls.join(",");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let (good, _) = stored_put(dir, &endpoints, &[], "50");
    let out = bench(dir, &["show", &good, "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Written straight into the file, as an older version or a bad disk would have.
    let (far, garbled, unknown) = ("99991231T235959.999Z-far", "garbled-run", "format-9-run");
    {
        let store = Store::open_dir(dir, Retention::default()).unwrap();
        let far_bytes = encoded(&hostile(&run, far));
        store
            .write_records(&[
                (RUNS_TABLE, far.as_bytes(), Some(far_bytes.as_slice())),
                (RUNS_TABLE, garbled.as_bytes(), Some(&[1, b'{'][..])),
                (RUNS_TABLE, unknown.as_bytes(), Some(&[9, 1, 2][..])),
            ])
            .unwrap();
    }
    let clean = |args: &[&str]| {
        let out = bench(dir, args);
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(
            matches!(out.status.code(), Some(0) | Some(1)) && !e.contains("panicked"),
            "{args:?}: {:?}\n{o}\n{e}",
            out.status
        );
        (out.status.code(), o, e)
    };
    let (code, text, _) = clean(&["list"]);
    assert_eq!(code, Some(0));
    assert!(text.contains(&format!("unix ms {}", i64::MAX)), "{text}");
    assert!(
        text.contains(&format!("unreadable: stored benchmark run {garbled}")),
        "{text}"
    );
    assert!(text.contains("unknown format 9"), "{text}");
    let (code, text, _) = clean(&["show", far]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains(&format!("Started:    unix ms {}", i64::MAX)),
        "{text}"
    );
    clean(&["compare", &good, far]);
    clean(&["compare", far, &good, "--output", "json"]);
    let (code, _, err) = clean(&["show", garbled]);
    assert_eq!(code, Some(1));
    assert!(err.contains(garbled), "{err}");

    let mut settings = test_settings(
        vec![ClusterConfig::plain("main", urls.clone())],
        Duration::from_secs(1),
    );
    settings.store.data_dir = dir.to_path_buf();
    let monitor = Monitor::start(settings).await;
    let page = |path: String| {
        let http = monitor.http.clone();
        let url = format!("{}{path}", monitor.base);
        async move {
            let resp = http.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, html) = page("/benchmarks".into()).await;
    assert_eq!(status, 200);
    assert!(html.contains(far) && html.contains(garbled), "{html}");
    let (status, html) = page(format!("/benchmarks/{far}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("unix ms {}", i64::MAX)), "{html}");
    let (status, _) = page(format!("/benchmarks/compare?a={good}&b={far}")).await;
    assert_eq!(status, 200);
    let (status, _) = page(format!("/benchmarks/compare?a={far}&b={good}")).await;
    assert_eq!(status, 200);
    let (status, list) = monitor.get("/api/v1/benchmarks").await;
    assert_eq!(status, 200);
    assert_eq!(list["unreadable"].as_array().unwrap().len(), 2, "{list}");

    // Posted, such runs are refused, naming the field.
    let post = |body: Value| {
        let http = monitor.http.clone();
        let url = format!("{}/api/v1/benchmarks", monitor.base);
        async move {
            let resp = http.post(url).json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut posted = run.clone();
    posted["id"] = "posted-far".into();
    posted["report"]["run_id"] = "posted-far".into();
    posted["report"]["started_unix_ms"] = i64::MAX.into();
    let (status, e) = post(posted.clone()).await;
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
        let (status, e) = post(bad).await;
        assert_eq!(status, 400, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    let (status, e) = post(hostile(&run, "posted-hostile")).await;
    assert_eq!(status, 400, "{e}");
    let (status, e) = post(posted).await;
    assert_eq!(status, 201, "a sane run is still taken: {e}");

    // Deleted through the API, and by the command line through the running monitor.
    let delete = |id: &str| {
        let http = monitor.http.clone();
        let url = format!("{}/api/v1/benchmarks/{id}", monitor.base);
        async move { http.delete(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(delete(far).await, 200);
    assert_eq!(delete(far).await, 404);
    let out = bench(
        dir,
        &["--monitor-url", &monitor.base, "delete", garbled, unknown],
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
    let ids: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["posted-far", good.as_str()], "{list}");
    assert_eq!(list["unreadable"], serde_json::json!([]));
    monitor.stop().await;

    // From the file, with no monitor running.
    let out = bench(dir, &["delete", "posted-far"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, text, _) = clean(&["list"]);
    assert!(
        !text.contains("posted-far") && text.contains(&good),
        "{text}"
    );

    // Retention: the store's maintenance keeps the newest [bench.retention] max_count.
    let (newer, _) = stored_put(dir, &endpoints, &[], "20");
    let mut settings = test_settings(
        vec![ClusterConfig::plain("main", urls.clone())],
        Duration::from_secs(1),
    );
    settings.store.data_dir = dir.to_path_buf();
    settings.bench.retention.max_count = 1;
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;
    let store = monitor.store.clone();
    tokio::task::spawn_blocking(move || store.maintain(etcd_monitor::unix_ms_now()))
        .await
        .unwrap()
        .unwrap();
    let (_, list) = monitor.get("/api/v1/benchmarks").await;
    let ids: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [newer.as_str()], "{list}");
    monitor.stop().await;
}
