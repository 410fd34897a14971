//! A cluster's page (`GET /clusters/{name}`): its state, members, alerts and charts.

use actix_web::web;
use askama::Template;

use super::alerts::{cluster_alert_rows, AlertRow};
use super::charts::{history_chart, indicator, ChartQuery, CLUSTER_CHARTS};
use super::display::{bytes, dash, db_usage, StatusView, TimeView};
use super::layout::{layout, AlertBadges, Layout, Nav};
use super::range::{RangeParams, RangePicker};
use super::timeline::EventRow;
use super::{find, ok, urlencode, PageError, PageResult};
use crate::collect::events::{self, EventQuery};
use crate::collect::snapshot::{ClusterSnapshot, ClusterStatus, MemberSnapshot};
use crate::collect::view::member_label;
use crate::web::chart::Marker;
use crate::web::AppState;

/// `GET /clusters/{name}`
pub async fn cluster(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<RangeParams>,
) -> PageResult {
    let now = crate::unix_ms_now();
    let snap = find(&state, &name)?;
    let range = params.resolve(now)?;
    let base = format!("/clusters/{}", urlencode(&snap.name));
    let state2 = state.clone();
    let name2 = snap.name.clone();
    let range2 = range.clone();
    let (charts, recent) = web::block(move || -> Result<_, PageError> {
        // The events of the range, drawn across every chart.
        let in_range = events::query(
            &state2.store,
            &EventQuery {
                cluster: Some(name2.clone()),
                from_ms: Some(range2.from_ms),
                to_ms: Some(range2.to_ms.saturating_add(1)),
                limit: crate::web::chart::MAX_MARKERS,
                ..Default::default()
            },
        )?;
        let markers: Vec<Marker> = in_range
            .iter()
            .map(|e| Marker {
                at_ms: e.at_unix_ms,
                label: e.message.clone(),
                problem: e.kind.is_problem(),
            })
            .collect();
        let charts = CLUSTER_CHARTS
            .iter()
            .map(|d| {
                let metric = indicator(d.indicator);
                let mut q = ChartQuery::of(d, &metric, &name2, None);
                q.markers = &markers;
                history_chart(&state2, &q, &range2, now)
            })
            .collect::<Result<Vec<String>, PageError>>()?;
        let recent = events::query(
            &state2.store,
            &EventQuery {
                cluster: Some(name2.clone()),
                limit: RECENT_EVENTS,
                ..Default::default()
            },
        )?;
        Ok((charts, recent))
    })
    .await??;
    let alerts = state.alerts.view();
    ok(ClusterPage {
        layout: layout(
            &state,
            &snap.name,
            Nav::Overview,
            Some(format!("/events?cluster={}", urlencode(&snap.name))),
        ),
        c: ClusterView::new(&snap),
        keys_href: format!("/clusters/{}/keys", urlencode(&snap.name)),
        members: {
            let mut rows: Vec<MemberRow> = snap
                .members
                .iter()
                .map(|m| MemberRow::new(&snap, m))
                .collect();
            rows.sort_by(|a, b| a.name.cmp(&b.name));
            rows
        },
        alert_badges: AlertBadges::of_cluster(&alerts, &snap.name),
        alerts: cluster_alert_rows(&alerts, &snap.name, now),
        picker: RangePicker::new(&base, &range),
        charts,
        events: recent.iter().map(EventRow::new).collect(),
        timeline_href: format!("/timeline?cluster={}", urlencode(&snap.name)),
    })
}

/// Events shown on a cluster's page; its timeline has the rest.
const RECENT_EVENTS: usize = 8;

/// The head of a cluster page.
pub struct ClusterView {
    pub name: String,
    pub status: StatusView,
    pub reasons: Vec<String>,
    pub never_reached: bool,
    pub leader: String,
    pub term: String,
    pub cluster_id: String,
    pub quorum: String,
    pub db_usage: String,
    pub db_class: &'static str,
    pub probed: Option<TimeView>,
    pub probe_ms: String,
    pub alarms: Vec<(String, String)>,
    pub errors: Vec<String>,
    pub consistency: Option<ConsistencyView>,
    pub spread: String,
}

pub struct ConsistencyView {
    pub consistent: bool,
    pub checked: TimeView,
    pub revision: i64,
    pub summary: String,
}

