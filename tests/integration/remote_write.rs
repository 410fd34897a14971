//! Remote write into Debian's Prometheus (its remote-write receiver): five minutes
//! of a real cluster's samples, with the receiver stopped for two of them and the
//! monitor restarted meanwhile, read back equal through Prometheus' query API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use etcd_monitor::remote_write::RemoteWriteConfig;
use etcd_monitor::store::{Retention, Store, Tier};
use serde_json::Value;

use crate::harness::*;
use crate::monitor::Monitor;

/// The phases of the run, from its start.
const RECEIVER_STOPS: Duration = Duration::from_secs(60);
const MONITOR_RESTARTS: Duration = Duration::from_secs(120);
const RECEIVER_STARTS: Duration = Duration::from_secs(180);
const RUN: Duration = Duration::from_secs(300);

/// Debian's Prometheus as a remote-write receiver (no scraping), keeping its data
/// in `dir` so that it can be stopped and started again on the same port.
async fn receiver(dir: &std::path::Path, port: u16) -> LoopbackDaemon {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    let mut cmd = std::process::Command::new("/usr/bin/prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver");
    LoopbackDaemon::start(
        "/usr/bin/prometheus",
        cmd,
        port,
        tempfile::tempdir().unwrap(),
    )
    .await
}

/// A series' samples as (unix ms, value bits), NaN made one value.
type Samples = Vec<(i64, u64)>;

fn bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

/// Every raw sample the store holds for cluster `rw`, by the labels it ships with;
/// and the members.
fn stored(data_dir: &std::path::Path) -> (BTreeMap<String, Samples>, Vec<String>) {
    let store = Store::open_dir(data_dir, Retention::default()).unwrap();
    let mut out = BTreeMap::new();
    let mut members = Vec::new();
    for (id, meta) in store.list_series("rw", None, None) {
        if !members.contains(&meta.member) {
            members.push(meta.member.clone());
        }
        let labels = etcd_monitor::remote_write::series_labels(&meta, &BTreeMap::new())
            .unwrap_or_else(|| panic!("{meta:?} has labels"));
        let key = labels
            .iter()
            .map(|l| format!("{}={:?}", l.name, l.value))
            .collect::<Vec<_>>()
            .join(",");
        let points = store.read(id, Tier::Raw, 0, i64::MAX).unwrap();
        out.insert(key, points.iter().map(|p| (p.ts, bits(p.last))).collect());
    }
    (out, members)
}

/// Every raw sample Prometheus holds for `member` of cluster `rw` up to `at_s`.
async fn received(base: &str, member: &str, at_s: f64) -> BTreeMap<String, Samples> {
    let answer: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[
            (
                "query",
                format!("{{cluster=\"rw\",member=\"{member}\"}}[15m]"),
            ),
            ("time", format!("{at_s:.3}")),
        ])
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    let mut out = BTreeMap::new();
    for series in answer["data"]["result"].as_array().unwrap() {
        let labels: BTreeMap<String, String> =
            serde_json::from_value(series["metric"].clone()).unwrap();
        let key = labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(",");
        let samples = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                let ts = (pair[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = pair[1].as_str().unwrap().parse().unwrap();
                (ts, bits(v))
            })
            .collect();
        out.insert(key, samples);
    }
    out
}

