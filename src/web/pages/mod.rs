//! The HTML dashboard: askama views over snapshots and the history store.
//!
//! Every page is complete without JavaScript. `assets/app.js` adds live updates
//! (it listens to `/events` and swaps in the page's new `<main>`), chart hover and
//! local times. Everything shown goes through askama's HTML escaping, or, for the
//! SVG charts, through the chart module's own escaping.

mod alerts;
mod bench;
mod keys;
mod views;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use super::chart::{self, ChartSeries, ChartSpec};
use super::{ApiError, AppState};
use crate::collect::snapshot::ClusterSnapshot;
use crate::store::query::{self, Aggregate, HistoryQuery};
use crate::units::Unit;
pub use alerts::alerts;
use alerts::{cluster_alert_rows, layout, AlertBadges};
pub use bench::{benchmark, benchmark_comparison, benchmarks};
pub use keys::{key, keys};
pub use views::*;

/// Width of a chart in SVG units; history is asked for at about one point per unit.
pub const CHART_WIDTH: u32 = 600;
const CHART_HEIGHT: u32 = 200;
const SPARK_WIDTH: u32 = 120;
const SPARK_HEIGHT: u32 = 24;

/// A page that failed: shown as an HTML page with the status, what happened and
/// what to check. Wraps the API's error so both layers agree on the status.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Every error the API maps (see `web/error.rs`) is a page's error too, with the
/// same status.
impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (heading, hint) = match &self.0 {
            ApiError::NotFound(_) => (
                "Not found",
                "Check the name in the address; the overview lists every monitored cluster.",
            ),
            ApiError::BadRequest(_) => (
                "Bad request",
                "Fix the parameter named above, or start again from the page's own links.",
            ),
            ApiError::Conflict(_) => (
                "Already there",
                "What you asked to create exists already; nothing was changed.",
            ),
            ApiError::Internal(_) => (
                "Something failed on the server",
                "The monitor's log has the details; the about page shows the store's health.",
            ),
            ApiError::Unavailable(_) => (
                "Cluster unavailable",
                "The cluster did not answer within its deadline; its page on the overview shows which members are reachable.",
            ),
            ApiError::Forbidden(_) => (
                "Refused",
                "Changes are accepted only from the monitor's own pages.",
            ),
            ApiError::MethodNotAllowed(_) => (
                "Method not allowed",
                "This address exists; follow the page's own links and forms.",
            ),
            ApiError::RequestTimeout(_) => (
                "Request timed out",
                "The request did not arrive in time; try again.",
            ),
            ApiError::MisdirectedRequest(_) => (
                "Unknown host name",
                "Open the monitor by its address, or add this name to server.allowed_hosts.",
            ),
        };
        let page = ErrorPage {
            layout: Layout::new(heading, Nav::None, None),
            status: status.as_u16(),
            heading,
            message: self.0.to_string(),
            hint,
        };
        html(status, page.render())
    }
}

type PageResult = Result<HttpResponse, PageError>;

fn html(status: StatusCode, body: askama::Result<String>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("the page could not be rendered; see the monitor's log")
        }
    }
}

fn ok(page: impl Template) -> PageResult {
    Ok(html(StatusCode::OK, page.render()))
}

fn find(state: &AppState, name: &str) -> Result<Arc<ClusterSnapshot>, PageError> {
    state.board.get(name).ok_or_else(|| {
        PageError(ApiError::NotFound(format!(
            "no monitored cluster is named {name:?}"
        )))
    })
}

