//! The alerts page (`GET /alerts`) and the alert badges and boxes of the other pages:
//! the alert manager's view, silences and history turned into display rows.

use actix_web::web;
use askama::Template;

use super::display::{duration_text, ms_time, TimeView};
use super::layout::{layout, Badge, Layout, Link, Nav, SelectOption};
use super::{bad_request, ok, urlencode, PageError, PageResult};
use crate::alert::manager::{AlertView, AlertsView, HistoryEntry, HistoryFilter, HISTORY_EVENTS};
use crate::alert::routing::Silence;
use crate::alert::rules::RESERVED_LABELS;
use crate::alert::AlertPhase;
use crate::units::{human_short, Unit};
use crate::web::{ApiError, AppState};

/// History entries a page shows unless `limit` says otherwise.
const DEFAULT_HISTORY_LIMIT: usize = 50;
const MAX_HISTORY_LIMIT: usize = 1000;

/// Most urgent first; unknown severities last.
pub(super) fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        "info" => 2,
        _ => 3,
    }
}

pub(super) fn severity_class(severity: &str) -> &'static str {
    match severity {
        "critical" => "bad",
        "warning" => "warn",
        _ => "pending",
    }
}

fn cluster_link(cluster: &str) -> Link {
    Link {
        label: cluster.to_string(),
        href: format!("/clusters/{}", urlencode(cluster)),
        current: false,
    }
}

fn member_link(cluster: &str, member: &str) -> Link {
    Link {
        label: member.to_string(),
        href: format!(
            "/clusters/{}/members/{}",
            urlencode(cluster),
            urlencode(member)
        ),
        current: false,
    }
}

/// The alerts page for one cluster's alerts.
pub fn cluster_alerts_href(cluster: &str) -> String {
    format!("/alerts?cluster={}", urlencode(cluster))
}

/// Firing and not silenced nor acknowledged: what the badges count.
pub(super) fn is_firing_unmuted(a: &AlertView) -> bool {
    a.alert.phase == AlertPhase::Firing && !a.is_muted()
}

pub struct Acknowledged {
    pub by: String,
    pub comment: String,
    pub at: TimeView,
}

/// One pending or firing alert.
pub struct AlertRow {
    /// The element id of its row, for links from alerts it inhibits.
    pub anchor: String,
    /// For the acknowledge form's address.
    pub fingerprint: String,
    /// The silence form, prefilled with a matcher for each of its labels.
    pub silence_href: String,
    pub alertname: String,
    pub severity: Badge,
    pub phase: &'static str,
    pub cluster: Link,
    pub member: Option<Link>,
    /// Its other labels, `name=value`.
    pub labels: Vec<String>,
    pub summary: String,
    pub description: String,
    pub runbook: String,
    /// The runbook as a link, when it is a web address.
    pub runbook_href: Option<String>,
    pub value: String,
    /// When it fired (firing) or its condition started to hold (pending).
    pub since: TimeView,
    pub lasted: String,
    pub acknowledged: Option<Acknowledged>,
    pub receivers: String,
    /// The silences and the inhibiting alert, linked to their rows on the alerts page.
    pub muted_by: Vec<Link>,
}

fn alert_anchor(a: &AlertView) -> String {
    format!("alert-{}", a.alert.fingerprint)
}

