//! The engine's grouping and dispatch on a manual clock, with a recorder in place of
//! `notify::deliver`: group_wait, repeat_interval and the notification log across a
//! restart, in milliseconds and without etcd. The store is a real one in a temp dir,
//! so a restart reads back what the first engine wrote.
//!
//! Each test calls the steps of the engine's loop itself: a probe (an evaluation
//! over a built snapshot), then a dispatch, whose deliveries the harness completes
//! as the loop would.

use std::path::Path;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use super::*;
use crate::alert::manager::clock::Clock;
use crate::alert::manager::{assemble, handle, AlertManager, HistoryFilter};
use crate::collect::derive::Indicators;
use crate::collect::snapshot::{MemberSnapshot, Timestamp};
use crate::notify::AlertStatus;
use crate::store::Retention;

/// 2026-11-27 00:00:00 UTC.
const T0: i64 = 1_795_737_600_000;
const GROUP_WAIT: Duration = Duration::from_secs(30);
const GROUP_INTERVAL: Duration = Duration::from_secs(60);
const REPEAT_INTERVAL: Duration = Duration::from_secs(600);
/// The key of the one group of these tests.
const GROUP: &str = r#"hook:{alertname="ManyKeys",cluster="prod"}"#;

/// One user rule, ManyKeys (more than 100 keys on a member, firing at once), sent to
/// the webhook receiver "hook"; the built-in pack disabled, so nothing else fires.
fn alerting(send_resolved: bool) -> AlertingSettings {
    let mut alerting: AlertingSettings = toml::from_str(&format!(
        r#"
        default_receivers = ["hook"]

        [grouping]
        group_wait = "30s"
        group_interval = "1m"
        repeat_interval = "10m"

        [[rules]]
        name = "ManyKeys"
        indicator = "keys_total"
        aggregate = "member"
        op = ">"
        threshold = 100

        [[receivers]]
        name = "hook"
        type = "webhook"
        url = "http://127.0.0.1:9/never-called"
        send_resolved = {send_resolved}
        "#
    ))
    .unwrap();
    for b in crate::alert::rules::BUILTIN_RULES {
        alerting.builtin.insert(
            b.key.to_string(),
            crate::alert::rules::BuiltinOverride {
                enabled: Some(false),
                ..Default::default()
            },
        );
    }
    assert_eq!(
        (
            alerting.grouping.group_wait,
            alerting.grouping.group_interval,
            alerting.grouping.repeat_interval
        ),
        (GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL)
    );
    alerting
}

/// Cluster prod probed at `at_ms`: its one member, m1, holds `keys` keys.
fn snapshot(at_ms: i64, keys: f64) -> Arc<ClusterSnapshot> {
    let mut snap = ClusterSnapshot::pending("prod", &[]);
    snap.probed_at = Some(Timestamp(UNIX_EPOCH + Duration::from_millis(at_ms as u64)));
    snap.members.push(MemberSnapshot {
        id: "1".into(),
        name: "m1".into(),
        peer_urls: vec![],
        client_urls: vec!["http://127.0.0.1:2379".into()],
        is_learner: false,
        is_leader: true,
        reachable: true,
        healthy: true,
        error: None,
        status: None,
        flags: vec![],
        indicators: Some(Indicators {
            interval_seconds: Some(15.0),
            keys_total: Some(keys),
            ..Default::default()
        }),
        metrics_url: None,
        scrape_error: None,
    });
    Arc::new(snap)
}

fn open_store(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open(&dir.join("s.redb"), Retention::default()).unwrap())
}

/// An engine not running its loop: the test calls its steps.
struct Harness {
    engine: Engine,
    wakes: Wakes,
    manager: AlertManager,
    clock: Clock,
    /// What the engine handed to the receiver, not yet looked at.
    sent: Arc<Mutex<Vec<Notification>>>,
}

impl Harness {
    /// Builds the manager as `start` does, reading what `store` holds, with `clock`
    /// and a recorder that accepts every notification at once.
    fn start(store: Arc<Store>, clock: &Clock, send_resolved: bool) -> Harness {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        let deliver: Deliver = Box::new(move |_receiver, notification, _policy| {
            record.lock().unwrap().push(notification);
            Box::pin(async { Ok(()) })
        });
        let mut settings =
            crate::config::Settings::load_with_env(None, &Default::default(), |_| None).unwrap();
        settings.clusters = vec![ClusterConfig::plain(
            "prod",
            vec!["http://127.0.0.1:2379".into()],
        )];
        // No collector: the tests hand the engine its snapshots.
        let board = crate::collect::Collectors::start(&[], &settings.collect, None, None)
            .unwrap()
            .board;
        let (manager, engine, wakes) = assemble(
            &alerting(send_resolved),
            &settings.clusters,
            settings.server.listen,
            board,
            store,
            clock.clone(),
            deliver,
        )
        .unwrap();
        Harness {
            engine,
            wakes,
            manager,
            clock: clock.clone(),
            sent,
        }
    }

