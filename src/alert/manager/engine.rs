//! The engine of the alert manager: the one task that owns the evaluator and the
//! notification groups.
//!
//! Each new snapshot wakes it: [`Engine::evaluate`] runs the rules and records what
//! changed; [`Engine::dispatch`] publishes the view the handle serves, groups the
//! firing, unmuted alerts per receiver and `group_by` labels, and sends each group
//! when due (group_wait after it appears, group_interval between flushes,
//! repeat_interval before an unchanged group is told again). The notification log
//! (`nflog`) says what each group's receiver was told, so a restart neither repeats
//! a notification nor forgets to say that an alert resolved.
//!
//! Storage goes through the handle's side ([`Shared`]): this file names no table.
//! The time comes from the clock the handle and the engine share, and notifications
//! leave through a [`Deliver`] function, so that the tests drive the grouping with a
//! manual clock and see what would be sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};

use super::handle::{self, NflogEntry, Shared, PRUNE_EVERY_MS};
use super::{duration_ms, lock, rfc3339, AlertView, AlertsView, HistoryEntry};
use crate::alert::eval::{Alert, AlertPhase, Evaluator, TransitionKind};
use crate::alert::routing::{parse_matchers, GroupingSettings, Matcher, RouteConfig};
use crate::alert::{AlertError, AlertingSettings, Fingerprint, Result};
use crate::collect::{ClusterSnapshot, SnapshotBoard};
use crate::etcd::ClusterConfig;
use crate::notify::{self, Notification, NotifiedAlert, Receiver, RetryPolicy};
use crate::store::Store;

