//! API shape and errors, unreachable clusters, and that a hung member delays nobody.

use std::net::TcpListener;
use std::time::Duration;

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::{free_port, LocalClusterOptions};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_and_unknown_cluster_is_404() {
    let dead = format!("http://127.0.0.1:{}", free_port().unwrap());
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("gone", vec![dead])],
        Duration::from_secs(1),
    ))
    .await;
    let (code, body) = monitor.get("/api/v1/clusters/nope").await;
    assert_eq!(code, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "unknown cluster \"nope\"");
    for sub in ["members", "metrics", "latency"] {
        let (code, _) = monitor.get(&format!("/api/v1/clusters/nope/{sub}")).await;
        assert_eq!(code, 404, "{sub}");
    }
    let (code, body) = monitor.get("/api/v1/nothing-here").await;
    assert_eq!(code, 404);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/api/v1/nothing-here"));

    let (code, health) = monitor.get("/api/v1/health").await;
    assert_eq!(code, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["clusters"], 1);
    assert!(health["resident_memory_bytes"].as_u64().unwrap() > 0);

    // A cluster that was never reached is unavailable, with the reason.
    let snap = monitor
        .wait_status("gone", "unavailable", Duration::from_secs(10))
        .await;
    assert!(
        snap["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("no member reachable"),
        "{snap}"
    );
    assert!(!snap["members"][0]["error"].as_str().unwrap().is_empty());
    assert!(
        !snap["errors"].as_array().unwrap().is_empty(),
        "member list failure is shown"
    );
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_endpoint_delays_no_other_cluster() {
    // Accepts connections and never answers: the worst kind of dead member.
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let hung = format!("http://{}", black_hole.local_addr().unwrap());
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let settings = test_settings(
        vec![
            ClusterConfig::plain("hung", vec![hung]),
            ClusterConfig::plain("live", cluster.client_urls()),
        ],
        Duration::from_secs(1),
    );
    let timeout = settings.collect.request_timeout;
    let monitor = Monitor::start(settings).await;

    let live = monitor
        .wait_status("live", "healthy", Duration::from_secs(10))
        .await;
    // The live cluster's probe is not held up by the hung one.
    assert!(
        live["probe_duration_ms"].as_u64().unwrap() < timeout.as_millis() as u64,
        "{live}"
    );
    let hung = monitor
        .wait_status("hung", "unavailable", Duration::from_secs(10))
        .await;
    let error = hung["members"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("no answer within")
            || error.contains("timed out")
            || error.contains("connect"),
        "{error}"
    );
    drop(black_hole);
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_metrics_and_latency_views() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let mut settings = test_settings(
        vec![ClusterConfig::plain("c", cluster.client_urls())],
        Duration::from_secs(1),
    );
    settings.collect.consistency_interval = Duration::from_secs(1);
    let monitor = Monitor::start(settings).await;
    let mut client = etcd_client::Client::connect(cluster.client_urls(), None)
        .await
        .unwrap();
    for i in 0..50 {
        client.put(format!("k{i}"), "v", None).await.unwrap();
    }
    let snap = wait_for(
        "a consistency check of 3 members",
        Duration::from_secs(15),
        || async {
            let s = monitor.cluster("c").await;
            // A check taken after the 50 puts (revision 51 and up), on all 3 members.
            let hashes = s["consistency"]["hashes"].as_array().map_or(0, |h| h.len());
            let revision = s["consistency"]["revision"].as_i64().unwrap_or(0);
            if hashes == 3 && revision >= 51 {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    let c = &snap["consistency"];
    assert_eq!(c["consistent"], true, "{c}");
    let first = &c["hashes"][0]["hash"];
    assert!(c["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| &h["hash"] == first));

    let (code, members) = monitor.get("/api/v1/clusters/c/members").await;
    assert_eq!(code, 200);
    let members = members["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    let leaders = members.iter().filter(|m| m["is_leader"] == true).count();
    assert_eq!(leaders, 1);
    for m in members {
        assert_eq!(m["status"]["version"], etcd_version());
        assert!(m["status"]["db_size"].as_i64().unwrap() > 0);
        assert!(m["status"]["revision"].as_i64().unwrap() >= 51);
    }

    // Rates need two scrapes; wait until every member has them.
    let metrics = wait_for(
        "rates from two scrapes",
        Duration::from_secs(10),
        || async {
            let (_, m) = monitor.get("/api/v1/clusters/c/metrics").await;
            let ready = m["members"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["indicators"]["cpu_cores"].is_number());
            if ready {
                Ok(m)
            } else {
                Err(m.to_string())
            }
        },
    )
    .await;
    for m in metrics["members"].as_array().unwrap() {
        let i = &m["indicators"];
        assert_eq!(i["has_leader"], true, "{m}");
        assert!(i["db_size_bytes"].as_f64().unwrap() > 0.0);
        assert!(i["quota_backend_bytes"].as_f64().unwrap() > 0.0);
        assert!(i["resident_memory_bytes"].as_f64().unwrap() > 1e6);
        assert!(i["keys_total"].as_f64().unwrap() >= 50.0, "{i}");
        assert!(i["grpc_requests_per_second"].is_number(), "{i}");
        assert_eq!(m["scrape_error"], serde_json::Value::Null);
    }
    let leaders = metrics["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["indicators"]["is_leader"] == true)
        .count();
    assert_eq!(leaders, 1, "exactly one member's metrics say it leads");

    let (code, latency) = monitor.get("/api/v1/clusters/c/latency").await;
    assert_eq!(code, 200);
    let lat = latency["members"].as_array().unwrap();
    assert_eq!(lat.len(), 3);
    for key in [
        "wal_fsync_p99_seconds",
        "backend_commit_p99_seconds",
        "peer_rtt_p99_seconds",
    ] {
        assert!(lat[0].get(key).is_some(), "{key} in {latency}");
    }
    monitor.stop().await;
}

fn etcd_version() -> String {
    let out = std::process::Command::new(etcd_monitor::localetcd::find_etcd_binary().unwrap())
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("etcd Version: "))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_member_is_unreachable_and_delays_nobody() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let settings = test_settings(
        vec![ClusterConfig::plain("c", cluster.client_urls())],
        Duration::from_secs(2),
    );
    let timeout = settings.collect.request_timeout;
    let monitor = Monitor::start(settings).await;
    let snap = monitor
        .wait_status("c", "healthy", Duration::from_secs(15))
        .await;
    // Hang a follower: its sockets stay open, nothing answers.
    let follower = snap["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["is_leader"] == false)
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let index = cluster
        .members
        .iter()
        .position(|m| m.name == follower)
        .unwrap();
    cluster.pause(index).unwrap();
    let snap = monitor
        .wait_status("c", "degraded", Duration::from_secs(15))
        .await;
    let hung = member_by_name(&snap, &follower);
    assert_eq!(hung["reachable"], false, "{snap}");
    assert!(
        hung["error"].as_str().unwrap().contains("no answer within"),
        "{hung}"
    );
    // The others answered; the probe took about one deadline, not one per call.
    let reachable = snap["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["reachable"] == true)
        .count();
    assert_eq!(reachable, 2);
    assert_eq!(
        snap["errors"],
        serde_json::json!([]),
        "the alarm list came from a live member"
    );
    let took = snap["probe_duration_ms"].as_u64().unwrap();
    assert!(
        took < 3 * timeout.as_millis() as u64,
        "probe took {took} ms with a {timeout:?} deadline"
    );
    cluster.resume(index).unwrap();
    monitor
        .wait_status("c", "healthy", Duration::from_secs(15))
        .await;
    monitor.stop().await;
}

/// The served OpenAPI document passes a real validator (which does catch a broken
/// one), is what `etcd-monitor api openapi` prints, and the about page links to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_valid() {
    let dead = format!("http://127.0.0.1:{}", free_port().unwrap());
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("gone", vec![dead])],
        Duration::from_secs(1),
    ))
    .await;
    let answer = monitor
        .http
        .get(format!("{}/api/v1/openapi.json", monitor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served = answer.text().await.unwrap();
    let about = monitor
        .http
        .get(format!("{}/about", monitor.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        about.contains(r#"<a href="/api/v1/openapi.json">"#),
        "the about page links to the document: {about}"
    );
    monitor.stop().await;

    let (valid, said) = openapi_validator(&served);
    assert!(valid, "openapi-spec-validator: {said}");
    assert!(said.contains(": OK"), "{said}");
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["paths"]["/api/v1/health"]["get"]["security"],
        serde_json::json!([{}])
    );

    // The validator is no rubber stamp: a path parameter no operation declares
    // is an error.
    let mut broken = document.clone();
    let item = broken["paths"]["/api/v1/clusters/{name}"].take();
    broken["paths"]["/api/v1/clusters/{cluster}"] = item;
    let (valid, said) = openapi_validator(&broken.to_string());
    assert!(!valid, "a broken document passed: {said}");

    let printed = std::process::Command::new(crate::process::BIN)
        .args(["api", "openapi"])
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), served + "\n");
}

/// What a real monitor answers matches the schemas its document gives: the types
/// that describe answers built field by field (or the domain's own) have not
/// drifted from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_openapi_document() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let mut etcd = etcd_client::Client::connect(cluster.client_urls(), None)
        .await
        .unwrap();
    etcd.put("app/a", "text", None).await.unwrap();
    etcd.put("app/dir/b", "x", None).await.unwrap();
    etcd.put("app/bin", vec![0u8, 0xff], None).await.unwrap();
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("c1", cluster.client_urls())],
        Duration::from_secs(1),
    ))
    .await;
    monitor
        .wait_status("c1", "healthy", Duration::from_secs(15))
        .await;
    let (_, document) = monitor.get("/api/v1/openapi.json").await;
    let base = monitor.base.clone();
    let http = monitor.http.clone();
    let mut answers = Vec::new();
    let mut ask = async |method: &'static str,
                         path: &'static str,
                         url: String,
                         body: Option<serde_json::Value>| {
        let mut request = http.request(
            method.to_uppercase().parse().unwrap(),
            format!("{base}{url}"),
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body: serde_json::Value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
        };
        answers.push(Answer {
            method,
            path,
            url,
            status,
            body: body.clone(),
        });
        (status, body)
    };

    // The store has series once a scrape was written: ask for one's history.
    let series = wait_for("a stored series", Duration::from_secs(20), || async {
        let (_, body) = monitor.get("/api/v1/clusters/c1/metrics/series").await;
        match body["series"][0]["name"].as_str() {
            Some(name) => Ok(name.to_string()),
            None => Err(body.to_string()),
        }
    })
    .await;
    for (path, url) in [
        ("/api/v1/health", "/api/v1/health".to_string()),
        ("/api/v1/clusters", "/api/v1/clusters".into()),
        ("/api/v1/clusters/{name}", "/api/v1/clusters/c1".into()),
        (
            "/api/v1/clusters/{name}/members",
            "/api/v1/clusters/c1/members".into(),
        ),
        (
            "/api/v1/clusters/{name}/metrics",
            "/api/v1/clusters/c1/metrics".into(),
        ),
        (
            "/api/v1/clusters/{name}/latency",
            "/api/v1/clusters/c1/latency".into(),
        ),
        (
            "/api/v1/clusters/{name}/keys",
            "/api/v1/clusters/c1/keys?prefix=app/".into(),
        ),
        (
            "/api/v1/clusters/{name}/keys",
            "/api/v1/clusters/c1/keys?prefix=app/&limit=1".into(),
        ),
        (
            "/api/v1/clusters/{name}/keys/value",
            "/api/v1/clusters/c1/keys/value?key=app/a".into(),
        ),
        (
            "/api/v1/clusters/{name}/keys/value",
            "/api/v1/clusters/c1/keys/value?key=app/bin".into(),
        ),
        (
            "/api/v1/clusters/{name}/metrics/series",
            "/api/v1/clusters/c1/metrics/series".into(),
        ),
        (
            "/api/v1/clusters/{name}/metrics/history",
            format!("/api/v1/clusters/c1/metrics/history?metric={series}"),
        ),
        ("/api/v1/store", "/api/v1/store".into()),
        ("/api/v1/alerts", "/api/v1/alerts".into()),
        ("/api/v1/benchmarks", "/api/v1/benchmarks".into()),
        ("/api/v1/whoami", "/api/v1/whoami".into()),
        ("/api/v1/events", "/api/v1/events".into()),
        ("/api/v1/events", "/api/v1/events?limit=1001".into()),
        // Errors: the error body.
        ("/api/v1/clusters/{name}", "/api/v1/clusters/nope".into()),
        (
            "/api/v1/alerts/history",
            "/api/v1/alerts/history?limit=0".into(),
        ),
        (
            "/api/v1/clusters/{name}/metrics/history",
            "/api/v1/clusters/c1/metrics/history".into(),
        ),
    ] {
        ask("get", path, url, None).await;
    }
    let (status, silence) = ask(
        "post",
        "/api/v1/silences",
        "/api/v1/silences".into(),
        Some(serde_json::json!({"matchers": ["alertname=Nothing"], "duration": "1h", "created_by": "me", "comment": "a test"})),
    )
    .await;
    assert_eq!(status, 201, "{silence}");
    ask("get", "/api/v1/silences", "/api/v1/silences".into(), None).await;
    let id = silence["id"].as_str().unwrap();
    ask(
        "delete",
        "/api/v1/silences/{id}",
        format!("/api/v1/silences/{id}"),
        Some(serde_json::json!({"by": "me"})),
    )
    .await;
    ask(
        "get",
        "/api/v1/alerts/history",
        "/api/v1/alerts/history".into(),
        None,
    )
    .await;
    // Clusters changed at run time: tested, added, read, edited, removed.
    let reg = serde_json::json!({"name": "reg", "endpoints": cluster.client_urls(), "tags": ["t"]});
    ask(
        "post",
        "/api/v1/connection-test",
        "/api/v1/connection-test".into(),
        Some(reg.clone()),
    )
    .await;
    let (status, added) = ask(
        "post",
        "/api/v1/clusters",
        "/api/v1/clusters".into(),
        Some(reg.clone()),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    ask(
        "post",
        "/api/v1/clusters",
        "/api/v1/clusters".into(),
        Some(reg.clone()),
    )
    .await;
    ask(
        "get",
        "/api/v1/clusters/{name}/settings",
        "/api/v1/clusters/reg/settings".into(),
        None,
    )
    .await;
    ask(
        "put",
        "/api/v1/clusters/{name}",
        "/api/v1/clusters/reg".into(),
        Some(reg),
    )
    .await;
    ask(
        "delete",
        "/api/v1/clusters/{name}",
        "/api/v1/clusters/c1".into(),
        None,
    )
    .await;
    let (status, removed) = ask(
        "delete",
        "/api/v1/clusters/{name}",
        "/api/v1/clusters/reg?history=delete".into(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    let user = serde_json::json!({"name": "ann", "role": "viewer", "password": "a long enough password 42"});
    ask(
        "post",
        "/api/v1/users",
        "/api/v1/users".into(),
        Some(user.clone()),
    )
    .await;
    ask("post", "/api/v1/users", "/api/v1/users".into(), Some(user)).await;
    ask(
        "patch",
        "/api/v1/users/{user}",
        "/api/v1/users/ann".into(),
        Some(serde_json::json!({"role": "operator"})),
    )
    .await;
    ask("get", "/api/v1/users", "/api/v1/users".into(), None).await;
    ask(
        "post",
        "/api/v1/tokens",
        "/api/v1/tokens".into(),
        Some(serde_json::json!({"name": "ci", "role": "viewer", "expires_in": "1d"})),
    )
    .await;
    ask("get", "/api/v1/tokens", "/api/v1/tokens".into(), None).await;
    ask("get", "/api/v1/audit", "/api/v1/audit".into(), None).await;
    let expected: Vec<(String, u16)> = answers.iter().map(|a| (a.url.clone(), a.status)).collect();
    monitor.stop().await;

    // Each kind of answer was had, as asked: none is checked against the wrong
    // status's schema by accident.
    for (url, status) in [
        ("/api/v1/clusters/c1/keys/value?key=app/bin", 200),
        ("/api/v1/clusters/nope", 404),
        ("/api/v1/alerts/history?limit=0", 400),
        ("/api/v1/clusters/c1/metrics/history", 400),
        ("/api/v1/users", 409),
        ("/api/v1/users/ann", 200),
        ("/api/v1/tokens", 201),
        ("/api/v1/audit", 200),
    ] {
        assert!(
            expected.contains(&(url.to_string(), status)),
            "{url} {status} in {expected:?}"
        );
    }
    assert_answers_match_openapi(&document.to_string(), &answers);
}