    /// A probe of prod in which m1 holds `keys` keys, and the evaluation it wakes.
    async fn probe(&mut self, keys: f64) {
        let now = self.clock.now_ms();
        self.engine
            .evaluate_snapshots(now, &[snapshot(now, keys)])
            .await;
    }

    /// A dispatch, with the deliveries it started completed as the loop completes
    /// them. Returns what was sent, and how long until something may be due.
    async fn dispatch(&mut self) -> (Vec<Notification>, Duration) {
        let wait = self.engine.dispatch();
        let sent = std::mem::take(&mut *self.sent.lock().unwrap());
        for _ in &sent {
            let done = self.wakes.done.recv().await.unwrap();
            self.engine.delivered(done).await;
        }
        (sent, wait)
    }

    /// A probe that makes the rule fire, then the dispatch after group_wait that
    /// tells the receiver (one firing notification): when it was sent.
    async fn fire_and_tell(&mut self) -> i64 {
        self.probe(200.0).await;
        self.dispatch().await;
        self.clock.advance(GROUP_WAIT);
        let (sent, _) = self.dispatch().await;
        only_notification(&sent, AlertStatus::Firing);
        self.clock.now_ms()
    }

    /// Advances the clock by `by`, dispatches, and checks that nothing was sent.
    async fn quiet_after(&mut self, by: Duration) {
        self.clock.advance(by);
        let (sent, _) = self.dispatch().await;
        assert!(
            sent.is_empty(),
            "sent at T0 + {} s: {sent:?}",
            (self.clock.now_ms() - T0) / 1000
        );
    }

    /// The "notified" entries of the history, oldest first: (time, detail).
    fn notified(&self) -> Vec<(i64, String)> {
        let mut entries = self
            .manager
            .history(&HistoryFilter {
                event: Some("notified".into()),
                limit: 100,
                ..Default::default()
            })
            .unwrap();
        entries.reverse();
        entries.into_iter().map(|e| (e.at_ms, e.detail)).collect()
    }
}

/// The one notification of `sent`, of group ManyKeys to hook, about m1's alert.
fn only_notification(sent: &[Notification], status: AlertStatus) -> &Notification {
    assert_eq!(sent.len(), 1, "{sent:?}");
    let n = &sent[0];
    assert_eq!((n.receiver.as_str(), n.group_key.as_str()), ("hook", GROUP));
    assert_eq!(n.status, status);
    assert_eq!(n.alerts.len(), 1);
    assert_eq!(n.alerts[0].status, status);
    assert_eq!(n.alerts[0].labels["member"], "m1");
    n
}

const MS: Duration = Duration::from_millis(1);

/// A new alert's group is sent once group_wait has passed since it appeared, not a
/// millisecond before; the engine asks to be woken exactly then.
#[tokio::test]
async fn a_new_alert_is_sent_once_group_wait_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let mut h = Harness::start(open_store(dir.path()), &clock, true);
    h.probe(200.0).await;
    let (sent, wait) = h.dispatch().await;
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(wait, GROUP_WAIT);
    // The view is published at once, with where the alert will go.
    let view = h.manager.view();
    assert_eq!(view.alerts.len(), 1);
    assert_eq!(view.alerts[0].alert.phase, AlertPhase::Firing);
    assert_eq!(view.alerts[0].receivers, ["hook"]);

    clock.advance(GROUP_WAIT - MS);
    let (sent, wait) = h.dispatch().await;
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(wait, MS);

    clock.advance(MS);
    let (sent, _) = h.dispatch().await;
    let n = only_notification(&sent, AlertStatus::Firing);
    assert_eq!(n.alerts[0].ends_at, None);
    assert_eq!(h.notified(), [(T0 + 30_000, "firing, to hook".to_string())]);
    // Told once: the next flushes have nothing new to say.
    h.quiet_after(GROUP_INTERVAL).await;
}

/// A group that keeps firing unchanged is flushed every group_interval but told
/// again only once repeat_interval has passed since it was last told.
#[tokio::test]
async fn a_still_firing_group_is_sent_again_only_after_repeat_interval() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let mut h = Harness::start(open_store(dir.path()), &clock, true);
    let first = h.fire_and_tell().await;

    // Nine group intervals, each with a probe that finds it still firing: quiet.
    for _ in 1..10 {
        clock.advance(GROUP_INTERVAL);
        h.probe(250.0).await;
        let (sent, wait) = h.dispatch().await;
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(wait, GROUP_INTERVAL);
    }
    assert_eq!(clock.now_ms() - first, 9 * 60_000);
    // The tenth: repeat_interval since the first notification.
    clock.advance(GROUP_INTERVAL);
    let (sent, _) = h.dispatch().await;
    let n = only_notification(&sent, AlertStatus::Firing);
    assert_eq!(n.alerts[0].labels["alertname"], "ManyKeys");
    assert_eq!(
        h.notified(),
        [
            (first, "firing, to hook".to_string()),
            (first + 600_000, "firing, to hook".to_string())
        ]
    );
    // And the count starts again from the repeat.
    h.quiet_after(GROUP_INTERVAL).await;
}