impl AlertRow {
    pub fn new(a: &AlertView, view: &AlertsView, now: i64) -> Self {
        let alert = &a.alert;
        let since_ms = match alert.phase {
            AlertPhase::Firing => alert.fired_at_ms.unwrap_or(alert.active_since_ms),
            _ => alert.active_since_ms,
        };
        let annotation = |name: &str| alert.annotations.get(name).cloned().unwrap_or_default();
        let runbook = annotation("runbook");
        let mut muted_by: Vec<Link> = a
            .silenced_by
            .iter()
            .map(|id| Link {
                label: format!("silence {id}"),
                href: format!("/alerts#silence-{id}"),
                current: false,
            })
            .collect();
        if let Some(fp) = a.inhibited_by {
            let by = view.alerts.iter().find(|x| x.alert.fingerprint == fp);
            muted_by.push(Link {
                label: match by {
                    Some(x) => format!(
                        "inhibited by {} of {}",
                        x.alert.alertname(),
                        x.alert.cluster()
                    ),
                    None => format!("inhibited by alert {fp}"),
                },
                href: format!("/alerts#alert-{fp}"),
                current: false,
            });
        }
        AlertRow {
            anchor: alert_anchor(a),
            fingerprint: alert.fingerprint.to_string(),
            silence_href: format!(
                "/silences/new?{}",
                alert
                    .labels
                    .iter()
                    .map(|(k, v)| format!("matcher={}", urlencode(&format!("{k}={v}"))))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            alertname: alert.alertname().to_string(),
            severity: Badge {
                label: alert.severity().to_string(),
                class: severity_class(alert.severity()),
            },
            phase: match alert.phase {
                AlertPhase::Firing => "firing",
                AlertPhase::Pending => "pending",
                AlertPhase::Resolved => "resolved",
            },
            cluster: cluster_link(alert.cluster()),
            member: alert.member().map(|m| member_link(alert.cluster(), m)),
            labels: alert
                .labels
                .iter()
                .filter(|(name, _)| !RESERVED_LABELS.contains(&name.as_str()))
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            summary: annotation("summary"),
            description: annotation("description"),
            runbook_href: (runbook.starts_with("https://") || runbook.starts_with("http://"))
                .then(|| runbook.clone()),
            runbook,
            value: human_short(alert.value, Unit::Count),
            since: ms_time(since_ms),
            lasted: duration_text(now.saturating_sub(since_ms)),
            acknowledged: a.acknowledged.as_ref().map(|ack| Acknowledged {
                by: ack.by.clone(),
                comment: ack.comment.clone(),
                at: ms_time(ack.at_ms),
            }),
            receivers: a.receivers.join(", "),
            muted_by,
        }
    }
}

/// Pending and firing alerts of one cluster, for its page.
pub fn cluster_alert_rows(view: &AlertsView, cluster: &str, now: i64) -> Vec<AlertRow> {
    view.alerts
        .iter()
        .filter(|a| a.alert.cluster() == cluster)
        .map(|a| AlertRow::new(a, view, now))
        .collect()
}

/// Firing, pending or muted alerts: one table of the alerts page.
pub struct AlertSection {
    pub id: &'static str,
    pub title: &'static str,
    pub rows: Vec<AlertRow>,
    /// What an empty section means.
    pub empty: String,
    /// Whether the rows say what mutes them.
    pub muted: bool,
}

pub struct SilenceRow {
    pub id: String,
    pub matchers: Vec<String>,
    pub state: Badge,
    pub starts: TimeView,
    pub ends: TimeView,
    pub created_by: String,
    pub comment: String,
    pub expired_by: Option<String>,
    /// Active alerts it mutes now.
    pub muting: usize,
}

impl SilenceRow {
    fn new(s: &Silence, view: &AlertsView, now: i64) -> Self {
        let (label, class) = if s.is_active(now) {
            ("active", "ok")
        } else if s.starts_at_ms > now {
            ("starts later", "pending")
        } else {
            ("expired", "pending")
        };
        SilenceRow {
            id: s.id.clone(),
            matchers: s.matchers.clone(),
            state: Badge {
                label: label.into(),
                class,
            },
            starts: ms_time(s.starts_at_ms),
            ends: ms_time(s.ends_at_ms),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            expired_by: s.expired_by.clone(),
            muting: view
                .alerts
                .iter()
                .filter(|a| a.silenced_by.contains(&s.id))
                .count(),
        }
    }
}

pub struct HistoryRow {
    pub at: TimeView,
    pub event: Badge,
    pub alertname: String,
    pub cluster: Option<Link>,
    pub member: Option<Link>,
    pub severity: String,
    pub value: String,
    pub by: String,
    pub detail: String,
}

impl HistoryRow {
    fn new(e: &HistoryEntry) -> Self {
        let class = match e.event.as_str() {
            "firing" | "notify_failed" => "bad",
            "pending" => "warn",
            "resolved" => "ok",
            _ => "pending",
        };
        HistoryRow {
            at: ms_time(e.at_ms),
            event: Badge {
                label: e.event.clone(),
                class,
            },
            alertname: e.alertname.clone(),
            cluster: (!e.cluster.is_empty()).then(|| cluster_link(&e.cluster)),
            member: e.member.as_deref().map(|m| member_link(&e.cluster, m)),
            severity: e.severity.clone(),
            value: e
                .value
                .map_or_else(String::new, |v| human_short(v, Unit::Count)),
            by: e.by.clone().unwrap_or_default(),
            detail: e.detail.clone(),
        }
    }
}

/// `GET /alerts` parameters; text so that a bad value gets the HTML 400 page.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AlertsParams {
    cluster: Option<String>,
    alertname: Option<String>,
    event: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

/// What the page shows: the cluster filters the active alerts and the history.
#[derive(Debug)]
struct AlertsQuery {
    cluster: Option<String>,
    history: HistoryFilter,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl AlertsParams {
    fn parse(&self, clusters: &[String]) -> Result<AlertsQuery, PageError> {
        let cluster = non_empty(&self.cluster);
        if let Some(c) = cluster {
            if !clusters.iter().any(|n| n == c) {
                return Err(bad_request(format!(
                    "cluster={c:?}: no monitored cluster is named so"
                )));
            }
        }
        let event = non_empty(&self.event);
        if let Some(e) = event {
            if !HISTORY_EVENTS.contains(&e) {
                return Err(bad_request(format!(
                    "event={e:?} is not one of {}",
                    HISTORY_EVENTS.join(", ")
                )));
            }
        }
        let before = non_empty(&self.before)
            .map(|b| {
                b.parse::<i64>().map_err(|_| {
                    bad_request(format!("before={b:?} is not a time in unix milliseconds"))
                })
            })
            .transpose()?;
        let limit = match non_empty(&self.limit) {
            None => DEFAULT_HISTORY_LIMIT,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_HISTORY_LIMIT).contains(n))
                .ok_or_else(|| {
                    bad_request(format!(
                        "limit={l:?} is not a number from 1 to {MAX_HISTORY_LIMIT}"
                    ))
                })?,
        };
        Ok(AlertsQuery {
            cluster: cluster.map(str::to_string),
            history: HistoryFilter {
                cluster: cluster.map(str::to_string),
                alertname: non_empty(&self.alertname).map(str::to_string),
                event: event.map(str::to_string),
                before_ms: before,
                limit,
            },
        })
    }
}

