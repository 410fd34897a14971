use super::validate::{MAX_NAME, MAX_TEXT};
use super::*;
use crate::bench::{BenchSpec, ClusterDelta, OpCounts, Percentile, Summary};

pub(crate) fn run(id: &str, rps: f64, p99_ms: f64, rate: Option<f64>) -> StoredRun {
    StoredRun {
        id: id.into(),
        cluster: "c".into(),
        source: RunSource::Cli,
        report: BenchReport {
            run_id: id.into(),
            prefix: format!("/etcd-monitor-bench/{id}/"),
            spec: BenchSpec {
                rate,
                ..BenchSpec::default()
            },
            started_unix_ms: 1,
            corrected_for_coordinated_omission: rate.is_some(),
            interrupted: false,
            summary: Summary {
                total_secs: 1.0,
                requests: 100,
                errors: 0,
                slowest_secs: p99_ms / 1e3,
                fastest_secs: 0.001,
                average_secs: 0.002,
                stddev_secs: 0.001,
                requests_per_sec: rps,
            },
            histogram: vec![],
            percentiles: vec![
                Percentile {
                    percent: 50.0,
                    secs: 0.002,
                },
                Percentile {
                    percent: 99.0,
                    secs: p99_ms / 1e3,
                },
            ],
            errors: Default::default(),
            ops: OpCounts::default(),
            cluster: ClusterDelta::default(),
            keys_deleted: 100,
            hdr_histogram_v2_base64: None,
        },
        facts: ClusterFacts::default(),
        host: HostFacts::default(),
        indicators: RunIndicators::default(),
    }
}

#[test]
fn comparison_flags_slower_runs_only_past_the_threshold() {
    let runs = [
        run("a", 1000.0, 10.0, None),
        run("b", 950.0, 10.5, None),
        run("c", 500.0, 25.0, Some(500.0)),
    ];
    let c = compare(&runs, 0.1).unwrap();
    assert_eq!(c.baseline, "a");
    assert_eq!(c.regressions, 1);
    assert!(c.runs[1].regressions.is_empty(), "{:?}", c.runs[1]);
    assert!((c.runs[1].requests_per_sec_change.unwrap() + 0.05).abs() < 1e-9);
    let slow = &c.runs[2];
    assert_eq!(slow.regressions.len(), 2, "{:?}", slow.regressions);
    assert!(slow.regressions[0].starts_with("throughput -50.0%"));
    assert!(slow.regressions[1].starts_with("p99 +150.0%"));
    assert_eq!(slow.differences, vec!["rate: - vs 500".to_string()]);
    // A looser threshold forgives run c's p99 but not its throughput.
    let loose = compare(&runs, 2.0).unwrap();
    assert_eq!(loose.regressions, 0);
    assert!(compare(&runs[..1], 0.1).is_err());
    assert!(compare(&runs, 0.0).is_err());
}

#[test]
fn runs_round_trip_and_bad_records_are_named() {
    let r = run("20261127T000000.000Z-0001", 1.0, 1.0, None);
    let back = StoredRun::decode(&r.id, &r.encode()).unwrap();
    assert_eq!(back.summary(), r.summary());
    let err = StoredRun::decode("x", &[9, 1, 2]).unwrap_err().to_string();
    assert!(
        err.contains("x") && err.contains("unknown format 9"),
        "{err}"
    );
    let err = StoredRun::decode("x", &[1, b'{']).unwrap_err().to_string();
    assert!(err.contains("cannot be read"), "{err}");
    let mut bad = r.clone();
    bad.id = "a/b".into();
    assert!(bad.validate().unwrap_err().to_string().starts_with("id:"));
}