/// After a restart the notification log, read back from the store, keeps the
/// receiver from being told again about an alert it was told about; the resolution
/// is told, recorded in the history, and the group leaves the log.
#[tokio::test]
async fn the_notification_log_prevents_a_repeat_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let mut first = Harness::start(open_store(dir.path()), &clock, true);
    let told_at = first.fire_and_tell().await;
    drop(first);

    // The monitor restarts a minute later, from the same file.
    clock.advance(Duration::from_secs(60));
    let store = open_store(dir.path());
    let mut second = Harness::start(store.clone(), &clock, true);
    assert_eq!(
        handle::read_nflog(&store).unwrap()[GROUP].sent_at_ms,
        told_at
    );
    second.probe(200.0).await;
    let (sent, wait) = second.dispatch().await;
    assert!(sent.is_empty(), "{sent:?}");
    // A new group to this engine, so it waits group_wait: then has nothing to say.
    assert_eq!(wait, GROUP_WAIT);
    second.quiet_after(GROUP_WAIT).await;
    assert_eq!(second.notified().len(), 1);

    // The alert resolves: that is news to the receiver, told at the next flush.
    clock.advance(GROUP_INTERVAL);
    second.probe(50.0).await;
    let (sent, _) = second.dispatch().await;
    let n = only_notification(&sent, AlertStatus::Resolved);
    let resolved_at = clock.now_ms();
    assert_eq!(
        n.alerts[0].ends_at,
        Some(UNIX_EPOCH + Duration::from_millis(resolved_at as u64))
    );
    assert_eq!(
        second.notified(),
        [
            (told_at, "firing, to hook".to_string()),
            (resolved_at, "resolved, to hook".to_string())
        ]
    );
    // Nothing fires in the group any more: the log forgets it, and nothing follows.
    assert!(handle::read_nflog(&store).unwrap().is_empty());
    second.quiet_after(GROUP_INTERVAL).await;
    second.quiet_after(REPEAT_INTERVAL).await;
}

/// An alert the log says a receiver was told fires, but which is not active after a
/// restart (here the saved evaluator state is unreadable), is told as resolved: the
/// receiver is not left with an alert that never ends.
#[tokio::test]
async fn an_alert_lost_over_a_restart_is_told_as_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let mut first = Harness::start(open_store(dir.path()), &clock, true);
    first.probe(200.0).await;
    first.dispatch().await;
    clock.advance(GROUP_WAIT);
    first.dispatch().await;
    drop(first);

    clock.advance(Duration::from_secs(60));
    let store = open_store(dir.path());
    store
        .write_records(&[(
            handle::STATE_TABLE,
            handle::EVALUATOR_KEY,
            Some(b"\xff not postcard".as_slice()),
        )])
        .unwrap();
    let mut second = Harness::start(store.clone(), &clock, true);
    let restarted_at = clock.now_ms();
    let (sent, wait) = second.dispatch().await;
    assert!(sent.is_empty(), "{sent:?}");
    assert!(second.manager.view().alerts.is_empty());
    assert_eq!(wait, GROUP_WAIT);
    clock.advance(GROUP_WAIT);
    let (sent, _) = second.dispatch().await;
    let n = only_notification(&sent, AlertStatus::Resolved);
    // It ended, as far as anyone can tell, when the restarted monitor found it gone.
    assert_eq!(
        n.alerts[0].ends_at,
        Some(UNIX_EPOCH + Duration::from_millis(restarted_at as u64))
    );
    assert!(handle::read_nflog(&store).unwrap().is_empty());
}

/// A receiver with send_resolved = false is not told of the resolution; the group
/// still leaves the log, so it is not told later either.
#[tokio::test]
async fn a_resolution_nobody_wants_is_dropped_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let store = open_store(dir.path());
    let mut h = Harness::start(store.clone(), &clock, false);
    h.fire_and_tell().await;
    clock.advance(GROUP_INTERVAL);
    h.probe(50.0).await;
    let (sent, _) = h.dispatch().await;
    assert!(sent.is_empty(), "{sent:?}");
    assert!(handle::read_nflog(&store).unwrap()[GROUP].firing.is_empty());
    h.quiet_after(REPEAT_INTERVAL).await;
    assert_eq!(h.notified().len(), 1);
}
