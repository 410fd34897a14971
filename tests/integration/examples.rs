//! The programs in `examples/`, against a real cluster. Each example file is
//! included as a module and its functions are called directly: running them with
//! `cargo run --example` from a test would build inside the test and fight over
//! the build lock. One cluster for all four (one test, the examples in turn, each
//! on its own keys): starting a cluster costs more than the examples' runs.

use std::time::Duration;

use etcd_monitor::localetcd::LocalClusterOptions;
use tokio::sync::mpsc;

use crate::harness::*;

// The tests use the examples' functions, not their `main`s.
#[allow(dead_code)]
#[path = "../../examples/config_reload.rs"]
mod config_reload;
#[allow(dead_code)]
#[path = "../../examples/election.rs"]
mod election;
#[allow(dead_code)]
#[path = "../../examples/lock.rs"]
mod lock;
#[allow(dead_code)]
#[path = "../../examples/service_discovery.rs"]
mod service_discovery;

/// Waits up to `deadline` for a message satisfying `ok`; panics with the last seen.
async fn wait_until<T: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    what: &str,
    deadline: Duration,
    ok: impl Fn(&T) -> bool,
) -> T {
    let mut last = None;
    let found = tokio::time::timeout(deadline, async {
        while let Some(v) = rx.recv().await {
            if ok(&v) {
                return Some(v);
            }
            last = Some(v);
        }
        None
    })
    .await;
    match found {
        Ok(Some(v)) => v,
        _ => panic!("{what}: not seen within {deadline:?}; last: {last:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_work_against_a_real_cluster() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let endpoints = cluster.client_urls().join(",");
    service_discovery_sees_instances_register_and_expire_with_their_lease(&endpoints).await;
    config_reload_applies_each_change(&endpoints).await;
    lock_holders_never_overlap_and_lose_no_increment(&endpoints).await;
    election_has_one_leader_and_the_next_takes_over_on_resign(&endpoints).await;
}

async fn service_discovery_sees_instances_register_and_expire_with_their_lease(endpoints: &str) {
    use service_discovery::*;
    let client = connect(endpoints).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = {
        let client = client.clone();
        tokio::spawn(async move {
            discover(&client, "web", |instances| {
                tx.send(instances.clone()).is_ok()
            })
            .await
        })
    };
    let initial = wait_until(&mut rx, "initial list", Duration::from_secs(5), |_| true).await;
    assert!(initial.is_empty(), "{initial:?}");

    let a = register(&client, "web", "a", "10.0.0.1:80", 2)
        .await
        .unwrap();
    let b = register(&client, "web", "b", "10.0.0.2:80", 2)
        .await
        .unwrap();
    let both = wait_until(&mut rx, "a and b up", Duration::from_secs(5), |i| {
        i.len() == 2
    })
    .await;
    assert_eq!(both["a"], "10.0.0.1:80");
    assert_eq!(both["b"], "10.0.0.2:80");

    // Kept alive past its TTL, the instance stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kept = client.clone().get("services/web/a", None).await.unwrap();
    assert_eq!(kept.kvs().len(), 1, "a is kept alive past its 2 s TTL");

    // A clean shutdown removes b at once; a crash (no more keep-alives) removes a
    // when its lease expires.
    b.deregister(&client).await.unwrap();
    let only_a = wait_until(&mut rx, "b gone", Duration::from_secs(2), |i| {
        !i.contains_key("b")
    })
    .await;
    assert!(only_a.contains_key("a"), "{only_a:?}");
    let stopped = std::time::Instant::now();
    a.stop_keep_alive();
    let none = wait_until(&mut rx, "a expired", Duration::from_secs(10), |i| {
        !i.contains_key("a")
    })
    .await;
    assert!(none.is_empty(), "{none:?}");
    // Not before the lease could expire (TTL 2 s, refreshed every ~0.7 s).
    assert!(
        stopped.elapsed() >= Duration::from_millis(1000),
        "expired after {:?}",
        stopped.elapsed()
    );
    watcher.abort();
}

async fn config_reload_applies_each_change(endpoints: &str) {
    use config_reload::*;
    let client = connect(endpoints).await.unwrap();
    let mut writer = client.clone();
    writer
        .put("app/config/log_level", "info", None)
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = {
        let client = client.clone();
        tokio::spawn(async move {
            load_and_watch(&client, "app/config/", |config| {
                tx.send(config.clone()).is_ok()
            })
            .await
        })
    };
    let loaded = wait_until(&mut rx, "initial load", Duration::from_secs(5), |_| true).await;
    assert_eq!(loaded.get("log_level").map(String::as_str), Some("info"));

    writer
        .put("app/config/log_level", "debug", None)
        .await
        .unwrap();
    // The very next reload is the change: nothing is applied without one (the
    // watch's "created" response carries no event).
    let reloaded = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a reload after the put")
        .unwrap();
    assert_eq!(reloaded.get("log_level").map(String::as_str), Some("debug"));
    writer.put("app/config/workers", "4", None).await.unwrap();
    writer.delete("app/config/log_level", None).await.unwrap();
    let last = wait_until(&mut rx, "log_level removed", Duration::from_secs(5), |c| {
        !c.contains_key("log_level")
    })
    .await;
    assert_eq!(last.get("workers").map(String::as_str), Some("4"));
    // Keys outside the prefix are not configuration.
    assert_eq!(last.len(), 1, "{last:?}");
    watcher.abort();
}

async fn lock_holders_never_overlap_and_lose_no_increment(endpoints: &str) {
    use lock::*;
    let (holders, rounds) = (3, 3);
    let mut tasks = Vec::new();
    for holder in 0..holders {
        // One connection each, as separate processes would have.
        let client = connect(endpoints).await.unwrap();
        tasks.push(tokio::spawn(async move {
            increment_rounds(&client, "test/lock", "test/lock-counter", holder, rounds).await
        }));
    }
    let mut spans: Vec<Held> = Vec::new();
    for t in tasks {
        spans.extend(t.await.unwrap().unwrap());
    }
    assert_eq!(spans.len(), holders * rounds);
    spans.sort_by_key(|s| s.from);
    for pair in spans.windows(2) {
        assert!(
            pair[0].to <= pair[1].from,
            "holder {} held the lock while holder {} did: {pair:?}",
            pair[1].holder,
            pair[0].holder
        );
    }
    let mut client = connect(endpoints).await.unwrap();
    let counter = client.get("test/lock-counter", None).await.unwrap();
    assert_eq!(
        counter.kvs()[0].value_str().unwrap(),
        (holders * rounds).to_string(),
        "every read-modify-write under the lock counted"
    );
}

async fn election_has_one_leader_and_the_next_takes_over_on_resign(endpoints: &str) {
    use election::*;
    let first = connect(endpoints).await.unwrap();
    let second = connect(endpoints).await.unwrap();
    let leader = campaign(&first, "test/election", "first", 5).await.unwrap();
    assert_eq!(
        current_leader(&first, "test/election")
            .await
            .unwrap()
            .as_deref(),
        Some("first")
    );
    let waiting = {
        let second = second.clone();
        tokio::spawn(async move { campaign(&second, "test/election", "second", 5).await })
    };
    // The second campaign waits while the first leads.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "two leaders at once");
    assert_eq!(
        current_leader(&second, "test/election")
            .await
            .unwrap()
            .as_deref(),
        Some("first")
    );
    leader.resign(&first).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the second candidate is elected after the first resigns")
        .unwrap()
        .unwrap();
    assert_eq!(next.candidate, "second");
    assert_eq!(
        current_leader(&first, "test/election")
            .await
            .unwrap()
            .as_deref(),
        Some("second")
    );
    next.resign(&second).await.unwrap();
    assert_eq!(current_leader(&first, "test/election").await.unwrap(), None);
}