/// The alert that mutes member-level alerts of its cluster while it fires.
const INHIBITING_ALERT: &str = "etcdClusterUnavailable";
/// How long to wait, at most, before looking at the groups again when nothing happens.
/// Every probe wakes the manager anyway (escalations and silence ends are seen then),
/// and group timers wake it when due: a short idle wake only costs CPU.
const IDLE_WAKE: Duration = Duration::from_secs(60);
/// Resolved alerts not yet told to their receivers are dropped after this long.
const RESOLVED_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Clamped into the range every formatter takes (a stored time of another version
/// may lie anywhere).
fn to_system_time(ms: i64) -> SystemTime {
    let ms = ms.clamp(crate::time::EARLIEST_MS, crate::time::LATEST_MS);
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

/// Carries one notification to one receiver and says whether it arrived (the error
/// as text, for the history). The engine's decisions end at this call: in production
/// it is [`notify::deliver`] (retries and all, see [`notify_deliver`]); the tests
/// record the notification instead.
pub(super) type Deliver = Box<
    dyn Fn(
            Arc<Receiver>,
            Notification,
            RetryPolicy,
        ) -> BoxFuture<'static, std::result::Result<(), String>>
        + Send
        + Sync,
>;

/// [`notify::deliver`], as the engine calls it.
pub(super) fn notify_deliver() -> Deliver {
    Box::new(|target, notification, policy| {
        Box::pin(async move {
            notify::deliver(&target, &notification, policy)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
}

/// A route with its matchers parsed.
struct Route {
    matchers: Vec<Matcher>,
    config: RouteConfig,
}

/// A group: one receiver, one value of the group-by labels.
struct Group {
    labels: BTreeMap<String, String>,
    created_ms: i64,
    flushed_ms: Option<i64>,
    in_flight: bool,
}

/// A group's receiver, labels and alerts at one pass.
type GroupNow = (String, BTreeMap<String, String>, Vec<Alert>);

/// A delivery that finished.
pub(super) struct Delivered {
    key: String,
    receiver: String,
    firing: BTreeMap<Fingerprint, Alert>,
    resolved: Vec<Alert>,
    result: std::result::Result<(), String>,
}

/// What wakes the engine besides new snapshots: finished deliveries, and changes
/// made through the handle. Subscribed when the engine is built, so that a change
/// made before its task first runs still wakes it.
pub(super) struct Wakes {
    done: mpsc::UnboundedReceiver<Delivered>,
    poked: watch::Receiver<u64>,
}

/// What the engine is built from, read and checked before anything else at start:
/// the rules with the state saved before a restart, the receivers, the routes.
pub(super) struct Setup {
    evaluator: Evaluator,
    receivers: HashMap<String, Arc<Receiver>>,
    routes: Vec<Route>,
}

impl Setup {
    pub(super) fn new(
        alerting: &AlertingSettings,
        clusters: &[ClusterConfig],
        store: &Store,
        now_ms: i64,
    ) -> Result<Setup> {
        let mut evaluator = Evaluator::for_clusters(alerting, clusters)?;
        if let Some(state) = handle::read_state(store)? {
            evaluator.restore(state);
        }
        if let Err(e) = evaluator.seed_windows(store, now_ms) {
            tracing::warn!("alert rules: refilling windows from history: {e}");
        }
        let mut receivers = HashMap::new();
        for r in &alerting.receivers {
            let receiver = Receiver::new(r).map_err(AlertError::Receiver)?;
            receivers.insert(r.name().to_string(), Arc::new(receiver));
        }
        let routes = alerting
            .routes
            .iter()
            .map(|r| {
                Ok(Route {
                    matchers: parse_matchers(&r.matchers).map_err(AlertError::Config)?,
                    config: r.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Setup {
            evaluator,
            receivers,
            routes,
        })
    }
}

/// The task's state.
pub(super) struct Engine {
    shared: Arc<Shared>,
    /// When ended silences and old history are next deleted.
    next_prune_ms: i64,
    board: SnapshotBoard,
    evaluator: Evaluator,
    receivers: HashMap<String, Arc<Receiver>>,
    routes: Vec<Route>,
    default_receivers: Vec<String>,
    grouping: GroupingSettings,
    external_url: String,
    retry: RetryPolicy,
    groups: HashMap<String, Group>,
    nflog: HashMap<String, NflogEntry>,
    /// Resolved alerts some receiver has not been told about yet.
    resolved: HashMap<Fingerprint, Alert>,
    delivery_errors: Vec<String>,
    notifications: BTreeMap<String, super::NotificationCounts>,
    deliver: Deliver,
    done_tx: mpsc::UnboundedSender<Delivered>,
}

impl Engine {
    /// The engine over `setup` and the notification log read from the store.
    pub(super) fn new(
        setup: Setup,
        alerting: &AlertingSettings,
        listen: std::net::SocketAddr,
        board: SnapshotBoard,
        shared: Arc<Shared>,
        nflog: HashMap<String, NflogEntry>,
        deliver: Deliver,
    ) -> (Engine, Wakes) {
        // Alerts some receiver was told are firing, which are no longer active (they
        // resolved while the monitor was down, or before it could say so): tell them.
        let mut resolved = HashMap::new();
        let active: BTreeSet<Fingerprint> =
            setup.evaluator.active().map(|a| a.fingerprint).collect();
        let now = shared.now();
        for entry in nflog.values() {
            for (fp, alert) in &entry.firing {
                if !active.contains(fp) {
                    let mut a = alert.clone();
                    a.phase = AlertPhase::Resolved;
                    a.resolved_at_ms.get_or_insert(now);
                    resolved.insert(*fp, a);
                }
            }
        }
        let (done_tx, done) = mpsc::unbounded_channel();
        let poked = shared.poke.subscribe();
        let external_url = alerting
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let engine = Engine {
            shared,
            next_prune_ms: 0,
            board,
            evaluator: setup.evaluator,
            receivers: setup.receivers,
            routes: setup.routes,
            default_receivers: alerting.default_receivers.clone(),
            grouping: alerting.grouping.clone(),
            external_url: external_url.trim_end_matches('/').to_string(),
            retry: alerting.retry.policy(),
            groups: HashMap::new(),
            nflog,
            resolved,
            delivery_errors: Vec::new(),
            notifications: BTreeMap::new(),
            deliver,
            done_tx,
        };
        (engine, Wakes { done, poked })
    }

    /// The task: evaluates at start and after every snapshot, dispatches after every
    /// wake, until `stop` or until the collectors stop.
    pub(super) async fn run(mut self, wakes: Wakes, mut stop: watch::Receiver<bool>) {
        let Wakes {
            done: mut done_rx,
            mut poked,
        } = wakes;
        let mut membership = self.board.membership();
        let (mut names, mut watches) = self.follow_clusters();
        self.evaluate(None).await;
        loop {
            self.prune_if_due();
            let wait = self.dispatch();
            let changed = async {
                if watches.is_empty() {
                    std::future::pending::<(bool, usize)>().await
                } else {
                    let (result, index, _) = futures::future::select_all(
                        watches.iter_mut().map(|w| Box::pin(w.changed())),
                    )
                    .await;
                    (result.is_ok(), index)
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                (fresh, index) = changed => {
                    if fresh {
                        self.evaluate(names.get(index).map(String::as_str)).await;
                    } else {
                        // That cluster's collector ended (it was removed).
                        (names, watches) = self.follow_clusters();
                    }
                }
                Ok(()) = membership.changed() => {
                    (names, watches) = self.follow_clusters();
                    self.evaluate(None).await;
                }
                Some(done) = done_rx.recv() => self.delivered(done).await,
                _ = poked.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn now(&self) -> i64 {
        self.shared.now()
    }

    /// The clusters on the board now, and a watch of each that still has a
    /// collector (a fixed board's have none: they never change); the rules are
    /// told which clusters there are, so that a removed one's alerts resolve.
    #[allow(clippy::type_complexity)]
    fn follow_clusters(&mut self) -> (Vec<String>, Vec<watch::Receiver<Arc<ClusterSnapshot>>>) {
        self.evaluator.set_clusters(&self.board.configs());
        self.board
            .names()
            .into_iter()
            .filter_map(|n| {
                let w = self.board.subscribe(&n)?;
                w.has_changed().is_ok().then_some((n, w))
            })
            .unzip()
    }

    /// Bounds the silences and the history, at most hourly.
    fn prune_if_due(&mut self) {
        let now = self.now();
        if now < self.next_prune_ms {
            return;
        }
        self.next_prune_ms = now.saturating_add(PRUNE_EVERY_MS);
        self.shared.prune(now);
    }

    /// Runs the rules over the latest snapshot of `cluster` (of every cluster when
    /// `None`) and records what changed. One cluster at a time: each cluster's probe
    /// wakes the manager, and the other clusters' alerts stay as they are.
    async fn evaluate(&mut self, cluster: Option<&str>) {
        let now = self.now();
        let snapshots = match cluster {
            Some(name) => self.board.get(name).into_iter().collect(),
            None => self.board.all(),
        };
        self.evaluate_snapshots(now, &snapshots).await;
    }

    /// Runs the rules over `snapshots` at `now`; saves the state and the history of
    /// what changed, and keeps resolved alerts until their receivers are told.
    async fn evaluate_snapshots(&mut self, now: i64, snapshots: &[Arc<ClusterSnapshot>]) {
        let transitions = self
            .evaluator
            .evaluate(now, snapshots, Some(&self.shared.store));
        if transitions.is_empty() {
            // The dispatch that follows every evaluation publishes the new view.
            return;
        }
        let mut history = Vec::new();
        for t in &transitions {
            let event = match t.kind {
                TransitionKind::Pending => "pending",
                TransitionKind::Firing => "firing",
                TransitionKind::Resolved => "resolved",
                TransitionKind::Cancelled => "cancelled",
            };
            let summary = t
                .alert
                .annotations
                .get("summary")
                .cloned()
                .unwrap_or_default();
            history.push(HistoryEntry::of_alert(t.at_ms, event, &t.alert, summary));
            if t.kind == TransitionKind::Resolved {
                self.resolved.insert(t.alert.fingerprint, t.alert.clone());
                self.shared.end_acknowledgement(t.alert.fingerprint);
            }
        }
        let state = self.evaluator.state().to_bytes();
        let shared = self.shared.clone();
        let write = tokio::task::spawn_blocking(move || shared.save_evaluation(state, &history));
        let _ = write.await;
        for t in &transitions {
            tracing::info!(
                alert = t.alert.alertname(),
                cluster = t.alert.cluster(),
                member = t.alert.member().unwrap_or(""),
                fingerprint = %t.alert.fingerprint,
                "alert {:?}",
                t.kind
            );
        }
    }

    /// Silences muting `alert` (ids) and the alert inhibiting it.
    fn mutes(
        &self,
        alert: &Alert,
        control: &handle::Control,
        now: i64,
    ) -> (Vec<String>, Option<Fingerprint>) {
        let silenced = control
            .silences
            .iter()
            .filter(|s| s.is_active(now) && s.matches(&alert.labels))
            .map(|s| s.id.clone())
            .collect();
        let inhibited = if alert.member().is_some() && alert.alertname() != INHIBITING_ALERT {
            self.evaluator
                .active()
                .find(|a| {
                    a.phase == AlertPhase::Firing
                        && a.alertname() == INHIBITING_ALERT
                        && a.cluster() == alert.cluster()
                })
                .map(|a| a.fingerprint)
        } else {
            None
        };
        (silenced, inhibited)
    }

    /// The receivers of `alert`: its routes', plus escalation receivers when it has
    /// fired long enough unacknowledged.
    fn receivers_of(&self, alert: &Alert, acked: bool, now: i64) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut matched = false;
        for r in &self.routes {
            if !r.matchers.iter().all(|m| m.matches(&alert.labels)) {
                continue;
            }
            matched = true;
            out.extend(r.config.receivers.iter().cloned());
            if let (Some(after), Some(fired)) = (r.config.escalate_after, alert.fired_at_ms) {
                if !acked
                    && alert.phase == AlertPhase::Firing
                    && now.saturating_sub(fired) >= duration_ms(after)
                {
                    out.extend(r.config.escalate_to.iter().cloned());
                }
            }
            if !r.config.continue_matching {
                break;
            }
        }
        if !matched {
            out.extend(self.default_receivers.iter().cloned());
        }
        out.sort();
        out.dedup();
        out
    }

    fn group_key(&self, receiver: &str, alert: &Alert) -> (String, BTreeMap<String, String>) {
        let labels: BTreeMap<String, String> = self
            .grouping
            .group_by
            .iter()
            .filter_map(|l| alert.labels.get(l).map(|v| (l.clone(), v.clone())))
            .collect();
        let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        (format!("{receiver}:{{{}}}", inner.join(",")), labels)
    }

    fn publish(&self, now: i64) {
        let control = lock(&self.shared.control);
        let version = control.version;
        let mut alerts: Vec<AlertView> = self
            .evaluator
            .active()
            .map(|a| {
                let (silenced_by, inhibited_by) = self.mutes(a, &control, now);
                let acknowledged = control.acks.get(&a.fingerprint).cloned();
                let receivers = self.receivers_of(a, acknowledged.is_some(), now);
                AlertView {
                    alert: a.clone(),
                    silenced_by,
                    inhibited_by,
                    acknowledged,
                    receivers,
                }
            })
            .collect();
        drop(control);
        alerts.sort_by(|a, b| {
            (b.alert.phase == AlertPhase::Firing)
                .cmp(&(a.alert.phase == AlertPhase::Firing))
                .then(a.alert.severity().cmp(b.alert.severity()))
                .then(a.alert.alertname().cmp(b.alert.alertname()))
                .then(a.alert.cluster().cmp(b.alert.cluster()))
                .then(a.alert.member().cmp(&b.alert.member()))
        });
        let view = AlertsView {
            evaluated_at_ms: Some(now),
            alerts,
            delivery_errors: self.delivery_errors.clone(),
            notifications: self.notifications.clone(),
        };
        self.shared.publish(view, version);
    }

    /// Sends what is due; returns how long until something may be due.
    fn dispatch(&mut self) -> Duration {
        let now = self.now();
        self.publish(now);
        self.resolved.retain(|_, a| {
            a.resolved_at_ms
                .is_none_or(|t| now.saturating_sub(t) < RESOLVED_KEPT_MS)
        });
        let current = self.current_groups();
        let mut next = IDLE_WAKE;
        let current_keys: BTreeSet<String> = current.keys().cloned().collect();
        for (key, group_now) in current {
            if let Some(due_in) = self.flush(key, group_now, now) {
                next = next.min(due_in);
            }
        }
        // Groups with nothing left and nothing in flight go.
        self.groups
            .retain(|key, g| g.in_flight || current_keys.contains(key));
        // Resolved alerts no receiver still holds as firing are done, unless a
        // delivery in flight may be about to tell one they fire.
        if !self.groups.values().any(|g| g.in_flight) {
            let nflog = &self.nflog;
            self.resolved
                .retain(|fp, _| nflog.values().any(|e| e.firing.contains_key(fp)));
        }
        next
    }

    /// Every group's current alerts, by group key: firing ones not muted (from the
    /// view just published), and resolved ones.
    fn current_groups(&self) -> HashMap<String, GroupNow> {
        let mut current: HashMap<String, GroupNow> = HashMap::new();
        let view = self.shared.view();
        for v in view
            .alerts
            .iter()
            .filter(|v| v.alert.phase == AlertPhase::Firing && !v.is_muted())
        {
            for r in &v.receivers {
                let (key, labels) = self.group_key(r, &v.alert);
                current
                    .entry(key)
                    .or_insert_with(|| (r.clone(), labels, Vec::new()))
                    .2
                    .push(v.alert.clone());
            }
        }
        // Resolved alerts go to every group whose log says it was told they fire.
        for a in self.resolved.values() {
            for (key, entry) in &self.nflog {
                if entry.firing.contains_key(&a.fingerprint) {
                    // Keys are "{receiver}:{labels}" (see group_key).
                    let receiver = key.split_once(":{").map_or("", |(r, _)| r).to_string();
                    let (_, labels) = self.group_key(&receiver, a);
                    current
                        .entry(key.clone())
                        .or_insert_with(|| (receiver, labels, Vec::new()))
                        .2
                        .push(a.clone());
                }
            }
        }
        current
    }

    /// Sends group `key` if it is due and has something to say (new firing alerts,
    /// resolved ones its receiver wants, or a repeat). Returns how long until it is
    /// due when it is not yet.
    fn flush(&mut self, key: String, group_now: GroupNow, now: i64) -> Option<Duration> {
        let (receiver, labels, alerts) = group_now;
        let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
            labels: labels.clone(),
            created_ms: now,
            flushed_ms: None,
            in_flight: false,
        });
        if group.in_flight {
            return None;
        }
        let target = self.receivers.get(&receiver).cloned()?;
        // A receiver that must hear of a firing alert again and again to keep it
        // (Alertmanager) sets how often, when that is sooner than the grouping's.
        let resend = target.resend_interval();
        let sooner = |configured: Duration| resend.map_or(configured, |r| r.min(configured));
        let due_at = match group.flushed_ms {
            None => group
                .created_ms
                .saturating_add(duration_ms(self.grouping.group_wait)),
            Some(t) => t.saturating_add(duration_ms(sooner(self.grouping.group_interval))),
        };
        if now < due_at {
            return Some(Duration::from_millis((due_at - now) as u64));
        }
        let entry = self.nflog.get(&key).cloned().unwrap_or_default();
        let firing: BTreeMap<Fingerprint, Alert> = alerts
            .iter()
            .filter(|a| a.phase == AlertPhase::Firing)
            .map(|a| (a.fingerprint, a.clone()))
            .collect();
        let resolved: Vec<Alert> = alerts
            .iter()
            .filter(|a| {
                a.phase == AlertPhase::Resolved && entry.firing.contains_key(&a.fingerprint)
            })
            .cloned()
            .collect();
        let new_firing = firing.keys().any(|fp| !entry.firing.contains_key(fp));
        let repeat = !firing.is_empty()
            && now.saturating_sub(entry.sent_at_ms)
                >= duration_ms(sooner(self.grouping.repeat_interval));
        let tell_resolved = !resolved.is_empty() && target.send_resolved();
        group.flushed_ms = Some(now);
        if !(new_firing || repeat || tell_resolved) {
            if !resolved.is_empty() {
                // Nothing to say (send_resolved = false): just forget them.
                let mut entry = entry;
                for a in &resolved {
                    entry.firing.remove(&a.fingerprint);
                }
                self.shared.save_nflog(&key, Some(&entry));
                self.nflog.insert(key, entry);
            }
            return None;
        }
        group.in_flight = true;
        let notification = Notification::new(
            receiver.clone(),
            key.clone(),
            group.labels.clone(),
            firing
                .values()
                .chain(resolved.iter())
                .map(|a| self.notified(a))
                .collect(),
            self.external_url.clone(),
        );
        // Started here, awaited in a task of its own: a slow receiver stalls neither
        // the engine nor the other groups.
        let sending = (self.deliver)(target, notification, self.retry);
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let result = sending.await;
            let _ = done.send(Delivered {
                key,
                receiver,
                firing,
                resolved,
                result,
            });
        });
        None
    }

    fn notified(&self, a: &Alert) -> NotifiedAlert {
        let starts = a.fired_at_ms.unwrap_or(a.active_since_ms);
        let ends = (a.phase == AlertPhase::Resolved)
            .then(|| to_system_time(a.resolved_at_ms.unwrap_or_else(|| self.now())));
        NotifiedAlert::new(
            a.labels.clone(),
            a.annotations.clone(),
            to_system_time(starts),
            ends,
            format!("{}/alerts", self.external_url),
        )
    }

    /// Records the outcome of a delivery: the notification log and the history.
    async fn delivered(&mut self, d: Delivered) {
        let now = self.now();
        if let Some(g) = self.groups.get_mut(&d.key) {
            g.in_flight = false;
        }
        let mut history = Vec::new();
        let counts = self.notifications.entry(d.receiver.clone()).or_default();
        match &d.result {
            Ok(()) => counts.sent = counts.sent.saturating_add(1),
            Err(_) => counts.failed = counts.failed.saturating_add(1),
        }
        match &d.result {
            Ok(()) => {
                let entry = NflogEntry {
                    firing: d.firing.clone(),
                    sent_at_ms: now,
                };
                // A group with nothing firing any more has nothing to remember.
                if entry.firing.is_empty() {
                    self.shared.save_nflog(&d.key, None);
                    self.nflog.remove(&d.key);
                } else {
                    self.shared.save_nflog(&d.key, Some(&entry));
                    self.nflog.insert(d.key.clone(), entry);
                }
                for a in d.firing.values() {
                    history.push(HistoryEntry::of_alert(
                        now,
                        "notified",
                        a,
                        format!("firing, to {}", d.receiver),
                    ));
                }
                for a in &d.resolved {
                    history.push(HistoryEntry::of_alert(
                        now,
                        "notified",
                        a,
                        format!("resolved, to {}", d.receiver),
                    ));
                }
                tracing::info!(receiver = %d.receiver, group = %d.key, firing = d.firing.len(), resolved = d.resolved.len(), "notified");
            }
            Err(e) => {
                tracing::error!(receiver = %d.receiver, group = %d.key, "notification failed: {e}");
                self.delivery_errors.push(format!("{}: {e}", rfc3339(now)));
                if self.delivery_errors.len() > 10 {
                    self.delivery_errors.remove(0);
                }
                for a in d.firing.values().chain(d.resolved.iter()) {
                    history.push(HistoryEntry::of_alert(
                        now,
                        "notify_failed",
                        a,
                        format!("to {}: {e}", d.receiver),
                    ));
                }
            }
        }
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || shared.record(&history)).await;
    }
}

#[cfg(test)]
mod tests;
