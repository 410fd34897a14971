//! The alert manager: evaluates the rules after every probe, keeps the alerts' state
//! and history in the store, applies silences, inhibition and acknowledgements, routes
//! alerts to receivers in groups (Alertmanager's group_wait / group_interval /
//! repeat_interval), and remembers what each receiver was told (the notification log)
//! so a restart neither repeats nor loses a notification.
//!
//! One task owns the evaluator and the groups; the web layer reads a published view
//! and changes silences and acknowledgements through [`AlertManager`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use super::eval::{Alert, AlertPhase, Evaluator, EvaluatorState, TransitionKind};
use super::routing::{parse_matchers, Acknowledgement, Matcher, RouteConfig, Silence};
use super::{AlertError, AlertingSettings, Fingerprint, Result};
use crate::collect::SnapshotBoard;
use crate::etcd::ClusterConfig;
use crate::notify::{self, Notification, NotifiedAlert, Receiver, RetryPolicy};
use crate::store::{RecordOp, Store};

const STATE_TABLE: &str = "alert_state";
const HISTORY_TABLE: &str = "alert_history";
const SILENCES_TABLE: &str = "alert_silences";
const ACKS_TABLE: &str = "alert_acks";
const NFLOG_TABLE: &str = "alert_nflog";
const EVALUATOR_KEY: &[u8] = b"evaluator";

/// The alert that mutes member-level alerts of its cluster while it fires.
const INHIBITING_ALERT: &str = "etcdClusterUnavailable";
/// How long to wait, at most, before looking at the groups again when nothing happens.
/// Every probe wakes the manager anyway (escalations and silence ends are seen then),
/// and group timers wake it when due: a short idle wake only costs CPU.
const IDLE_WAKE: Duration = Duration::from_secs(60);
/// Resolved alerts not yet told to their receivers are dropped after this long.
const RESOLVED_KEPT_MS: i64 = 24 * 3600 * 1000;

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
    pub created_by: String,
    pub comment: String,
}

/// What a receiver was last told about a group: the notification log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NflogEntry {
    /// The firing alerts it was told about, with what is needed to tell it they resolved
    /// even after a restart that lost them.
    firing: BTreeMap<Fingerprint, Alert>,
    sent_at_ms: i64,
}

/// Decodes `bytes` as each record the manager stores and shows what decodes, as the
/// pages and API would: for the fuzz target of stored records.
#[doc(hidden)]
pub fn fuzz_stored_records(bytes: &[u8]) {
    use crate::time::rfc3339_millis;
    if let Some(e) = readable::<HistoryEntry>(HISTORY_TABLE, bytes) {
        let _ = (rfc3339_millis(e.at_ms), serde_json::to_string(&e));
    }
    if let Some(s) = readable::<Silence>(SILENCES_TABLE, bytes) {
        let _ = (rfc3339_millis(s.starts_at_ms), rfc3339_millis(s.ends_at_ms));
        let _ = (s.matches(&BTreeMap::new()), serde_json::to_string(&s));
    }
    if let Some(a) = readable::<Acknowledgement>(ACKS_TABLE, bytes) {
        let _ = (rfc3339_millis(a.at_ms), serde_json::to_string(&a));
    }
    if let Some(n) = readable::<NflogEntry>(NFLOG_TABLE, bytes) {
        let _ = rfc3339_millis(n.sent_at_ms);
    }
    if let Ok(state) = EvaluatorState::from_bytes(bytes) {
        for alert in state.alerts.values() {
            let _ = serde_json::to_string(alert);
        }
    }
}

/// Silences and acknowledgements: changed by users, read by the manager's task.
#[derive(Debug, Default)]
struct Control {
    silences: Vec<Silence>,
    acks: HashMap<Fingerprint, Acknowledgement>,
    /// Counts the changes made through the handle; a published view says up to
    /// which one it shows.
    version: u64,
}

impl Control {
    /// Marks a change made through the handle; returns its version.
    fn changed(&mut self) -> u64 {
        self.version += 1;
        self.version
    }
}

/// Ended silences listed by the API and the alerts page.
pub const ENDED_SILENCES_SHOWN: usize = 100;

/// How long a change made through the handle waits for a view that shows it.
const PUBLISH_WAIT: Duration = Duration::from_secs(1);