/// The time range of a page: `range=1h|6h|24h|7d|30d`, or `from` and `to`.
#[derive(Debug, Clone, serde::Deserialize, Default)]
pub struct RangeParams {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub const RANGES: [(&str, i64); 5] = [
    ("1h", 3_600_000),
    ("6h", 6 * 3_600_000),
    ("24h", 24 * 3_600_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
];

/// A resolved time range.
#[derive(Debug, Clone)]
pub struct TimeRange {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `1h`..`30d`, or None for a custom range.
    pub preset: Option<&'static str>,
}

impl RangeParams {
    pub fn resolve(&self, now: i64) -> Result<TimeRange, PageError> {
        let custom = self.from.as_deref().is_some_and(|s| !s.is_empty())
            || self.to.as_deref().is_some_and(|s| !s.is_empty());
        if custom {
            let to = match self.to.as_deref().filter(|s| !s.is_empty()) {
                Some(t) => super::api::parse_time("to", t, now)?,
                None => now,
            };
            let from = match self.from.as_deref().filter(|s| !s.is_empty()) {
                Some(t) => super::api::parse_time("from", t, now)?,
                None => to.saturating_sub(3_600_000).max(crate::time::EARLIEST_MS),
            };
            if from >= to {
                return Err(PageError(ApiError::BadRequest(format!(
                    "from ({}) must be before to ({})",
                    self.from.as_deref().unwrap_or(""),
                    self.to.as_deref().unwrap_or("now")
                ))));
            }
            return Ok(TimeRange {
                from_ms: from,
                to_ms: to,
                preset: None,
            });
        }
        let name = self
            .range
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("1h");
        let (preset, width) = RANGES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            PageError(ApiError::BadRequest(format!(
                "range={name:?} is not one of 1h, 6h, 24h, 7d, 30d (or give from and to)"
            )))
        })?;
        Ok(TimeRange {
            from_ms: now.saturating_sub(*width),
            to_ms: now,
            preset: Some(preset),
        })
    }
}

/// What one chart of a cluster or member page shows.
struct ChartDef {
    title: &'static str,
    /// An indicator, stored as `etcd_monitor:<field>`.
    indicator: &'static str,
    unit: Unit,
    /// How points within one pixel's width are combined: the worst for latencies.
    aggregate: Aggregate,
}

const CLUSTER_CHARTS: [ChartDef; 10] = [
    ChartDef {
        title: "WAL fsync p99",
        indicator: "wal_fsync_p99_seconds",
        unit: Unit::Seconds,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "Backend commit p99",
        indicator: "backend_commit_p99_seconds",
        unit: Unit::Seconds,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "Peer round trip p99",
        indicator: "peer_rtt_p99_seconds",
        unit: Unit::Seconds,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "Proposals committed",
        indicator: "proposals_committed_per_second",
        unit: Unit::PerSecond,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "Leader changes (per interval)",
        indicator: "leader_changes_in_interval",
        unit: Unit::Count,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "gRPC requests",
        indicator: "grpc_requests_per_second",
        unit: Unit::PerSecond,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "gRPC failed requests",
        indicator: "grpc_failed_per_second",
        unit: Unit::PerSecond,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "DB size",
        indicator: "db_size_bytes",
        unit: Unit::Bytes,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "CPU (share of one core)",
        indicator: "cpu_cores",
        unit: Unit::Ratio,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "Resident memory",
        indicator: "resident_memory_bytes",
        unit: Unit::Bytes,
        aggregate: Aggregate::Max,
    },
];

/// The step for a chart: about one point per pixel, never finer than the probe
/// interval (finer would show every sample as a gap).
fn chart_step(range: &TimeRange, width: u32, interval_ms: i64) -> i64 {
    ((range.to_ms - range.from_ms) / i64::from(width)).max(interval_ms.max(1000))
}

/// The explorer's one chart is wider; it draws at most this many series.
const EXPLORE_WIDTH: u32 = 1000;
const MAX_SERIES: usize = 24;

/// One chart: `metric` for every member of `cluster`, or for one member.
struct ChartQuery<'a> {
    cluster: &'a str,
    member: Option<&'a str>,
    metric: &'a str,
    title: &'a str,
    unit: Unit,
    aggregate: Aggregate,
    width: u32,
}

impl<'a> ChartQuery<'a> {
    fn of(def: &'a ChartDef, metric: &'a str, cluster: &'a str, member: Option<&'a str>) -> Self {
        ChartQuery {
            cluster,
            member,
            metric,
            title: def.title,
            unit: def.unit,
            aggregate: def.aggregate,
            width: CHART_WIDTH,
        }
    }
}

