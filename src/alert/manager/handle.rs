//! The handle of the alert manager and its persistence.
//!
//! [`AlertManager`] is what the web layer and the CLI hold: the published view of
//! the active alerts, the history, silences and acknowledgements. Changes made
//! through it are written to the store, then shown to the engine's task, which
//! publishes a view that includes them.
//!
//! Persistence of the whole manager lives here too, so that only this file names
//! the `alert_*` record tables: their layouts (docs/store-format.md), what is read
//! back at start, the writes the engine asks for (evaluator state, history,
//! notification log), and the bounds on silences and history.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::clock::Clock;
use super::{duration_ms, lock, AlertsView, HistoryEntry, HistoryFilter, NewSilence};
use crate::alert::eval::{Alert, AlertPhase, EvaluatorState};
use crate::alert::limits::AlertLimits;
use crate::alert::routing::{parse_matchers, Acknowledgement, Silence};
use crate::alert::{AlertError, Fingerprint, Result};
use crate::collect::events::{ClusterEvent, EventKind};
use crate::store::{RecordOp, Store};

// The record tables; their keys and values are described in docs/store-format.md.
pub(super) const STATE_TABLE: &str = "alert_state";
const HISTORY_TABLE: &str = "alert_history";
const SILENCES_TABLE: &str = "alert_silences";
const ACKS_TABLE: &str = "alert_acks";
pub(super) const NFLOG_TABLE: &str = "alert_nflog";
pub(super) const EVALUATOR_KEY: &[u8] = b"evaluator";

/// How often ended silences and old history entries are deleted.
pub(super) const PRUNE_EVERY_MS: i64 = 3_600_000;

/// What a receiver was last told about a group: the notification log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct NflogEntry {
    /// The firing alerts it was told about, with what is needed to tell it they resolved
    /// even after a restart that lost them.
    pub(super) firing: BTreeMap<Fingerprint, Alert>,
    pub(super) sent_at_ms: i64,
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
pub(super) struct Control {
    pub(super) silences: Vec<Silence>,
    pub(super) acks: HashMap<Fingerprint, Acknowledgement>,
    /// Counts the changes made through the handle; a published view says up to
    /// which one it shows.
    pub(super) version: u64,
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

/// What the handle and the engine's task share.
pub(super) struct Shared {
    clock: Clock,
    pub(super) store: Arc<Store>,
    pub(super) control: Mutex<Control>,
    view: RwLock<Arc<AlertsView>>,
    /// Wakes the task when silences or acknowledgements change.
    pub(super) poke: watch::Sender<u64>,
    /// The `Control::version` the published view was built from.
    published_version: Mutex<u64>,
    published: Condvar,
    history_seq: AtomicU32,
    limits: AlertLimits,
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

/// An alert's firing or resolving as an event of its cluster's timeline.
fn timeline_event(e: &HistoryEntry) -> Option<ClusterEvent> {
    let (kind, verb) = match e.event.as_str() {
        "firing" => (EventKind::AlertFiring, "firing"),
        "resolved" => (EventKind::AlertResolved, "resolved"),
        _ => return None,
    };
    let on = e
        .member
        .as_ref()
        .map_or(String::new(), |m| format!(" on {m}"));
    let detail = if e.detail.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::text::truncate(&e.detail, 200))
    };
    Some(ClusterEvent {
        at_unix_ms: e.at_ms,
        cluster: e.cluster.clone(),
        kind,
        member: e.member.clone(),
        from: None,
        to: None,
        detail: Some(e.alertname.clone()),
        message: format!("{} ({}) {verb}{on}{detail}", e.alertname, e.severity),
    })
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

impl Shared {
    pub(super) fn new(
        store: Arc<Store>,
        control: Control,
        limits: AlertLimits,
        clock: Clock,
    ) -> Shared {
        Shared {
            clock,
            store,
            control: Mutex::new(control),
            view: RwLock::new(Arc::new(AlertsView::default())),
            poke: watch::channel(0u64).0,
            published_version: Mutex::new(0),
            published: Condvar::new(),
            history_seq: AtomicU32::new(0),
            adding_silence: Mutex::new(()),
            limits,
        }
    }

    /// Now, by the clock the handle and the engine share.
    pub(super) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The view last published.
    pub(super) fn view(&self) -> Arc<AlertsView> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the view with one built from the changes up to `version`, and wakes
    /// whoever waits in [`Shared::show`] for it.
    pub(super) fn publish(&self, view: AlertsView, version: u64) {
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
        *lock(&self.published_version) = version;
        self.published.notify_all();
    }

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

    /// Appends to the history.
    pub(super) fn record(&self, entries: &[HistoryEntry]) {
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
        let events: Vec<ClusterEvent> = entries.iter().filter_map(timeline_event).collect();
        if !events.is_empty() {
            if let Err(e) = crate::collect::events::append(&self.store, &events) {
                tracing::error!("cluster timeline: {e}");
            }
        }
    }

