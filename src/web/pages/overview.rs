//! The overview (`GET /`): every cluster at a glance, filtered by tag.

use actix_web::web;
use askama::Template;

use super::charts::{chart_step, indicator, SPARK_HEIGHT, SPARK_WIDTH};
use super::display::{dash, db_usage, StatusView, TimeView};
use super::layout::{layout, AlertBadges, Layout, Link, Nav};
use super::range::TimeRange;
use super::{bad_request, ok, urlencode, PageError, PageResult};
use crate::collect::snapshot::{version_key, ClusterSnapshot, ClusterStatus};
use crate::store::query::{self, Aggregate, HistoryQuery};
use crate::web::chart;
use crate::web::AppState;

/// Rows per page unless `per_page` says otherwise, and its bounds.
const PER_PAGE: usize = 25;
const MAX_PER_PAGE: usize = 500;

#[derive(Debug, serde::Deserialize)]
pub struct OverviewParams {
    tag: Option<String>,
    /// `healthy`, `degraded`, `unavailable` or `pending`.
    status: Option<String>,
    /// An etcd version some member runs.
    version: Option<String>,
    /// Part of a cluster's name, any case.
    q: Option<String>,
    /// `status` (worst first, the default), `name`, `alerts` or `db`.
    sort: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

fn bad(field: &str, message: String) -> PageError {
    bad_request(format!("{field}: {message}"))
}

/// The statuses in the overview's order: worst first.
const WORST_FIRST: [ClusterStatus; 4] = [
    ClusterStatus::Unavailable,
    ClusterStatus::Degraded,
    ClusterStatus::Pending,
    ClusterStatus::Healthy,
];

fn status_rank(s: ClusterStatus) -> usize {
    WORST_FIRST.iter().position(|x| *x == s).unwrap_or(0)
}

/// `GET /`: every cluster at a glance. The summary counts the whole fleet; the
/// table shows one page of the clusters the filters keep, the unhealthy ones first
/// unless another order is asked for, so paging never hides a problem.
pub async fn overview(
    state: web::Data<AppState>,
    params: web::Query<OverviewParams>,
) -> PageResult {
    let now = crate::unix_ms_now();
    let all = state.board.all();
    let p = params.into_inner();
    let nonempty = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let (tag, status, version, q) = (
        nonempty(&p.tag),
        nonempty(&p.status),
        nonempty(&p.version),
        nonempty(&p.q),
    );
    let mut tags: Vec<String> = all.iter().flat_map(|c| c.tags.iter().cloned()).collect();
    tags.sort();
    tags.dedup();
    if let Some(t) = &tag {
        if !tags.contains(t) {
            return Err(bad(
                "tag",
                format!("{t:?}: no monitored cluster has this tag"),
            ));
        }
    }
    let status = match status.as_deref() {
        None => None,
        Some(s) => Some(
            WORST_FIRST
                .into_iter()
                .find(|x| x.as_str() == s)
                .ok_or_else(|| {
                    bad(
                        "status",
                        format!("{s:?}: use healthy, degraded, unavailable or pending"),
                    )
                })?,
        ),
    };
    if q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(bad("q", "at most 200 bytes".into()));
    }
    let sort = p.sort.as_deref().unwrap_or("status");
    if !["status", "name", "alerts", "db"].contains(&sort) {
        return Err(bad(
            "sort",
            format!("{sort:?}: use status, name, alerts or db"),
        ));
    }
    let per_page = p.per_page.unwrap_or(PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(bad(
            "per_page",
            format!("{per_page}: between 1 and {MAX_PER_PAGE}"),
        ));
    }
    let page = p.page.unwrap_or(1);
    if page == 0 {
        return Err(bad("page", "pages count from 1".into()));
    }
    let alerts = state.alerts.view();
    let needle = q.as_ref().map(|q| q.to_lowercase());
    // The whole fleet, for the summary line and the version choices.
    let mut summary = Summary::default();
    let mut all_versions = Vec::new();
    let mut kept = Vec::new();
    for c in &all {
        let badges = AlertBadges::of_cluster(&alerts, &c.name);
        summary.add(c.status, badges.total);
        let runs = c.versions();
        let shown = tag.as_ref().is_none_or(|t| c.tags.contains(t))
            && status.is_none_or(|s| s == c.status)
            && version.as_ref().is_none_or(|v| runs.contains(v))
            && needle
                .as_ref()
                .is_none_or(|n| c.name.to_lowercase().contains(n));
        all_versions.extend(runs);
        if shown {
            kept.push((c, badges));
        }
    }
    all_versions.sort_by_key(|x| version_key(x));
    all_versions.dedup();
    let db_size = |c: &ClusterSnapshot| {
        c.members
            .iter()
            .filter_map(|m| m.status.as_ref().map(|s| s.db_size))
            .max()
            .unwrap_or(0)
    };
    match sort {
        "name" => kept.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
        "alerts" => kept.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.name.cmp(&b.0.name))),
        "db" => kept.sort_by(|a, b| {
            db_size(b.0)
                .cmp(&db_size(a.0))
                .then(a.0.name.cmp(&b.0.name))
        }),
        _ => kept.sort_by(|a, b| {
            status_rank(a.0.status)
                .cmp(&status_rank(b.0.status))
                .then(b.1.total.cmp(&a.1.total))
                .then(a.0.name.cmp(&b.0.name))
        }),
    }
    let matching = kept.len();
    let pages = matching.div_ceil(per_page).max(1);
    if page > pages {
        return Err(bad(
            "page",
            format!("{page}: there are {pages} pages of {per_page}"),
        ));
    }
    let hour = TimeRange {
        from_ms: now - 3_600_000,
        to_ms: now,
        preset: Some("1h"),
    };
    let step = chart_step(&hour, SPARK_WIDTH, state.interval_ms);
    let mut rows = Vec::new();
    for (c, badges) in kept.into_iter().skip((page - 1) * per_page).take(per_page) {
        // The leader's proposals over the last hour: a flat line at 0 means no
        // writes get through. Drawn only for the rows shown.
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
        rows.push(ClusterRow::new(c, spark, badges));
    }
    // The choices made, as query parameters (those at their default left out).
    let chosen: Vec<(&'static str, Option<String>)> = vec![
        ("q", q.clone()),
        ("tag", tag.clone()),
        ("status", status.map(|s| s.as_str().to_string())),
        ("version", version.clone()),
        ("sort", (sort != "status").then(|| sort.to_string())),
        (
            "per_page",
            (per_page != PER_PAGE).then(|| per_page.to_string()),
        ),
        ("page", None),
    ];
    // Links keep every other choice.
    let link = |change: &[(&str, Option<String>)]| {
        let mut pairs = chosen.clone();
        for (k, v) in change {
            if let Some(slot) = pairs.iter_mut().find(|(key, _)| key == k) {
                slot.1 = v.clone();
            }
        }
        let query: Vec<String> = pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", urlencode(&v))))
            .collect();
        if query.is_empty() {
            "/".to_string()
        } else {
            format!("/?{}", query.join("&"))
        }
    };
    let choices = |key: &'static str, values: Vec<(String, String)>, current: Option<&str>| {
        values
            .into_iter()
            .map(|(value, label)| Link {
                current: Some(value.as_str()) == current,
                href: link(&[(key, Some(value))]),
                label,
            })
            .collect::<Vec<_>>()
    };
    let status_links = choices(
        "status",
        WORST_FIRST
            .iter()
            .filter(|s| **s != ClusterStatus::Pending || summary.count(**s) > 0)
            .map(|s| {
                (
                    s.as_str().to_string(),
                    format!("{} {}", summary.count(*s), s.as_str()),
                )
            })
            .collect(),
        status.map(ClusterStatus::as_str),
    );
    let filtered = tag.is_some() || status.is_some() || version.is_some() || q.is_some();
    ok(OverviewPage {
        layout: layout(&state, "Overview", Nav::Overview, Some("/events".into())),
        store_error: state.store.health().last_error,
        total: all.len(),
        firing: summary.firing,
        status_links,
        all_statuses: status.map(|_| link(&[("status", None)])),
        tags: choices(
            "tag",
            tags.iter().map(|t| (t.clone(), t.clone())).collect(),
            tag.as_deref(),
        ),
        all_tags: link(&[("tag", None)]),
        tag_chosen: tag.is_some(),
        version_chosen: version.is_some(),
        versions: choices(
            "version",
            all_versions
                .iter()
                .map(|v| (v.clone(), v.clone()))
                .collect(),
            version.as_deref(),
        ),
        all_versions: link(&[("version", None)]),
        sorts: choices(
            "sort",
            [
                ("status", "worst first"),
                ("name", "name"),
                ("alerts", "alerts firing"),
                ("db", "DB size"),
            ]
            .iter()
            .map(|(v, l)| (v.to_string(), l.to_string()))
            .collect(),
            Some(sort),
        ),
        q: q.clone().unwrap_or_default(),
        // The search form sends q itself and starts again at page 1.
        hidden: chosen
            .iter()
            .filter(|(k, _)| !["q", "page"].contains(k))
            .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
            .collect(),
        filtered,
        clear: "/".into(),
        matching,
        page,
        pages,
        first_row: (page - 1) * per_page + 1,
        prev: (page > 1).then(|| link(&[("page", Some((page - 1).to_string()))])),
        next: (page < pages).then(|| link(&[("page", Some((page + 1).to_string()))])),
        clusters: rows,
        max_compared: super::side_by_side::MAX_COMPARED,
    })
}