fn history_chart(
    state: &AppState,
    c: &ChartQuery,
    range: &TimeRange,
    now: i64,
) -> Result<String, PageError> {
    let step = chart_step(range, c.width, state.interval_ms);
    let q = HistoryQuery {
        cluster: c.cluster.to_string(),
        metric: c.metric.to_string(),
        member: c.member.map(str::to_string),
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        step_ms: step,
        aggregate: c.aggregate,
    };
    let found = query::history(&state.store, &q, now)?;
    let total = found.len();
    let series: Vec<ChartSeries> = found
        .into_iter()
        .take(MAX_SERIES)
        .map(|s| {
            // Members tell lines apart; label sets too when the metric has several.
            let labels = s.series.find('{').map(|i| &s.series[i..]).unwrap_or("");
            let label = match (c.member.is_some(), labels.is_empty()) {
                (true, true) => s.member,
                (true, false) => labels.to_string(),
                (false, true) => s.member,
                (false, false) => format!("{} {labels}", s.member),
            };
            ChartSeries {
                label,
                points: s.points,
            }
        })
        .collect();
    let title = if total > MAX_SERIES {
        format!(
            "{} (first {MAX_SERIES} of {total} series: pick a member or a full series)",
            c.title
        )
    } else {
        c.title.to_string()
    };
    let spec = ChartSpec {
        title: &title,
        unit: c.unit,
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        step_ms: step,
        width: c.width,
        height: CHART_HEIGHT,
    };
    Ok(chart::render(&spec, &series))
}

/// The unit a metric's name says it has (Prometheus naming: `_seconds`, `_bytes`).
fn unit_for(metric: &str, aggregate: Aggregate) -> Unit {
    let name = metric.split('{').next().unwrap_or(metric);
    let base = name
        .trim_end_matches("_total")
        .trim_end_matches("_sum")
        .trim_end_matches("_bucket")
        .trim_end_matches("_count");
    if aggregate == Aggregate::Rate {
        if base.ends_with("_bytes") {
            return Unit::BytesPerSecond;
        }
        return Unit::PerSecond;
    }
    if base.ends_with("_per_second") {
        Unit::PerSecond
    } else if base.ends_with("_seconds") && !name.ends_with("_count") && !name.ends_with("_bucket")
    {
        Unit::Seconds
    } else if base.ends_with("_bytes") && !name.ends_with("_count") && !name.ends_with("_bucket") {
        Unit::Bytes
    } else if base.ends_with("_ratio") {
        Unit::Ratio
    } else {
        Unit::Count
    }
}

fn indicator(name: &str) -> String {
    format!("{}{name}", crate::collect::probe::INDICATOR_PREFIX)
}

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
    let charts = web::block(move || -> Result<Vec<String>, PageError> {
        CLUSTER_CHARTS
            .iter()
            .map(|d| {
                let metric = indicator(d.indicator);
                history_chart(
                    &state2,
                    &ChartQuery::of(d, &metric, &name2, None),
                    &range2,
                    now,
                )
            })
            .collect()
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
    })
}

