//! The one mapping from errors to HTTP: `{"error":{"code":..,"message":..}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request clashes with what is stored (a run id already taken).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
    /// A cluster did not answer (in time): the monitor is fine, the cluster is not.
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::BadQuery(m) => ApiError::BadRequest(m),
            other => {
                tracing::error!("store: {other}");
                ApiError::Internal(format!("history store: {other}"))
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    /// Work handed to the blocking pool (store reads and writes) could not run.
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) => "unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.path()
    )))
}

/// A bad request in the answer's own kind: JSON under `/api/`, a page elsewhere.
fn bad_request(message: String, req: &HttpRequest) -> actix_web::Error {
    let e = ApiError::BadRequest(message);
    if req.path().starts_with("/api/") {
        e.into()
    } else {
        super::pages::PageError(e).into()
    }
}

pub fn path_error(err: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    bad_request(format!("bad path: {err}"), req)
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    req: &HttpRequest,
) -> actix_web::Error {
    bad_request(format!("bad query parameters: {err}"), req)
}

pub fn json_error(err: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("bad JSON body: {err}")).into()
}
