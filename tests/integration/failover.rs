//! A 3-member cluster through leader loss, quorum loss and recovery.

use std::time::{Duration, Instant};

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;

use crate::harness::*;

const INTERVAL: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_leader_loss_quorum_loss_and_recovery() {
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let endpoints = cluster.client_urls();
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("c3", endpoints.clone())],
        INTERVAL,
    ))
    .await;

    // Healthy, three members, leader and term as etcdctl reports them.
    let snap = monitor
        .wait_status("c3", "healthy", Duration::from_secs(15))
        .await;
    assert_eq!(snap["members"].as_array().unwrap().len(), 3);
    assert_eq!(snap["quorum"]["voting_members"], 3);
    assert_eq!(snap["quorum"]["needed"], 2);
    let etcdctl = etcdctl_endpoint_status(&endpoints);
    let etcdctl_leader = format!("{:x}", etcdctl[0]["Status"]["leader"].as_u64().unwrap());
    let etcdctl_term = etcdctl[0]["Status"]["raftTerm"].as_u64().unwrap();
    assert_eq!(snap["leader"]["id"], etcdctl_leader.as_str(), "{snap}");
    assert_eq!(snap["raft_term"].as_u64().unwrap(), etcdctl_term, "{snap}");
    let (code, list) = monitor.get("/api/v1/clusters").await;
    assert_eq!(code, 200);
    assert_eq!(list["clusters"][0]["leader"]["id"], etcdctl_leader.as_str());
    assert_eq!(list["clusters"][0]["members_healthy"], 3);

    // Kill the leader: a new leader within two probe intervals, the old one unreachable.
    let old_leader_name = snap["leader"]["name"].as_str().unwrap().to_string();
    let old_index = cluster
        .members
        .iter()
        .position(|m| m.name == old_leader_name)
        .unwrap();
    let killed_at = Instant::now();
    cluster.kill(old_index).unwrap();
    let snap = wait_for(
        "a new leader",
        INTERVAL * 2 + Duration::from_secs(2),
        || async {
            let s = monitor.cluster("c3").await;
            let new_leader = s["leader"]["name"]
                .as_str()
                .is_some_and(|n| n != old_leader_name);
            let dead = member_by_name(&s, &old_leader_name);
            if new_leader && dead["reachable"] == false {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    let took = killed_at.elapsed();
    eprintln!(
        "new leader reported {took:?} after the leader was killed (probe interval {INTERVAL:?})"
    );
    assert!(
        took <= INTERVAL * 2 + Duration::from_secs(1),
        "took {took:?}"
    );
    assert_eq!(snap["status"], "degraded", "{snap}");
    let dead = member_by_name(&snap, &old_leader_name);
    let reason = dead["error"].as_str().unwrap();
    assert!(
        reason.contains("status"),
        "reason names the failed call: {reason}"
    );
    assert!(
        snap["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(&old_leader_name)),
        "{snap}"
    );
    assert!(snap["raft_term"].as_u64().unwrap() > etcdctl_term);

    // Stop a second member: no quorum.
    let second = (old_index + 1) % 3;
    cluster.stop(second).unwrap();
    let snap = monitor
        .wait_status("c3", "unavailable", INTERVAL * 3 + Duration::from_secs(2))
        .await;
    let reasons = snap["reasons"].to_string();
    assert!(
        reasons.contains("no quorum: 1 of 3 voting members reachable, 2 needed"),
        "{reasons}"
    );
    assert_eq!(snap["quorum"]["has_quorum"], false);

    // Restart both: healthy again.
    cluster.restart(old_index).unwrap();
    cluster.restart(second).unwrap();
    let snap = monitor
        .wait_status("c3", "healthy", Duration::from_secs(30))
        .await;
    assert_eq!(snap["quorum"]["reachable_voting_members"], 3);
    assert!(snap["reasons"].as_array().unwrap().is_empty());
    monitor.stop().await;
}
