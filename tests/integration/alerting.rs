//! The alert manager end to end, against real clusters and a real webhook receiver on
//! loopback: a killed member is notified once and its recovery once; a restart of
//! the monitor (kill -9) neither repeats nor loses a notification; a silence mutes
//! and its expiry unmutes; a receiver that is down for a while gets one delivery.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use etcd_monitor::alert::AlertingSettings;
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use serde_json::{json, Value};

use crate::harness::*;
use crate::http_sink::{HttpSink, Reply};
use crate::process::BIN;

/// Alerting config: the member-unreachable rule after 2 s, routed to one webhook, and
/// group timings short enough for a test.
fn alerting_toml(hook_url: &str, extra: &str) -> String {
    format!(
        r#"
default_receivers = []
[builtin.etcdMemberUnreachable]
for = "2s"
[grouping]
group_wait = "300ms"
group_interval = "1s"
repeat_interval = "1h"
[retry]
initial_backoff = "100ms"
max_backoff = "500ms"
deadline = "30s"
[[receivers]]
name = "hook"
type = "webhook"
url = "{hook_url}"
timeout = "2s"
[[routes]]
matchers = ["alertname=etcdMemberUnreachable"]
receivers = ["hook"]
{extra}
"#
    )
}

fn alerting(hook_url: &str, extra: &str) -> AlertingSettings {
    toml::from_str(&alerting_toml(hook_url, extra)).expect("test alerting config parses")
}

/// Moves what the sink received into `seen` (a refused request as
/// `{"refused": body}`) and returns the accepted bodies so far.
fn delivered(sink: &HttpSink, seen: &mut Vec<Value>) -> Vec<Value> {
    for r in sink.take() {
        if matches!(r.reply, Reply::Status(200..=299, _)) {
            seen.push(r.json());
        } else {
            seen.push(json!({"refused": r.json()}));
        }
    }
    seen.iter()
        .filter(|v| v.get("refused").is_none())
        .cloned()
        .collect()
}

async fn wait_messages(sink: &HttpSink, seen: &mut Vec<Value>, n: usize, what: &str) {
    wait_for(what, Duration::from_secs(30), || {
        let all = delivered(sink, seen);
        async move {
            if all.len() >= n {
                Ok(())
            } else {
                Err(format!("{all:?}"))
            }
        }
    })
    .await;
}

/// Waits `d` and checks nothing more arrived.
async fn assert_quiet(sink: &HttpSink, seen: &mut Vec<Value>, n: usize, d: Duration) {
    tokio::time::sleep(d).await;
    let all = delivered(sink, seen);
    assert_eq!(all.len(), n, "unexpected notifications: {all:#?}");
}

