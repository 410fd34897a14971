//! Cluster API handlers (`/api/v1/clusters/...`): the collectors' latest snapshots,
//! shaped for JSON, nothing more.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;

use super::{find, ApiResult};
use crate::collect::snapshot::{ClusterStatus, LeaderInfo, Timestamp};
use crate::web::AppState;

#[derive(Serialize)]
struct ClusterSummary<'a> {
    name: &'a str,
    tags: &'a [String],
    status: ClusterStatus,
    reasons: &'a [String],
    leader: Option<&'a LeaderInfo>,
    raft_term: Option<u64>,
    members_total: usize,
    members_reachable: usize,
    members_healthy: usize,
    alarms: usize,
    last_probe: Option<Timestamp>,
    probe_duration_ms: Option<u64>,
    errors: &'a [String],
}

pub async fn clusters(state: web::Data<AppState>) -> HttpResponse {
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
    HttpResponse::Ok().json(json!({ "clusters": summaries }))
}

pub async fn cluster(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(&*find(&state, &name)?))
}

pub async fn members(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let snap = find(&state, &name)?;
    Ok(HttpResponse::Ok().json(json!({ "cluster": snap.name, "members": snap.members })))
}

pub async fn metrics(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let snap = find(&state, &name)?;
    let members: Vec<_> = snap
        .members
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.name,
                "metrics_url": m.metrics_url,
                "scrape_error": m.scrape_error,
                "indicators": m.indicators,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "cluster": snap.name,
        "probed_at": snap.probed_at,
        "members": members,
    })))
}

pub async fn latency(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let snap = find(&state, &name)?;
    let members: Vec<_> = snap
        .members
        .iter()
        .map(|m| {
            let i = m.indicators.clone().unwrap_or_default();
            json!({
                "id": m.id,
                "name": m.name,
                "wal_fsync_p50_seconds": i.wal_fsync_p50_seconds,
                "wal_fsync_p99_seconds": i.wal_fsync_p99_seconds,
                "backend_commit_p50_seconds": i.backend_commit_p50_seconds,
                "backend_commit_p99_seconds": i.backend_commit_p99_seconds,
                "peer_rtt_p99_seconds": i.peer_rtt_p99_seconds,
                "grpc_unary_p99_seconds": i.grpc_unary_p99_seconds,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "cluster": snap.name,
        "probed_at": snap.probed_at,
        "members": members,
    })))
}
