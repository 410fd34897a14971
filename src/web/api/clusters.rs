//! Cluster API handlers (`/api/v1/clusters/...`): the collectors' latest snapshots,
//! shaped for JSON, nothing more.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{find, ok_sorted, ApiResult};
use crate::collect::derive::Indicators;
use crate::collect::snapshot::{ClusterStatus, LeaderInfo, MemberSnapshot, Timestamp};
use crate::web::error::ErrorBody;
use crate::web::AppState;

/// The collector's own types, as the answers serialise them, described for the
/// OpenAPI document here rather than in the collector (which does not know the
/// web); tests/integration/api.rs checks real answers against them.
pub mod answers {
    #![allow(dead_code)]
    use utoipa::ToSchema;

    /// A member's answer to the Status call (field names as in etcdctl's JSON).
    #[derive(ToSchema)]
    pub struct MemberStatus {
        pub version: String,
        pub db_size: i64,
        pub db_size_in_use: i64,
        /// The leader's member id, in hex.
        pub leader: String,
        pub raft_term: u64,
        pub raft_index: u64,
        pub raft_applied_index: u64,
        pub revision: i64,
        pub is_learner: bool,
        pub errors: Vec<String>,
    }

    /// One member as the last probe saw it.
    #[derive(ToSchema)]
    pub struct MemberSnapshot {
        /// The member id, in hex.
        pub id: String,
        pub name: String,
        pub peer_urls: Vec<String>,
        pub client_urls: Vec<String>,
        pub is_learner: bool,
        pub is_leader: bool,
        /// The Status call answered.
        pub reachable: bool,
        /// Reachable and `/health` says true.
        pub healthy: bool,
        /// Why the member is unreachable or unhealthy.
        pub error: Option<String>,
        pub status: Option<MemberStatus>,
        /// Problems found by comparing this member with the others.
        pub flags: Vec<String>,
        /// What the monitor derives from the member's `/metrics` (rates,
        /// quantiles, sizes); none before the first scrape.
        pub indicators: Option<serde_json::Value>,
        pub metrics_url: Option<String>,
        pub scrape_error: Option<String>,
    }

    /// Voting members, how many answer and how many a quorum needs.
    #[derive(ToSchema)]
    pub struct Quorum {
        pub voting_members: u64,
        pub reachable_voting_members: u64,
        pub needed: u64,
        pub has_quorum: bool,
    }

    /// How far apart the members are; large spreads mean a member lags.
    #[derive(ToSchema)]
    pub struct Spread {
        pub raft_index: Option<u64>,
        pub raft_applied_index: Option<u64>,
        pub revision: Option<i64>,
    }

    /// An alarm a member raised.
    #[derive(ToSchema)]
    pub struct Alarm {
        /// The member id, in hex.
        pub member_id: String,
        pub member_name: Option<String>,
        /// `NOSPACE` or `CORRUPT`, as etcdctl prints them.
        pub alarm: String,
    }

    /// The answer of `GET /api/v1/clusters/{name}`: the cluster's latest snapshot.
    #[derive(ToSchema)]
    pub struct ClusterSnapshot {
        pub name: String,
        pub tags: Vec<String>,
        /// `pending` (not probed yet), `healthy`, `degraded` or `unavailable`.
        pub status: String,
        /// Why the status is not healthy, one sentence each.
        pub reasons: Vec<String>,
        /// RFC 3339, milliseconds.
        #[schema(format = DateTime)]
        pub probed_at: Option<String>,
        pub probe_duration_ms: Option<u64>,
        pub cluster_id: Option<String>,
        /// `{"id": hex member id, "name": ..}`; none without a leader.
        pub leader: Option<serde_json::Value>,
        pub raft_term: Option<u64>,
        pub members: Vec<MemberSnapshot>,
        pub quorum: Quorum,
        pub spread: Spread,
        pub alarms: Vec<Alarm>,
        /// The last HashKV comparison of the members: when, at which revision,
        /// whether they agree, each member's hash, who differs.
        pub consistency: Option<serde_json::Value>,
        /// Cluster-level failures (member list, alarm list) of the last probe.
        pub errors: Vec<String>,
    }
}

/// One cluster, in short.
#[derive(Serialize, ToSchema)]
struct ClusterSummary<'a> {
    name: &'a str,
    tags: &'a [String],
    /// `pending` (not probed yet), `healthy`, `degraded` or `unavailable`.
    #[schema(value_type = String, examples("healthy"))]
    status: ClusterStatus,
    /// Why the status is not `healthy`.
    reasons: &'a [String],
    /// `{"id": hex member id, "name": ..}`; none without a leader.
    #[schema(value_type = Option<Object>)]
    leader: Option<&'a LeaderInfo>,
    raft_term: Option<u64>,
    members_total: usize,
    members_reachable: usize,
    members_healthy: usize,
    /// Alarms raised (NOSPACE, CORRUPT).
    alarms: usize,
    /// RFC 3339, milliseconds.
    #[schema(value_type = Option<String>, format = DateTime)]
    last_probe: Option<Timestamp>,
    probe_duration_ms: Option<u64>,
    errors: &'a [String],
}

/// The answer of `GET /api/v1/clusters`.
#[derive(Serialize, ToSchema)]
struct ClusterList<'a> {
    clusters: Vec<ClusterSummary<'a>>,
}

/// Every configured cluster, in short.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters",
    responses((status = 200, description = "Every configured cluster", body = ClusterList)))]
