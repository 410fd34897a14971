//! The one mapping from errors to HTTP: `{"error":{"code":..,"message":..}}`,
//! and from every domain error to it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::alert::AlertError;
use crate::bench::history::HistoryError;
use crate::ops::clients::ClientsError;

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
    /// No login, or a login, token or session that is not (or no longer) valid.
    #[error("{0}")]
    Unauthorized(String),
    /// A state-changing request from another site's page, one without its CSRF
    /// token, or one the caller's role does not allow.
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed logins: locked out for a while.
    #[error("{0}")]
    TooManyRequests(String),
    /// The route exists, not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The client did not send its request (body) in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// `Host` names a server this monitor is not (DNS rebinding).
    #[error("{0}")]
    MisdirectedRequest(String),
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        match e {
            AuthError::Invalid(m) | AuthError::Full(m) => ApiError::BadRequest(m),
            AuthError::NotFound(m) => ApiError::NotFound(m),
            AuthError::Exists(m) => ApiError::Conflict(m),
            AuthError::Store(s) => s.into(),
            other => {
                tracing::error!("auth: {other}");
                ApiError::Internal(other.to_string())
            }
        }
    }
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

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::BadRequest(m) => ApiError::BadRequest(m),
            AlertError::NotFound(m) => ApiError::NotFound(m),
            other => {
                tracing::error!("alerts: {other}");
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::NotFound(_) => ApiError::NotFound(e.to_string()),
            HistoryError::Invalid(_) => ApiError::BadRequest(e.to_string()),
            HistoryError::Exists(_) => ApiError::Conflict(e.to_string()),
            HistoryError::Store(s) => s.into(),
            HistoryError::Corrupt { .. } => {
                tracing::error!("benchmarks: {e}");
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<ClientsError> for ApiError {
    fn from(e: ClientsError) -> Self {
        match e {
            ClientsError::UnknownCluster(_) | ClientsError::NoKey { .. } => {
                ApiError::NotFound(e.to_string())
            }
            ClientsError::Invalid { .. } => ApiError::BadRequest(e.to_string()),
            // The cluster's own words, after its name.
            ClientsError::Unavailable { cluster, source } => {
                ApiError::Unavailable(format!("cluster {cluster}: {source}"))
            }
            ClientsError::Incomplete { .. } => ApiError::Unavailable(e.to_string()),
            ClientsError::ValuesForbidden(_) => ApiError::Forbidden(e.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    /// Work handed to the blocking pool (store reads and writes) could not run.
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// Every error answer of the API: `{"error":{"code":..,"message":..}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, for programs: one per HTTP status.
    #[schema(examples("not_found"))]
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// Every error's code and HTTP status, for the OpenAPI document and docs/api.md.
pub const ERROR_CODES: [(&str, u16); 11] = [
    ("bad_request", 400),
    ("unauthorized", 401),
    ("forbidden", 403),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("request_timeout", 408),
    ("conflict", 409),
    ("misdirected_request", 421),
    ("too_many_requests", 429),
    ("internal", 500),
    ("unavailable", 503),
];

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::MisdirectedRequest(_) => "misdirected_request",
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
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::MisdirectedRequest(_) => StatusCode::MISDIRECTED_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::RequestTimeout(_)) {
            // The rest of the body may still come: the connection cannot be reused.
            response.force_close();
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                "Bearer realm=\"etcd-monitor\"",
            ));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        })
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
    if crate::web::for_programs(req.path()) {
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
    use actix_web::error::{JsonPayloadError, PayloadError};
    match &err {
        JsonPayloadError::Payload(PayloadError::Io(e))
            if e.kind() == std::io::ErrorKind::TimedOut =>
        {
            ApiError::RequestTimeout(e.to_string()).into()
        }
        _ => ApiError::BadRequest(format!("bad JSON body: {err}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_in_the_list_of_codes() {
        let m = || String::new();
        let all = [
            ApiError::NotFound(m()),
            ApiError::BadRequest(m()),
            ApiError::Conflict(m()),
            ApiError::Internal(m()),
            ApiError::Unavailable(m()),
            ApiError::Unauthorized(m()),
            ApiError::Forbidden(m()),
            ApiError::TooManyRequests(m()),
            ApiError::MethodNotAllowed(m()),
            ApiError::RequestTimeout(m()),
            ApiError::MisdirectedRequest(m()),
        ];
        assert_eq!(all.len(), ERROR_CODES.len());
        for e in &all {
            let listed = (e.code(), e.status_code().as_u16());
            assert!(ERROR_CODES.contains(&listed), "{listed:?}");
        }
    }
}
