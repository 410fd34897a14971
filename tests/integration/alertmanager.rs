//! Receivers of type `alertmanager` against Debian's prometheus-alertmanager on
//! loopback: a killed member's alert reaches its `/api/v2/alerts`, is kept alive by
//! being posted again, and goes when the member comes back.

use std::time::{Duration, SystemTime};

use etcd_monitor::alert::AlertingSettings;
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use serde_json::Value;

use crate::harness::*;
use crate::monitor::Monitor;

/// prometheus-alertmanager on a free loopback port, without clustering; stopped
/// when dropped.
struct Alertmanager {
    daemon: LoopbackDaemon,
}

impl Alertmanager {
    async fn start() -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nowhere\n  group_wait: 1s\nreceivers:\n  - name: nowhere\n",
        )
        .unwrap();
        let mut cmd = std::process::Command::new("/usr/bin/prometheus-alertmanager");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        Alertmanager {
            daemon: LoopbackDaemon::start("/usr/bin/prometheus-alertmanager", cmd, port, dir).await,
        }
    }

    /// Its alerts named `alertname` (active, silenced or inhibited; not resolved).
    async fn alerts(&self, alertname: &str) -> Result<Vec<Value>, String> {
        let all: Value = reqwest::Client::new()
            .get(format!("{}/api/v2/alerts", self.daemon.base))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        Ok(all
            .as_array()
            .ok_or_else(|| all.to_string())?
            .iter()
            .filter(|a| a["labels"]["alertname"] == alertname)
            .cloned()
            .collect())
    }
}

const RESEND: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_receives_a_firing_alert_kept_alive_and_its_resolution() {
    let (mut cluster, am) = tokio::join!(
        start_cluster(3, LocalClusterOptions::default()),
        Alertmanager::start()
    );
    let mut settings = test_settings(
        vec![ClusterConfig::plain("c1", cluster.client_urls())],
        Duration::from_millis(500),
    );
    let alerting: AlertingSettings = toml::from_str(&format!(
        r#"
default_receivers = []
external_url = "http://monitor.example:9393"
[builtin.etcdMemberUnreachable]
for = "2s"
[grouping]
group_wait = "300ms"
group_interval = "1s"
repeat_interval = "1h"
[[receivers]]
name = "am"
type = "alertmanager"
url = "{}"
resend_interval = "{}s"
timeout = "2s"
[[routes]]
matchers = ["alertname=etcdMemberUnreachable"]
receivers = ["am"]
"#,
        am.daemon.base,
        RESEND.as_secs()
    ))
    .unwrap();
    settings.alerting = alerting;
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;
    let down = cluster.members[2].name.clone();
    cluster.kill(2).unwrap();

    let alert = wait_for(
        "the alert in Alertmanager",
        Duration::from_secs(30),
        || async {
            match am.alerts("etcdMemberUnreachable").await?.as_slice() {
                [one] => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(alert["labels"]["cluster"], "c1", "{alert}");
    assert_eq!(alert["labels"]["member"], down.as_str(), "{alert}");
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://monitor.example:9393/alerts"),
        "{alert}"
    );
    assert!(
        !alert["annotations"]["summary"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{alert}"
    );
    // endsAt: four resend intervals ahead, not Go's zero time nor far away.
    let ends_at = humantime::parse_rfc3339_weak(&alert["endsAt"].as_str().unwrap()[..19]).unwrap();
    let ahead = ends_at
        .duration_since(SystemTime::now() - Duration::from_secs(1))
        .unwrap_or_default();
    assert!(
        ahead <= RESEND * 4 + Duration::from_secs(3),
        "endsAt {ahead:?} ahead"
    );

    // Still down after several validity periods: still active, so posted again.
    tokio::time::sleep(RESEND * 6).await;
    let still = am.alerts("etcdMemberUnreachable").await.unwrap();
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(still[0]["status"]["state"], "active");
    assert_eq!(still[0]["startsAt"], alert["startsAt"], "the same alert");
    assert_ne!(still[0]["endsAt"], alert["endsAt"], "renewed");

    // Its own /metrics counts the posts (the first and the resends), none failed,
    // and shows the alert firing; promtool finds nothing wrong with it.
    let metrics = reqwest::get(format!("{}/metrics", monitor.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("etcd_monitor_notifications_total{receiver=\"am\"} "))
        .expect("a count for am")
        .parse()
        .unwrap();
    assert!(sent >= 3.0, "{sent} posts in {:?}", RESEND * 6);
    assert!(metrics.contains("etcd_monitor_notifications_failed_total{receiver=\"am\"} 0"));
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("etcd_monitor_alerts{")
                && l.contains("alertname=\"etcdMemberUnreachable\"")
                && l.contains("alertstate=\"firing\"")),
        "{metrics}"
    );
    assert_promtool_accepts(&metrics);

    // Back up: the monitor posts the resolution, and the alert goes.
    cluster.restart(2).unwrap();
    wait_for("the alert resolved", Duration::from_secs(30), || async {
        let left = am.alerts("etcdMemberUnreachable").await?;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
    monitor.stop().await;
}
