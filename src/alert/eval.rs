//! Evaluation: each probe's snapshots through every rule, and the alert state machine
//! with Prometheus' semantics.
//!
//! - A rule's condition holding for a label set makes an alert `pending`; once it has
//!   held for the rule's `for`, the alert is `firing` (at once when `for` is 0).
//! - A pending alert whose condition stops holding is dropped (`Cancelled`: nobody
//!   was told about it). A firing one is `Resolved`, unless `keep_firing_for` keeps
//!   it firing that long after the condition last held.
//! - An alert's identity is its [`Fingerprint`]; the same label set is the same alert.
//!
//! What the evaluator must not do after a restart is resolve and re-fire an alert just
//! because it has no data yet. So a rule *holds* (leaves as they are) the alerts it
//! cannot decide: those of a cluster not probed yet, of a member scraped once (rates
//! and quantiles need two scrapes), and of windowed rules while their window fills.
//!
//! The built-in pack's checks themselves, one method each, are in eval/checks.rs.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::rules::{Aggregation, AlertingSettings, BuiltinCheck, Condition, Rule};
use super::template::{TemplateContext, Templates};
use super::window::{MemberWindow, WindowPoint, LONGEST_MS};
use super::{cert, AlertError, Fingerprint, Result};
use crate::collect::derive::Indicators;
use crate::collect::probe::INDICATOR_PREFIX;
use crate::collect::snapshot::{ClusterSnapshot, MemberSnapshot};
use crate::collect::view::member_label;
use crate::etcd::ClusterConfig;
use crate::store::{Store, Tier};

mod checks;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertPhase {
    Pending,
    Firing,
    /// No longer active: only seen in a [`Transition`].
    Resolved,
}

/// One alert: a rule's condition holding for one label set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub fingerprint: Fingerprint,
    /// The rule's key (a built-in's config key or a user rule's name).
    pub rule: String,
    /// alertname, severity, cluster, member (member-level rules), the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// summary, description (rendered at the last evaluation that held) and runbook.
    pub annotations: BTreeMap<String, String>,
    pub phase: AlertPhase,
    /// The rule's value at the last evaluation where the condition held.
    pub value: f64,
    /// When the condition started to hold (Prometheus' `activeAt`).
    pub active_since_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    /// When the condition stopped holding while `keep_firing_for` keeps it firing.
    pub keep_firing_since_ms: Option<i64>,
    /// The last evaluation where the condition held.
    pub last_held_ms: i64,
}

impl Alert {
    /// The `cluster` label.
    pub fn cluster(&self) -> &str {
        self.labels.get("cluster").map_or("", String::as_str)
    }

    /// The `member` label (member-level rules only).
    pub fn member(&self) -> Option<&str> {
        self.labels.get("member").map(String::as_str)
    }

    /// The `alertname` label.
    pub fn alertname(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// The `severity` label.
    pub fn severity(&self) -> &str {
        self.labels.get("severity").map_or("", String::as_str)
    }
}

/// What happened to an alert at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    /// New, waiting for `for` to pass.
    Pending,
    /// Notify: the alert fires.
    Firing,
    /// Notify (where receivers want resolved messages): it no longer fires.
    Resolved,
    /// A pending alert whose condition cleared before `for` passed: history only.
    Cancelled,
}

/// A change of one alert's phase, with the alert as it is after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub at_ms: i64,
    pub kind: TransitionKind,
    pub alert: Alert,
}

/// Everything that must survive a restart: the pending and firing alerts with their
/// timers. Persist it (postcard, [`EvaluatorState::to_bytes`]) after each evaluation
/// that returned transitions, and [`Evaluator::restore`] it at start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorState {
    pub alerts: BTreeMap<Fingerprint, Alert>,
}

impl EvaluatorState {
    /// The state as postcard bytes, for a redb value.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(postcard::to_allocvec(self)?)
    }

    /// Decodes what [`EvaluatorState::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<EvaluatorState> {
        Ok(postcard::from_bytes(bytes)?)
    }
}

/// A rule's condition holding for one label set at one evaluation.
#[derive(Debug, Clone)]
struct Hit {
    member: Option<String>,
    labels: Vec<(String, String)>,
    value: f64,
    values: BTreeMap<String, Json>,
}

impl Hit {
    fn new(member: Option<String>, value: f64) -> Hit {
        Hit {
            member,
            labels: Vec::new(),
            value,
            values: BTreeMap::new(),
        }
    }

