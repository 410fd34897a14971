//! Hostile and unlucky input through the API and pages (issue 13): times at the
//! edges of i64, silences that end after year 9999, stored records another version
//! wrote, fields and counts beyond their bounds. Each answers at once with a 400
//! naming what is wrong, and nothing stored can break a page later.

use std::time::{Duration, Instant};

use etcd_monitor::alert::routing::Silence;
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use etcd_monitor::store::{Retention, Store};
use serde_json::{json, Value};

use crate::harness::*;

/// GET `path` with a deadline: (status, content type, body).
async fn fetch(monitor: &Monitor, path: &str) -> (u16, String, String) {
    let started = Instant::now();
    let resp = monitor
        .http
        .get(format!("{}{path}", monitor.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: no answer within 5 s: {e}"));
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let body = resp.text().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "GET {path} took {:?}",
        started.elapsed()
    );
    (status, kind, body)
}

async fn post(monitor: &Monitor, path: &str, body: &Value) -> (u16, Value) {
    let resp = monitor
        .http
        .post(format!("{}{path}", monitor.base))
        .json(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_bad_request(what: &str, (status, body): (u16, impl std::fmt::Display), names: &str) {
    let body = body.to_string();
    assert_eq!(status, 400, "{what}: {body}");
    assert!(
        body.contains(names),
        "{what}: the answer names {names:?}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_at_the_edges_of_i64_answer_400_at_once() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("c", cluster.client_urls())],
        Duration::from_secs(1),
    ))
    .await;
    monitor
        .wait_status("c", "healthy", Duration::from_secs(15))
        .await;
    let history = "/api/v1/clusters/c/metrics/history?metric=etcd_server_has_leader";
    for (query, names) in [
        ("&to=9223372036854775807", "to="),
        ("&from=9000000000000000&to=9100000000000000", "to="),
        ("&from=9000000000000000", "from="),
        ("&from=-9223372036854775807", "from="),
        ("&from=-300000000years", "from="),
        ("&step=9223372036854775807", "step="),
        ("&step=1e300", "step="),
        ("&step=NaN", "step="),
        ("&step=-5", "step="),
        ("&from=0&to=now&step=1ms", "points"),
        ("&from=1e20", "from="),
    ] {
        let (status, _, body) = fetch(&monitor, &format!("{history}{query}")).await;
        assert_bad_request(query, (status, body), names);
    }
    // The whole range a time may take is a valid (coarse) query.
    let (status, _, body) = fetch(
        &monitor,
        &format!("{history}&from=0&to=253402300799&step=8760h"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The pages take the same parameters.
    for page in [
        "/clusters/c",
        "/clusters/c/members/m0",
        "/explore?cluster=c&metric=etcd_server_has_leader",
    ] {
        let sep = if page.contains('?') { '&' } else { '?' };
        for query in [
            "to=9223372036854775807",
            "from=9000000000000000&to=9100000000000000",
            "from=-9223372036854775807",
        ] {
            let (status, kind, body) = fetch(&monitor, &format!("{page}{sep}{query}")).await;
            assert_eq!(status, 400, "{page}{sep}{query}: {body}");
            assert!(
                kind.starts_with("text/html"),
                "{page}: a page answers a page: {kind}"
            );
        }
        let (status, _, body) =
            fetch(&monitor, &format!("{page}{sep}from=0&to=253402300799")).await;
        assert_eq!(status, 200, "{page} over 8,000 years: {body}");
    }
    // A page's bad query parameters are a page too, not JSON.
    let (status, kind, body) = fetch(&monitor, "/?tag=a&tag=b").await;
    assert_eq!(status, 400, "{body}");
    assert!(kind.starts_with("text/html"), "{kind}: {body}");
    assert!(body.contains("tag"), "{body}");
    // Still answering.
    let (status, _, _) = fetch(&monitor, "/api/v1/health").await;
    assert_eq!(status, 200);
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_are_checked_bounded_and_stored_ones_never_break_a_page() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let data = tempfile::tempdir().unwrap();
    // Records as another version (or a broken disk) may have left them: a silence
    // that ends after year 9999, one that started before 1970, and bytes that are no
    // silence at all.
    {
        let store = Store::open_dir(data.path(), Retention::default()).unwrap();
        let far = Silence {
            id: "far-future".into(),
            matchers: vec!["alertname=etcdNoLeader".into()],
            starts_at_ms: i64::MIN,
            ends_at_ms: i64::MAX,
            created_by: "an older version".into(),
            comment: "stored before the checks".into(),
            created_at_ms: i64::MIN,
            expired_by: None,
        };
        let value = postcard::to_allocvec(&far).unwrap();
        store
            .write_records(&[
                (
                    "alert_silences",
                    b"far-future".as_slice(),
                    Some(value.as_slice()),
                ),
                (
                    "alert_silences",
                    b"garbage".as_slice(),
                    Some(&[0xff, 0xff, 0x01][..]),
                ),
                ("alert_history", &[0xff; 12][..], Some(&[0x80; 7][..])),
            ])
            .unwrap();
        store.checkpoint().unwrap();
    }
    let mut settings = test_settings(
        vec![ClusterConfig::plain("c", cluster.client_urls())],
        Duration::from_secs(1),
    );
    settings.store.data_dir = data.path().to_path_buf();
    settings.alerting.limits.max_silences = 3;
    let monitor = Monitor::start(settings).await;

    for path in ["/alerts", "/api/v1/silences", "/api/v1/alerts/history"] {
        let (status, _, body) = fetch(&monitor, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, _, page) = fetch(&monitor, "/alerts").await;
    assert!(
        page.contains("stored before the checks"),
        "the readable one is shown"
    );

    let silence = |extra: Value| {
        let mut s = json!({
            "matchers": ["alertname=etcdNoLeader"],
            "created_by": "test",
            "comment": "maintenance",
        });
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s
    };
    let cases = [
        (json!({"duration": "100000000000years"}), "duration"),
        (json!({"ends_at_ms": i64::MAX}), "ends_at_ms"),
        (json!({"ends_at_ms": -1}), "ends_at_ms"),
        (
            json!({"starts_at_ms": i64::MIN, "duration": "1h"}),
            "starts_at_ms",
        ),
        (
            json!({"duration": "1h", "comment": "x".repeat(3000)}),
            "max_text_bytes",
        ),
        (
            json!({"duration": "1h", "matchers": vec!["a=b"; 40]}),
            "max_matchers",
        ),
        (
            json!({"duration": "1h", "matchers": vec![format!("a={}", "b".repeat(1500)); 8]}),
            "max_silence_bytes",
        ),
    ];
    for (extra, names) in cases {
        let what = extra.to_string();
        let answer = post(&monitor, "/api/v1/silences", &silence(extra)).await;
        assert_bad_request(&what[..what.len().min(80)], answer, names);
    }
    // A 2 MB comment is refused before it is read whole.
    let (status, _) = post(
        &monitor,
        "/api/v1/silences",
        &silence(json!({"duration": "1h", "comment": "x".repeat(2 << 20)})),
    )
    .await;
    assert_eq!(status, 400);
    // At most max_silences not ended: the stored far-future one counts.
    for i in 0..2 {
        let (status, body) = post(
            &monitor,
            "/api/v1/silences",
            &silence(json!({"duration": format!("{}h", i + 1)})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let answer = post(
        &monitor,
        "/api/v1/silences",
        &silence(json!({"duration": "1h"})),
    )
    .await;
    assert_bad_request("a fourth silence", answer, "max_silences");
    // Expiring one makes room.
    let resp = monitor
        .http
        .delete(format!("{}/api/v1/silences/far-future", monitor.base))
        .json(&json!({"by": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap()
    );
    // Room for one, asked for by eight at once: one gets it (before, the count and the
    // insertion were apart, and several passed the limit together).
    let body = silence(json!({"duration": "1h"}));
    let answers =
        futures::future::join_all((0..8).map(|_| post(&monitor, "/api/v1/silences", &body))).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| [201, 400].contains(status)),
        "{answers:?}"
    );
    for path in ["/alerts", "/api/v1/silences"] {
        let (status, _, body) = fetch(&monitor, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    monitor.stop().await;
}
