//! The JSON API's answers for one recorded state, byte for byte.
//!
//! The state: two clusters whose snapshots are built from the recorded scrape corpus
//! (real `/metrics` of a 3-member etcd 3.4; tests/fixtures/corpus/README.md) by the
//! collector's own derivations, ten minutes of that corpus stored in a real store
//! file, and two stored benchmark runs made with `etcd-monitor bench put` against a
//! real etcd. The monitor's web layer serves it on loopback; every answer (status,
//! content type, body) must equal its file under tests/fixtures/golden/api/.
//!
//! Refactors must leave these answers unchanged. A change that means to change an
//! answer rewrites the files with `GOLDEN_UPDATE=1 cargo test --test api_golden` and
//! shows the difference in its commit.

#[path = "support/corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use etcd_monitor::bench::history::{self, StoredRun};
use etcd_monitor::collect::derive::{Indicators, MetricsSample};
use etcd_monitor::collect::probe::indicator_series;
use etcd_monitor::collect::snapshot::{
    Alarm, ClusterSnapshot, ConsistencyCheck, MemberHash, MemberSnapshot, MemberStatus, Timestamp,
};
use etcd_monitor::collect::view::{derive_cluster_view, set_status};
use etcd_monitor::collect::{ClusterStatus, SnapshotBoard};
use etcd_monitor::config::{ClusterConfig, Overrides, Settings};
use etcd_monitor::store::{MemberSamples, Retention, Store};

/// Ten minutes of the corpus at the probe's default 15 s interval.
const STEPS: usize = 40;
/// The corpus scrapes every 5 s: every third is a 15 s probe.
const STRIDE: usize = 3;
const STEP_MS: i64 = 15_000;
/// Member IDs as etcd prints them (hex).
const MEMBER_IDS: [&str; 3] = ["8e9e05c52164694d", "91bc3c398fb3c146", "fd422379fda50e48"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/api")
}

/// Every member's parsed scrapes at each step, as the collector would hold them.
struct Recorded {
    /// `samples[step][member]`: what the store is given.
    samples: Vec<Vec<MemberSamples>>,
    /// Each member's indicators at the last step (against the step before).
    indicators: Vec<Indicators>,
    /// Each member's last scrape.
    last: Vec<MetricsSample>,
    /// The last step's time.
    last_ms: i64,
}

fn record(cluster: &str) -> Recorded {
    let scrapes = corpus::load(Path::new(corpus::CORPUS)).expect("the corpus loads");
    let mut per_member: Vec<Vec<&corpus::CorpusScrape>> = vec![Vec::new(); 3];
    for s in &scrapes {
        let m = s.member_index().expect("members are m0..m2");
        per_member[m].push(s);
    }
    let t0 = scrapes[0].unix_ms;
    // The probe stamps samples on its tick grid, not when answers came.
    let grid0 = t0.div_euclid(STEP_MS) * STEP_MS;
    let base = Instant::now();
    let mut samples: Vec<Vec<MemberSamples>> = (0..STEPS).map(|_| Vec::new()).collect();
    let mut indicators = Vec::new();
    let mut last = Vec::new();
    for member_scrapes in &per_member {
        let mut prev: Option<MetricsSample> = None;
        let mut latest = None;
        for (step, s) in member_scrapes
            .iter()
            .step_by(STRIDE)
            .take(STEPS)
            .enumerate()
        {
            let scrape = etcd_monitor::promtext::parse(&s.body).expect("a recorded scrape parses");
            let at = base + Duration::from_millis(u64::try_from(s.unix_ms - t0).unwrap());
            let sample = MetricsSample::from_scrape(&scrape, at);
            let derived = Indicators::derive(&sample, prev.as_ref());
            let mut series: Vec<(String, f64)> = scrape
                .samples()
                .map(|x| (x.series_text(), x.value()))
                .collect();
            series.extend(indicator_series(&derived));
            samples[step].push(MemberSamples {
                cluster: cluster.to_string(),
                member: s.member.clone(),
                at_ms: grid0 + STEP_MS * i64::try_from(step).unwrap(),
                samples: series,
            });
            latest = Some(derived);
            prev = Some(sample);
        }
        indicators.push(latest.expect("the corpus has steps"));
        last.push(prev.expect("the corpus has steps"));
    }
    Recorded {
        samples,
        indicators,
        last,
        last_ms: grid0 + STEP_MS * i64::try_from(STEPS - 1).unwrap(),
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap()))
}

