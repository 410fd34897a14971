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
use crate::web::error::ErrorBody;
use crate::web::{ApiError, AppState};

/// The answers below are built as JSON by the auth and audit modules (which do
/// not know the web), so these types only describe them for the OpenAPI
/// document; the access API's integration tests check the answers.
pub mod answers {
    #![allow(dead_code)]
    use utoipa::ToSchema;

    /// The answer of `GET /api/v1/whoami`; only `name` (null) when nobody is
    /// signed in.
    #[derive(ToSchema)]
    pub struct WhoAmI {
        /// A user's name, `token:NAME` for an API token, or `anonymous` when auth is off.
        pub name: Option<String>,
        #[schema(pattern = "^(viewer|operator|admin)$")]
        pub role: Option<String>,
        /// How the caller signed in.
        #[schema(pattern = "^(none|session|token|proxy)$")]
        pub via: Option<String>,
    }

    /// A user, without their password.
    #[derive(ToSchema)]
    pub struct User {
        pub name: String,
        #[schema(pattern = "^(viewer|operator|admin)$")]
        pub role: String,
        /// RFC 3339.
        #[schema(format = DateTime)]
        pub created: String,
        /// RFC 3339.
        #[schema(format = DateTime)]
        pub password_changed: String,
    }

    /// The answer of `GET /api/v1/users`.
    #[derive(ToSchema)]
    pub struct Users {
        pub users: Vec<User>,
    }

    /// An API token, without its text.
    #[derive(ToSchema)]
    pub struct Token {
        pub id: String,
        pub name: String,
        #[schema(pattern = "^(viewer|operator|admin)$")]
        pub role: String,
        /// RFC 3339.
        #[schema(format = DateTime)]
        pub created: String,
        pub created_by: String,
        /// RFC 3339; none: until revoked.
        #[schema(format = DateTime)]
        pub expires: Option<String>,
        /// RFC 3339.
        #[schema(format = DateTime)]
        pub last_used: Option<String>,
    }

    /// The answer of `GET /api/v1/tokens`.
    #[derive(ToSchema)]
    pub struct Tokens {
        pub tokens: Vec<Token>,
    }

    /// The answer of `POST /api/v1/tokens`: the token and, this once, its text.
    #[derive(ToSchema)]
    pub struct NewTokenAnswer {
        #[schema(inline)]
        #[serde(flatten)]
        pub token: Token,
        /// What `Authorization: Bearer` takes; shown here only.
        #[schema(rename = "token")]
        pub text: String,
    }

    /// One audit record: who changed what, from where, and how it went.
    #[derive(ToSchema)]
    pub struct AuditRecord {
        /// RFC 3339, milliseconds.
        #[schema(format = DateTime)]
        pub at: String,
        pub actor: String,
        /// How the actor signed in.
        pub source: String,
        /// The client's address.
        pub address: String,
        pub cluster: Option<String>,
        /// `silence create`, `user add`, `token revoke`, ...
        pub action: String,
        pub target: String,
        pub outcome: String,
    }

    /// The answer of `GET /api/v1/audit`.
    #[derive(ToSchema)]
    pub struct Audit {
        /// Newest first.
        pub records: Vec<AuditRecord>,
    }
}

fn who(identity: &Option<web::ReqData<Identity>>) -> String {
    identity
        .as_ref()
        .map_or_else(|| "anonymous".to_string(), |i| i.name.clone())
}

/// `GET /api/v1/whoami`: the caller's name, role and how they signed in.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "access",
    summary = "The caller's name, role and how they signed in",
    responses((status = 200, description = "The caller", body = answers::WhoAmI)))]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only changes by this actor.
    actor: Option<String>,
    /// Only this action (`silence create`, `user add`, ...).
    action: Option<String>,
    /// Only changes to this cluster.
    cluster: Option<String>,
    /// Only changes made this way (`session`, `token`, `proxy`, `none`, `cli`).
    source: Option<String>,
    /// Records from then on: `now`, `-1h` (before now), unix seconds or RFC 3339.
    since: Option<String>,
    /// Records before then, as `since`.
    until: Option<String>,
    /// Records; default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
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
#[utoipa::path(get, path = "/api/v1/audit", tag = "access",
    summary = "The audit trail, newest first",
    params(AuditParams),
    responses(
        (status = 200, description = "The records", body = answers::Audit),
        (status = 400, description = "An unknown parameter, a bad time or a limit out of range", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
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

/// Every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "access",
    responses(
        (status = 200, description = "The users", body = answers::Users),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
pub async fn users(state: web::Data<AppState>) -> ApiResult {
    let store = state.store.clone();
    let list = web::block(move || users::list(&store)).await??;
    let list: Vec<_> = list.iter().map(users::User::public).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": list })))
}

/// A user to add.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    #[schema(value_type = String, pattern = "^(viewer|operator|admin)$")]
    role: Role,
    #[schema(write_only)]
    password: String,
}

/// Adds a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "access",
    request_body = NewUser,
    responses(
        (status = 201, description = "The user added", body = answers::User),
        (status = 400, description = "A bad body, name or password", body = ErrorBody),
        (status = 409, description = "A user of that name exists", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
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

/// A user's new role, password or both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[schema(value_type = Option<String>, pattern = "^(viewer|operator|admin)$")]
    role: Option<Role>,
    #[schema(write_only)]
    password: Option<String>,
}

/// `PATCH /api/v1/users/{user}`: a new role or password; the user's sessions end.
#[utoipa::path(patch, path = "/api/v1/users/{user}", tag = "access",
    summary = "Changes a user's role or password; their sessions end",
    params(("user" = String, Path, description = "The user's name")),
    request_body = UserChange,
    responses(
        (status = 200, description = "The user, changed", body = answers::User),
        (status = 400, description = "A bad body, role or password, or neither given", body = ErrorBody),
        (status = 404, description = "No user of that name", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
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

/// Deletes a user; their sessions end.
#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "access",
    params(("user" = String, Path, description = "The user's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The user cannot be deleted", body = ErrorBody),
        (status = 404, description = "No user of that name", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
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

/// Every API token, without its text.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    responses(
        (status = 200, description = "The tokens", body = answers::Tokens),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
pub async fn tokens(state: web::Data<AppState>) -> ApiResult {
    let store = state.store.clone();
    let list = web::block(move || tokens::list(&store)).await??;
    let list: Vec<_> = list.iter().map(tokens::Token::public).collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": list })))
}

/// An API token to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    #[schema(value_type = String, pattern = "^(viewer|operator|admin)$")]
    role: Role,
    /// How long it works ("90d"); none: until revoked.
    expires_in: Option<String>,
}

/// Creates an API token; the answer has its text, which is shown nowhere else.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token, with its text (`Cache-Control: no-store`)", body = answers::NewTokenAnswer),
        (status = 400, description = "A bad body, name or expires_in", body = ErrorBody),
        (status = 409, description = "A token of that name exists", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
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

/// Revokes an API token: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{token}", tag = "access",
    params(("token" = String, Path, description = "The token's name or id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No token of that name", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
pub async fn revoke_token(state: web::Data<AppState>, name: web::Path<String>) -> ApiResult {
    let store = state.store.clone();
    web::block(move || tokens::revoke(&store, &name)).await??;
    Ok(HttpResponse::NoContent().finish())
}