/// `GET /clusters/{name}/members/{member}`: a member by name or hex id.
pub async fn member(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    params: web::Query<RangeParams>,
) -> PageResult {
    let (name, member) = path.into_inner();
    let now = crate::unix_ms_now();
    let snap = find(&state, &name)?;
    let m = snap
        .members
        .iter()
        .find(|m| m.name == member || m.id == member)
        .ok_or_else(|| {
            PageError(ApiError::NotFound(format!(
                "cluster {:?} has no member named {member:?} (members: {})",
                snap.name,
                snap.members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        })?
        .clone();
    let range = params.resolve(now)?;
    let base = format!(
        "/clusters/{}/members/{}",
        urlencode(&snap.name),
        urlencode(&m.name)
    );
    let (state2, name2, member2, range2) = (
        state.clone(),
        snap.name.clone(),
        m.name.clone(),
        range.clone(),
    );
    let charts = web::block(move || -> Result<Vec<String>, PageError> {
        CLUSTER_CHARTS
            .iter()
            .map(|d| {
                let metric = indicator(d.indicator);
                let q = ChartQuery::of(d, &metric, &name2, Some(&member2));
                history_chart(&state2, &q, &range2, now)
            })
            .collect()
    })
    .await??;
    ok(MemberPage {
        layout: layout(
            &state,
            &format!("{} · {}", m.name, snap.name),
            Nav::Overview,
            Some(format!("/events?cluster={}", urlencode(&snap.name))),
        ),
        cluster: snap.name.clone(),
        cluster_href: format!("/clusters/{}", urlencode(&snap.name)),
        m: MemberRow::new(&snap, &m),
        details: MemberDetails::new(&m),
        picker: RangePicker::new(&base, &range),
        charts,
    })
}

#[derive(Debug, serde::Deserialize, Default)]
pub struct ExploreParams {
    cluster: Option<String>,
    metric: Option<String>,
    member: Option<String>,
    agg: Option<String>,
    #[serde(flatten)]
    range: RangeParams,
}

/// `GET /explore`: any stored series.
pub async fn explore(state: web::Data<AppState>, params: web::Query<ExploreParams>) -> PageResult {
    let now = crate::unix_ms_now();
    let p = params.into_inner();
    let names: Vec<String> = state.board.names().map(str::to_string).collect();
    let cluster = p
        .cluster
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| names.first().cloned());
    let range = p.range.resolve(now)?;
    let aggregate: Aggregate = p
        .agg
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("avg")
        .parse()
        .map_err(|m: String| PageError(ApiError::BadRequest(format!("agg: {m}"))))?;
    let member = p.member.clone().filter(|m| !m.is_empty());
    let metric = p.metric.clone().filter(|m| !m.is_empty());
    let mut members = Vec::new();
    let mut metrics = Vec::new();
    if let Some(c) = &cluster {
        let snap = find(&state, c)?;
        members = snap.members.iter().map(|m| m.name.clone()).collect();
        if let Some(m) = &member {
            if !members.contains(m) {
                return Err(PageError(ApiError::BadRequest(format!(
                    "member={m:?}: cluster {c:?} has no such member"
                ))));
            }
        }
        let mut seen: Vec<String> = state
            .store
            .list_series(c, None, None)
            .into_iter()
            .map(|(_, m)| m.name().to_string())
            .collect();
        seen.sort();
        seen.dedup();
        metrics = seen;
    }
    let mut chart = None;
    let mut message = None;
    if let (Some(c), Some(metric)) = (&cluster, &metric) {
        let (state2, c2, metric2, member2, range2) = (
            state.clone(),
            c.clone(),
            metric.clone(),
            member.clone(),
            range.clone(),
        );
        let svg = web::block(move || {
            let q = ChartQuery {
                cluster: &c2,
                member: member2.as_deref(),
                metric: &metric2,
                title: &metric2,
                unit: unit_for(&metric2, aggregate),
                aggregate,
                width: EXPLORE_WIDTH,
            };
            history_chart(&state2, &q, &range2, now)
        })
        .await?;
        match svg {
            Ok(svg) => chart = Some(svg),
            Err(PageError(ApiError::BadRequest(m))) => {
                return Err(PageError(ApiError::BadRequest(m)))
            }
            Err(e) => return Err(e),
        }
        if !metrics.iter().any(|m| m == metric) && !metric.contains('{') {
            message = Some(format!(
                "No stored series is named {metric:?} in {c:?}; pick one from the list."
            ));
        }
    }
    let mut keep: Vec<(&str, String)> = Vec::new();
    for (key, value) in [
        ("cluster", cluster.clone()),
        ("metric", metric.clone()),
        ("member", member.clone()),
        ("agg", p.agg.clone()),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            keep.push((key, v));
        }
    }
    let base = format!(
        "/explore?{}",
        keep.iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    );
    let aggregate_name = p.agg.unwrap_or_default();
    ok(ExplorePage {
        layout: layout(&state, "Metrics explorer", Nav::Explore, None),
        clusters: SelectOption::list(
            names.iter().map(String::as_str),
            cluster.as_deref().unwrap_or(""),
        ),
        metric: metric.unwrap_or_default(),
        members: SelectOption::list(
            members.iter().map(String::as_str),
            member.as_deref().unwrap_or(""),
        ),
        metrics,
        aggregates: SelectOption::list(
            ["avg", "min", "max", "last", "rate"],
            if aggregate_name.is_empty() {
                "avg"
            } else {
                &aggregate_name
            },
        ),
        picker: RangePicker::new(&base, &range).keeping(&keep),
        chart,
        message,
    })
}

/// `GET /about`: the monitor itself.
pub async fn about(state: web::Data<AppState>) -> PageResult {
    let store = state.store.clone();
    let stats = web::block(move || store.stats()).await?;
    ok(AboutPage {
        layout: layout(&state, "About", Nav::About, None),
        version: env!("CARGO_PKG_VERSION"),
        uptime: duration_text(state.started.elapsed().as_millis() as i64),
        memory: crate::resident_memory_bytes()
            .map(|b| crate::units::human(b as f64, Unit::Bytes))
            .unwrap_or_else(|| "unknown".into()),
        clusters: state.board.names().count(),
        interval: humantime::format_duration(std::time::Duration::from_millis(
            state.interval_ms as u64,
        ))
        .to_string(),
        store: StoreView::new(stats, state.store.health()),
    })
}

/// The page for any path no route took.
pub async fn not_found(req: HttpRequest) -> PageResult {
    Err(PageError(ApiError::NotFound(format!(
        "there is no page at {}",
        req.path()
    ))))
}

pub use crate::text::urlencode;

#[cfg(test)]
mod tests {
    use super::*;

    fn params(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> RangeParams {
        RangeParams {
            range: range.map(str::to_string),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }

    fn bad_request(r: Result<TimeRange, PageError>) -> String {
        match r {
            Err(PageError(ApiError::BadRequest(m))) => m,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn ranges_resolve_presets_custom_and_name_what_is_wrong() {
        let now = 1_800_000_000_000;
        let r = params(None, None, None).resolve(now).unwrap();
        assert_eq!(
            (r.from_ms, r.to_ms, r.preset),
            (now - 3_600_000, now, Some("1h"))
        );
        let r = params(Some("7d"), None, None).resolve(now).unwrap();
        assert_eq!(r.from_ms, now - 7 * 86_400_000);
        let r = params(None, Some("-6h"), Some("now")).resolve(now).unwrap();
        assert_eq!(
            (r.from_ms, r.to_ms, r.preset),
            (now - 6 * 3_600_000, now, None)
        );
        let r = params(Some("30d"), Some("2026-11-27T10:00:00Z"), None)
            .resolve(now)
            .unwrap();
        assert_eq!(r.preset, None, "from/to win over range");
        // An empty field (a form sent as it was) is the default.
        let r = params(Some(""), Some(""), Some("")).resolve(now).unwrap();
        assert_eq!(r.preset, Some("1h"));
        // The explorer's range links and form keep what was being explored.
        let picker = RangePicker::new("/explore?cluster=a&metric=x%7B%7D", &r)
            .keeping(&[("cluster", "a".into()), ("metric", "x{}".into())]);
        assert_eq!(picker.action, "/explore");
        assert_eq!(
            picker.presets[1].href,
            "/explore?cluster=a&metric=x%7B%7D&range=6h"
        );
        assert_eq!(picker.hidden[1], ("metric".to_string(), "x{}".to_string()));
        assert!(bad_request(params(Some("2y"), None, None).resolve(now)).contains("range="));
        assert!(bad_request(params(None, Some("garbage"), None).resolve(now)).contains("from="));
        assert!(bad_request(params(None, None, Some("x")).resolve(now)).contains("to="));
        assert!(
            bad_request(params(None, Some("-1h"), Some("-2h")).resolve(now)).contains("before")
        );
    }

    #[test]
    fn urls_are_encoded_and_units_follow_metric_names() {
        assert_eq!(urlencode("a b/<c>&d"), "a%20b%2F%3Cc%3E%26d");
        assert_eq!(urlencode("m-0_1.x~"), "m-0_1.x~");
        assert!(matches!(
            unit_for("etcd_disk_wal_fsync_duration_seconds_sum", Aggregate::Avg),
            Unit::Seconds
        ));
        assert!(matches!(
            unit_for("etcd_mvcc_db_total_size_in_bytes", Aggregate::Max),
            Unit::Bytes
        ));
        assert!(matches!(
            unit_for("etcd_network_client_grpc_sent_bytes_total", Aggregate::Rate),
            Unit::BytesPerSecond
        ));
        assert!(matches!(
            unit_for(
                "etcd_disk_wal_fsync_duration_seconds_count",
                Aggregate::Last
            ),
            Unit::Count
        ));
        assert!(matches!(
            unit_for("etcd_monitor:grpc_requests_per_second", Aggregate::Avg),
            Unit::PerSecond
        ));
        assert_eq!(retention_text(2 * 86_400), "2 days");
        assert_eq!(retention_text(400 * 86_400), "400 days");
        assert_eq!(retention_text(6 * 3_600), "6 hours");
    }
}