/// A member as the probe leaves it before the cluster view is derived.
fn member(i: usize, rec: &Recorded, port: u16) -> MemberSnapshot {
    let sample = &rec.last[i];
    let id = MEMBER_IDS[i];
    MemberSnapshot {
        id: id.to_string(),
        name: format!("m{i}"),
        peer_urls: vec![format!("http://127.0.0.1:{}", port + 1)],
        client_urls: vec![format!("http://127.0.0.1:{port}")],
        is_learner: false,
        is_leader: false,
        reachable: true,
        healthy: true,
        error: None,
        status: Some(MemberStatus {
            version: "3.4.23".into(),
            db_size: sample.db_total.unwrap_or(0.0) as i64,
            db_size_in_use: sample.db_in_use.unwrap_or(0.0) as i64,
            leader: MEMBER_IDS[0].into(),
            raft_term: 2,
            raft_index: 184_210 - i as u64,
            raft_applied_index: 184_210 - i as u64,
            revision: 171_337,
            is_learner: false,
            errors: Vec::new(),
        }),
        flags: Vec::new(),
        indicators: Some(rec.indicators[i].clone()),
        metrics_url: Some(format!("http://127.0.0.1:{port}/metrics")),
        scrape_error: None,
    }
}

fn cluster(
    name: &str,
    tags: &[&str],
    members: Vec<MemberSnapshot>,
    rec: &Recorded,
) -> ClusterSnapshot {
    let mut snap = ClusterSnapshot::pending(
        name,
        &tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
    );
    snap.probed_at = Some(at(rec.last_ms));
    snap.probe_duration_ms = Some(14);
    snap.cluster_id = Some("cdf818194e3a8c32".into());
    snap.members = members;
    snap
}

/// `prod`: three healthy members. `staging`: one member unreachable, a NOSPACE
/// alarm on another, and a HashKV mismatch.
fn snapshots(rec: &Recorded, settings: &Settings) -> Vec<ClusterSnapshot> {
    let mut prod = cluster(
        "prod",
        &["env=prod", "region=eu"],
        (0..3)
            .map(|i| member(i, rec, 2379 + 10 * i as u16))
            .collect(),
        rec,
    );
    derive_cluster_view(&mut prod, &settings.collect);
    set_status(&mut prod);
    assert_eq!(prod.status, ClusterStatus::Healthy, "{:?}", prod.reasons);

    let mut members: Vec<MemberSnapshot> = (0..3)
        .map(|i| member(i, rec, 12379 + 10 * i as u16))
        .collect();
    let down = &mut members[2];
    down.reachable = false;
    down.healthy = false;
    down.status = None;
    down.indicators = None;
    down.error = Some("status: context deadline exceeded after 2s".into());
    down.scrape_error = Some("GET http://127.0.0.1:12399/metrics: connection refused".into());
    if let Some(status) = members[1].status.as_mut() {
        status.errors.push("NOSPACE".into());
    }
    let mut staging = cluster("staging", &["env=staging"], members, rec);
    staging.alarms.push(Alarm {
        member_id: MEMBER_IDS[1].into(),
        member_name: Some("m1".into()),
        alarm: "NOSPACE".into(),
    });
    staging.consistency = Some(ConsistencyCheck {
        checked_at: at(rec.last_ms - 30_000),
        revision: 171_300,
        compact_revision: Some(170_000),
        consistent: false,
        hashes: vec![
            MemberHash {
                member_id: MEMBER_IDS[0].into(),
                hash: Some(3_724_412_212),
                compact_revision: Some(170_000),
                error: None,
            },
            MemberHash {
                member_id: MEMBER_IDS[1].into(),
                hash: Some(1_027_313_009),
                compact_revision: Some(170_000),
                error: None,
            },
            MemberHash {
                member_id: MEMBER_IDS[2].into(),
                hash: None,
                compact_revision: None,
                error: Some("deadline exceeded".into()),
            },
        ],
        mismatched: vec![MEMBER_IDS[1].into()],
        error: None,
    });
    derive_cluster_view(&mut staging, &settings.collect);
    set_status(&mut staging);
    assert_eq!(
        staging.status,
        ClusterStatus::Degraded,
        "{:?}",
        staging.reasons
    );
    vec![prod, staging]
}