    fn with(mut self, name: &str, value: impl Into<Json>) -> Hit {
        self.values.insert(name.to_string(), value.into());
        self
    }
}

/// What one rule found in one cluster, and which existing alerts it cannot judge.
#[derive(Debug, Default)]
struct Outcome {
    hits: Vec<Hit>,
    hold_all: bool,
    hold_members: HashSet<String>,
}

/// A cluster's client certificate, read again now and then so a renewed file counts.
#[derive(Debug)]
struct CertificateFile {
    path: PathBuf,
    read_at_ms: Option<i64>,
    expiry: std::result::Result<i64, String>,
}

const CERT_REREAD_MS: i64 = 10 * 60 * 1000;
/// Prometheus' lookback for instant queries, used for stored metrics.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Evaluates the rules over each probe's snapshots; owns the alert state.
#[derive(Debug)]
pub struct Evaluator {
    rules: Vec<Rule>,
    templates: Templates,
    clusters: Vec<String>,
    certificates: HashMap<String, CertificateFile>,
    windows: HashMap<(String, String), MemberWindow>,
    started_ms: Option<i64>,
    state: EvaluatorState,
}

impl Evaluator {
    /// The rules of `[alerting]` over the monitored clusters.
    pub fn for_clusters(
        alerting: &AlertingSettings,
        clusters: &[ClusterConfig],
    ) -> Result<Evaluator> {
        let rules = alerting.rules()?;
        let templates = Templates::for_rules(&rules).map_err(|message| {
            AlertError::Rule(super::RuleError {
                field: "alerting".into(),
                rule: String::new(),
                message,
            })
        })?;
        let mut evaluator = Evaluator {
            rules,
            templates,
            clusters: Vec::new(),
            certificates: HashMap::new(),
            windows: HashMap::new(),
            started_ms: None,
            state: EvaluatorState::default(),
        };
        evaluator.set_clusters(clusters);
        Ok(evaluator)
    }

    /// The clusters monitored now (after one is added or removed at run time). Alerts
    /// of clusters no longer listed resolve at the next evaluation.
    pub fn set_clusters(&mut self, clusters: &[ClusterConfig]) {
        self.clusters = clusters.iter().map(|c| c.name.clone()).collect();
        self.certificates = clusters
            .iter()
            .filter_map(|c| {
                let path = c.tls.as_ref()?.cert_file.clone()?;
                Some((
                    c.name.clone(),
                    CertificateFile {
                        path,
                        read_at_ms: None,
                        expiry: Err(String::new()),
                    },
                ))
            })
            .collect();
        let names = &self.clusters;
        self.windows
            .retain(|(cluster, _), _| names.contains(cluster));
    }

    /// Takes over the alerts persisted before a restart.
    pub fn restore(&mut self, state: EvaluatorState) {
        self.state = state;
    }

    /// The state to persist.
    pub fn state(&self) -> &EvaluatorState {
        &self.state
    }