/// Waits until GET `url` answers JSON for which `ready` holds.
async fn wait_json(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    timeout: Duration,
    ready: impl Fn(&Value) -> bool,
) {
    wait_for(what, timeout, || async {
        let v: Value = http
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if ready(&v) {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await;
}

fn assert_message(m: &Value, status: &str, member: &str) {
    assert_eq!(m["version"], "4", "{m}");
    assert_eq!(m["receiver"], "hook", "{m}");
    assert_eq!(m["status"], status, "{m}");
    assert_eq!(
        m["groupLabels"],
        json!({"alertname": "etcdMemberUnreachable", "cluster": "trio"}),
        "{m}"
    );
    let alerts = m["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{m}");
    let a = &alerts[0];
    assert_eq!(a["status"], status, "{m}");
    assert_eq!(a["labels"]["member"], member, "{m}");
    assert_eq!(a["labels"]["severity"], "critical", "{m}");
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16, "{m}");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains(member)),
        "{m}"
    );
    if status == "firing" {
        assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z", "{m}");
    } else {
        assert_ne!(a["endsAt"], "0001-01-01T00:00:00Z", "{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_member_is_notified_once_and_its_recovery_once() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    // The first delivery attempt fails: the receiver is down for a moment.
    let sink = HttpSink::start(vec![Reply::Status(503, "down")], Reply::Status(200, "ok")).await;
    // Told too once the alert has fired for 2 s without an acknowledgement.
    let pager = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let mut settings = test_settings(
        vec![ClusterConfig::plain("trio", cluster.client_urls())],
        Duration::from_millis(500),
    );
    settings.alerting = alerting(&sink.url, "");
    let escalation: AlertingSettings = toml::from_str(&format!(
        "[[receivers]]\nname = \"pager\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        pager.url
    ))
    .unwrap();
    settings.alerting.receivers.extend(escalation.receivers);
    settings.alerting.routes[0].escalate_after = Some(Duration::from_secs(2));
    settings.alerting.routes[0].escalate_to = vec!["pager".into()];
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;
    monitor
        .wait_status("trio", "healthy", Duration::from_secs(20))
        .await;

    cluster.kill(2).unwrap();
    let mut seen = Vec::new();
    wait_messages(&sink, &mut seen, 1, "the firing notification").await;
    // The first attempt was refused (503) and retried with the same body.
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[0]["refused"], seen[1], "the retry sends the same body");
    seen.remove(0);
    assert_message(&seen[0], "firing", "m2");
    // The alert as the API shows it.
    let (_, alerts) = monitor.get("/api/v1/alerts").await;
    let a = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "etcdMemberUnreachable")
        .cloned()
        .unwrap_or_else(|| panic!("{alerts}"));
    assert_eq!(a["phase"], "firing");
    // Unacknowledged past escalate_after: the pager is told as well, once.
    let mut paged = Vec::new();
    wait_messages(&pager, &mut paged, 1, "the escalation").await;
    assert_eq!(paged[0]["receiver"], "pager");
    assert_eq!(paged[0]["alerts"][0]["labels"]["member"], "m2");
    let (_, alerts) = monitor.get("/api/v1/alerts").await;
    assert!(
        alerts
            .to_string()
            .contains(r#""receivers":["hook","pager"]"#),
        "{alerts}"
    );
    // Still down for several group intervals: nothing more.
    assert_quiet(&sink, &mut seen, 1, Duration::from_secs(4)).await;
    assert_quiet(&pager, &mut paged, 1, Duration::ZERO).await;

    cluster.restart(2).unwrap();
    cluster
        .wait_healthy(2, Duration::from_secs(20))
        .await
        .unwrap();
    wait_messages(&sink, &mut seen, 2, "the resolved notification").await;
    assert_message(&seen[1], "resolved", "m2");
    assert_eq!(
        seen[0]["alerts"][0]["fingerprint"],
        seen[1]["alerts"][0]["fingerprint"]
    );
    assert_quiet(&sink, &mut seen, 2, Duration::from_secs(3)).await;
    // The pager heard of it, so it hears that it resolved.
    wait_messages(
        &pager,
        &mut paged,
        2,
        "the resolve to the escalation receiver",
    )
    .await;
    assert_eq!(paged[1]["status"], "resolved");

    // The history holds the whole story, newest first.
    let (status, history) = monitor
        .get("/api/v1/alerts/history?alertname=etcdMemberUnreachable&limit=50")
        .await;
    assert_eq!(status, 200, "{history}");
    let events: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for want in ["pending", "firing", "notified", "resolved"] {
        assert!(events.contains(&want), "{want} missing from {events:?}");
    }
    let (status, bad) = monitor.get("/api/v1/alerts/history?limit=0").await;
    assert_eq!(status, 400, "{bad}");
    let (status, bad) = monitor.get("/api/v1/alerts/history?event=exploded").await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("firing"), "{bad}");
    monitor.stop().await;
}