/// What is asked, in order. Times are inside the stored ten minutes, so no answer
/// depends on today's date.
fn requests(rec: &Recorded) -> Vec<String> {
    let to = rec.last_ms;
    let from = to - 9 * 60_000;
    let secs = |ms: i64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let (f, t) = (secs(from), secs(to));
    let history = |q: &str| format!("/api/v1/clusters/prod/metrics/history?{q}&from={f}&to={t}");
    vec![
        "/api/v1/clusters".into(),
        "/api/v1/clusters/prod".into(),
        "/api/v1/clusters/staging".into(),
        "/api/v1/clusters/staging/members".into(),
        "/api/v1/clusters/prod/metrics".into(),
        "/api/v1/clusters/prod/latency".into(),
        "/api/v1/clusters/staging/latency".into(),
        "/api/v1/clusters/prod/metrics/series?member=m1&match=etcd_mvcc".into(),
        "/api/v1/clusters/prod/metrics/series?match=etcd_monitor:".into(),
        history("metric=etcd_monitor:wal_fsync_p99_seconds"),
        history("metric=etcd_mvcc_db_total_size_in_bytes&member=m0&step=15s"),
        history("metric=etcd_server_proposals_committed_total&step=1m&agg=rate"),
        history("metric=etcd_network_client_grpc_received_bytes_total&step=5m&agg=max"),
        history(
            "metric=etcd_disk_backend_commit_duration_seconds_bucket&member=m2&step=2m&agg=last",
        ),
        "/api/v1/store".into(),
        "/api/v1/alerts".into(),
        "/api/v1/alerts/history".into(),
        "/api/v1/silences".into(),
        "/api/v1/benchmarks".into(),
        "/api/v1/benchmarks?cluster=http://127.0.0.1:23791&limit=1".into(),
        "/api/v1/benchmarks/20261203T071050.526Z-7d65".into(),
        "/api/v1/benchmarks/compare?ids=20261203T071050.526Z-7d65,20261203T071053.261Z-5ec9".into(),
        // Errors are answers too.
        "/api/v1/clusters/nope".into(),
        "/api/v1/clusters/prod/metrics/history".into(),
        history("metric=etcd_monitor:nothing_of_that_name"),
        "/api/v1/clusters/prod/metrics/history?metric=x&from=yesterday".into(),
        "/api/v1/clusters/prod/metrics/history?metric=x&step=0".into(),
        "/api/v1/benchmarks/no-such-run".into(),
        "/api/v1/benchmarks/compare?ids=20261203T071050.526Z-7d65".into(),
        "/api/v1/no/such/route".into(),
        // A replayed state was never probed twice: its timeline is empty.
        "/api/v1/events?cluster=prod".into(),
        "/api/v1/events?kind=leader_changed,nothing".into(),
    ]
}

/// A file name for the `index`th request: its number, then its path and query (up to
/// the times) with every other character as `_`.
fn golden_name(index: usize, path: &str) -> String {
    let path = path.split("&from=").next().unwrap_or(path);
    let slug: String = path
        .trim_start_matches("/api/v1/")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{index:02}-{slug}.txt")
}

/// The values that belong to this run, not to the recorded state: the clock when the
/// alert engine last evaluated and when the store last checkpointed, and the
/// temporary data directory. Each is replaced by a fixed text before comparing.
fn mask_run(body: &str, data_dir: &Path) -> String {
    let mut out = body.replace(&data_dir.display().to_string(), "<data_dir>");
    for field in ["\"evaluated_at_ms\":", "\"last_checkpoint_ms\":"] {
        if let Some((head, rest)) = out.split_once(field) {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            out = format!("{head}{field}\"<now>\"{}", &rest[digits..]);
        }
    }
    out
}

/// Two clusters, the store in `dir`, and no built-in rule enabled: alerts would carry
/// today's times.
fn recorded_settings(dir: &Path) -> Settings {
    let mut settings = Settings::load_with_env(None, &Overrides::default(), |_| None).unwrap();
    settings.store.data_dir = dir.to_path_buf();
    settings.clusters = vec![
        ClusterConfig::plain("prod", vec!["http://127.0.0.1:2379".into()]),
        ClusterConfig::plain("staging", vec!["http://127.0.0.1:12379".into()]),
    ];
    for rule in etcd_monitor::alert::builtin::BUILTIN_RULES {
        settings.alerting.builtin.insert(
            rule.key.to_string(),
            etcd_monitor::alert::rules::BuiltinOverride {
                enabled: Some(false),
                ..Default::default()
            },
        );
    }

    settings
}