pub async fn clusters(state: web::Data<AppState>) -> ApiResult {
    let all = state.board.all();
    let summaries: Vec<ClusterSummary<'_>> = all
        .iter()
        .map(|s| ClusterSummary {
            name: &s.name,
            tags: &s.tags,
            status: s.status,
            reasons: &s.reasons,
            leader: s.leader.as_ref(),
            raft_term: s.raft_term,
            members_total: s.members.len(),
            members_reachable: s.members_reachable(),
            members_healthy: s.members_healthy(),
            alarms: s.alarms.len(),
            last_probe: s.probed_at,
            probe_duration_ms: s.probe_duration_ms,
            errors: &s.errors,
        })
        .collect();
    ok_sorted(&ClusterList {
        clusters: summaries,
    })
}

/// One cluster's latest snapshot: status, members, alarms, leader, errors.
#[utoipa::path(get, path = "/api/v1/clusters/{name}", tag = "clusters",
    params(("name" = String, Path, description = "The cluster's configured name")),
    responses(
        (status = 200, description = "The cluster's latest snapshot", body = answers::ClusterSnapshot),
        (status = 404, description = "No cluster of that name", body = ErrorBody),
    ))]
pub async fn cluster(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(&*find(&state, &name)?))
}

/// The answer of `GET /api/v1/clusters/{name}/members`.
#[derive(Serialize, ToSchema)]
struct Members<'a> {
    cluster: &'a str,
    #[schema(value_type = Vec<answers::MemberSnapshot>)]
    members: &'a [MemberSnapshot],
}

/// One cluster's members as the last probe saw them.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/members", operation_id = "cluster_members", tag = "clusters",
    params(("name" = String, Path, description = "The cluster's configured name")),
    responses(
        (status = 200, description = "The members", body = Members),
        (status = 404, description = "No cluster of that name", body = ErrorBody),
    ))]
pub async fn members(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let snap = find(&state, &name)?;
    ok_sorted(&Members {
        cluster: &snap.name,
        members: &snap.members,
    })
}

/// One member's scraped metrics.
#[derive(Serialize, ToSchema)]
struct MemberMetrics<'a> {
    /// The member id, in hex.
    id: &'a str,
    name: &'a str,
    metrics_url: Option<&'a str>,
    scrape_error: Option<&'a str>,
    /// What the monitor derives from the member's `/metrics` (rates, quantiles,
    /// sizes); none before the first scrape.
    #[schema(value_type = Option<Object>)]
    indicators: Option<&'a Indicators>,
}

/// The answer of `GET /api/v1/clusters/{name}/metrics`.
#[derive(Serialize, ToSchema)]
struct ClusterMetrics<'a> {
    cluster: &'a str,
    /// RFC 3339, milliseconds.
    #[schema(value_type = Option<String>, format = DateTime)]
    probed_at: Option<Timestamp>,
    members: Vec<MemberMetrics<'a>>,
}

/// What the last scrape of each member's `/metrics` showed.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/metrics", operation_id = "cluster_metrics", tag = "clusters",
    params(("name" = String, Path, description = "The cluster's configured name")),
    responses(
        (status = 200, description = "Each member's indicators", body = ClusterMetrics),
        (status = 404, description = "No cluster of that name", body = ErrorBody),
    ))]
pub async fn metrics(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let snap = find(&state, &name)?;
    let members: Vec<_> = snap
        .members
        .iter()
        .map(|m| MemberMetrics {
            id: &m.id,
            name: &m.name,
            metrics_url: m.metrics_url.as_deref(),
            scrape_error: m.scrape_error.as_deref(),
            indicators: m.indicators.as_ref(),
        })
        .collect();
    ok_sorted(&ClusterMetrics {
        cluster: &snap.name,
        probed_at: snap.probed_at,
        members,
    })
}

/// One member's latencies, in seconds; none where the member's metrics lack them.
#[derive(Serialize, ToSchema)]
struct MemberLatency<'a> {
    /// The member id, in hex.
    id: &'a str,
    name: &'a str,
    wal_fsync_p50_seconds: Option<f64>,
    wal_fsync_p99_seconds: Option<f64>,
    backend_commit_p50_seconds: Option<f64>,
    backend_commit_p99_seconds: Option<f64>,
    peer_rtt_p99_seconds: Option<f64>,
    grpc_unary_p99_seconds: Option<f64>,
}

/// The answer of `GET /api/v1/clusters/{name}/latency`.
#[derive(Serialize, ToSchema)]
struct ClusterLatency<'a> {
    cluster: &'a str,
    /// RFC 3339, milliseconds.
    #[schema(value_type = Option<String>, format = DateTime)]
    probed_at: Option<Timestamp>,
    members: Vec<MemberLatency<'a>>,
}

/// Each member's disk, peer and request latencies from its last scrape.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/latency", operation_id = "cluster_latency", tag = "clusters",
    params(("name" = String, Path, description = "The cluster's configured name")),
    responses(
        (status = 200, description = "Each member's latency quantiles", body = ClusterLatency),
        (status = 404, description = "No cluster of that name", body = ErrorBody),
    ))]
pub async fn latency(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let snap = find(&state, &name)?;
    let members: Vec<_> = snap
        .members
        .iter()
        .map(|m| {
            let i = m.indicators.clone().unwrap_or_default();
            MemberLatency {
                id: &m.id,
                name: &m.name,
                wal_fsync_p50_seconds: i.wal_fsync_p50_seconds,
                wal_fsync_p99_seconds: i.wal_fsync_p99_seconds,
                backend_commit_p50_seconds: i.backend_commit_p50_seconds,
                backend_commit_p99_seconds: i.backend_commit_p99_seconds,
                peer_rtt_p99_seconds: i.peer_rtt_p99_seconds,
                grpc_unary_p99_seconds: i.grpc_unary_p99_seconds,
            }
        })
        .collect();
    ok_sorted(&ClusterLatency {
        cluster: &snap.name,
        probed_at: snap.probed_at,
        members,
    })
}