/// The history's filter form, as it was sent.
pub struct HistoryForm {
    pub clusters: Vec<SelectOption>,
    pub alertname: String,
    pub events: Vec<SelectOption>,
    pub limit: usize,
}

/// The address of the next page of history: the same filters, entries before `before_ms`.
fn older_href(filter: &HistoryFilter, before_ms: i64) -> String {
    let mut params: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("cluster", &filter.cluster),
        ("alertname", &filter.alertname),
        ("event", &filter.event),
    ] {
        if let Some(v) = value {
            params.push((name, v.clone()));
        }
    }
    params.push(("limit", filter.limit.to_string()));
    params.push(("before", before_ms.to_string()));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    format!("/alerts?{}#history", query.join("&"))
}

/// Where a page of history (newest first) ends, and the `before` of the next page.
/// `entries` holds up to `limit + 1`: the one past the page says whether there is a
/// next page. `before` is exclusive and in whole milliseconds, and the changes of one
/// evaluation share their time: when the page would end inside one millisecond, its
/// entries of that millisecond go to the next page (unless they fill this one alone).
fn end_of_page(mut entries: Vec<HistoryEntry>, limit: usize) -> (Vec<HistoryEntry>, Option<i64>) {
    if entries.len() <= limit || limit == 0 {
        return (entries, None);
    }
    let next_ms = entries[limit].at_ms;
    entries.truncate(limit);
    match entries.iter().position(|e| e.at_ms == next_ms) {
        Some(i) if i > 0 => {
            entries.truncate(i);
            (entries, Some(next_ms.saturating_add(1)))
        }
        Some(_) => (entries, Some(next_ms)),
        None => {
            let last_ms = entries[limit - 1].at_ms;
            (entries, Some(last_ms))
        }
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    pub layout: Layout,
    /// The cluster the page is limited to.
    pub cluster: Option<Link>,
    pub delivery_errors: Vec<String>,
    pub evaluated: Option<TimeView>,
    pub sections: Vec<AlertSection>,
    pub silences: Vec<SilenceRow>,
    pub expired: Vec<SilenceRow>,
    pub form: HistoryForm,
    pub history_filtered: bool,
    pub history: Vec<HistoryRow>,
    /// The next page of history, when this one is full.
    pub older: Option<String>,
}

/// The firing, pending and muted alerts, of one cluster or of all.
fn active_sections(view: &AlertsView, cluster: Option<&str>, now: i64) -> Vec<AlertSection> {
    let shown: Vec<&AlertView> = view
        .alerts
        .iter()
        .filter(|a| cluster.is_none_or(|c| a.alert.cluster() == c))
        .collect();
    let rows = |pick: &dyn Fn(&AlertView) -> bool| -> Vec<AlertRow> {
        shown
            .iter()
            .filter(|a| pick(a))
            .map(|a| AlertRow::new(a, view, now))
            .collect()
    };
    let scope = cluster.map_or_else(String::new, |c| format!(" in cluster {c}"));
    vec![
        AlertSection {
            id: "firing",
            title: "Firing",
            rows: rows(&is_firing_unmuted),
            empty: format!("No alert is firing{scope}."),
            muted: false,
        },
        AlertSection {
            id: "pending",
            title: "Pending",
            rows: rows(&|a| a.alert.phase == AlertPhase::Pending && !a.is_muted()),
            empty: format!(
                "No alert is pending{scope}: no rule's condition holds and waits out its \"for\" duration."
            ),
            muted: false,
        },
        AlertSection {
            id: "muted",
            title: "Silenced or inhibited",
            rows: rows(&AlertView::is_muted),
            empty: format!("No alert is silenced or inhibited{scope}."),
            muted: true,
        },
    ]
}

/// `GET /alerts[?cluster=&alertname=&event=&before=&limit=]`
pub async fn alerts(state: web::Data<AppState>, params: web::Query<AlertsParams>) -> PageResult {
    let now = crate::unix_ms_now();
    let names: Vec<String> = state.board.names();
    let query = params.parse(&names)?;
    let manager = state.alerts.clone();
    // One entry more than shown: it tells whether there is an older page.
    let filter = HistoryFilter {
        limit: query.history.limit + 1,
        ..query.history.clone()
    };
    let entries = web::block(move || manager.history(&filter))
        .await?
        .map_err(ApiError::from)?;
    let view = state.alerts.view();
    let cluster = query.cluster.as_deref();
    let sections = active_sections(&view, cluster, now);
    let (current, expired): (Vec<Silence>, Vec<Silence>) = state
        .alerts
        .silences()
        .into_iter()
        .partition(|s| s.ends_at_ms > now);
    let silence_rows = |list: &[Silence]| -> Vec<SilenceRow> {
        list.iter()
            .map(|s| SilenceRow::new(s, &view, now))
            .collect()
    };
    let filter = &query.history;
    let (entries, next_before) = end_of_page(entries, filter.limit);
    let older = next_before.map(|before| older_href(filter, before));
    ok(AlertsPage {
        layout: layout(&state, "Alerts", Nav::Alerts, Some("/events".into())),
        cluster: cluster.map(cluster_link),
        delivery_errors: view.delivery_errors.clone(),
        evaluated: view.evaluated_at_ms.map(ms_time),
        sections,
        silences: silence_rows(&current),
        expired: silence_rows(&expired),
        form: HistoryForm {
            clusters: SelectOption::list(names.iter().map(String::as_str), cluster.unwrap_or("")),
            alertname: filter.alertname.clone().unwrap_or_default(),
            events: SelectOption::list(HISTORY_EVENTS, filter.event.as_deref().unwrap_or("")),
            limit: filter.limit,
        },
        history_filtered: filter.alertname.is_some()
            || filter.event.is_some()
            || filter.before_ms.is_some(),
        history: entries.iter().map(HistoryRow::new).collect(),
        older,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::layout::AlertBadges;
    use super::*;

    fn entry(at_ms: i64) -> HistoryEntry {
        HistoryEntry {
            at_ms,
            event: "firing".into(),
            fingerprint: None,
            alertname: "X".into(),
            cluster: "prod".into(),
            member: None,
            severity: "warning".into(),
            labels: BTreeMap::new(),
            value: Some(1.0),
            by: None,
            detail: String::new(),
        }
    }

    fn times(entries: &[HistoryEntry]) -> Vec<i64> {
        entries.iter().map(|e| e.at_ms).collect()
    }

    fn alert_view(
        alertname: &str,
        severity: &str,
        member: Option<&str>,
        phase: AlertPhase,
    ) -> AlertView {
        let mut labels: BTreeMap<String, String> = [
            ("alertname", alertname),
            ("severity", severity),
            ("cluster", "prod"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(m) = member {
            labels.insert("member".into(), m.into());
        }
        AlertView {
            alert: crate::alert::Alert {
                fingerprint: crate::alert::Fingerprint::of(&labels),
                rule: alertname.into(),
                labels,
                annotations: BTreeMap::new(),
                phase,
                value: 1.0,
                active_since_ms: 1_000,
                fired_at_ms: (phase == AlertPhase::Firing).then_some(61_000),
                resolved_at_ms: None,
                keep_firing_since_ms: None,
                last_held_ms: 121_000,
            },
            silenced_by: Vec::new(),
            inhibited_by: None,
            acknowledged: None,
            receivers: vec!["ops".into()],
        }
    }

    /// A cluster down, the member alert it inhibits, one silenced and one pending.
    fn sample_view() -> AlertsView {
        let unavailable = alert_view(
            "etcdClusterUnavailable",
            "critical",
            None,
            AlertPhase::Firing,
        );
        let mut inhibited = alert_view(
            "etcdMemberUnreachable",
            "warning",
            Some("m1"),
            AlertPhase::Firing,
        );
        inhibited.inhibited_by = Some(unavailable.alert.fingerprint);
        let mut silenced = alert_view("etcdHighFsync", "warning", Some("m2"), AlertPhase::Firing);
        silenced.silenced_by = vec!["00000000000000aa".into()];
        let pending = alert_view("etcdNoLeader", "critical", Some("m0"), AlertPhase::Pending);
        AlertsView {
            evaluated_at_ms: Some(121_000),
            alerts: vec![unavailable, inhibited, silenced, pending],
            delivery_errors: vec!["receiver ops: connection refused <x>".into()],
            ..AlertsView::default()
        }
    }

    #[test]
    fn sections_and_badges_count_only_what_is_firing_and_unmuted() {
        let view = sample_view();
        let sections = active_sections(&view, None, 181_000);
        let names = |i: usize| -> Vec<&str> {
            sections[i]
                .rows
                .iter()
                .map(|r| r.alertname.as_str())
                .collect()
        };
        assert_eq!(names(0), ["etcdClusterUnavailable"]);
        assert_eq!(names(1), ["etcdNoLeader"]);
        assert_eq!(names(2), ["etcdMemberUnreachable", "etcdHighFsync"]);
        let firing = &sections[0].rows[0];
        assert_eq!((firing.lasted.as_str(), firing.since.ms), ("2m", 61_000));
        assert_eq!(firing.member.as_ref().map(|m| m.label.as_str()), None);
        let inhibited = &sections[2].rows[0];
        assert_eq!(
            inhibited.muted_by[0].label,
            "inhibited by etcdClusterUnavailable of prod"
        );
        assert_eq!(
            inhibited.muted_by[0].href,
            format!("/alerts#{}", firing.anchor)
        );
        assert_eq!(
            inhibited.member.as_ref().map(|m| m.href.as_str()),
            Some("/clusters/prod/members/m1")
        );
        assert_eq!(
            sections[2].rows[1].muted_by[0].href,
            "/alerts#silence-00000000000000aa"
        );
        // Another cluster's page: nothing, and the empty texts say where.
        let other = active_sections(&view, Some("dev"), 181_000);
        assert!(other.iter().all(|s| s.rows.is_empty()));
        assert_eq!(other[0].empty, "No alert is firing in cluster dev.");

        let badges = AlertBadges::of_cluster(&view, "prod");
        assert_eq!(badges.total, 1);
        assert_eq!(badges.href, "/alerts?cluster=prod");
        assert_eq!(badges.badges[0].label, "1 critical");
        let nav = badges.total_badge().unwrap();
        assert_eq!((nav.label.as_str(), nav.class), ("1", "bad"));
        assert!(AlertBadges::of_cluster(&view, "dev")
            .total_badge()
            .is_none());
    }

    #[test]
    fn failed_deliveries_show_as_an_escaped_warning() {
        let view = sample_view();
        let page = AlertsPage {
            layout: Layout::new("Alerts", Nav::Alerts, None),
            cluster: None,
            delivery_errors: view.delivery_errors.clone(),
            evaluated: view.evaluated_at_ms.map(ms_time),
            sections: active_sections(&view, None, 181_000),
            silences: Vec::new(),
            expired: Vec::new(),
            form: HistoryForm {
                clusters: Vec::new(),
                alertname: String::new(),
                events: SelectOption::list(HISTORY_EVENTS, ""),
                limit: DEFAULT_HISTORY_LIMIT,
            },
            history_filtered: false,
            history: Vec::new(),
            older: None,
        };
        let html = page.render().unwrap();
        assert!(html.contains("<div class=\"notice warn\" role=\"alert\">"));
        assert!(html.contains("<li>receiver ops: connection refused &#60;x&#62;</li>"));
        assert!(html.contains("No alert has changed state yet"));
    }

    #[test]
    fn a_history_page_never_ends_inside_a_millisecond() {
        // Nothing past the page: no next page.
        let (page, next) = end_of_page(vec![entry(5), entry(4)], 2);
        assert_eq!((times(&page), next), (vec![5, 4], None));
        // The next entry is older than the last shown: the next page starts below it.
        let (page, next) = end_of_page(vec![entry(9), entry(8), entry(7)], 2);
        assert_eq!((times(&page), next), (vec![9, 8], Some(8)));
        // The next entry shares the last one's time: that time goes to the next page,
        // which includes it.
        let (page, next) = end_of_page(vec![entry(9), entry(7), entry(7), entry(7)], 3);
        assert_eq!((times(&page), next), (vec![9], Some(8)));
        // ...unless it fills the whole page (more changes in one millisecond than
        // `limit`): the rest of that millisecond is skipped rather than shown forever.
        let (page, next) = end_of_page(vec![entry(7), entry(7), entry(7)], 2);
        assert_eq!((times(&page), next), (vec![7, 7], Some(7)));
    }

    fn params(pairs: &[(&str, &str)]) -> AlertsParams {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        };
        AlertsParams {
            cluster: get("cluster"),
            alertname: get("alertname"),
            event: get("event"),
            before: get("before"),
            limit: get("limit"),
        }
    }

    fn bad(r: Result<AlertsQuery, PageError>) -> String {
        match r {
            Err(PageError(ApiError::BadRequest(m))) => m,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn alerts_params_check_every_filter_and_name_what_is_wrong() {
        let clusters = vec!["prod".to_string()];
        let q = params(&[]).parse(&clusters).unwrap();
        assert_eq!(q.cluster, None);
        assert_eq!(q.history.limit, DEFAULT_HISTORY_LIMIT);
        // A form sent as it was: empty fields are no filter.
        let q = params(&[
            ("cluster", ""),
            ("event", ""),
            ("limit", ""),
            ("before", ""),
        ])
        .parse(&clusters)
        .unwrap();
        assert_eq!((q.history.event, q.history.before_ms), (None, None));
        let q = params(&[
            ("cluster", "prod"),
            ("alertname", "X"),
            ("event", "firing"),
            ("before", "1700000000000"),
            ("limit", "10"),
        ])
        .parse(&clusters)
        .unwrap();
        assert_eq!(q.cluster.as_deref(), Some("prod"));
        assert_eq!(q.history.cluster.as_deref(), Some("prod"));
        assert_eq!(q.history.before_ms, Some(1_700_000_000_000));
        assert_eq!(
            older_href(&q.history, 42),
            "/alerts?cluster=prod&alertname=X&event=firing&limit=10&before=42#history"
        );
        assert!(bad(params(&[("cluster", "dev")]).parse(&clusters)).contains("cluster=\"dev\""));
        assert!(bad(params(&[("event", "exploded")]).parse(&clusters)).contains("notify_failed"));
        assert!(bad(params(&[("before", "yesterday")]).parse(&clusters)).contains("before="));
        for limit in ["0", "1001", "many"] {
            assert!(bad(params(&[("limit", limit)]).parse(&clusters)).contains("limit="));
        }
    }
}