/// Starts the binary as a user would, with a config file.
fn start_binary(config: &std::path::Path) -> Child {
    Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("etcd-monitor starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_killed_while_an_alert_fires_neither_repeats_nor_loses_it() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let endpoints: Vec<String> = cluster
        .client_urls()
        .iter()
        .map(|u| format!("{u:?}"))
        .collect();
    let alerting_section: String = alerting_toml(&sink.url, "")
        .lines()
        .map(|l| {
            // The same settings, under [alerting].
            if let Some(table) = l.strip_prefix("[[") {
                format!("[[alerting.{table}")
            } else if let Some(table) = l.strip_prefix('[') {
                format!("[alerting.{table}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\ndata_dir = \"{}\"\n[collect]\ninterval = \"500ms\"\nrequest_timeout = \"500ms\"\ndial_timeout = \"500ms\"\n[[clusters]]\nname = \"trio\"\nendpoints = [{}]\n[alerting]\ndefault_receivers = []\n{}",
            dir.path().join("data").display(),
            endpoints.join(", "),
            alerting_section.replacen("default_receivers = []", "", 1)
        ),
    )
    .unwrap();
    let mut monitor = start_binary(&config);

    cluster.kill(2).unwrap();
    let mut seen = Vec::new();
    wait_messages(&sink, &mut seen, 1, "the firing notification").await;
    assert_message(&seen[0], "firing", "m2");
    // The notification log is written when the receiver has answered; the
    // history's "notified" entry follows it. A kill before that record sends
    // the message again after the restart (at least once, as Alertmanager).
    let http = reqwest::Client::new();
    let notified_url = format!(
        "http://127.0.0.1:{port}/api/v1/alerts/history?alertname=etcdMemberUnreachable&event=notified"
    );
    wait_json(
        &http,
        &notified_url,
        "the notification's record",
        Duration::from_secs(10),
        |v| v["entries"].as_array().is_some_and(|e| !e.is_empty()),
    )
    .await;

    // kill -9 while the alert fires; start again while the member is still down.
    monitor.kill().unwrap();
    monitor.wait().unwrap();
    let mut monitor = start_binary(&config);
    let alerts_url = format!("http://127.0.0.1:{port}/api/v1/alerts");
    wait_json(
        &http,
        &alerts_url,
        "the restarted monitor's firing alert",
        Duration::from_secs(20),
        |v| {
            v["alerts"].as_array().is_some_and(|a| {
                a.iter().any(|a| {
                    a["labels"]["alertname"] == "etcdMemberUnreachable" && a["phase"] == "firing"
                })
            })
        },
    )
    .await;
    // It fires on in the restarted monitor, but the receiver was told already.
    assert_quiet(&sink, &mut seen, 1, Duration::from_secs(4)).await;

    // kill -9 again; the member recovers while no monitor runs.
    monitor.kill().unwrap();
    monitor.wait().unwrap();
    cluster.restart(2).unwrap();
    cluster
        .wait_healthy(2, Duration::from_secs(20))
        .await
        .unwrap();
    let mut monitor = start_binary(&config);
    wait_messages(
        &sink,
        &mut seen,
        2,
        "the resolved notification after restart",
    )
    .await;
    assert_message(&seen[1], "resolved", "m2");
    assert_quiet(&sink, &mut seen, 2, Duration::from_secs(3)).await;
    monitor.kill().unwrap();
    monitor.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_mutes_and_its_expiry_unmutes() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let mut settings = test_settings(
        vec![ClusterConfig::plain("solo", cluster.client_urls())],
        Duration::from_millis(500),
    );
    // A user rule that holds at once on any live member.
    settings.alerting = alerting(
        &sink.url,
        r#"
[[routes]]
matchers = ["alertname=DbExists"]
receivers = ["hook"]
[[rules]]
name = "DbExists"
indicator = "db_size_bytes"
op = ">"
threshold = 0
severity = "warning"
summary = "{{ labels.member }} has a database"
"#,
    );
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;
    let ops = |path: &str| format!("{}{path}", monitor.base);
    // Silenced before it can fire.
    let created: Value = monitor
        .http
        .post(ops("/api/v1/silences"))
        .json(&json!({
            "matchers": ["alertname=DbExists", "cluster=~so.*"],
            "duration": "1h",
            "created_by": "tester",
            "comment": "maintenance window"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let muted = monitor
        .wait_firing("DbExists", Duration::from_secs(20))
        .await;
    assert_eq!(muted["silenced_by"], json!([id]), "{muted}");
    let mut seen = Vec::new();
    assert_quiet(&sink, &mut seen, 0, Duration::from_secs(3)).await;

    // Bad silences are refused with a message.
    for (body, says) in [
        (
            json!({"matchers": ["alertname"], "duration": "1h", "created_by": "t", "comment": "c"}),
            "matcher",
        ),
        (
            json!({"matchers": ["a=b"], "duration": "1h", "created_by": "", "comment": "c"}),
            "created_by",
        ),
        (
            json!({"matchers": ["a=b"], "created_by": "t", "comment": "c"}),
            "duration",
        ),
    ] {
        let resp = monitor
            .http
            .post(ops("/api/v1/silences"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{body} -> {text}");
    }

    // Expire it: the alert is notified.
    let resp = monitor
        .http
        .delete(ops(&format!("/api/v1/silences/{id}")))
        .json(&json!({"by": "tester"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // The answer waits for a view built after the change: the next GET shows the
    // alert no longer silenced.
    let (_, v) = monitor.get("/api/v1/alerts").await;
    let unmuted = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["fingerprint"] == muted["fingerprint"])
        .unwrap();
    assert_eq!(unmuted["silenced_by"], json!([]), "{unmuted}");
    wait_messages(
        &sink,
        &mut seen,
        1,
        "the notification after the silence expired",
    )
    .await;
    assert_eq!(seen[0]["status"], "firing");
    assert_eq!(seen[0]["alerts"][0]["labels"]["alertname"], "DbExists");
    assert_eq!(
        seen[0]["alerts"][0]["annotations"]["summary"],
        "m0 has a database"
    );

    // Acknowledged, and recorded with who did it.
    let fp = muted["fingerprint"].as_str().unwrap();
    let resp = monitor
        .http
        .post(ops(&format!("/api/v1/alerts/{fp}/ack")))
        .json(&json!({"by": "oncall", "comment": "looking"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, v) = monitor.get("/api/v1/alerts").await;
    let a = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["fingerprint"] == fp)
        .unwrap();
    assert_eq!(a["acknowledged"]["by"], "oncall", "{a}");
    let (_, h) = monitor
        .get("/api/v1/alerts/history?event=acknowledged")
        .await;
    assert_eq!(h["entries"][0]["by"], "oncall", "{h}");
    let (_, h) = monitor
        .get("/api/v1/alerts/history?event=silence_expired")
        .await;
    assert_eq!(h["entries"][0]["by"], "tester", "{h}");
    monitor.stop().await;
}

/// The monitor saved that the alert resolved but could not tell the receiver (it was
/// refusing) before it stopped: after the restart the receiver is told, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_not_yet_delivered_is_sent_after_a_restart() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    // Takes the firing notification, then refuses everything.
    let refusing =
        HttpSink::start(vec![Reply::Status(200, "ok")], Reply::Status(503, "down")).await;
    let data = tempfile::tempdir().unwrap();
    let endpoints = cluster.client_urls();
    let settings_for = |url: &str| {
        let mut s = test_settings(
            vec![ClusterConfig::plain("trio", endpoints.clone())],
            Duration::from_millis(500),
        );
        s.store.data_dir = data.path().to_path_buf();
        s.alerting = alerting(url, "");
        s.validate().unwrap();
        s
    };
    let monitor = Monitor::start(settings_for(&refusing.url)).await;
    monitor
        .wait_status("trio", "healthy", Duration::from_secs(20))
        .await;
    cluster.kill(2).unwrap();
    let mut seen = Vec::new();
    wait_messages(&refusing, &mut seen, 1, "the firing notification").await;
    assert_message(&seen[0], "firing", "m2");
    cluster.restart(2).unwrap();
    cluster
        .wait_healthy(2, Duration::from_secs(20))
        .await
        .unwrap();
    wait_for("a refused resolve", Duration::from_secs(20), || {
        delivered(&refusing, &mut seen);
        let refused = seen.iter().filter(|v| v.get("refused").is_some()).count();
        async move {
            if refused > 0 {
                Ok(())
            } else {
                Err("none yet".to_string())
            }
        }
    })
    .await;
    monitor.stop().await;

    // The same receiver, now reachable (at another address).
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let monitor = Monitor::start(settings_for(&sink.url)).await;
    let mut after = Vec::new();
    wait_messages(
        &sink,
        &mut after,
        1,
        "the resolved notification after the restart",
    )
    .await;
    assert_message(&after[0], "resolved", "m2");
    assert_eq!(
        after[0]["alerts"][0]["fingerprint"],
        seen[0]["alerts"][0]["fingerprint"]
    );
    assert_quiet(&sink, &mut after, 1, Duration::from_secs(3)).await;
    monitor.stop().await;
}

/// While the cluster has no quorum, its member-level alerts are inhibited: the
/// cluster-unavailable alert is the one that is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_unavailable_inhibits_member_alerts() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let mut settings = test_settings(
        vec![ClusterConfig::plain("trio", cluster.client_urls())],
        Duration::from_millis(500),
    );
    settings.alerting = alerting(
        &sink.url,
        r#"
[builtin.etcdClusterUnavailable]
for = "1s"
[[routes]]
matchers = ["alertname=etcdClusterUnavailable"]
receivers = ["hook"]
"#,
    );
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;
    monitor
        .wait_status("trio", "healthy", Duration::from_secs(20))
        .await;
    cluster.kill(1).unwrap();
    cluster.kill(2).unwrap();
    let alerts = wait_for(
        "cluster unavailable firing, member alerts inhibited",
        Duration::from_secs(30),
        || async {
            let (_, v) = monitor.get("/api/v1/alerts").await;
            let all = v["alerts"].as_array().cloned().unwrap_or_default();
            let firing = |name: &str| {
                all.iter()
                    .filter(|a| a["labels"]["alertname"] == name && a["phase"] == "firing")
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let unavailable = firing("etcdClusterUnavailable");
            let members = firing("etcdMemberUnreachable");
            if unavailable.len() == 1 && members.len() == 2 {
                Ok((unavailable[0].clone(), members))
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    let (unavailable, members) = alerts;
    for m in &members {
        assert_eq!(m["inhibited_by"], unavailable["fingerprint"], "{m}");
    }
    let mut seen = Vec::new();
    wait_messages(&sink, &mut seen, 1, "the cluster-unavailable notification").await;
    assert_quiet(&sink, &mut seen, 1, Duration::from_secs(3)).await;
    let names: Vec<&Value> = seen
        .iter()
        .map(|m| &m["groupLabels"]["alertname"])
        .collect();
    assert_eq!(names, [&json!("etcdClusterUnavailable")], "{seen:#?}");
    monitor.stop().await;
}