/// `/metrics`' remote write figures of target `prom`, by family name.
async fn figures(monitor: &Monitor) -> BTreeMap<String, f64> {
    let text = monitor
        .http
        .get(format!("{}/metrics", monitor.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("etcd_monitor_remote_write_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once("{target=\"prom\"} ")?;
            Some((name.to_string(), rest.parse().ok()?))
        })
        .collect()
}

async fn sleep_until(start: Instant, at: Duration) {
    tokio::time::sleep_until((start + at).into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_sample_reaches_prometheus_through_an_outage_and_a_restart() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let receiver_dir = tempfile::tempdir().unwrap();
    let port = etcd_monitor::localetcd::free_port().unwrap();
    let mut prometheus = Some(receiver(receiver_dir.path(), port).await);
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(
        vec![ClusterConfig::plain("rw", cluster.client_urls())],
        Duration::from_secs(1),
    );
    settings.store.data_dir = data.path().to_path_buf();
    let target: RemoteWriteConfig = toml::from_str(&format!(
        "name = \"prom\"\nurl = \"http://127.0.0.1:{port}/api/v1/write\"\nmax_backoff = \"2s\"\n"
    ))
    .unwrap();
    settings.remote_write = vec![target];
    settings.validate().unwrap();

    let start = Instant::now();
    let mut monitor = Monitor::start(settings.clone()).await;
    // Sending keeps up: between probes nothing waits.
    wait_for("samples sent", Duration::from_secs(30), || async {
        let f = figures(&monitor).await;
        match (f.get("samples_sent_total"), f.get("samples_pending")) {
            (Some(n), Some(p)) if *n > 0.0 && *p == 0.0 => Ok(()),
            _ => Err(format!("{f:?}")),
        }
    })
    .await;

    sleep_until(start, RECEIVER_STOPS).await;
    prometheus.take().unwrap().stop();
    sleep_until(start, MONITOR_RESTARTS).await;
    // The samples of the last minute wait on disk, sent again and again.
    let waiting = figures(&monitor).await;
    assert!(waiting["samples_pending"] > 10_000.0, "{waiting:?}");
    assert!(waiting["retries_total"] >= 10.0, "{waiting:?}");
    monitor.stop().await;
    monitor = Monitor::start(settings.clone()).await;
    let after_restart = figures(&monitor).await;
    assert!(
        after_restart["samples_pending"] >= waiting["samples_pending"],
        "what waited is still there after the restart: {after_restart:?} {waiting:?}"
    );

    sleep_until(start, RECEIVER_STARTS).await;
    prometheus = Some(receiver(receiver_dir.path(), port).await);
    sleep_until(start, RUN).await;
    monitor.stop().await;
    // The monitor is stopped: what the store holds is final. The second monitor
    // sends it all: start a third with the same store to drain what the second
    // left queued at its stop, and wait for nothing pending.
    let monitor = Monitor::start({
        let mut s = settings.clone();
        s.clusters.clear();
        s
    })
    .await;
    let done = wait_for("the queue drained", Duration::from_secs(120), || async {
        let f = figures(&monitor).await;
        if f.get("samples_pending") == Some(&0.0) {
            Ok(f)
        } else {
            Err(format!("{f:?}"))
        }
    })
    .await;
    assert_eq!(done["samples_dropped_total"], 0.0, "{done:?}");
    assert_eq!(done["samples_failed_total"], 0.0, "{done:?}");
    // The about page shows the target, what it sent and that nothing waits.
    let about = monitor
        .http
        .get(format!("{}/about", monitor.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent = done["samples_sent_total"] as u64;
    let row = format!(
        "<tr><td>prom</td><td class=\"num\">{}</td><td class=\"num\">0</td>",
        etcd_monitor::units::human(sent as f64, etcd_monitor::units::Unit::Count)
    );
    assert!(about.contains(&row), "{row} in {about}");
    monitor.stop().await;

    let (want, members) = stored(data.path());
    assert_eq!(members.len(), 3, "{members:?}");
    let newest = want
        .values()
        .filter_map(|s| s.last().map(|p| p.0))
        .max()
        .unwrap();
    let base = prometheus.as_ref().unwrap().base.clone();
    let mut got = BTreeMap::new();
    for member in &members {
        got.extend(received(&base, member, newest as f64 / 1e3 + 1.0).await);
    }
    let samples: usize = want.values().map(Vec::len).sum();
    let span_s = (newest
        - want
            .values()
            .filter_map(|s| s.first().map(|p| p.0))
            .min()
            .unwrap())
        / 1000;
    eprintln!(
        "remote write: {} series, {samples} samples over {span_s} s in the store and in Prometheus",
        want.len()
    );
    assert!(span_s >= 290, "the run spans five minutes: {span_s} s");
    assert!(samples > 100_000, "{samples}");
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "series missing in Prometheus: {} (e.g. {:?}); not in the store: {} (e.g. {:?})",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
    let differing: Vec<&String> = want.keys().filter(|k| want[*k] != got[*k]).collect();
    if let Some(first) = differing.first() {
        let (w, g) = (&want[*first], &got[*first]);
        let gone: Vec<_> = w.iter().filter(|p| !g.contains(p)).take(5).collect();
        let added: Vec<_> = g.iter().filter(|p| !w.contains(p)).take(5).collect();
        panic!(
            "{} of {} series differ; {first}: {} samples stored, {} received; missing {gone:?}; extra {added:?}",
            differing.len(),
            want.len(),
            w.len(),
            g.len()
        );
    }
}

/// The wire format, headers, deadline, retries and drops, against a recording
/// HTTP server that answers as scripted (no etcd needed: the store is fed directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_remote_write_1_0_retried_on_5xx_429_and_timeouts_and_dropped_on_400() {
    use crate::http_sink::{HttpSink, Reply};
    use etcd_monitor::remote_write::{Shipper, WriteRequest};
    use etcd_monitor::store::MemberSamples;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_dir(dir.path(), Retention::default()).unwrap());
    store.open_outbox(&[("sink", 1 << 30)]).unwrap();
    let t0 = etcd_monitor::unix_ms_now();
    for i in 0..3 {
        store
            .ingest(&MemberSamples {
                cluster: "c1".into(),
                member: "m0".into(),
                at_ms: t0 + i * 1000,
                samples: vec![
                    ("etcd_server_has_leader".into(), 1.0),
                    ("process_open_fds".into(), 10.0 + i as f64),
                    (
                        r#"etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"}"#.into(),
                        7.0 * i as f64,
                    ),
                ],
            })
            .unwrap();
    }
    let sink = HttpSink::start(
        vec![
            Reply::Hang,
            Reply::Status(503, "overloaded"),
            Reply::Status(429, "slow down"),
            Reply::Status(204, ""),
            Reply::Status(400, "out of order sample"),
        ],
        Reply::Status(204, ""),
    )
    .await;
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let config: RemoteWriteConfig = toml::from_str(&format!(
        r#"
        name = "sink"
        url = "{}"
        timeout = "1s"
        metrics = ["etcd_*"]
        token_file = "{}"
        headers = {{ "X-Scope-OrgID" = "team-a" }}
        external_labels = {{ region = "eu", member = "not used: the series has one" }}
        max_samples_per_send = 3
        min_backoff = "50ms"
        max_backoff = "200ms"
        "#,
        sink.url,
        token.display()
    ))
    .unwrap();
    config.validate().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shipper = Shipper::start(config, store.clone(), stopped).unwrap();
    let status = wait_for("the outbox drained", Duration::from_secs(30), || async {
        let s = shipper.view.status(&store);
        if s.samples_pending == 0 && s.samples_sent_total + s.samples_failed_total == 6 {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    // One record a request, two of its three series shipped: the first request
    // hung past the deadline, got 503 and 429, then went through; the second was
    // refused for good (400) and dropped; the third went through.
    assert_eq!(status.samples_sent_total, 4, "{status:?}");
    assert_eq!(status.samples_failed_total, 2, "{status:?}");
    assert_eq!(status.retries_total, 3, "{status:?}");
    assert!(status.bytes_sent_total > 0, "{status:?}");
    let _ = stop.send(true);
    shipper.stopped().await;

    let requests = sink.take();
    assert_eq!(requests.len(), 6);
    let decoded: Vec<WriteRequest> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.method, "POST");
            assert_eq!(r.headers["content-encoding"], "snappy");
            assert_eq!(r.headers["content-type"], "application/x-protobuf");
            assert_eq!(r.headers["x-prometheus-remote-write-version"], "0.1.0");
            assert_eq!(r.headers["authorization"], "Bearer s3cret-token");
            assert_eq!(r.headers["x-scope-orgid"], "team-a");
            assert!(r.headers["user-agent"].starts_with("etcd-monitor/"));
            let raw = snap::raw::Decoder::new().decompress_vec(&r.body).unwrap();
            prost::Message::decode(raw.as_slice()).unwrap()
        })
        .collect();
    // The same batch four times, then the next two.
    assert!(decoded[1..4].iter().all(|d| *d == decoded[0]));
    assert_ne!(decoded[4], decoded[0]);
    let first = &decoded[0];
    let names: Vec<Vec<(String, String)>> = first
        .timeseries
        .iter()
        .map(|t| {
            t.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        })
        .collect();
    assert_eq!(
        names,
        vec![
            vec![
                ("__name__".into(), "etcd_server_has_leader".into()),
                ("cluster".into(), "c1".into()),
                ("member".into(), "m0".into()),
                ("region".into(), "eu".into()),
            ],
            vec![
                (
                    "__name__".into(),
                    "etcd_disk_wal_fsync_duration_seconds_bucket".into()
                ),
                ("cluster".into(), "c1".into()),
                ("le".into(), "0.001".into()),
                ("member".into(), "m0".into()),
                ("region".into(), "eu".into()),
            ],
        ]
    );
    assert_eq!(first.timeseries[0].samples[0].timestamp, t0);
    let last = &decoded[5].timeseries[1].samples[0];
    assert_eq!((last.timestamp, last.value), (t0 + 2000, 14.0));
}

/// A receiver that hangs holds up neither the monitor's stop nor the next run,
/// which sends the unacknowledged request first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_receiver_does_not_hold_up_the_stop_and_the_request_is_sent_again() {
    use crate::http_sink::{HttpSink, Reply};
    use etcd_monitor::remote_write::Shipper;
    use etcd_monitor::store::MemberSamples;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_dir(dir.path(), Retention::default()).unwrap());
    store.open_outbox(&[("sink", 1 << 30)]).unwrap();
    store
        .ingest(&MemberSamples {
            cluster: "c1".into(),
            member: "m0".into(),
            at_ms: etcd_monitor::unix_ms_now(),
            samples: vec![("etcd_server_has_leader".into(), 1.0)],
        })
        .unwrap();
    let sink = HttpSink::start(vec![Reply::Hang], Reply::Status(204, "")).await;
    let config: RemoteWriteConfig = toml::from_str(&format!(
        "name = \"sink\"\nurl = \"{}\"\ntimeout = \"5m\"\n",
        sink.url
    ))
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shipper = Shipper::start(config.clone(), store.clone(), stopped).unwrap();
    wait_for("the request hangs", Duration::from_secs(10), || async {
        if sink.count() == 1 {
            Ok(())
        } else {
            Err(sink.count().to_string())
        }
    })
    .await;
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(2), shipper.stopped())
        .await
        .expect("the shipper stops at once despite the hung request");
    assert_eq!(store.outbox_status("sink").unwrap().pending_samples, 1);

    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let shipper = Shipper::start(config, store.clone(), stopped).unwrap();
    wait_for("sent again", Duration::from_secs(10), || async {
        let s = shipper.view.status(&store);
        if s.samples_sent_total == 1 && s.samples_pending == 0 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    assert_eq!(sink.count(), 2);
}