impl ClusterView {
    pub fn new(c: &ClusterSnapshot) -> Self {
        let (db_usage, db_class) = db_usage(c);
        let q = &c.quorum;
        ClusterView {
            name: c.name.clone(),
            status: StatusView::of(c.status),
            reasons: c.reasons.clone(),
            never_reached: c.status != ClusterStatus::Pending
                && c.members.is_empty()
                && c.cluster_id.is_none(),
            leader: c
                .leader
                .as_ref()
                .map_or_else(|| "no leader".into(), |l| format!("{} ({})", l.name, l.id)),
            term: c.raft_term.map_or_else(dash, |t| t.to_string()),
            cluster_id: c.cluster_id.clone().unwrap_or_else(dash),
            quorum: if q.voting_members == 0 {
                dash()
            } else {
                format!(
                    "{} of {} voting members reachable, {} needed",
                    q.reachable_voting_members, q.voting_members, q.needed
                )
            },
            db_usage,
            db_class,
            probed: c.probed_at.map(TimeView::new),
            probe_ms: c
                .probe_duration_ms
                .map_or_else(dash, |ms| format!("{ms} ms")),
            alarms: c
                .alarms
                .iter()
                .map(|a| {
                    (
                        a.member_name.clone().unwrap_or_else(|| a.member_id.clone()),
                        a.alarm.clone(),
                    )
                })
                .collect(),
            errors: c.errors.clone(),
            consistency: c.consistency.as_ref().map(|k| ConsistencyView {
                consistent: k.consistent,
                checked: TimeView::new(k.checked_at),
                revision: k.revision,
                summary: if let Some(e) = &k.error {
                    format!("could not check: {e}")
                } else if k.consistent {
                    format!("all {} members agree (HashKV)", k.hashes.len())
                } else {
                    format!("hash differs on {}", k.mismatched.join(", "))
                },
            }),
            spread: match (c.spread.raft_index, c.spread.revision) {
                (Some(i), Some(r)) => format!("raft index {i}, revision {r}"),
                (Some(i), None) => format!("raft index {i}"),
                _ => dash(),
            },
        }
    }
}

/// One member in the members table.
pub struct MemberRow {
    pub name: String,
    pub href: String,
    pub id: String,
    pub endpoint: String,
    pub role: &'static str,
    pub health: StatusView,
    pub version: String,
    pub term: String,
    pub index: String,
    pub applied: String,
    pub db_size: String,
    pub db_in_use: String,
    pub alarms: String,
    pub error: String,
    pub flags: Vec<String>,
}

impl MemberRow {
    pub fn new(c: &ClusterSnapshot, m: &MemberSnapshot) -> Self {
        let s = m.status.as_ref();
        let health = if !m.reachable {
            StatusView {
                label: "down",
                class: "bad",
            }
        } else if !m.healthy {
            StatusView {
                label: "unhealthy",
                class: "warn",
            }
        } else {
            StatusView {
                label: "healthy",
                class: "ok",
            }
        };
        let alarms: Vec<&str> = c
            .alarms
            .iter()
            .filter(|a| a.member_id == m.id)
            .map(|a| a.alarm.as_str())
            .collect();
        MemberRow {
            name: m.name.clone(),
            href: format!(
                "/clusters/{}/members/{}",
                urlencode(&c.name),
                urlencode(&member_label(m))
            ),
            id: m.id.clone(),
            endpoint: m.client_urls.first().cloned().unwrap_or_else(dash),
            role: if m.is_learner {
                "learner"
            } else if m.is_leader {
                "leader"
            } else {
                "follower"
            },
            health,
            version: s.map_or_else(dash, |s| s.version.clone()),
            term: s.map_or_else(dash, |s| s.raft_term.to_string()),
            index: s.map_or_else(dash, |s| s.raft_index.to_string()),
            applied: s.map_or_else(dash, |s| s.raft_applied_index.to_string()),
            db_size: s.map_or_else(dash, |s| bytes(s.db_size)),
            db_in_use: s.map_or_else(dash, |s| bytes(s.db_size_in_use)),
            alarms: if alarms.is_empty() {
                dash()
            } else {
                alarms.join(", ")
            },
            error: m
                .error
                .clone()
                .or_else(|| m.scrape_error.clone().map(|e| format!("/metrics: {e}")))
                .unwrap_or_default(),
            flags: m.flags.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "cluster.html")]
pub struct ClusterPage {
    pub layout: Layout,
    pub c: ClusterView,
    /// The key browser of this cluster.
    pub keys_href: String,
    pub alert_badges: AlertBadges,
    /// Its pending and firing alerts.
    pub alerts: Vec<AlertRow>,
    pub members: Vec<MemberRow>,
    pub picker: RangePicker,
    pub charts: Vec<String>,
    /// Its latest events, newest first.
    pub events: Vec<EventRow>,
    pub timeline_href: String,
}