#[test]
fn store_keeps_runs_newest_first_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path(), crate::store::Retention::default()).unwrap();
    for (i, cluster) in ["x", "y", "x"].iter().enumerate() {
        let mut r = run(&format!("2026010{i}T000000.000Z-0000"), 1.0, 1.0, None);
        r.cluster = cluster.to_string();
        save(&store, &r).unwrap();
    }
    let again = run("20260100T000000.000Z-0000", 1.0, 1.0, None);
    assert!(matches!(save(&store, &again), Err(HistoryError::Exists(_))));
    // Each stored run is in its cluster's timeline, once.
    let events = crate::collect::events::query(
        &store,
        &crate::collect::events::EventQuery {
            cluster: Some("x".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events
        .iter()
        .all(|e| e.kind == crate::collect::events::EventKind::BenchmarkRun));
    assert!(events[0].message.contains("requests/s"), "{events:?}");
    let all = list(
        &store,
        &RunFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(all.next_before, None);
    let ids: Vec<String> = all.runs.into_iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [
            "20260102T000000.000Z-0000",
            "20260101T000000.000Z-0000",
            "20260100T000000.000Z-0000"
        ]
    );
    let x = list(
        &store,
        &RunFilter {
            cluster: Some("x".into()),
            limit: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(x.runs.len(), 1);
    assert_eq!(x.runs[0].id, "20260102T000000.000Z-0000");
    assert_eq!(x.next_before.as_deref(), Some("20260102T000000.000Z-0000"));
    assert!(matches!(
        get(&store, "nope"),
        Err(HistoryError::NotFound(_))
    ));
    assert_eq!(get(&store, &ids[1]).unwrap().cluster, "y");
}

#[test]
fn validation_names_the_field_of_values_no_page_can_show() {
    let good = run("r1", 1.0, 1.0, None);
    good.validate().unwrap();
    type Spoil = Box<dyn Fn(&mut StoredRun)>;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "report.started_unix_ms",
            Box::new(|r| r.report.started_unix_ms = i64::MAX),
        ),
        (
            "report.started_unix_ms",
            Box::new(|r| r.report.started_unix_ms = -1),
        ),
        (
            "report.summary.requests",
            Box::new(|r| r.report.summary.requests = u64::MAX),
        ),
        (
            "report.summary.total_secs",
            Box::new(|r| r.report.summary.total_secs = f64::NAN),
        ),
        (
            "report.summary.requests_per_sec",
            Box::new(|r| r.report.summary.requests_per_sec = f64::INFINITY),
        ),
        (
            "report.percentiles.secs",
            Box::new(|r| r.report.percentiles[0].secs = -1.0),
        ),
        (
            "report.keys_deleted",
            Box::new(|r| r.report.keys_deleted = i64::MIN),
        ),
        (
            "report.spec.duration",
            Box::new(|r| r.report.spec.duration = Some(std::time::Duration::MAX)),
        ),
        (
            "cluster",
            Box::new(|r| r.cluster = "x".repeat(MAX_TEXT + 1)),
        ),
        (
            "host.hostname",
            Box::new(|r| r.host.hostname = "x".repeat(MAX_NAME + 1)),
        ),
        (
            "report.errors",
            Box::new(|r| {
                r.report.errors.insert("e".repeat(MAX_TEXT + 1), 1);
            }),
        ),
    ];
    for (field, spoil) in cases {
        let mut r = good.clone();
        spoil(&mut r);
        let e = r.validate().unwrap_err().to_string();
        assert!(e.starts_with(&format!("{field}: ")), "{field}: {e}");
    }
}

#[test]
fn changes_and_histograms_are_total() {
    assert_eq!(change(Some(0.0), Some(1.0)), None);
    assert_eq!(change(Some(f64::MIN_POSITIVE), Some(f64::MAX)), None);
    assert_eq!(change(Some(f64::INFINITY), Some(1.0)), None);
    assert_eq!(change(Some(1.0), Some(f64::NAN)), None);
    assert_eq!(change(Some(2.0), Some(1.0)), Some(-0.5));
    let mut a = run("a", 0.0, 0.0, None);
    a.report.summary.requests = u64::MAX;
    a.report.started_unix_ms = i64::MAX;
    a.report.histogram = vec![
        crate::bench::Bucket {
            mark_secs: f64::MAX,
            count: u64::MAX,
        },
        crate::bench::Bucket {
            mark_secs: 1.0,
            count: u64::MAX / 3,
        },
    ];
    let text = a.report.render_text();
    assert!(text.contains(&format!("[{}]", u64::MAX)), "{text}");
    compare(&[a.clone(), run("b", 1.0, 1.0, None)], 0.1).unwrap();
    compare(&[run("b", 1.0, 1.0, None), a], 0.1).unwrap();
}

#[test]
fn retention_deletes_old_runs_then_the_oldest_past_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path(), crate::store::Retention::default()).unwrap();
    let day = 86_400_000i64;
    let now = 1_800_000_000_000i64;
    for (i, age_days) in [500, 300, 3, 2, 1].iter().enumerate() {
        let mut r = run(&format!("2026010{i}T000000.000Z-0000"), 1.0, 1.0, None);
        r.report.started_unix_ms = now - age_days * day;
        save(&store, &r).unwrap();
    }
    // An unreadable run is kept by age, counted by its id.
    store
        .write_records(&[(RUNS_TABLE, b"0-unreadable", Some(&[1, b'{'][..]))])
        .unwrap();
    let retention = RunRetention {
        max_age: std::time::Duration::from_secs(400 * 86_400),
        max_count: 3,
    };
    retention.validate().unwrap();
    let tasks_retention = retention;
    store.on_maintenance(
        "bench retention",
        Box::new(move |store, now_ms| {
            apply_retention(store, &tasks_retention, now_ms).map_err(|e| e.to_string())
        }),
    );
    store.maintain(now).unwrap();
    let all = list(
        &store,
        &RunFilter {
            limit: 100,
            ..Default::default()
        },
    )
    .unwrap();
    let ids: Vec<&str> = all.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "20260104T000000.000Z-0000",
            "20260103T000000.000Z-0000",
            "20260102T000000.000Z-0000"
        ]
    );
    assert!(all.unreadable.is_empty(), "{:?}", all.unreadable);
    assert_eq!(apply_retention(&store, &retention, now).unwrap(), 0);
    delete(&store, "20260104T000000.000Z-0000").unwrap();
    assert!(matches!(
        delete(&store, "20260104T000000.000Z-0000"),
        Err(HistoryError::NotFound(_))
    ));
    for (field, bad) in [
        (
            "bench.retention.max_count",
            RunRetention {
                max_count: 0,
                ..retention
            },
        ),
        (
            "bench.retention.max_count",
            RunRetention {
                max_count: MAX_STORED_RUNS + 1,
                ..retention
            },
        ),
        (
            "bench.retention.max_age",
            RunRetention {
                max_age: std::time::Duration::ZERO,
                ..retention
            },
        ),
    ] {
        assert_eq!(bad.validate().unwrap_err().0, field);
    }
}