struct Shared {
    store: Arc<Store>,
    control: Mutex<Control>,
    view: RwLock<Arc<AlertsView>>,
    /// Wakes the task when silences or acknowledgements change.
    poke: watch::Sender<u64>,
    /// The `Control::version` the published view was built from.
    published_version: Mutex<u64>,
    published: Condvar,
    history_seq: AtomicU32,
    limits: super::limits::AlertLimits,
    /// Held from the count of open silences to the new one's insertion, so that
    /// concurrent requests cannot pass `max_silences` together (`control` itself is
    /// not held over the disk write, which would stall the manager's task).
    adding_silence: Mutex<()>,
}

/// The handle the web layer and the CLI hold.
#[derive(Clone)]
pub struct AlertManager {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    crate::unix_ms_now()
}

/// A stored record, or `None` (with a warning) when it does not decode.
fn readable<T: serde::de::DeserializeOwned>(table: &str, bytes: &[u8]) -> Option<T> {
    match postcard::from_bytes(bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("alerts: skipping an unreadable record of {table}: {e}");
            None
        }
    }
}

/// A setting's duration in ms, saturating (a config may say "1000years").
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn rfc3339(ms: i64) -> String {
    crate::time::rfc3339_seconds(ms)
}

/// Clamped into the range every formatter takes (a stored time of another version
/// may lie anywhere).
fn to_system_time(ms: i64) -> SystemTime {
    let ms = ms.clamp(crate::time::EARLIEST_MS, crate::time::LATEST_MS);
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

impl Shared {
    /// Wakes the task and waits (at most `PUBLISH_WAIT`) until the view it publishes
    /// shows the change of `version`: whoever silenced or acknowledged, and then reads
    /// the alerts, sees it with what follows from it (muted, the receivers it goes to).
    fn show(&self, version: u64) {
        self.poke.send_modify(|n| *n += 1);
        let published = lock(&self.published_version);
        let _ = self
            .published
            .wait_timeout_while(published, PUBLISH_WAIT, |v| *v < version);
    }

    fn record(&self, entries: &[HistoryEntry]) {
        if entries.is_empty() {
            return;
        }
        let encoded: Vec<(Vec<u8>, Vec<u8>)> = entries
            .iter()
            .map(|e| {
                let seq = self.history_seq.fetch_add(1, Ordering::Relaxed);
                let mut key = (e.at_ms as u64).to_be_bytes().to_vec();
                key.extend_from_slice(&seq.to_be_bytes());
                (key, postcard::to_allocvec(e).unwrap_or_default())
            })
            .collect();
        let ops: Vec<RecordOp<'_>> = encoded
            .iter()
            .map(|(k, v)| (HISTORY_TABLE, k.as_slice(), Some(v.as_slice())))
            .collect();
        if let Err(e) = self.store.write_records(&ops) {
            tracing::error!("alert history: {e}");
        }
    }
}

impl AlertManager {
    /// The current alerts.
    pub fn view(&self) -> Arc<AlertsView> {
        self.shared
            .view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every silence, active, pending and expired (the last day of expired ones).
    /// Silences not ended (at most `max_silences`), then those ended in the last
    /// day, newest first, at most [`ENDED_SILENCES_SHOWN`] of them.
    pub fn silences(&self) -> Vec<Silence> {
        let now = now_ms();
        let day_ago = now.saturating_sub(24 * 3600 * 1000);
        let control = lock(&self.shared.control);
        let mut open: Vec<Silence> = Vec::new();
        let mut ended: Vec<&Silence> = Vec::new();
        for s in &control.silences {
            if s.ends_at_ms > now {
                open.push(s.clone());
            } else if s.ends_at_ms > day_ago {
                ended.push(s);
            }
        }
        ended.sort_by_key(|s| std::cmp::Reverse(s.ends_at_ms));
        open.extend(ended.into_iter().take(ENDED_SILENCES_SHOWN).cloned());
        open.sort_by_key(|s| std::cmp::Reverse(s.created_at_ms));
        open
    }

    pub fn create_silence(&self, req: NewSilence) -> Result<Silence> {
        let bad = |m: &str| AlertError::BadRequest(m.to_string());
        let limits = &self.shared.limits;
        if req.matchers.is_empty() {
            return Err(bad("a silence needs at least one matcher"));
        }
        if req.matchers.len() > limits.max_matchers {
            return Err(bad(&format!(
                "matchers: {} given; at most {} (alerting.limits.max_matchers)",
                req.matchers.len(),
                limits.max_matchers
            )));
        }
        for (i, m) in req.matchers.iter().enumerate() {
            limits
                .check_text(&format!("matchers[{i}]"), m)
                .map_err(|e| bad(&e))?;
        }
        limits
            .check_text("created_by", &req.created_by)
            .and_then(|()| limits.check_text("comment", &req.comment))
            .map_err(|e| bad(&e))?;
        let size = req.matchers.iter().map(String::len).sum::<usize>()
            + req.created_by.len()
            + req.comment.len();
        if size > limits.max_silence_bytes {
            return Err(bad(&format!(
                "the silence's matchers, created_by and comment take {size} bytes; at most {} (alerting.limits.max_silence_bytes)",
                limits.max_silence_bytes
            )));
        }
        parse_matchers(&req.matchers).map_err(|e| bad(&format!("matchers: {e}")))?;
        if req.created_by.trim().is_empty() {
            return Err(bad("created_by: say who creates the silence"));
        }
        if req.comment.trim().is_empty() {
            return Err(bad("comment: say why"));
        }
        let now = now_ms();
        let starts = match req.starts_at_ms {
            Some(s) => crate::time::check("starts_at_ms", s).map_err(|e| bad(&e))?,
            None => now,
        };
        let ends = match (req.ends_at_ms, req.duration) {
            (Some(e), None) => e,
            (None, Some(d)) => i64::try_from(d.as_millis())
                .ok()
                .and_then(|d| starts.checked_add(d))
                .filter(|e| crate::time::in_range(*e))
                .ok_or_else(|| bad("duration: the silence would end after year 9999"))?,
            _ => return Err(bad("give exactly one of ends_at_ms and duration")),
        };
        crate::time::check("ends_at_ms", ends).map_err(|e| bad(&e))?;
        if ends <= starts || ends <= now {
            return Err(bad(
                "the silence must end after it starts, and in the future",
            ));
        }
        let _adding = lock(&self.shared.adding_silence);
        let open = lock(&self.shared.control)
            .silences
            .iter()
            .filter(|s| s.ends_at_ms > now)
            .count();
        if open >= limits.max_silences {
            return Err(bad(&format!(
                "{open} silences have not ended; at most {} (alerting.limits.max_silences): expire some first",
                limits.max_silences
            )));
        }
        let silence = Silence {
            id: format!("{:016x}", fastrand::u64(..)),
            matchers: req.matchers,
            starts_at_ms: starts,
            ends_at_ms: ends,
            created_by: req.created_by.trim().to_string(),
            comment: req.comment.trim().to_string(),
            created_at_ms: now,
            expired_by: None,
        };
        self.save_silence(&silence)?;
        let version = {
            let mut control = lock(&self.shared.control);
            control.silences.push(silence.clone());
            control.changed()
        };
        self.shared.record(&[HistoryEntry::of_silence(
            now,
            "silence_created",
            &silence,
            &silence.created_by,
        )]);
        self.shared.show(version);
        Ok(silence)
    }

    /// Ends a silence now.
    pub fn expire_silence(&self, id: &str, by: &str) -> Result<Silence> {
        if by.trim().is_empty() {
            return Err(AlertError::BadRequest("say who expires the silence".into()));
        }
        self.shared
            .limits
            .check_text("by", by)
            .map_err(AlertError::BadRequest)?;
        let now = now_ms();
        let silence = {
            let control = lock(&self.shared.control);
            let s = control
                .silences
                .iter()
                .find(|s| s.id == id)
                .ok_or_else(|| AlertError::NotFound(format!("no silence {id}")))?;
            if s.ends_at_ms <= now {
                return Err(AlertError::BadRequest(format!(
                    "silence {id} has already ended"
                )));
            }
            let mut s = s.clone();
            s.ends_at_ms = now;
            s.expired_by = Some(by.trim().to_string());
            s
        };
        self.save_silence(&silence)?;
        let version = {
            let mut control = lock(&self.shared.control);
            if let Some(s) = control.silences.iter_mut().find(|s| s.id == id) {
                *s = silence.clone();
            }
            control.changed()
        };
        self.shared.record(&[HistoryEntry::of_silence(
            now,
            "silence_expired",
            &silence,
            by.trim(),
        )]);
        self.shared.show(version);
        Ok(silence)
    }

    fn save_silence(&self, s: &Silence) -> Result<()> {
        let value = postcard::to_allocvec(s)?;
        self.shared
            .store
            .write_records(&[(SILENCES_TABLE, s.id.as_bytes(), Some(&value))])
            .map_err(AlertError::from)
    }

    /// Acknowledges a firing alert: someone is on it; it is no longer escalated.
    pub fn acknowledge(
        &self,
        fingerprint: Fingerprint,
        by: &str,
        comment: &str,
    ) -> Result<Acknowledgement> {
        if by.trim().is_empty() {
            return Err(AlertError::BadRequest("by: say who acknowledges".into()));
        }
        let limits = &self.shared.limits;
        limits
            .check_text("by", by)
            .and_then(|()| limits.check_text("comment", comment))
            .map_err(AlertError::BadRequest)?;
        let view = self.view();
        let alert = view
            .alerts
            .iter()
            .find(|a| a.alert.fingerprint == fingerprint)
            .ok_or_else(|| AlertError::NotFound(format!("no active alert {fingerprint}")))?;
        if alert.alert.phase != AlertPhase::Firing {
            return Err(AlertError::BadRequest(format!(
                "alert {fingerprint} is pending, not firing"
            )));
        }
        let ack = Acknowledgement {
            fingerprint,
            by: by.trim().to_string(),
            comment: comment.trim().to_string(),
            at_ms: now_ms(),
        };
        let value = postcard::to_allocvec(&ack)?;
        self.shared
            .store
            .write_records(&[(ACKS_TABLE, &fingerprint.0.to_be_bytes(), Some(&value))])
            .map_err(AlertError::from)?;
        let version = {
            let mut control = lock(&self.shared.control);
            control.acks.insert(fingerprint, ack.clone());
            control.changed()
        };
        let mut entry =
            HistoryEntry::of_alert(ack.at_ms, "acknowledged", &alert.alert, ack.comment.clone());
        entry.by = Some(ack.by.clone());
        self.shared.record(&[entry]);
        self.shared.show(version);
        Ok(ack)
    }

    /// History, newest first.
    pub fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>> {
        read_history(&self.shared.store, filter)
    }
}

/// History, newest first, from the store (works without a running manager).
pub fn read_history(store: &Store, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>> {
    let limit = filter.limit.clamp(1, 10_000);
    let to = filter
        .before_ms
        .map(|b| (b.max(0) as u64).to_be_bytes().to_vec());
    let mut out = Vec::new();
    let mut upper = to;
    // Read in pages until enough entries pass the filters.
    loop {
        let page = store
            .scan_records(HISTORY_TABLE, &[], upper.as_deref(), 1000, true)
            .map_err(AlertError::from)?;
        let Some((last_key, _)) = page.last() else {
            break;
        };
        let next_upper = last_key.clone();
        let full = page.len() == 1000;
        for (_, v) in page {
            let Some(e) = readable::<HistoryEntry>(HISTORY_TABLE, &v) else {
                continue;
            };
            let keep = filter.cluster.as_ref().is_none_or(|c| &e.cluster == c)
                && filter.alertname.as_ref().is_none_or(|a| &e.alertname == a)
                && filter.event.as_ref().is_none_or(|ev| &e.event == ev);
            if keep {
                out.push(e);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        if !full {
            break;
        }
        upper = Some(next_upper);
    }
    Ok(out)
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
struct Delivered {
    key: String,
    receiver: String,
    firing: BTreeMap<Fingerprint, Alert>,
    resolved: Vec<Alert>,
    result: std::result::Result<(), String>,
}

/// The task's state.
struct Engine {
    shared: Arc<Shared>,
    /// When ended silences and old history are next deleted.
    next_prune_ms: i64,
    board: SnapshotBoard,
    evaluator: Evaluator,
    receivers: HashMap<String, Arc<Receiver>>,
    routes: Vec<Route>,
    default_receivers: Vec<String>,
    grouping: super::routing::GroupingSettings,
    external_url: String,
    retry: RetryPolicy,
    groups: HashMap<String, Group>,
    nflog: HashMap<String, NflogEntry>,
    /// Resolved alerts some receiver has not been told about yet.
    resolved: HashMap<Fingerprint, Alert>,
    delivery_errors: Vec<String>,
    done_tx: mpsc::UnboundedSender<Delivered>,
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
    mut stop: watch::Receiver<bool>,
) -> Result<(AlertManager, tokio::task::JoinHandle<()>)> {
    let mut evaluator = Evaluator::for_clusters(alerting, clusters)?;
    if let Some(bytes) = store
        .read_record(STATE_TABLE, EVALUATOR_KEY)
        .map_err(AlertError::from)?
    {
        match EvaluatorState::from_bytes(&bytes) {
            Ok(state) => evaluator.restore(state),
            Err(e) => tracing::error!(
                "alert state in the store cannot be read ({e}); starting without it"
            ),
        }
    }
    if let Err(e) = evaluator.seed_windows(&store, now_ms()) {
        tracing::warn!("alert rules: refilling windows from history: {e}");
    }
    let mut receivers = HashMap::new();
    for r in &alerting.receivers {
        let receiver = Receiver::new(r).map_err(|e| AlertError::Config(e.to_string()))?;
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
    // A record that does not decode (another version wrote it, or the disk broke
    // it) is left where it is and skipped with a warning: it must not stop the monitor.
    let mut control = Control::default();
    for (_, v) in store
        .scan_records(SILENCES_TABLE, &[], None, usize::MAX, false)
        .map_err(AlertError::from)?
    {
        if let Some(s) = readable::<Silence>(SILENCES_TABLE, &v) {
            control.silences.push(s);
        }
    }
    for (_, v) in store
        .scan_records(ACKS_TABLE, &[], None, usize::MAX, false)
        .map_err(AlertError::from)?
    {
        if let Some(ack) = readable::<Acknowledgement>(ACKS_TABLE, &v) {
            control.acks.insert(ack.fingerprint, ack);
        }
    }
    let mut nflog = HashMap::new();
    for (k, v) in store
        .scan_records(NFLOG_TABLE, &[], None, usize::MAX, false)
        .map_err(AlertError::from)?
    {
        if let Some(entry) = readable::<NflogEntry>(NFLOG_TABLE, &v) {
            nflog.insert(String::from_utf8_lossy(&k).into_owned(), entry);
        }
    }
    // Alerts some receiver was told are firing, which are no longer active (they
    // resolved while the monitor was down, or before it could say so): tell them.
    let mut resolved = HashMap::new();
    let active: BTreeSet<Fingerprint> = evaluator.active().map(|a| a.fingerprint).collect();
    let now = now_ms();
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
    let (poke, mut poked) = watch::channel(0u64);
    let shared = Arc::new(Shared {
        store,
        control: Mutex::new(control),
        view: RwLock::new(Arc::new(AlertsView::default())),
        poke,
        published_version: Mutex::new(0),
        published: Condvar::new(),
        history_seq: AtomicU32::new(0),
        adding_silence: Mutex::new(()),
        limits: alerting.limits.clone(),
    });
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let external_url = alerting
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    let mut engine = Engine {
        shared: shared.clone(),
        next_prune_ms: 0,
        board,
        evaluator,
        receivers,
        routes,
        default_receivers: alerting.default_receivers.clone(),
        grouping: alerting.grouping.clone(),
        external_url: external_url.trim_end_matches('/').to_string(),
        retry: alerting.retry.policy(),
        groups: HashMap::new(),
        nflog,
        resolved,
        delivery_errors: Vec::new(),
        done_tx,
    };
    let task = tokio::spawn(async move {
        let (names, mut watches): (Vec<String>, Vec<_>) = engine
            .board
            .names()
            .filter_map(|n| engine.board.subscribe(n).map(|w| (n.to_string(), w)))
            .unzip();
        engine.evaluate(None).await;
        loop {
            engine.prune_if_due();
            let wait = engine.dispatch();
            let changed = async {
                if watches.is_empty() {
                    std::future::pending::<Option<usize>>().await
                } else {
                    let (result, index, _) = futures::future::select_all(
                        watches.iter_mut().map(|w| Box::pin(w.changed())),
                    )
                    .await;
                    result.is_ok().then_some(index)
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                changed = changed => {
                    if let Some(index) = changed {
                        engine.evaluate(names.get(index).map(String::as_str)).await;
                    } else {
                        // The collectors stopped.
                        break;
                    }
                }
                Some(done) = done_rx.recv() => engine.delivered(done).await,
                _ = poked.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
    Ok((AlertManager { shared }, task))
}

/// How often ended silences and old history entries are deleted.
const PRUNE_EVERY_MS: i64 = 3_600_000;

impl Engine {
    /// Deletes silences ended longer than `silence_retention` ago and history entries
    /// past `history_retention` or beyond `max_history_entries`, at most hourly.
    fn prune_if_due(&mut self) {
        let now = now_ms();
        if now < self.next_prune_ms {
            return;
        }
        self.next_prune_ms = now.saturating_add(PRUNE_EVERY_MS);
        let limits = &self.shared.limits;
        let silence_cutoff = now.saturating_sub(duration_ms(limits.silence_retention));
        // Ended silences go after their retention, and beyond max_silences of them
        // the oldest go at once (a client may create and expire in a loop).
        let ended: Vec<String> = {
            let control = lock(&self.shared.control);
            let mut over: Vec<&Silence> = control
                .silences
                .iter()
                .filter(|s| s.ends_at_ms <= now)
                .collect();
            over.sort_by_key(|s| std::cmp::Reverse(s.ends_at_ms));
            over.iter()
                .enumerate()
                .filter(|(i, s)| *i >= limits.max_silences || s.ends_at_ms < silence_cutoff)
                .map(|(_, s)| s.id.clone())
                .collect()
        };
        if !ended.is_empty() {
            let ops: Vec<RecordOp<'_>> = ended
                .iter()
                .map(|id| (SILENCES_TABLE, id.as_bytes(), None))
                .collect();
            match self.shared.store.write_records(&ops) {
                Ok(()) => lock(&self.shared.control)
                    .silences
                    .retain(|s| !ended.contains(&s.id)),
                Err(e) => tracing::warn!("alerts: deleting ended silences: {e}"),
            }
        }
        let history_cutoff = now
            .saturating_sub(duration_ms(limits.history_retention))
            .max(0) as u64;
        match self.shared.store.trim_records(
            HISTORY_TABLE,
            &history_cutoff.to_be_bytes(),
            limits.max_history_entries,
        ) {
            Ok(0) => {}
            Ok(n) => tracing::info!("alerts: deleted {n} history entries past their retention"),
            Err(e) => tracing::warn!("alerts: trimming the history: {e}"),
        }
    }

    /// Runs the rules over the latest snapshot of `cluster` (of every cluster when
    /// `None`) and records what changed. One cluster at a time: each cluster's probe
    /// wakes the manager, and the other clusters' alerts stay as they are.
    async fn evaluate(&mut self, cluster: Option<&str>) {
        let now = now_ms();
        let snapshots = match cluster {
            Some(name) => self.board.get(name).into_iter().collect(),
            None => self.board.all(),
        };
        let transitions = self
            .evaluator
            .evaluate(now, &snapshots, Some(&self.shared.store));
        if !transitions.is_empty() {
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
                    // An acknowledgement ends with its alert.
                    if lock(&self.shared.control)
                        .acks
                        .remove(&t.alert.fingerprint)
                        .is_some()
                    {
                        let _ = self.shared.store.write_records(&[(
                            ACKS_TABLE,
                            &t.alert.fingerprint.0.to_be_bytes(),
                            None,
                        )]);
                    }
                }
            }
            let state = self.evaluator.state().to_bytes();
            let shared = self.shared.clone();
            let write = tokio::task::spawn_blocking(move || {
                match state {
                    Ok(bytes) => {
                        if let Err(e) = shared.store.write_records(&[(
                            STATE_TABLE,
                            EVALUATOR_KEY,
                            Some(&bytes),
                        )]) {
                            tracing::error!("saving alert state: {e}");
                        }
                    }
                    Err(e) => tracing::error!("encoding alert state: {e}"),
                }
                shared.record(&history);
            });
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
        // The dispatch that follows every evaluation publishes the new view.
    }

    /// Silences muting `alert` (ids) and the alert inhibiting it.
    fn mutes(
        &self,
        alert: &Alert,
        control: &Control,
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
        };
        *self.shared.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
        *lock(&self.shared.published_version) = version;
        self.shared.published.notify_all();
    }

    /// Sends what is due; returns how long until something may be due.
    fn dispatch(&mut self) -> Duration {
        let now = now_ms();
        self.publish(now);
        self.resolved.retain(|_, a| {
            a.resolved_at_ms
                .is_none_or(|t| now.saturating_sub(t) < RESOLVED_KEPT_MS)
        });
        // Every group's current alerts: firing ones not muted, and resolved ones.
        let mut current: HashMap<String, GroupNow> = HashMap::new();
        {
            let view = self
                .shared
                .view
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
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
        let mut next = IDLE_WAKE;
        let current_keys: BTreeSet<String> = current.keys().cloned().collect();
        for (key, (receiver, labels, alerts)) in current {
            let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
                labels: labels.clone(),
                created_ms: now,
                flushed_ms: None,
                in_flight: false,
            });
            if group.in_flight {
                continue;
            }
            let due_at = match group.flushed_ms {
                None => group
                    .created_ms
                    .saturating_add(duration_ms(self.grouping.group_wait)),
                Some(t) => t.saturating_add(duration_ms(self.grouping.group_interval)),
            };
            if now < due_at {
                next = next.min(Duration::from_millis((due_at - now) as u64));
                continue;
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
                    >= duration_ms(self.grouping.repeat_interval);
            let Some(target) = self.receivers.get(&receiver).cloned() else {
                continue;
            };
            let tell_resolved = !resolved.is_empty() && target.send_resolved();
            group.flushed_ms = Some(now);
            if !(new_firing || repeat || tell_resolved) {
                if !resolved.is_empty() {
                    // Nothing to say (send_resolved = false): just forget them.
                    let mut entry = entry;
                    for a in &resolved {
                        entry.firing.remove(&a.fingerprint);
                    }
                    self.save_nflog(&key, Some(&entry));
                    self.nflog.insert(key.clone(), entry);
                }
                continue;
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
            let done = self.done_tx.clone();
            let policy = self.retry;
            tokio::spawn(async move {
                let result = notify::deliver(&target, &notification, policy)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                let _ = done.send(Delivered {
                    key,
                    receiver,
                    firing,
                    resolved,
                    result,
                });
            });
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

    fn notified(&self, a: &Alert) -> NotifiedAlert {
        let starts = a.fired_at_ms.unwrap_or(a.active_since_ms);
        let ends = (a.phase == AlertPhase::Resolved)
            .then(|| to_system_time(a.resolved_at_ms.unwrap_or_else(now_ms)));
        NotifiedAlert::new(
            a.labels.clone(),
            a.annotations.clone(),
            to_system_time(starts),
            ends,
            format!("{}/alerts", self.external_url),
        )
    }

    fn save_nflog(&self, key: &str, entry: Option<&NflogEntry>) {
        let value = entry.map(|e| postcard::to_allocvec(e).unwrap_or_default());
        if let Err(e) =
            self.shared
                .store
                .write_records(&[(NFLOG_TABLE, key.as_bytes(), value.as_deref())])
        {
            tracing::error!("notification log: {e}");
        }
    }

    async fn delivered(&mut self, d: Delivered) {
        let now = now_ms();
        if let Some(g) = self.groups.get_mut(&d.key) {
            g.in_flight = false;
        }
        let mut history = Vec::new();
        match &d.result {
            Ok(()) => {
                let entry = NflogEntry {
                    firing: d.firing.clone(),
                    sent_at_ms: now,
                };
                // A group with nothing firing any more has nothing to remember.
                if entry.firing.is_empty() {
                    self.save_nflog(&d.key, None);
                    self.nflog.remove(&d.key);
                } else {
                    self.save_nflog(&d.key, Some(&entry));
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
mod limit_tests {
    use super::*;
    use crate::store::Retention;

    /// Sixteen threads create silences at once with room for three: three are made.
    /// Before the count and the insertion were under one lock, up to all sixteen
    /// passed the count together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_do_not_pass_max_silences() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("s.redb"), Retention::default()).unwrap());
        let mut settings =
            crate::config::Settings::load_with_env(None, &Default::default(), |_| None).unwrap();
        settings.clusters.clear();
        settings.alerting.limits.max_silences = 3;
        let collectors =
            crate::collect::Collectors::start(&settings.clusters, &settings.collect, None).unwrap();
        let (_stop_tx, stop) = watch::channel(false);
        let (manager, _task) = start(
            &settings.alerting,
            &settings.clusters,
            settings.server.listen,
            collectors.board.clone(),
            store,
            stop,
        )
        .unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let (manager, barrier) = (manager.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    manager
                        .create_silence(NewSilence {
                            matchers: vec![format!("member=m{i}")],
                            starts_at_ms: None,
                            ends_at_ms: None,
                            duration: Some(Duration::from_secs(3600)),
                            created_by: "test".into(),
                            comment: "race".into(),
                        })
                        .is_ok()
                })
            })
            .collect();
        let made = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(made, 3);
    }
}
