//! A member's page (`GET /clusters/{name}/members/{member}`): its state, latest
//! indicators and charts.

use actix_web::web;
use askama::Template;

use super::charts::{history_chart, indicator, ChartQuery, CLUSTER_CHARTS};
use super::cluster::MemberRow;
use super::display::dash;
use super::layout::{layout, Layout, Nav};
use super::range::{RangeParams, RangePicker};
use super::{find, ok, urlencode, PageError, PageResult};
use crate::collect::snapshot::MemberSnapshot;
use crate::units::{human, Unit};
use crate::web::{ApiError, AppState};

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

/// The rest of a member page: URLs and the latest indicators.
pub struct MemberDetails {
    pub peer_urls: String,
    pub client_urls: String,
    pub metrics_url: String,
    pub indicators: Vec<(&'static str, String)>,
}

impl MemberDetails {
    pub fn new(m: &MemberSnapshot) -> Self {
        let mut indicators = Vec::new();
        if let Some(i) = &m.indicators {
            let mut add = |label: &'static str, v: Option<f64>, unit: Unit| {
                if let Some(v) = v {
                    indicators.push((label, human(v, unit)));
                }
            };
            add("WAL fsync p50", i.wal_fsync_p50_seconds, Unit::Seconds);
            add("WAL fsync p99", i.wal_fsync_p99_seconds, Unit::Seconds);
            add(
                "backend commit p50",
                i.backend_commit_p50_seconds,
                Unit::Seconds,
            );
            add(
                "backend commit p99",
                i.backend_commit_p99_seconds,
                Unit::Seconds,
            );
            add("peer round trip p99", i.peer_rtt_p99_seconds, Unit::Seconds);
            add("gRPC unary p99", i.grpc_unary_p99_seconds, Unit::Seconds);
            add("gRPC requests", i.grpc_requests_per_second, Unit::PerSecond);
            add("gRPC failed", i.grpc_failed_per_second, Unit::PerSecond);
            add(
                "proposals committed",
                i.proposals_committed_per_second,
                Unit::PerSecond,
            );
            add(
                "proposals applied",
                i.proposals_applied_per_second,
                Unit::PerSecond,
            );
            add("proposals pending", i.proposals_pending, Unit::Count);
            add(
                "proposals failed",
                i.proposals_failed_per_second,
                Unit::PerSecond,
            );
            add(
                "commit - apply gap",
                i.proposals_commit_apply_gap,
                Unit::Count,
            );
            add(
                "leader changes (total)",
                i.leader_changes_total,
                Unit::Count,
            );
            add("DB size", i.db_size_bytes, Unit::Bytes);
            add("DB in use", i.db_size_in_use_bytes, Unit::Bytes);
            add("quota", i.quota_backend_bytes, Unit::Bytes);
            add("quota used", i.quota_usage_ratio, Unit::Ratio);
            add("fragmentation", i.fragmentation_ratio, Unit::Ratio);
            add("keys", i.keys_total, Unit::Count);
            add("watch streams", i.watch_streams, Unit::Count);
            add("CPU (of one core)", i.cpu_cores, Unit::Ratio);
            add("resident memory", i.resident_memory_bytes, Unit::Bytes);
            add("open file descriptors", i.open_fds, Unit::Count);
            add(
                "peer sent failures",
                i.peer_sent_failures_per_second,
                Unit::PerSecond,
            );
        }
        MemberDetails {
            peer_urls: m.peer_urls.join(", "),
            client_urls: m.client_urls.join(", "),
            metrics_url: m.metrics_url.clone().unwrap_or_else(dash),
            indicators,
        }
    }
}

#[derive(Template)]
#[template(path = "member.html")]
pub struct MemberPage {
    pub layout: Layout,
    pub cluster: String,
    pub cluster_href: String,
    pub m: MemberRow,
    pub details: MemberDetails,
    pub picker: RangePicker,
    pub charts: Vec<String>,
}
