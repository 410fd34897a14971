//! The clusters' timelines (`GET /api/v1/events`): events the probes saw, newest
//! first, filtered by cluster, kind, member and time.

use actix_web::web;
use serde::Deserialize;

use crate::collect::events::{self, EventKind, EventQuery};
use crate::web::error::ErrorBody;
use crate::web::{ApiError, AppState};

use super::{ok_sorted, ApiResult};

/// The collector's event type as the API serialises it, described for the OpenAPI
/// document here rather than in the domain (which does not know the web).
pub mod answers {
    #![allow(dead_code)]
    use utoipa::ToSchema;

    /// One thing that happened to a cluster, as the probes saw it.
    #[derive(ToSchema)]
    pub struct ClusterEvent {
        /// When the probe that saw it ended (unix ms).
        pub at_unix_ms: i64,
        pub cluster: String,
        /// `leader_changed`, `member_added`, `member_removed`, `member_unreachable`,
        /// `member_back`, `version_changed`, `alarm_raised`, `alarm_cleared`,
        /// `hash_mismatch`, `hash_mismatch_gone`, `compacted`, `defragmented`,
        /// `quota_approached`, `alert_firing`, `alert_resolved` or `benchmark_run`.
        pub kind: String,
        /// The member concerned, by name.
        pub member: Option<String>,
        /// Before and after: leaders' names, versions, DB sizes in bytes.
        pub from: Option<String>,
        pub to: Option<String>,
        /// A new leader's raft term; an alarm's name; mismatched members; an
        /// alert's name; a benchmark run's id.
        pub detail: Option<String>,
        /// One sentence.
        pub message: String,
    }

    /// The answer of `GET /api/v1/events`.
    #[derive(ToSchema)]
    pub struct Events {
        /// Newest first.
        pub events: Vec<ClusterEvent>,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Only this cluster's events.
    cluster: Option<String>,
    /// Only these kinds, comma-separated (`leader_changed,member_unreachable`).
    kind: Option<String>,
    /// Only this member's events (by name).
    member: Option<String>,
    /// Events at or after: now, -1h, unix seconds or RFC 3339.
    from: Option<String>,
    /// Events before it (the next page: the last event's time).
    to: Option<String>,
    /// Events; default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The largest `limit` of `GET /api/v1/events`.
pub const MAX_EVENTS_LIMIT: usize = 1000;

impl EventsParams {
    /// The query these parameters ask for, or a 400 naming the bad one.
    pub fn query(&self, now: i64) -> Result<EventQuery, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=MAX_EVENTS_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit: {limit} is not in 1..={MAX_EVENTS_LIMIT}"
            )));
        }
        let mut kinds = Vec::new();
        for k in self
            .kind
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            let kind = EventKind::parse(k).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "kind: {:?} is not one of {}",
                    crate::text::truncate(k, 60),
                    EventKind::ALL.map(EventKind::as_str).join(", ")
                ))
            })?;
            kinds.push(kind);
        }
        let time = |field: &str, v: &Option<String>| -> Result<Option<i64>, ApiError> {
            v.as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| super::parse_time(field, t, now))
                .transpose()
        };
        let (from_ms, to_ms) = (time("from", &self.from)?, time("to", &self.to)?);
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f >= t {
                return Err(ApiError::BadRequest("from must be before to".into()));
            }
        }
        let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
        Ok(EventQuery {
            cluster: nonempty(&self.cluster),
            kinds,
            member: nonempty(&self.member),
            from_ms,
            to_ms,
            limit,
        })
    }
}

/// Events the probes saw in every cluster, newest first.
#[utoipa::path(get, path = "/api/v1/events", operation_id = "cluster_events", tag = "clusters",
    params(EventsParams),
    responses(
        (status = 200, description = "The events, newest first", body = answers::Events),
        (status = 400, description = "An unknown parameter or kind, a bad time or a limit out of range", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
pub async fn list(state: web::Data<AppState>, params: web::Query<EventsParams>) -> ApiResult {
    let q = params.query(crate::unix_ms_now())?;
    let store = state.store.clone();
    let found = web::block(move || events::query(&store, &q)).await??;
    ok_sorted(&serde_json::json!({ "events": found }))
}
