//! `GET /metrics` for Prometheus: checked with promtool, scraped by Debian's
//! Prometheus, and read back through its query API against the monitor's JSON.

use std::time::Duration;

use etcd_monitor::auth::{tokens, AuthMode, Role};
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use serde_json::Value;

use crate::harness::*;
use crate::monitor::Monitor;

/// Debian's Prometheus on a free loopback port; stopped when dropped.
pub struct Prometheus {
    daemon: LoopbackDaemon,
}

impl Prometheus {
    /// Started with `scrape_configs` (YAML list items), every job scraped each second.
    pub async fn start(scrape_configs: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = etcd_monitor::localetcd::free_port().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{scrape_configs}"
            ),
        )
        .unwrap();
        let mut cmd = std::process::Command::new("/usr/bin/prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        Prometheus {
            daemon: LoopbackDaemon::start("/usr/bin/prometheus", cmd, port, dir).await,
        }
    }

    /// The result vector of an instant query.
    pub async fn query(&self, query: &str) -> Result<Vec<Value>, String> {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.daemon.base))
            .query(&[("query", query)])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if answer["status"] != "success" {
            return Err(format!("{query}: {answer}"));
        }
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The value of the single series `query` selects.
    pub async fn value(&self, query: &str) -> Result<f64, String> {
        let result = self.query(query).await?;
        match result.as_slice() {
            [one] => one["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{query}: {one}")),
            _ => Err(format!("{query}: {} series: {result:?}", result.len())),
        }
    }
}

/// The figures Prometheus should hold, read from the monitor's JSON API: query
/// and value.
fn expected_from_json(snap: &Value) -> Vec<(String, f64)> {
    let c = "cluster=\"c1\"";
    let members = snap["members"].as_array().unwrap();
    let voting = members.iter().filter(|m| m["is_learner"] != true).count();
    let reachable = members
        .iter()
        .filter(|m| m["is_learner"] != true && m["reachable"] == true)
        .count();
    let needed = snap["quorum"]["needed"].as_u64().unwrap() as f64;
    let status = snap["status"].as_str().unwrap().to_ascii_lowercase();
    let mut out = vec![
        (
            format!("etcd_monitor_cluster_voting_members{{{c}}}"),
            voting as f64,
        ),
        (
            format!("etcd_monitor_cluster_reachable_voting_members{{{c}}}"),
            reachable as f64,
        ),
        (
            format!("etcd_monitor_cluster_quorum_margin{{{c}}}"),
            reachable as f64 - needed,
        ),
        (
            format!("etcd_monitor_cluster_status{{{c},status=\"{status}\"}}"),
            1.0,
        ),
        (
            format!("etcd_monitor_cluster_has_leader{{{c}}}"),
            if snap["leader"].is_null() { 0.0 } else { 1.0 },
        ),
    ];
    for m in members {
        let name = m["name"].as_str().unwrap();
        let flag = |key: &str| if m[key] == true { 1.0 } else { 0.0 };
        out.push((
            format!("etcd_monitor_member_reachable{{{c},member=\"{name}\"}}"),
            flag("reachable"),
        ));
        out.push((
            format!("etcd_monitor_member_is_leader{{{c},member=\"{name}\"}}"),
            flag("is_leader"),
        ));
        if let Some(version) = m["status"]["version"].as_str() {
            out.push((
                format!(
                    "etcd_monitor_member_version_info{{{c},member=\"{name}\",version=\"{version}\"}}"
                ),
                1.0,
            ));
        }
    }
    out
}

/// Waits until every figure Prometheus holds equals what the JSON API shows at
/// the same moment (the JSON read again each round, so both describe one state).
async fn prometheus_agrees(monitor: &Monitor, token: &str, prometheus: &Prometheus, what: &str) {
    wait_for(what, Duration::from_secs(30), || async {
        let snap = api_json(monitor, token, "/api/v1/clusters/c1").await?;
        for (query, want) in expected_from_json(&snap) {
            let got = prometheus.value(&query).await?;
            if got != want {
                return Err(format!(
                    "{query} = {got} in Prometheus, {want} in the JSON API"
                ));
            }
        }
        Ok(())
    })
    .await;
}

/// Every panel's queries in `packaging/grafana/`: (panel title, expression).
fn dashboard_queries() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/grafana/etcd-monitor-cluster.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            out.push((
                panel["title"].as_str().unwrap().to_string(),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["name"] == "cluster"),
        "a cluster variable"
    );
    out
}