/// Clusters per status and alerts firing, over the whole fleet.
#[derive(Default)]
struct Summary {
    by_status: [usize; 4],
    firing: usize,
}

impl Summary {
    fn add(&mut self, s: ClusterStatus, firing: usize) {
        self.by_status[status_rank(s)] += 1;
        self.firing += firing;
    }

    fn count(&self, s: ClusterStatus) -> usize {
        self.by_status[status_rank(s)]
    }
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
    /// Clusters monitored, and alerts firing, in the whole fleet.
    pub total: usize,
    pub firing: usize,
    /// One per status, with its count in the whole fleet.
    pub status_links: Vec<Link>,
    /// Set while a status is chosen: the link that drops it.
    pub all_statuses: Option<String>,
    pub tags: Vec<Link>,
    pub all_tags: String,
    pub tag_chosen: bool,
    pub versions: Vec<Link>,
    pub all_versions: String,
    pub version_chosen: bool,
    pub sorts: Vec<Link>,
    /// The search box's text, and the other choices the search form keeps.
    pub q: String,
    pub hidden: Vec<(&'static str, String)>,
    pub filtered: bool,
    pub clear: String,
    /// Clusters the filters keep, and the page of them shown.
    pub matching: usize,
    pub page: usize,
    pub pages: usize,
    pub first_row: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub clusters: Vec<ClusterRow>,
    /// Most clusters the comparison takes.
    pub max_compared: usize,
}
