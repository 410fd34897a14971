//! The HTML dashboard: askama views over snapshots and the history store, one file
//! per page (its template struct, the rows it shows and its handler), with what
//! pages share in `layout` (navigation, badges), `display` (how values are shown),
//! `range` (the time range picker) and `charts` (history charts).
//!
//! Every page is complete without JavaScript. `assets/app.js` adds live updates
//! (it listens to `/events` and swaps in the page's new `<main>`), chart hover and
//! local times. Everything shown goes through askama's HTML escaping, or, for the
//! SVG charts, through the chart module's own escaping.

mod about;
mod actions;
mod admin;
mod alerts;
mod benchmark;
mod benchmarks;
mod charts;
mod cluster;
mod clusters_admin;
mod compare;
mod display;
mod explore;
mod keys;
mod layout;
mod login;
mod member;
mod overview;
mod range;
mod side_by_side;
mod timeline;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use super::{ApiError, AppState};
use crate::collect::snapshot::ClusterSnapshot;
pub use about::about;
pub use actions::{acknowledge, create_silence, delete_run, expire_silence, silence_form};
pub use admin::{
    add_user, admin, audit, create_token, delete_user, revoke_token, set_password, set_role,
};
pub use alerts::alerts;
pub use benchmark::benchmark;
pub use benchmarks::benchmarks;
pub use charts::CHART_WIDTH;
pub use cluster::cluster;
pub use clusters_admin::{add_cluster, clusters_admin, remove_cluster, test_cluster};
pub use compare::benchmark_comparison;
pub use explore::explore;
pub use keys::{key, keys};
use layout::{Layout, Nav};
pub use login::{login, login_form, login_location, logout, oidc_callback, oidc_login};
pub use member::member;
pub use overview::overview;
pub use range::{RangeParams, TimeRange, RANGES};
pub use side_by_side::compare_clusters;
pub use timeline::timeline;

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
            ApiError::Unauthorized(_) => (
                "Sign in first",
                "Log in on the monitor's login page, then open this address again.",
            ),
            ApiError::Forbidden(_) => (
                "Refused",
                "Changes are accepted only from the monitor's own pages, by a role that may make them.",
            ),
            ApiError::TooManyRequests(_) => (
                "Too many failed logins",
                "Wait for the lockout to end, then try again; an admin can check the audit trail.",
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

/// `303 See Other`: after a form's change, or off to log in.
fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, to.to_string()))
        .finish()
}

/// A 400 page saying `message` (which names the parameter at fault).
fn bad_request(message: String) -> PageError {
    PageError(ApiError::BadRequest(message))
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

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub heading: &'static str,
    pub message: String,
    pub hint: &'static str,
}

/// The page for any path no route took.
pub async fn not_found(req: HttpRequest) -> PageResult {
    Err(PageError(ApiError::NotFound(format!(
        "there is no page at {}",
        req.path()
    ))))
}

pub use crate::text::urlencode;