/// `path` of the monitor's JSON API, as the viewer `token`.
async fn api_json(monitor: &Monitor, token: &str, path: &str) -> Result<Value, String> {
    reqwest::Client::new()
        .get(format!("{}{path}", monitor.base))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_the_grafana_panels_read_what_the_json_api_shows() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let mut settings = test_settings(
        vec![ClusterConfig::plain("c1", cluster.client_urls())],
        Duration::from_secs(1),
    );
    settings.server.auth.mode = AuthMode::Local;
    let monitor = Monitor::start(settings).await;
    let (_, token) =
        tokens::create(&monitor.store, "prometheus", Role::Viewer, None, "test").unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", monitor.base);

    // Protected like the read API.
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body = wait_for("the cluster probed", Duration::from_secs(20), || async {
        let resp = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let body = resp.text().await.map_err(|e| e.to_string())?;
        if body.contains("etcd_monitor_cluster_status{cluster=\"c1\",status=\"healthy\"} 1") {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await;

    // promtool's lint finds nothing.
    assert_promtool_accepts(&body);

    // Prometheus scrapes it with the token and holds what the JSON API shows.
    // The monitor with the viewer's token, and etcd's own /metrics labelled with
    // the monitor's name for the cluster (as docs/integration.md says).
    let target = monitor.base.trim_start_matches("http://").to_string();
    let members: Vec<String> = cluster
        .client_urls()
        .iter()
        .map(|u| format!("'{}'", u.trim_start_matches("http://")))
        .collect();
    let prometheus = Prometheus::start(&format!(
        "  - job_name: etcd-monitor\n    authorization:\n      credentials: {token}\n    static_configs:\n      - targets: ['{target}']\n  - job_name: etcd\n    static_configs:\n      - targets: [{}]\n        labels:\n          cluster: c1\n",
        members.join(", ")
    ))
    .await;
    prometheus_agrees(
        &monitor,
        &token,
        &prometheus,
        "Prometheus agrees with a healthy cluster",
    )
    .await;
    assert_eq!(
        prometheus.value("up{job=\"etcd-monitor\"}").await.unwrap(),
        1.0
    );

    // Every panel query of the Grafana dashboard parses and returns data, with
    // writes going on so that latencies have samples.
    let mut etcd = etcd_client::Client::connect(cluster.client_urls(), None)
        .await
        .unwrap();
    let writes = tokio::spawn(async move {
        for i in 0..u32::MAX {
            if etcd
                .put(format!("/grafana/{}", i % 100), "v", None)
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "{queries:?}");
    for (panel, expr) in &queries {
        let query = expr
            .replace("$cluster", "c1")
            .replace("$__rate_interval", "1m");
        wait_for(
            &format!("panel {panel:?}: {query}"),
            Duration::from_secs(30),
            || async {
                let result = prometheus.query(&query).await?;
                let numbers = result.iter().any(|r| {
                    r["value"][1]
                        .as_str()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(f64::is_finite)
                });
                if numbers {
                    Ok(())
                } else {
                    Err(format!("no finite value yet: {result:?}"))
                }
            },
        )
        .await;
    }
    writes.abort();

    // A member stops: unreachable (refused), quorum margin 0, degraded, an alert.
    let stopped_name = cluster.members[2].name.clone();
    cluster.kill(2).unwrap();
    wait_for(
        "the monitor sees the member down",
        Duration::from_secs(20),
        || async {
            let snap = api_json(&monitor, &token, "/api/v1/clusters/c1").await?;
            if member_by_name(&snap, &stopped_name)["reachable"] == false {
                Ok(())
            } else {
                Err(snap.to_string())
            }
        },
    )
    .await;
    prometheus_agrees(
        &monitor,
        &token,
        &prometheus,
        "Prometheus agrees with a degraded cluster",
    )
    .await;
    let reasons = prometheus
        .query(&format!(
            "etcd_monitor_member_unreachable_reason{{member=\"{stopped_name}\"}}"
        ))
        .await
        .unwrap();
    let snap = api_json(&monitor, &token, "/api/v1/clusters/c1")
        .await
        .unwrap();
    let error = member_by_name(&snap, &stopped_name)["error"].to_string();
    let exposition = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        reasons.len(),
        1,
        "{reasons:?}\n{}",
        exposition
            .lines()
            .filter(|l| l.contains("unreachable") || l.contains("reachable{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let reason = reasons[0]["metric"]["reason"].as_str().unwrap();
    // A killed member's port refuses connections; the monitor's message says so,
    // or says an open connection was cut, or that the call had no answer in time
    // while its client reconnects.
    assert!(
        (reason == "refused" && error.contains("refused"))
            || (reason == "reset" && error.contains("connection reset"))
            || (reason == "timeout" && error.contains("no answer within")),
        "reason {reason} for {error}"
    );
    assert_eq!(
        prometheus
            .value("etcd_monitor_cluster_quorum_margin{cluster=\"c1\"}")
            .await
            .unwrap(),
        0.0
    );
    // The failure counters: the stopped member's grow, the others' stay at 0; the
    // cluster's probes did not fail (two members answer).
    let counted = |name: &str| {
        exposition
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in {exposition}"))
    };
    assert!(
        counted(&format!(
            "etcd_monitor_member_probe_failures_total{{cluster=\"c1\",member=\"{stopped_name}\"}}"
        )) >= 1.0
    );
    for m in &cluster.members[..2] {
        assert_eq!(
            counted(&format!(
                "etcd_monitor_member_probe_failures_total{{cluster=\"c1\",member=\"{}\"}}",
                m.name
            )),
            0.0
        );
    }
    assert!(counted("etcd_monitor_probes_total{cluster=\"c1\"}") >= 10.0);
    assert_eq!(
        counted("etcd_monitor_probe_failures_total{cluster=\"c1\"}"),
        0.0
    );
    let alerts = wait_for(
        "an alert in Prometheus",
        Duration::from_secs(30),
        || async {
            let result = prometheus
                .query("etcd_monitor_alerts{cluster=\"c1\"}")
                .await?;
            if result.is_empty() {
                Err("no etcd_monitor_alerts series yet".to_string())
            } else {
                Ok(result)
            }
        },
    )
    .await;
    let active = api_json(&monitor, &token, "/api/v1/alerts").await.unwrap();
    let names: Vec<&str> = active["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect();
    for series in &alerts {
        let name = series["metric"]["alertname"].as_str().unwrap();
        assert!(names.contains(&name), "{name} is not among {names:?}");
        let state = series["metric"]["alertstate"].as_str().unwrap();
        assert!(state == "pending" || state == "firing", "{series}");
    }
    monitor.stop().await;
}
