//! A NOSPACE alarm raised by a real member shows in the API, and its alert fires.

use std::time::Duration;

use etcd_monitor::config::ClusterConfig;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nospace_alarm_is_reported() {
    let cluster = start_full_cluster().await;
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("small", cluster.client_urls())],
        Duration::from_secs(1),
    ))
    .await;
    let snap = wait_for("the NOSPACE alarm", Duration::from_secs(10), || async {
        let s = monitor.cluster("small").await;
        if s["alarms"].as_array().is_some_and(|a| !a.is_empty()) {
            Ok(s)
        } else {
            Err(s.to_string())
        }
    })
    .await;
    assert_eq!(snap["alarms"][0]["alarm"], "NOSPACE");
    assert_eq!(snap["alarms"][0]["member_name"], "m0");
    assert_eq!(snap["status"], "degraded");
    assert!(
        snap["reasons"]
            .to_string()
            .contains("alarm NOSPACE raised by member m0"),
        "{snap}"
    );
    let (_, list) = monitor.get("/api/v1/clusters").await;
    assert_eq!(list["clusters"][0]["alarms"], 1);
    // The quota shows in the member's indicators too.
    let ind = wait_for("indicators", Duration::from_secs(5), || async {
        let s = monitor.cluster("small").await;
        let ind = s["members"][0]["indicators"].clone();
        if ind.is_object() {
            Ok(ind)
        } else {
            Err(s.to_string())
        }
    })
    .await;
    assert_eq!(
        ind["quota_backend_bytes"].as_f64(),
        Some(2.0 * 1024.0 * 1024.0)
    );
    assert!(ind["quota_usage_ratio"].as_f64().unwrap() > 0.9, "{ind}");
    // The alarm's alert fires (built-in etcdAlarmActive, no `for`), naming the alarm.
    let alert = monitor
        .wait_firing("etcdAlarmActive", Duration::from_secs(10))
        .await;
    assert_eq!(alert["labels"]["alarm"], "NOSPACE", "{alert}");
    assert_eq!(alert["labels"]["cluster"], "small", "{alert}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    monitor.stop().await;
}
