//! The monitored clusters for admins (`/admin/clusters`): where each comes from,
//! a form to test and add one (secrets only by reference: a password's file or
//! environment variable), and removal keeping or deleting the history.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::layout::{layout, Layout, Nav};
use super::{html, see_other, urlencode, PageError, PageResult};
use crate::etcd::settings::{AuthConfig, TlsConfig};
use crate::etcd::ClusterConfig;
use crate::fleet::{ConnectionTest, Source};
use crate::web::api::registry::fleet;
use crate::web::{ApiError, AppState};

/// The add form as sent; every field text.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ClusterForm {
    #[serde(default)]
    name: String,
    /// Comma- or space-separated.
    #[serde(default)]
    endpoints: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    ca_file: String,
    #[serde(default)]
    cert_file: String,
    #[serde(default)]
    key_file: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password_env: String,
    #[serde(default)]
    password_file: String,
    /// A checkbox: present when ticked.
    allow_benchmark: Option<String>,
    hide_values: Option<String>,
}

fn words(s: &str) -> Vec<String> {
    s.split([',', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn path(s: &str) -> Option<std::path::PathBuf> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.into())
}

impl ClusterForm {
    fn config(&self) -> ClusterConfig {
        let mut c = ClusterConfig::plain(self.name.trim(), words(&self.endpoints));
        c.tags = words(&self.tags);
        let tls = TlsConfig {
            ca_file: path(&self.ca_file),
            cert_file: path(&self.cert_file),
            key_file: path(&self.key_file),
        };
        if tls.ca_file.is_some() || tls.cert_file.is_some() || tls.key_file.is_some() {
            c.tls = Some(tls);
        }
        if !self.user.trim().is_empty() {
            c.auth = Some(AuthConfig {
                user: self.user.trim().to_string(),
                password_env: Some(self.password_env.trim().to_string()).filter(|s| !s.is_empty()),
                password_file: path(&self.password_file),
            });
        }
        c.allow_benchmark = self.allow_benchmark.is_some();
        c.browse_values = self.hide_values.is_none();
        c
    }
}

struct ClusterRow {
    name: String,
    href: String,
    source: &'static str,
    endpoints: String,
    tags: String,
    tls: bool,
    user: String,
}

#[derive(Template)]
#[template(path = "clusters_admin.html")]
struct ClustersAdminPage {
    layout: Layout,
    rows: Vec<ClusterRow>,
    form: ClusterForm,
    /// What the last form did: a test's findings or an error.
    tested: Option<ConnectionTest>,
    error: Option<String>,
}

fn render(
    state: &AppState,
    status: StatusCode,
    form: ClusterForm,
    tested: Option<ConnectionTest>,
    error: Option<String>,
) -> PageResult {
    let rows = fleet(state)?
        .clusters()
        .into_iter()
        .map(|(c, s)| ClusterRow {
            href: format!("/clusters/{}", urlencode(&c.name)),
            source: match s {
                Source::Config => "config",
                Source::Registry => "registry",
                Source::Kubernetes => "kubernetes",
            },
            endpoints: c.endpoints.join(", "),
            tags: c.tags.join(", "),
            tls: c.tls.is_some(),
            user: c.auth.as_ref().map(|a| a.user.clone()).unwrap_or_default(),
            name: c.name,
        })
        .collect();
    let page = ClustersAdminPage {
        layout: layout(state, "Clusters", Nav::Admin, None),
        rows,
        form,
        tested,
        error,
    };
    Ok(html(status, page.render()))
}

/// `GET /admin/clusters`.
pub async fn clusters_admin(state: web::Data<AppState>) -> PageResult {
    render(&state, StatusCode::OK, ClusterForm::default(), None, None)
}

/// `POST /admin/clusters/test`: the page again, with what one probe found.
pub async fn test_cluster(state: web::Data<AppState>, form: web::Form<ClusterForm>) -> PageResult {
    let form = form.into_inner();
    match fleet(&state)?.test(&form.config()).await {
        Ok(t) => render(&state, StatusCode::OK, form, Some(t), None),
        Err(e) => render(
            &state,
            StatusCode::BAD_REQUEST,
            form,
            None,
            Some(e.to_string()),
        ),
    }
}

/// `POST /admin/clusters`: added, then its page; refused, the form again with why.
pub async fn add_cluster(state: web::Data<AppState>, form: web::Form<ClusterForm>) -> PageResult {
    let form = form.into_inner();
    let c = form.config();
    match fleet(&state)?.add(c.clone()).await {
        Ok(()) => Ok(see_other(&format!("/clusters/{}", urlencode(&c.name)))),
        Err(e) => {
            let status = match ApiError::from(e) {
                ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
                ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
                other => return Err(PageError(other)),
            };
            render(&state, status.0, form, None, Some(status.1))
        }
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    /// `keep` or `delete`.
    history: String,
}

/// `POST /admin/clusters/{name}/delete`.
pub async fn remove_cluster(
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<RemoveForm>,
) -> PageResult {
    let delete = match form.history.as_str() {
        "keep" => false,
        "delete" => true,
        other => {
            return Err(super::bad_request(format!(
                "history: {:?} is neither keep nor delete",
                crate::text::truncate(other, 60)
            )))
        }
    };
    fleet(&state)?
        .remove(&name, delete)
        .await
        .map_err(|e| PageError(e.into()))?;
    Ok(see_other("/admin/clusters"))
}
