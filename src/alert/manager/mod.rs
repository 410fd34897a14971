//! The alert manager: evaluates the rules after every probe, keeps the alerts' state
//! and history in the store, applies silences, inhibition and acknowledgements, routes
//! alerts to receivers in groups (Alertmanager's group_wait / group_interval /
//! repeat_interval), and remembers what each receiver was told (the notification log)
//! so a restart neither repeats nor loses a notification.
//!
//! One task owns the evaluator and the groups; the web layer reads a published view
//! and changes silences and acknowledgements through [`AlertManager`].
//!
//! - `handle`: [`AlertManager`], what the web layer and the CLI call (active alerts,
//!   history, silences, acknowledgements), and the persistence of the manager: the
//!   `alert_*` record tables, what is read back at start, and their bounds.
//! - `engine`: the task: evaluates the rules over each new snapshot, publishes the
//!   view, groups alerts per receiver and dispatches notifications, and keeps the
//!   notification log. Its tests (engine/tests.rs) drive it step by step.
//! - `clock`: the time both sides read: the system clock, or in tests a manual one.
//!
//! This file holds what both sides speak of (history entries, the published view)
//! and [`start`], which wires them together.

mod clock;
mod engine;
mod handle;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::eval::Alert;
use super::routing::{Acknowledgement, Silence};
use super::{AlertingSettings, Fingerprint, Result};
use crate::collect::SnapshotBoard;
use crate::etcd::ClusterConfig;
use crate::store::Store;
use clock::Clock;
use engine::{Deliver, Engine, Setup, Wakes};
use handle::Shared;
pub use handle::{fuzz_stored_records, read_history, AlertManager, ENDED_SILENCES_SHOWN};

/// Every kind of [`HistoryEntry::event`], in the order of an alert's life.
pub const HISTORY_EVENTS: [&str; 9] = [
    "pending",
    "firing",
    "resolved",
    "cancelled",
    "acknowledged",
    "silence_created",
    "silence_expired",
    "notified",
    "notify_failed",
];

/// One entry of the alert history: a change of an alert or of what mutes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at_ms: i64,
    /// One of [`HISTORY_EVENTS`].
    pub event: String,
    pub fingerprint: Option<Fingerprint>,
    pub alertname: String,
    pub cluster: String,
    pub member: Option<String>,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    pub value: Option<f64>,
    /// Who did it (acknowledgements and silences).
    pub by: Option<String>,
    pub detail: String,
}

impl HistoryEntry {
    fn of_alert(at_ms: i64, event: &str, alert: &Alert, detail: String) -> Self {
        HistoryEntry {
            at_ms,
            event: event.into(),
            fingerprint: Some(alert.fingerprint),
            alertname: alert.alertname().into(),
            cluster: alert.cluster().into(),
            member: alert.member().map(String::from),
            severity: alert.severity().into(),
            labels: alert.labels.clone(),
            value: Some(alert.value),
            by: None,
            detail,
        }
    }

    fn of_silence(at_ms: i64, event: &str, s: &Silence, by: &str) -> Self {
        HistoryEntry {
            at_ms,
            event: event.into(),
            fingerprint: None,
            alertname: String::new(),
            cluster: String::new(),
            member: None,
            severity: String::new(),
            labels: BTreeMap::new(),
            value: None,
            by: Some(by.into()),
            detail: format!(
                "silence {} [{}] until {}: {}",
                s.id,
                s.matchers.join(", "),
                rfc3339(s.ends_at_ms),
                s.comment
            ),
        }
    }
}

/// Filters of [`AlertManager::history`].
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub cluster: Option<String>,
    pub alertname: Option<String>,
    pub event: Option<String>,
    /// Entries before this time (newest first from there).
    pub before_ms: Option<i64>,
    pub limit: usize,
}

/// An active alert as the API and pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: Alert,
    /// Silences muting it (ids).
    pub silenced_by: Vec<String>,
    /// The alert that inhibits it, if any.
    pub inhibited_by: Option<Fingerprint>,
    pub acknowledged: Option<Acknowledgement>,
    /// Where its notifications go.
    pub receivers: Vec<String>,
}

impl AlertView {
    pub fn is_muted(&self) -> bool {
        !self.silenced_by.is_empty() || self.inhibited_by.is_some()
    }
}

/// What the manager publishes after each pass.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertsView {
    pub evaluated_at_ms: Option<i64>,
    /// Pending and firing alerts, firing first, then by severity and name.
    pub alerts: Vec<AlertView>,
    /// Notifications that failed and gave up, latest last (a few).
    pub delivery_errors: Vec<String>,
    /// Notifications delivered and given up, per receiver, since the start (for
    /// `/metrics`; one entry per configured receiver at most).
    #[serde(skip)]
    pub notifications: BTreeMap<String, NotificationCounts>,
}

/// How many notifications one receiver was sent, and how many failed for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    pub sent: u64,
    pub failed: u64,
}

/// A request to create a silence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub matchers: Vec<String>,
    /// Default: now.
    pub starts_at_ms: Option<i64>,
    /// Give this or `duration`.
    pub ends_at_ms: Option<i64>,
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// With a login, the web layer sets it to who is signed in.
    #[serde(default)]
    pub created_by: String,
    pub comment: String,
}

/// Starts the manager's task on the current tokio runtime. Reads what the store holds
/// (state, silences, acknowledgements, notification log) first.
/// `listen` is where the monitor answers: links in notifications point there unless
/// `alerting.external_url` says otherwise.
pub fn start(
    alerting: &AlertingSettings,
    clusters: &[ClusterConfig],
    listen: std::net::SocketAddr,
    board: SnapshotBoard,
    store: Arc<Store>,
    stop: watch::Receiver<bool>,
) -> Result<(AlertManager, tokio::task::JoinHandle<()>)> {
    let (manager, engine, wakes) = assemble(
        alerting,
        clusters,
        listen,
        board,
        store,
        Clock::system(),
        engine::notify_deliver(),
    )?;
    Ok((manager, tokio::spawn(engine.run(wakes, stop))))
}

/// The handle and the engine over what the store holds, not started yet: both read
/// the time from `clock`, and the engine sends through `deliver` (the tests pass a
/// manual clock and a recorder).
fn assemble(
    alerting: &AlertingSettings,
    clusters: &[ClusterConfig],
    listen: std::net::SocketAddr,
    board: SnapshotBoard,
    store: Arc<Store>,
    clock: Clock,
    deliver: Deliver,
) -> Result<(AlertManager, Engine, Wakes)> {
    // The rules and their state, receivers and routes, then what users changed and
    // the notification log: a broken config fails before the tables are scanned.
    let setup = Setup::new(alerting, clusters, &store, clock.now_ms())?;
    let control = handle::read_control(&store)?;
    let nflog = handle::read_nflog(&store)?;
    let shared = Arc::new(Shared::new(store, control, alerting.limits.clone(), clock));
    let (engine, wakes) = Engine::new(
        setup,
        alerting,
        listen,
        board,
        shared.clone(),
        nflog,
        deliver,
    );
    Ok((AlertManager::new(shared), engine, wakes))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A setting's duration in ms, saturating (a config may say "1000years").
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn rfc3339(ms: i64) -> String {
    crate::time::rfc3339_seconds(ms)
}
