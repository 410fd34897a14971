//! The overview (`GET /`): every cluster at a glance, filtered by tag.

use actix_web::web;
use askama::Template;

use super::charts::{chart_step, indicator, SPARK_HEIGHT, SPARK_WIDTH};
use super::display::{dash, db_usage, StatusView, TimeView};
use super::layout::{layout, AlertBadges, Layout, Link, Nav};
use super::range::TimeRange;
use super::{ok, urlencode, PageError, PageResult};
use crate::collect::snapshot::{ClusterSnapshot, ClusterStatus};
use crate::store::query::{self, Aggregate, HistoryQuery};
use crate::web::chart;
use crate::web::{ApiError, AppState};

#[derive(Debug, serde::Deserialize)]
pub struct OverviewParams {
    tag: Option<String>,
}

/// `GET /`: every cluster at a glance.
pub async fn overview(
    state: web::Data<AppState>,
    params: web::Query<OverviewParams>,
) -> PageResult {
    let now = crate::unix_ms_now();
    let all = state.board.all();
    let tag = params.tag.as_deref().filter(|t| !t.is_empty());
    let mut tags: Vec<String> = all.iter().flat_map(|c| c.tags.iter().cloned()).collect();
    tags.sort();
    tags.dedup();
    if let Some(t) = tag {
        if !tags.iter().any(|x| x == t) {
            return Err(PageError(ApiError::BadRequest(format!(
                "tag={t:?}: no monitored cluster has this tag"
            ))));
        }
    }
    let hour = TimeRange {
        from_ms: now - 3_600_000,
        to_ms: now,
        preset: Some("1h"),
    };
    let step = chart_step(&hour, SPARK_WIDTH, state.interval_ms);
    let alerts = state.alerts.view();
    let mut rows = Vec::new();
    for c in all
        .iter()
        .filter(|c| tag.is_none_or(|t| c.tags.iter().any(|x| x == t)))
    {
        // The leader's proposals over the last hour: a flat line at 0 means no
        // writes get through.
        let spark = match c.leader.as_ref() {
            Some(l) => {
                let q = HistoryQuery {
                    cluster: c.name.clone(),
                    metric: indicator("proposals_committed_per_second"),
                    member: Some(l.name.clone()),
                    from_ms: hour.from_ms,
                    to_ms: hour.to_ms,
                    step_ms: step,
                    aggregate: Aggregate::Avg,
                };
                let points = query::history(&state.store, &q, now)?
                    .into_iter()
                    .next()
                    .map(|s| s.points)
                    .unwrap_or_default();
                chart::sparkline(
                    &points,
                    hour.from_ms,
                    hour.to_ms,
                    step,
                    SPARK_WIDTH,
                    SPARK_HEIGHT,
                )
            }
            None => String::new(),
        };
        rows.push(ClusterRow::new(
            c,
            spark,
            AlertBadges::of_cluster(&alerts, &c.name),
        ));
    }
    let tag_links = tags
        .iter()
        .map(|t| Link {
            label: t.clone(),
            href: format!("/?tag={}", urlencode(t)),
            current: Some(t.as_str()) == tag,
        })
        .collect();
    ok(OverviewPage {
        layout: layout(&state, "Overview", Nav::Overview, Some("/events".into())),
        store_error: state.store.health().last_error,
        tags: tag_links,
        filtered: tag.is_some(),
        clusters: rows,
    })
}

/// One line of the overview.
pub struct ClusterRow {
    pub name: String,
    pub href: String,
    pub status: StatusView,
    pub leader: String,
    pub term: String,
    pub members_up: usize,
    pub members_total: usize,
    pub db_usage: String,
    pub db_class: &'static str,
    pub problems: Vec<String>,
    pub tags: Vec<String>,
    pub probed: Option<TimeView>,
    /// SVG, escaped by the chart module.
    pub spark: String,
    pub alerts: AlertBadges,
}

impl ClusterRow {
    pub fn new(c: &ClusterSnapshot, spark: String, alerts: AlertBadges) -> Self {
        let (db_usage, db_class) = db_usage(c);
        let mut problems: Vec<String> = if c.status == ClusterStatus::Healthy {
            Vec::new()
        } else {
            c.reasons.clone()
        };
        problems.extend(c.errors.iter().cloned());
        ClusterRow {
            name: c.name.clone(),
            href: format!("/clusters/{}", urlencode(&c.name)),
            status: StatusView::of(c.status),
            leader: c
                .leader
                .as_ref()
                .map_or_else(|| "no leader".into(), |l| l.name.clone()),
            term: c.raft_term.map_or_else(dash, |t| t.to_string()),
            members_up: c.members_reachable(),
            members_total: c.members.len(),
            db_usage,
            db_class,
            problems,
            tags: c.tags.clone(),
            probed: c.probed_at.map(TimeView::new),
            spark,
            alerts,
        }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    /// The history store's last write error: charts may lag while it lasts.
    pub store_error: Option<String>,
    pub tags: Vec<Link>,
    pub filtered: bool,
    pub clusters: Vec<ClusterRow>,
}
