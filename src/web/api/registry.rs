//! Changing the monitored clusters (`POST /api/v1/clusters`, `PUT` and `DELETE
//! /api/v1/clusters/{name}`, `GET /api/v1/clusters/{name}/settings`, `POST
//! /api/v1/connection-test`): translate between HTTP and the fleet.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::etcd::ClusterConfig;
use crate::fleet::{Fleet, FleetError};
use crate::web::error::ErrorBody;
use crate::web::{ApiError, AppState};

use super::ApiResult;

/// The fleet's types as the answers serialise them, for the OpenAPI document.
pub mod answers {
    #![allow(dead_code)]
    use utoipa::ToSchema;

    /// TLS files, by path on the monitor's host.
    #[derive(ToSchema)]
    pub struct TlsConfig {
        pub ca_file: Option<String>,
        pub cert_file: Option<String>,
        pub key_file: Option<String>,
    }

    /// etcd credentials: the password only by reference, never itself.
    #[derive(ToSchema)]
    pub struct AuthConfig {
        pub user: String,
        /// The environment variable of the monitor's process that holds it.
        pub password_env: Option<String>,
        /// The file on the monitor's host that holds it.
        pub password_file: Option<String>,
    }

    /// A cluster's settings, as a `[[clusters]]` section of the config has them.
    #[derive(ToSchema)]
    pub struct ClusterSettings {
        /// Letters, digits, `-`, `_` and `.`.
        pub name: String,
        #[schema(min_items = 1)]
        pub endpoints: Vec<String>,
        pub metrics_urls: Option<Vec<String>>,
        pub tags: Option<Vec<String>>,
        pub tls: Option<TlsConfig>,
        pub auth: Option<AuthConfig>,
        pub allow_benchmark: Option<bool>,
        pub browse_values: Option<bool>,
        /// This cluster's probe interval (`"60s"`); unset: the monitor's.
        pub interval: Option<String>,
        /// This cluster's deadline for one request (`"5s"`); unset: the monitor's.
        pub request_timeout: Option<String>,
    }

    /// A cluster's settings and where they come from.
    #[derive(ToSchema)]
    pub struct SourcedSettings {
        /// `config` (the file: change it there and reload), `registry`, or
        /// `kubernetes` (an EtcdCluster resource: change it with kubectl).
        pub source: String,
        pub settings: ClusterSettings,
    }

    /// What removing a cluster deleted of its history.
    #[derive(ToSchema)]
    pub struct Removed {
        pub cluster: String,
        /// `keep` or `delete`.
        pub history: String,
        pub deleted_series: u64,
        pub deleted_blocks: u64,
    }

    /// One probe of the settings, as the collector would make it.
    #[derive(ToSchema)]
    pub struct ConnectionTest {
        /// Some member answered.
        pub ok: bool,
        /// `healthy`, `degraded` or `unavailable`.
        pub status: String,
        pub members: u64,
        pub members_reachable: u64,
        pub leader: Option<String>,
        pub versions: Vec<String>,
        pub problems: Vec<String>,
        pub duration_ms: u64,
    }
}

impl From<FleetError> for ApiError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::Invalid { .. } | FleetError::Etcd(_) => ApiError::BadRequest(e.to_string()),
            FleetError::Exists(_)
            | FleetError::FromConfig(_)
            | FleetError::FromKubernetes(_)
            | FleetError::Full(_)
            | FleetError::OtherShard { .. } => ApiError::Conflict(e.to_string()),
            FleetError::NotFound(_) => ApiError::NotFound(e.to_string()),
            FleetError::Store(s) => s.into(),
        }
    }
}

/// The fleet, or a 503 where clusters cannot change (a replayed state).
pub(crate) fn fleet(state: &AppState) -> Result<&Fleet, ApiError> {
    state.fleet.as_deref().ok_or_else(|| {
        ApiError::Unavailable("the monitored clusters cannot be changed here".into())
    })
}