/// The recorded samples and the two benchmark runs, in a store in `dir`.
fn recorded_store(dir: &Path, rec: &Recorded) -> Arc<Store> {
    // Every tier kept for a century: which tier answers never depends on today's date.
    let century = Duration::from_secs(100 * 366 * 86_400);
    let store = Arc::new(
        Store::open_dir(
            dir,
            Retention {
                raw: century,
                minute: century,
                hour: century,
            },
        )
        .unwrap(),
    );
    for step in &rec.samples {
        store.ingest_all(step).unwrap();
    }
    store.checkpoint().unwrap();
    let runs_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden");
    for file in ["run-a.json", "run-b.json"] {
        let text = std::fs::read_to_string(runs_dir.join(file)).unwrap();
        let run: StoredRun = serde_json::from_str(&text).unwrap();
        history::save(&store, &run).unwrap();
    }

    store
}

/// The answer to one GET as a golden file holds it: the request, status and content
/// type, and the body with what differs from run to run masked.
async fn answer(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    path: &str,
    dir: &Path,
) -> String {
    let answer = http
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = answer.status().as_u16();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = mask_run(&answer.text().await.unwrap(), dir);
    format!("GET {path}\n{status} {content_type}\n\n{body}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_for_a_recorded_state_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let settings = recorded_settings(dir.path());
    let rec = record("prod");
    let store = recorded_store(dir.path(), &rec);

    let board = SnapshotBoard::fixed(snapshots(&rec, &settings));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_alerts, alerts_stopped) = tokio::sync::watch::channel(false);
    let (alerts, alert_task) = etcd_monitor::alert::manager::start(
        &settings.alerting,
        &settings.clusters,
        addr,
        board.clone(),
        store.clone(),
        alerts_stopped,
    )
    .unwrap();
    let state = etcd_monitor::web::AppState {
        board,
        store: store.clone(),
        alerts,
        started: Instant::now(),
        interval_ms: STEP_MS,
        regression_threshold: settings.bench.regression_threshold,
        etcd: etcd_monitor::ops::clients::ClusterClients::new(
            &settings.clusters,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .unwrap(),
        audit_retention: settings.store.audit_retention,
        remote_write: Vec::new(),
        fleet: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_settings = settings.server.clone();
    let server = tokio::spawn(async move {
        etcd_monitor::web::launch(state, &server_settings, listener, async move {
            let _ = stopped.await;
        })
        .await
    });

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let update = std::env::var_os("GOLDEN_UPDATE").is_some();
    let mut differ = Vec::new();
    let mut names = Vec::new();
    for (index, path) in requests(&rec).into_iter().enumerate() {
        let got = answer(&http, addr, &path, dir.path()).await;
        let name = golden_name(index, &path);
        assert!(!names.contains(&name), "two requests map to {name}");
        names.push(name.clone());
        let file = golden_dir().join(&name);
        if update {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (GOLDEN_UPDATE=1 writes it)", file.display()));
        if want != got {
            differ.push(format!(
                "{name}:\n  want {}\n  got  {}",
                want.lines()
                    .nth(3)
                    .unwrap_or("")
                    .chars()
                    .take(400)
                    .collect::<String>(),
                got.lines()
                    .nth(3)
                    .unwrap_or("")
                    .chars()
                    .take(400)
                    .collect::<String>()
            ));
        }
    }
    // No file is left over from a request no longer made.
    if !update {
        let mut stale: Vec<String> = std::fs::read_dir(golden_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| !names.contains(n))
            .collect();
        stale.sort();
        assert!(stale.is_empty(), "golden files no request reads: {stale:?}");
    }

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let _ = stop_alerts.send(true);
    let _ = alert_task.await;
    assert!(
        differ.is_empty(),
        "{} of {} answers differ from tests/fixtures/golden/api/:\n{}",
        differ.len(),
        names.len(),
        differ.join("\n")
    );
}