    /// Saves the evaluator state after an evaluation that changed it, and the
    /// history of the change.
    pub(super) fn save_evaluation(&self, state: Result<Vec<u8>>, history: &[HistoryEntry]) {
        match state {
            Ok(bytes) => {
                if let Err(e) =
                    self.store
                        .write_records(&[(STATE_TABLE, EVALUATOR_KEY, Some(&bytes))])
                {
                    tracing::error!("saving alert state: {e}");
                }
            }
            Err(e) => tracing::error!("encoding alert state: {e}"),
        }
        self.record(history);
    }

    /// Ends the acknowledgement of an alert that resolved: it ends with its alert.
    pub(super) fn end_acknowledgement(&self, fingerprint: Fingerprint) {
        if lock(&self.control).acks.remove(&fingerprint).is_some() {
            let _ = self
                .store
                .write_records(&[(ACKS_TABLE, &fingerprint.0.to_be_bytes(), None)]);
        }
    }

    /// Writes (or with `None` deletes) what the group `key` was last told.
    pub(super) fn save_nflog(&self, key: &str, entry: Option<&NflogEntry>) {
        let value = entry.map(|e| postcard::to_allocvec(e).unwrap_or_default());
        if let Err(e) = self
            .store
            .write_records(&[(NFLOG_TABLE, key.as_bytes(), value.as_deref())])
        {
            tracing::error!("notification log: {e}");
        }
    }

    /// Deletes silences ended longer than `silence_retention` ago and history entries
    /// past `history_retention` or beyond `max_history_entries`.
    pub(super) fn prune(&self, now: i64) {
        let limits = &self.limits;
        let silence_cutoff = now.saturating_sub(duration_ms(limits.silence_retention));
        // Ended silences go after their retention, and beyond max_silences of them
        // the oldest go at once (a client may create and expire in a loop).
        let ended: Vec<String> = {
            let control = lock(&self.control);
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
            match self.store.write_records(&ops) {
                Ok(()) => lock(&self.control)
                    .silences
                    .retain(|s| !ended.contains(&s.id)),
                Err(e) => tracing::warn!("alerts: deleting ended silences: {e}"),
            }
        }
        let history_cutoff = now
            .saturating_sub(duration_ms(limits.history_retention))
            .max(0) as u64;
        match self.store.trim_records(
            HISTORY_TABLE,
            &history_cutoff.to_be_bytes(),
            limits.max_history_entries,
        ) {
            Ok(0) => {}
            Ok(n) => tracing::info!("alerts: deleted {n} history entries past their retention"),
            Err(e) => tracing::warn!("alerts: trimming the history: {e}"),
        }
    }
}

impl AlertManager {
    pub(super) fn new(shared: Arc<Shared>) -> AlertManager {
        AlertManager { shared }
    }

    /// The current alerts.
    pub fn view(&self) -> Arc<AlertsView> {
        self.shared.view()
    }

    /// Every silence, active, pending and expired (the last day of expired ones).
    /// Silences not ended (at most `max_silences`), then those ended in the last
    /// day, newest first, at most [`ENDED_SILENCES_SHOWN`] of them.
    pub fn silences(&self) -> Vec<Silence> {
        let now = self.shared.now();
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
        let now = self.shared.now();
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
        let now = self.shared.now();
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
            at_ms: self.shared.now(),
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

// What start reads back. A record that does not decode (another version wrote it,
// or the disk broke it) is left where it is and skipped with a warning: it must not
// stop the monitor.

/// The evaluator state saved before a restart; `None` when there is none or it
/// cannot be read (the evaluator then starts without it).
pub(super) fn read_state(store: &Store) -> Result<Option<EvaluatorState>> {
    let Some(bytes) = store
        .read_record(STATE_TABLE, EVALUATOR_KEY)
        .map_err(AlertError::from)?
    else {
        return Ok(None);
    };
    match EvaluatorState::from_bytes(&bytes) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            tracing::error!("alert state in the store cannot be read ({e}); starting without it");
            Ok(None)
        }
    }
}

/// The silences and acknowledgements.
pub(super) fn read_control(store: &Store) -> Result<Control> {
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
    Ok(control)
}

/// The notification log, by group key.
pub(super) fn read_nflog(store: &Store) -> Result<HashMap<String, NflogEntry>> {
    let mut nflog = HashMap::new();
    for (k, v) in store
        .scan_records(NFLOG_TABLE, &[], None, usize::MAX, false)
        .map_err(AlertError::from)?
    {
        if let Some(entry) = readable::<NflogEntry>(NFLOG_TABLE, &v) {
            nflog.insert(String::from_utf8_lossy(&k).into_owned(), entry);
        }
    }
    Ok(nflog)
}

#[cfg(test)]
mod limit_tests {
    use super::super::start;
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
            crate::collect::Collectors::start(&settings.clusters, &settings.collect, None, None)
                .unwrap();
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