/// Starts monitoring a cluster and registers it, so that it is monitored again
/// after a restart. Its first probe runs at once.
#[utoipa::path(post, path = "/api/v1/clusters", tag = "clusters",
    request_body = answers::ClusterSettings,
    responses(
        (status = 201, description = "Monitored and registered", body = answers::SourcedSettings),
        (status = 400, description = "Bad settings (the field is named), or TLS files or a password that cannot be read", body = ErrorBody),
        (status = 409, description = "A cluster of that name is monitored, or the registry is full", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
pub async fn add(state: web::Data<AppState>, body: web::Json<ClusterConfig>) -> ApiResult {
    let c = body.into_inner();
    fleet(&state)?.add(c.clone()).await?;
    Ok(HttpResponse::Created().json(json!({ "source": "registry", "settings": c })))
}

/// A monitored cluster's settings and where they come from.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/settings", tag = "clusters",
    params(("name" = String, Path, description = "The cluster's name")),
    responses(
        (status = 200, description = "Its settings", body = answers::SourcedSettings),
        (status = 404, description = "No such cluster", body = ErrorBody),
    ))]
pub async fn settings(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let found = fleet(&state)?
        .clusters()
        .into_iter()
        .find(|(c, _)| c.name == *name)
        .ok_or_else(|| ApiError::NotFound(FleetError::NotFound(name.to_string()).to_string()))?;
    Ok(HttpResponse::Ok().json(json!({ "source": found.1, "settings": found.0 })))
}

/// Replaces a registered cluster's settings; its history goes on.
#[utoipa::path(put, path = "/api/v1/clusters/{name}", tag = "clusters",
    params(("name" = String, Path, description = "The cluster's name")),
    request_body = answers::ClusterSettings,
    responses(
        (status = 200, description = "Replaced", body = answers::SourcedSettings),
        (status = 400, description = "Bad settings, or a name that is not the path's", body = ErrorBody),
        (status = 404, description = "No such cluster", body = ErrorBody),
        (status = 409, description = "The cluster comes from the config file", body = ErrorBody),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<ClusterConfig>,
) -> ApiResult {
    let c = body.into_inner();
    if c.name != *name {
        return Err(ApiError::BadRequest(format!(
            "name: {:?} is not the path's {:?} (a cluster is renamed by adding it anew)",
            crate::text::truncate(&c.name, 100),
            crate::text::truncate(&name, 100)
        )));
    }
    fleet(&state)?.update(c.clone()).await?;
    Ok(HttpResponse::Ok().json(json!({ "source": "registry", "settings": c })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveParams {
    /// `keep` (the default: shown again if a cluster of that name comes back) or
    /// `delete` (every stored sample of it).
    #[param(pattern = "^(keep|delete)$")]
    history: Option<String>,
}

/// Stops monitoring a registered cluster and forgets it, keeping or deleting its
/// history.
#[utoipa::path(delete, path = "/api/v1/clusters/{name}", tag = "clusters",
    params(("name" = String, Path, description = "The cluster's name"), RemoveParams),
    responses(
        (status = 200, description = "Removed", body = answers::Removed),
        (status = 400, description = "history is neither keep nor delete", body = ErrorBody),
        (status = 404, description = "No such cluster", body = ErrorBody),
        (status = 409, description = "The cluster comes from the config file", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
pub async fn remove(
    state: web::Data<AppState>,
    name: web::Path<String>,
    q: web::Query<RemoveParams>,
) -> ApiResult {
    let history = q.history.as_deref().unwrap_or("keep");
    let delete = match history {
        "keep" => false,
        "delete" => true,
        other => {
            return Err(ApiError::BadRequest(format!(
                "history: {:?} is neither keep nor delete",
                crate::text::truncate(other, 60)
            )))
        }
    };
    let deleted = fleet(&state)?.remove(&name, delete).await?;
    Ok(HttpResponse::Ok().json(json!({
        "cluster": name.as_str(),
        "history": history,
        "deleted_series": deleted.series,
        "deleted_blocks": deleted.blocks,
    })))
}

/// Probes a cluster once with the given settings, without monitoring it: whether
/// they reach it, before they are saved.
#[utoipa::path(post, path = "/api/v1/connection-test", tag = "clusters",
    request_body = answers::ClusterSettings,
    responses(
        (status = 200, description = "What the probe found (ok: some member answered)", body = answers::ConnectionTest),
        (status = 400, description = "Bad settings, or TLS files or a password that cannot be read", body = ErrorBody),
    ))]
pub async fn test(state: web::Data<AppState>, body: web::Json<ClusterConfig>) -> ApiResult {
    let found = fleet(&state)?.test(&body).await?;
    Ok(HttpResponse::Ok().json(found))
}
