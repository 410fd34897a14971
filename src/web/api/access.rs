//! Access control's API (admin only, but `whoami`): users, tokens and the audit
//! trail. Passwords come in bodies and are never echoed; a token's text is in the
//! answer that creates it and nowhere else.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::ApiResult;
use crate::audit::{self, Filter};
use crate::auth::{tokens, users, Identity, Role};
use crate::web::access::Gate;
use crate::web::{ApiError, AppState};

fn who(identity: &Option<web::ReqData<Identity>>) -> String {
    identity
        .as_ref()
        .map_or_else(|| "anonymous".to_string(), |i| i.name.clone())
}

/// `GET /api/v1/whoami`: the caller's name, role and how they signed in.
pub async fn whoami(identity: Option<web::ReqData<Identity>>) -> HttpResponse {
    match identity {
        Some(i) => HttpResponse::Ok().json(json!({
            "name": i.name,
            "role": i.role,
            "via": match i.via {
                crate::auth::Via::NoAuth => "none",
                crate::auth::Via::Session { .. } => "session",
                crate::auth::Via::Token => "token",
                crate::auth::Via::Proxy { .. } => "proxy",
            },
        })),
        None => HttpResponse::Ok().json(json!({ "name": null })),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    cluster: Option<String>,
    source: Option<String>,
    /// RFC 3339 or unix milliseconds.
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
}

/// The largest `limit` of `GET /api/v1/audit`.
pub const MAX_AUDIT_LIMIT: usize = 10_000;

impl AuditParams {
    /// `since` as given, for the form.
    pub fn since(&self) -> &str {
        self.since.as_deref().unwrap_or("")
    }

    pub fn filter(&self) -> Result<(Filter, usize), ApiError> {
        let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, ApiError> {
            v.as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| super::parse_time(name, t, crate::unix_ms_now()))
                .transpose()
        };
        let limit = match self.limit.as_deref().filter(|l| !l.is_empty()) {
            None => 100,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_AUDIT_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "limit: {l:?} is not a number between 1 and {MAX_AUDIT_LIMIT}"
                    ))
                })?,
        };
        let text = |v: &Option<String>| v.clone().filter(|t| !t.is_empty());
        Ok((
            Filter {
                actor: text(&self.actor),
                action: text(&self.action),
                cluster: text(&self.cluster),
                source: text(&self.source),
                since_ms: time("since", &self.since)?,
                until_ms: time("until", &self.until)?,
            },
            limit,
        ))
    }
}

/// `GET /api/v1/audit`: the newest records first, filtered.
pub async fn audit(state: web::Data<AppState>, q: web::Query<AuditParams>) -> ApiResult {
    let (filter, limit) = q.filter()?;
    let store = state.store.clone();
    let records = web::block(move || audit::query(&store, &filter, limit)).await??;
    let records: Vec<_> = records
        .into_iter()
        .map(|r| {
            json!({
                "at": crate::time::rfc3339_millis(r.at_unix_ms),
                "actor": r.actor,
                "source": r.source,
                "address": r.address,
                "cluster": r.cluster,
                "action": r.action,
                "target": r.target,
                "outcome": r.outcome,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "records": records })))
}

pub async fn users(state: web::Data<AppState>) -> ApiResult {
    let store = state.store.clone();
    let list = web::block(move || users::list(&store)).await??;
    let list: Vec<_> = list.iter().map(users::User::public).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: Role,
    password: String,
}

pub async fn add_user(state: web::Data<AppState>, body: web::Json<NewUser>) -> ApiResult {
    let store = state.store.clone();
    let NewUser {
        name,
        role,
        password,
    } = body.into_inner();
    let user = web::block(move || users::add(&store, &name, role, &password)).await??;
    Ok(HttpResponse::Created().json(user.public()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    role: Option<Role>,
    password: Option<String>,
}

/// `PATCH /api/v1/users/{user}`: a new role or password; the user's sessions end.
pub async fn change_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<UserChange>,
) -> ApiResult {
    let gate = Gate::of(&req)?;
    let store = state.store.clone();
    let UserChange { role, password } = body.into_inner();
    if role.is_none() && password.is_none() {
        return Err(ApiError::BadRequest(
            "give a role, a password or both".into(),
        ));
    }
    let n = name.clone();
    let user = web::block(move || users::update(&store, &n, role, password.as_deref())).await??;
    gate.sessions.end_user(&name);
    Ok(HttpResponse::Ok().json(user.public()))
}

pub async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> ApiResult {
    let gate = Gate::of(&req)?;
    let store = state.store.clone();
    let n = name.clone();
    web::block(move || users::delete(&store, &n)).await??;
    gate.sessions.end_user(&name);
    Ok(HttpResponse::NoContent().finish())
}

pub async fn tokens(state: web::Data<AppState>) -> ApiResult {
    let store = state.store.clone();
    let list = web::block(move || tokens::list(&store)).await??;
    let list: Vec<_> = list.iter().map(tokens::Token::public).collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    role: Role,
    /// How long it works ("90d"); none: until revoked.
    expires_in: Option<String>,
}

pub async fn create_token(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    body: web::Json<NewToken>,
) -> ApiResult {
    let NewToken {
        name,
        role,
        expires_in,
    } = body.into_inner();
    let expires = match expires_in.as_deref().filter(|e| !e.is_empty()) {
        None => None,
        Some(text) => {
            let d = humantime::parse_duration(text)
                .map_err(|e| ApiError::BadRequest(format!("expires_in: {text:?}: {e}")))?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Some(crate::unix_ms_now().saturating_add(ms))
        }
    };
    let by = who(&identity);
    let store = state.store.clone();
    let (token, text) =
        web::block(move || tokens::create(&store, &name, role, expires, &by)).await??;
    let mut answer = token.public();
    answer["token"] = json!(text);
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

pub async fn revoke_token(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let store = state.store.clone();
    web::block(move || tokens::revoke(&store, &name)).await??;
    Ok(HttpResponse::NoContent().finish())
}