    /// The rules in force: enabled built-ins, then user rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Pending and firing alerts.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.state.alerts.values()
    }

    /// Refills the windowed rules' history from the store's indicator series (after a
    /// restart). Returns how many points were read.
    pub fn seed_windows(&mut self, store: &Store, now_ms: i64) -> Result<usize> {
        let mut count = 0;
        for cluster in &self.clusters {
            let mut by_member: BTreeMap<String, BTreeMap<i64, Indicators>> = BTreeMap::new();
            for (id, meta) in store.list_series(cluster, None, Some(INDICATOR_PREFIX)) {
                let Some(field) = meta.series.strip_prefix(INDICATOR_PREFIX) else {
                    continue;
                };
                let set: fn(&mut Indicators, f64) = match field {
                    "interval_seconds" => |i, v| i.interval_seconds = Some(v),
                    "leader_changes_in_interval" => |i, v| i.leader_changes_in_interval = Some(v),
                    "proposals_failed_per_second" => |i, v| i.proposals_failed_per_second = Some(v),
                    "grpc_requests_per_second" => |i, v| i.grpc_requests_per_second = Some(v),
                    "grpc_failed_per_second" => |i, v| i.grpc_failed_per_second = Some(v),
                    "db_size_bytes" => |i, v| i.db_size_bytes = Some(v),
                    "quota_backend_bytes" => |i, v| i.quota_backend_bytes = Some(v),
                    _ => continue,
                };
                let member = by_member.entry(meta.member.clone()).or_default();
                for p in store.read(id, Tier::Raw, now_ms - LONGEST_MS, now_ms + 1)? {
                    set(member.entry(p.ts).or_default(), p.last);
                }
            }
            for (member, points) in by_member {
                let window = self.windows.entry((cluster.clone(), member)).or_default();
                for (ts, ind) in points {
                    window.push(WindowPoint::from_indicators(ts, &ind));
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    /// Evaluates every rule on `snapshots` (the latest of each cluster) at `now_ms`
    /// and returns what changed. `store` serves rules over stored metrics; without
    /// it those rules hold their alerts. Call it after every probe.
    pub fn evaluate<S: Borrow<ClusterSnapshot>>(
        &mut self,
        now_ms: i64,
        snapshots: &[S],
        store: Option<&Store>,
    ) -> Vec<Transition> {
        let started = *self.started_ms.get_or_insert(now_ms);
        let mut transitions = Vec::new();
        // Alerts of rules or clusters no longer configured end now.
        let orphans: Vec<Fingerprint> = self
            .state
            .alerts
            .iter()
            .filter(|(_, a)| {
                !self.rules.iter().any(|r| r.key == a.rule)
                    || !self.clusters.iter().any(|c| c == a.cluster())
            })
            .map(|(fp, _)| *fp)
            .collect();
        for fp in orphans {
            self.clear(fp, Duration::ZERO, now_ms, &mut transitions);
        }
        // Windows of members gone (removed, or down for longer than any window).
        self.windows
            .retain(|_, w| w.newest_ms().is_some_and(|t| t > now_ms - LONGEST_MS));
        for snap in snapshots {
            let snap = snap.borrow();
            if !self.clusters.contains(&snap.name) {
                continue;
            }
            // Not probed since start: nothing to judge by.
            let Some(probed_at) = snap.probed_at else {
                continue;
            };
            for m in &snap.members {
                if let Some(ind) = &m.indicators {
                    self.windows
                        .entry((snap.name.clone(), member_label(m)))
                        .or_default()
                        .push(WindowPoint::from_indicators(probed_at.unix_ms(), ind));
                }
            }
            self.refresh_certificate(&snap.name, now_ms);
            let ctx = ClusterContext {
                snap,
                now_ms,
                warming_since_ms: started,
                windows: &self.windows,
                store,
            };
            let outcomes: Vec<Outcome> = self
                .rules
                .iter()
                .map(|rule| match &rule.condition {
                    Condition::Builtin(BuiltinCheck::CertificateExpiring) => {
                        checks::certificate_outcome(self.certificates.get(&snap.name), rule, now_ms)
                    }
                    Condition::Builtin(check) => ctx.builtin(*check, rule),
                    Condition::Indicator { name, aggregate } => {
                        ctx.indicator(name, *aggregate, rule)
                    }
                    Condition::Metric { name, aggregate } => ctx.metric(name, *aggregate, rule),
                })
                .collect();
            for (i, outcome) in outcomes.into_iter().enumerate() {
                self.apply(i, &snap.name, outcome, now_ms, &mut transitions);
            }
        }
        transitions
    }

    /// Reads the cluster's client certificate again if it is time to.
    fn refresh_certificate(&mut self, cluster: &str, now_ms: i64) {
        let Some(file) = self.certificates.get_mut(cluster) else {
            return;
        };
        if file
            .read_at_ms
            .is_none_or(|at| now_ms - at >= CERT_REREAD_MS)
        {
            file.expiry = cert::earliest_expiry_ms(&file.path);
            file.read_at_ms = Some(now_ms);
            if let Err(e) = &file.expiry {
                tracing::warn!(cluster, "client certificate expiry unknown: {e}");
            }
        }
    }

    /// Folds one rule's outcome in one cluster into the state.
    fn apply(
        &mut self,
        rule_index: usize,
        cluster: &str,
        outcome: Outcome,
        now_ms: i64,
        transitions: &mut Vec<Transition>,
    ) {
        let rule = &self.rules[rule_index];
        let mut seen = HashSet::new();
        for hit in outcome.hits {
            let mut labels = rule.labels.clone();
            labels.insert("alertname".into(), rule.alertname.clone());
            labels.insert("severity".into(), rule.severity.as_str().into());
            labels.insert("cluster".into(), cluster.into());
            if let Some(m) = &hit.member {
                labels.insert("member".into(), m.clone());
            }
            labels.extend(hit.labels.iter().cloned());
            let fingerprint = Fingerprint::of(&labels);
            if !seen.insert(fingerprint) {
                continue;
            }
            let ctx = TemplateContext {
                labels: &labels,
                value: hit.value,
                threshold: rule.threshold,
                values: &hit.values,
            };
            let mut annotations = BTreeMap::new();
            for part in ["summary", "description"] {
                annotations.insert(
                    part.to_string(),
                    self.templates.render(&rule.key, part, &ctx),
                );
            }
            if !rule.runbook.is_empty() {
                annotations.insert("runbook".into(), rule.runbook.clone());
            }
            let is_new = !self.state.alerts.contains_key(&fingerprint);
            let alert = self
                .state
                .alerts
                .entry(fingerprint)
                .or_insert_with(|| Alert {
                    fingerprint,
                    rule: rule.key.clone(),
                    labels,
                    annotations: BTreeMap::new(),
                    phase: AlertPhase::Pending,
                    value: hit.value,
                    active_since_ms: now_ms,
                    fired_at_ms: None,
                    resolved_at_ms: None,
                    keep_firing_since_ms: None,
                    last_held_ms: now_ms,
                });
            alert.annotations = annotations;
            alert.value = hit.value;
            alert.last_held_ms = now_ms;
            alert.keep_firing_since_ms = None;
            // Saturating: the state may come from a file another version wrote.
            let held_for = now_ms.saturating_sub(alert.active_since_ms);
            let for_ms = i64::try_from(rule.for_.as_millis()).unwrap_or(i64::MAX);
            if alert.phase == AlertPhase::Pending && held_for >= for_ms {
                alert.phase = AlertPhase::Firing;
                alert.fired_at_ms = Some(now_ms);
                transitions.push(Transition {
                    at_ms: now_ms,
                    kind: TransitionKind::Firing,
                    alert: alert.clone(),
                });
            } else if is_new {
                transitions.push(Transition {
                    at_ms: now_ms,
                    kind: TransitionKind::Pending,
                    alert: alert.clone(),
                });
            }
        }
        if outcome.hold_all {
            return;
        }
        let gone: Vec<Fingerprint> = self
            .state
            .alerts
            .iter()
            .filter(|(fp, a)| {
                a.rule == rule.key
                    && a.cluster() == cluster
                    && !seen.contains(*fp)
                    && !a.member().is_some_and(|m| outcome.hold_members.contains(m))
            })
            .map(|(fp, _)| *fp)
            .collect();
        let keep_firing_for = rule.keep_firing_for;
        for fp in gone {
            self.clear(fp, keep_firing_for, now_ms, transitions);
        }
    }

    /// The condition of alert `fp` no longer holds.
    fn clear(
        &mut self,
        fp: Fingerprint,
        keep_firing_for: Duration,
        now_ms: i64,
        transitions: &mut Vec<Transition>,
    ) {
        let Some(alert) = self.state.alerts.get_mut(&fp) else {
            return;
        };
        let kind = match alert.phase {
            AlertPhase::Firing => {
                let since = *alert.keep_firing_since_ms.get_or_insert(now_ms);
                let keep_ms = i64::try_from(keep_firing_for.as_millis()).unwrap_or(i64::MAX);
                if now_ms.saturating_sub(since) < keep_ms {
                    return;
                }
                TransitionKind::Resolved
            }
            AlertPhase::Pending | AlertPhase::Resolved => TransitionKind::Cancelled,
        };
        if let Some(mut alert) = self.state.alerts.remove(&fp) {
            alert.phase = AlertPhase::Resolved;
            alert.resolved_at_ms = Some(now_ms);
            transitions.push(Transition {
                at_ms: now_ms,
                kind,
                alert,
            });
        }
    }
}

/// What rules read while evaluating one cluster.
struct ClusterContext<'a> {
    snap: &'a ClusterSnapshot,
    now_ms: i64,
    /// When this evaluator first ran: windowed rules hold until their window is past it.
    warming_since_ms: i64,
    windows: &'a HashMap<(String, String), MemberWindow>,
    store: Option<&'a Store>,
}

impl ClusterContext<'_> {
    fn window(&self, member: &str) -> Option<&MemberWindow> {
        self.windows
            .get(&(self.snap.name.clone(), member.to_string()))
    }

    fn warming_up(&self, window_ms: i64) -> bool {
        self.now_ms - self.warming_since_ms < window_ms
    }

    /// Per member: `value(member)` compared with the threshold. A member without a
    /// value is held when `undecided(member)` says it is only too early to tell.
    fn per_member(
        &self,
        rule: &Rule,
        value: impl Fn(&MemberSnapshot) -> Option<f64>,
        undecided: impl Fn(&MemberSnapshot) -> bool,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        for m in &self.snap.members {
            let label = member_label(m);
            match value(m) {
                Some(v) if rule.op.holds(v, rule.threshold) => {
                    outcome.hits.push(Hit::new(Some(label), v));
                }
                Some(_) => {}
                None if undecided(m) => {
                    outcome.hold_members.insert(label);
                }
                None => {}
            }
        }
        outcome
    }

    /// An instant indicator: undecided on a member's first scrape (no rates yet).
    fn instant(&self, rule: &Rule, f: fn(&Indicators) -> Option<f64>) -> Outcome {
        self.per_member(
            rule,
            |m| f(m.indicators.as_ref()?),
            |m| {
                m.indicators
                    .as_ref()
                    .is_some_and(|i| i.interval_seconds.is_none())
            },
        )
    }

    /// A value over a member's window: undecided while the window fills after start.
    fn windowed(
        &self,
        rule: &Rule,
        window_ms: i64,
        f: impl Fn(&MemberWindow) -> Option<f64>,
    ) -> Outcome {
        self.per_member(
            rule,
            |m| f(self.window(&member_label(m))?),
            |_| self.warming_up(window_ms),
        )
    }

    fn indicator(&self, name: &str, aggregate: Aggregation, rule: &Rule) -> Outcome {
        let value = |m: &MemberSnapshot| indicator_value(m.indicators.as_ref()?, name);
        let undecided = |m: &MemberSnapshot| {
            m.indicators
                .as_ref()
                .is_some_and(|i| i.interval_seconds.is_none())
        };
        if aggregate == Aggregation::Member {
            return self.per_member(rule, value, undecided);
        }
        let values: Vec<f64> = self.snap.members.iter().filter_map(value).collect();
        let mut outcome = Outcome::default();
        match aggregate.fold(&values) {
            Some(v) if rule.op.holds(v, rule.threshold) => outcome.hits.push(Hit::new(None, v)),
            Some(_) => {}
            None => outcome.hold_all = self.snap.members.iter().any(undecided),
        }
        outcome
    }

    fn metric(&self, name: &str, aggregate: Aggregation, rule: &Rule) -> Outcome {
        let mut outcome = Outcome::default();
        let Some(store) = self.store else {
            outcome.hold_all = true;
            return outcome;
        };
        let mut found = Vec::new();
        for (id, meta) in store.find_series(&self.snap.name, None, name) {
            match store.read(id, Tier::Raw, self.now_ms - LOOKBACK_MS, self.now_ms + 1) {
                Ok(points) => {
                    if let Some(p) = points.last() {
                        found.push((meta, p.last));
                    }
                }
                Err(e) => {
                    // Unreadable history decides nothing either way.
                    tracing::warn!(cluster = %self.snap.name, metric = name, "alert rule {}: {e}", rule.key);
                    outcome.hold_all = true;
                    return outcome;
                }
            }
        }
        if aggregate == Aggregation::Member {
            for (meta, v) in found {
                if rule.op.holds(v, rule.threshold) {
                    let mut hit = Hit::new(Some(meta.member.clone()), v);
                    if meta.series.contains('{') {
                        hit.labels.push(("series".into(), meta.series.clone()));
                    }
                    outcome.hits.push(hit);
                }
            }
        } else {
            let values: Vec<f64> = found.iter().map(|(_, v)| *v).collect();
            if let Some(v) = aggregate.fold(&values) {
                if rule.op.holds(v, rule.threshold) {
                    outcome.hits.push(Hit::new(None, v));
                }
            }
        }
        outcome
    }
}

/// An indicator's value by name; booleans count as 0 and 1.
fn indicator_value(ind: &Indicators, name: &str) -> Option<f64> {
    match serde_json::to_value(ind).ok()?.get(name)? {
        Json::Number(n) => n.as_f64(),
        Json::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
