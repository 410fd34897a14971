//! The admin pages: users, API tokens (`/admin`) and the audit trail
//! (`/admin/audit`), and the admin forms. A created token is shown on the page
//! that answers its form, once; it is never in an address or a log.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::display::{ms_time, TimeView};
use super::layout::{layout, Layout, Nav, SelectOption};
use super::{html, ok, see_other, PageResult};
use crate::auth::{tokens, users, Identity, Role};
use crate::web::access::Gate;
use crate::web::api::access::AuditParams;
use crate::web::{ApiError, AppState};

struct UserRow {
    name: String,
    role: &'static str,
    created: TimeView,
    password_changed: TimeView,
}

struct TokenRow {
    id: String,
    name: String,
    role: &'static str,
    created: TimeView,
    created_by: String,
    expires: String,
    last_used: String,
}

struct CreatedToken {
    name: String,
    text: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    layout: Layout,
    mode: &'static str,
    roles: [&'static str; 3],
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    created_token: Option<CreatedToken>,
}

async fn admin_page(
    req: &HttpRequest,
    state: &AppState,
    created_token: Option<CreatedToken>,
) -> PageResult {
    let gate = Gate::of(req)?;
    let store = state.store.clone();
    let (user_list, token_list) = web::block(move || {
        Ok::<_, crate::auth::AuthError>((users::list(&store)?, tokens::list(&store)?))
    })
    .await??;
    let when = |ms: Option<i64>| ms.map_or("never".to_string(), crate::time::rfc3339_seconds);
    let page = AdminPage {
        layout: layout(state, "Admin", Nav::Admin, None),
        mode: gate.mode.as_str(),
        roles: Role::ALL.map(Role::as_str),
        users: user_list
            .iter()
            .map(|u| UserRow {
                name: u.name.clone(),
                role: u.role.as_str(),
                created: ms_time(u.created_unix_ms),
                password_changed: ms_time(u.password_changed_unix_ms),
            })
            .collect(),
        tokens: token_list
            .iter()
            .map(|t| TokenRow {
                id: t.id.clone(),
                name: t.name.clone(),
                role: t.role.as_str(),
                created: ms_time(t.created_unix_ms),
                created_by: t.created_by.clone(),
                expires: when(t.expires_unix_ms),
                last_used: when(t.last_used_unix_ms),
            })
            .collect(),
        created_token,
    };
    let mut response = html(StatusCode::OK, page.render());
    // The page may hold a token: no cache keeps it.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /admin`.
pub async fn admin(req: HttpRequest, state: web::Data<AppState>) -> PageResult {
    admin_page(&req, &state, None).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    role: Role,
    password: String,
}

/// `POST /admin/users`.
pub async fn add_user(state: web::Data<AppState>, form: web::Form<NewUserForm>) -> PageResult {
    let NewUserForm {
        name,
        role,
        password,
    } = form.into_inner();
    let store = state.store.clone();
    let n = name.clone();
    web::block(move || users::add(&store, &n, role, &password)).await??;
    Ok(see_other(&format!("/admin#user-{name}")))
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: Role,
}

/// `POST /admin/users/{user}/role`: the user's sessions end.
pub async fn set_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<RoleForm>,
) -> PageResult {
    let gate = Gate::of(&req)?;
    let store = state.store.clone();
    let (n, role) = (name.clone(), form.role);
    web::block(move || users::update(&store, &n, Some(role), None)).await??;
    gate.sessions.end_user(&name);
    Ok(see_other(&format!("/admin#user-{name}")))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

/// `POST /admin/users/{user}/password`: the user's sessions end.
pub async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> PageResult {
    let gate = Gate::of(&req)?;
    let store = state.store.clone();
    let n = name.clone();
    let password = form.into_inner().password;
    web::block(move || users::update(&store, &n, None, Some(&password))).await??;
    gate.sessions.end_user(&name);
    Ok(see_other(&format!("/admin#user-{name}")))
}

/// `POST /admin/users/{user}/delete`: the user's sessions end.
pub async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> PageResult {
    let gate = Gate::of(&req)?;
    let store = state.store.clone();
    let n = name.clone();
    web::block(move || users::delete(&store, &n)).await??;
    gate.sessions.end_user(&name);
    Ok(see_other("/admin#users"))
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: Role,
    #[serde(default)]
    expires_in: String,
}

/// `POST /admin/tokens`: answers with the admin page showing the token once.
pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    form: web::Form<NewTokenForm>,
) -> PageResult {
    let NewTokenForm {
        name,
        role,
        expires_in,
    } = form.into_inner();
    let expires = match expires_in.trim() {
        "" => None,
        text => {
            let d = humantime::parse_duration(text)
                .map_err(|e| ApiError::BadRequest(format!("expires in {text:?}: {e}")))?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Some(crate::unix_ms_now().saturating_add(ms))
        }
    };
    let by = identity.map_or_else(|| "anonymous".to_string(), |i| i.name.clone());
    let store = state.store.clone();
    let n = name.clone();
    let (_, text) = web::block(move || tokens::create(&store, &n, role, expires, &by)).await??;
    admin_page(&req, &state, Some(CreatedToken { name, text })).await
}

/// `POST /admin/tokens/{token}/revoke`.
pub async fn revoke_token(state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let store = state.store.clone();
    web::block(move || tokens::revoke(&store, &id)).await??;
    Ok(see_other("/admin#tokens"))
}

struct AuditRow {
    at: TimeView,
    actor: String,
    source: String,
    address: String,
    cluster: String,
    action: String,
    target: String,
    outcome: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    records: Vec<AuditRow>,
    limit: usize,
    actor: String,
    action: String,
    cluster: String,
    since: String,
    sources: Vec<SelectOption>,
    json_href: String,
}

/// `GET /admin/audit?actor=&action=&cluster=&source=&since=&until=&limit=`.
pub async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuditParams>,
) -> PageResult {
    let (filter, limit) = q.filter()?;
    let store = state.store.clone();
    let f = filter.clone();
    let records = web::block(move || crate::audit::query(&store, &f, limit)).await??;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    ok(AuditPage {
        layout: layout(&state, "Audit trail", Nav::Admin, None),
        records: records
            .into_iter()
            .map(|r| AuditRow {
                at: ms_time(r.at_unix_ms),
                actor: r.actor,
                source: r.source,
                address: r.address,
                cluster: r.cluster,
                action: r.action,
                target: r.target,
                outcome: r.outcome,
            })
            .collect(),
        limit,
        actor: text(&filter.actor),
        action: text(&filter.action),
        cluster: text(&filter.cluster),
        since: q.since().to_string(),
        sources: SelectOption::list(
            ["", "web", "api", "cli", "ctl"],
            filter.source.as_deref().unwrap_or(""),
        ),
        json_href: format!(
            "/api/v1/audit{}",
            req.uri().query().map_or(String::new(), |q| format!("?{q}"))
        ),
    })
}
