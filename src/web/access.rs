//! Access control at one place: who a request comes from (a session cookie, a
//! bearer token, a trusted proxy's headers, or nobody), whether the route's
//! declared [`Access`] lets them in, the CSRF token of every change made with a
//! cookie, and the audit record of every change. [`super::guard`] calls
//! [`Gate::admit`] before the handler and [`Gate::audit`] after it.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::http::{header, Method};
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures::StreamExt;

use super::{Access, ApiError, RouteInfo};
use crate::audit::{AuditRecord, Trail};
use crate::auth::settings::AddressRange;
use crate::auth::{
    tokens, users, AuthMode, AuthSettings, Identity, LoginThrottle, Role, SessionBook, Via,
};
use crate::store::Store;

/// The session cookie: an opaque random id.
pub const SESSION_COOKIE: &str = "em_session";
/// The CSRF cookie of requests without a session (the login form, proxy users):
/// the form's `csrf_token` must equal it.
pub const CSRF_COOKIE: &str = "em_csrf";
/// The single sign-on login this browser started (its `state`): the callback
/// must come back to the browser that left, or anyone could plant their own
/// login in someone else's browser with a link.
pub const OIDC_STATE_COOKIE: &str = "em_oidc_state";
/// The form field, and the header for scripts, that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A form body read to find its CSRF token is at most this long.
const MAX_FORM_BODY: usize = 64 << 10;

/// Logins checked at once: each Argon2id verification takes 19 MiB and tens of
/// milliseconds of one core.
const CONCURRENT_LOGINS: usize = 2;

tokio::task_local! {
    /// Who the request being handled comes from, for what every page shows (the
    /// user bar): set by the guard around the handler.
    static CURRENT: Option<Identity>;
}

/// Runs `handler` with `identity` as [`current`].
pub async fn with_identity<F: std::future::Future>(
    identity: Option<Identity>,
    handler: F,
) -> F::Output {
    CURRENT.scope(identity, handler).await
}

/// The identity of the request being handled (`None` outside a handler or for
/// anonymous requests).
pub fn current() -> Option<Identity> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// Everything access control needs; one per server, shared by every connection.
pub struct Gate {
    pub mode: AuthMode,
    settings: AuthSettings,
    trusted: Vec<AddressRange>,
    pub sessions: SessionBook,
    pub throttle: LoginThrottle,
    pub store: Arc<Store>,
    pub trail: Trail,
    /// Every route (tens: a scan is as quick as a hash here).
    routes: Vec<RouteInfo>,
    /// Served over HTTPS: cookies get `Secure`.
    pub secure: bool,
    pub logins: tokio::sync::Semaphore,
    /// Single sign-on, in mode "oidc".
    pub oidc: Option<crate::auth::oidc::OidcLogin>,
    /// Group names to roles (proxy and OIDC users).
    pub roles: crate::auth::settings::GroupRoles,
}

/// Why a request was not let in.
pub struct Refused {
    pub error: ApiError,
    /// A page asked for without a login: sent to the login page instead.
    pub login_redirect: bool,
}

fn refuse(error: ApiError) -> Refused {
    Refused {
        error,
        login_redirect: false,
    }
}

impl Gate {
    /// The gate the server set up, for handlers that log in, out or manage users.
    pub fn of(req: &actix_web::HttpRequest) -> Result<actix_web::web::Data<Gate>, ApiError> {
        req.app_data::<actix_web::web::Data<Gate>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("access control is not set up".into()))
    }

    pub fn new(
        settings: &AuthSettings,
        store: Arc<Store>,
        audit_retention: std::time::Duration,
        secure: bool,
    ) -> Result<Gate, crate::auth::AuthError> {
        let oidc = match settings.mode {
            AuthMode::Oidc => Some(crate::auth::oidc::OidcLogin::new(&settings.oidc)?),
            _ => None,
        };
        Ok(Gate {
            oidc,
            roles: settings.roles.clone(),
            mode: settings.mode,
            settings: settings.clone(),
            trusted: settings.trusted_proxies(),
            sessions: SessionBook::new(settings.session_idle, settings.session_lifetime),
            throttle: LoginThrottle::new(settings.max_failed_logins, settings.lockout),
            trail: Trail::new(store.clone(), audit_retention),
            store,
            routes: super::routes(),
            secure,
            logins: tokio::sync::Semaphore::new(CONCURRENT_LOGINS),
        })
    }

    /// The route a request is for: its declared access and audit action. A path no
    /// route takes, or a method it does not serve, needs a viewer (so that only
    /// signed-in users learn what exists).
    pub fn route(&self, req: &ServiceRequest) -> Option<&RouteInfo> {
        self.route_of(req.request())
    }

    pub fn route_of(&self, req: &actix_web::HttpRequest) -> Option<&RouteInfo> {
        let pattern = req.match_pattern()?;
        let method = if req.method() == Method::HEAD {
            Method::GET
        } else {
            req.method().clone()
        };
        self.routes
            .iter()
            .find(|r| r.method == method && r.path == pattern)
    }

    /// Who `req` comes from: `Ok(None)` for nobody; `Err` for credentials that are
    /// given but not valid (an unknown token is not treated as no token).
    pub fn identify(&self, req: &ServiceRequest) -> Result<Option<Identity>, ApiError> {
        if self.mode == AuthMode::None {
            return Ok(Some(Identity {
                name: "anonymous".into(),
                role: Role::Admin,
                via: Via::NoAuth,
            }));
        }
        let now = crate::unix_ms_now();
        if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
            let text = auth.to_str().unwrap_or("");
            let Some(token) = text.strip_prefix("Bearer ").map(str::trim) else {
                return Err(ApiError::Unauthorized(
                    "the Authorization header must be \"Bearer <token>\"".into(),
                ));
            };
            return match tokens::authenticate(&self.store, token, now)? {
                Some(t) => Ok(Some(Identity {
                    name: format!("token:{}", t.name),
                    role: t.role,
                    via: Via::Token,
                })),
                None => Err(ApiError::Unauthorized(
                    "the bearer token is not valid: unknown, revoked or expired".into(),
                )),
            };
        }
        if self.mode == AuthMode::Proxy {
            if let Some(identity) = self.proxy_user(req)? {
                return Ok(Some(identity));
            }
        }
        let Some(cookie) = req.cookie(SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some(session) = self.sessions.touch(cookie.value(), now) else {
            return Ok(None);
        };
        let role = if session.local {
            // A local user's record is the truth: deleted or demoted takes effect now.
            match users::get(&self.store, &session.user)? {
                Some(u) => u.role,
                None => {
                    self.sessions.end_user(&session.user);
                    return Ok(None);
                }
            }
        } else {
            session.role
        };
        Ok(Some(Identity {
            name: session.user,
            role,
            via: Via::Session { csrf: session.csrf },
        }))
    }

    /// A trusted proxy's user, if the request comes from one and names a user.
    fn proxy_user(&self, req: &ServiceRequest) -> Result<Option<Identity>, ApiError> {
        let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
            return Ok(None);
        };
        if !self.trusted.iter().any(|r| r.contains(peer)) {
            return Ok(None);
        }
        let header_text = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let Some(user) = header_text(&self.settings.proxy.user_header) else {
            return Ok(None);
        };
        crate::auth::check_name("the proxy's user", user)
            .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        let groups = header_text(&self.settings.proxy.groups_header).unwrap_or("");
        let groups = groups.split(',').map(str::trim).filter(|g| !g.is_empty());
        let Some(role) = self.settings.roles.role_of(groups) else {
            return Err(ApiError::Forbidden(format!(
                "user {user:?} is in none of the groups server.auth.roles gives a role to"
            )));
        };
        let cookie = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_string())
            .filter(|c| !c.is_empty());
        let via = match cookie {
            Some(csrf) => Via::Proxy { csrf, fresh: false },
            None => Via::Proxy {
                csrf: crate::auth::secret::random_text()?,
                fresh: true,
            },
        };
        Ok(Some(Identity {
            name: user.to_string(),
            role,
            via,
        }))
    }

    /// Lets `req` through (its identity in its extensions) or says why not. A
    /// change made with a cookie must carry its CSRF token; a form's body is read
    /// for it and given back to the handler.
    pub async fn admit(&self, req: &mut ServiceRequest) -> Result<(), Refused> {
        let access = self.route(req).map_or(Access::Viewer, |r| r.access);
        let identity = match self.identify(req) {
            Ok(i) => i,
            // Bad credentials on a public route (the login page) do not lock anyone out.
            Err(e) if access == Access::Public => {
                tracing::debug!("{} {}: {e}", req.method(), req.path());
                None
            }
            Err(e) => return Err(refuse(e)),
        };
        if let Some(i) = &identity {
            req.extensions_mut().insert(i.clone());
        }
        if let Some(role) = access.role() {
            let Some(i) = &identity else {
                return Err(Refused {
                    error: ApiError::Unauthorized(format!(
                        "{} {} needs a login (or an API token): it is for {} or higher",
                        req.method(),
                        req.path(),
                        role.with_article()
                    )),
                    login_redirect: req.method() == Method::GET,
                });
            };
            if !i.may(role) {
                return Err(refuse(ApiError::Forbidden(format!(
                    "{} {} is for {} or higher; {} is {}",
                    req.method(),
                    req.path(),
                    role.with_article(),
                    i.name,
                    i.role.with_article()
                ))));
            }
        }
        if super::guard::is_state_changing(req.method()) {
            let expected = match identity.as_ref().map(|i| &i.via) {
                Some(Via::Session { csrf }) => Some(csrf.clone()),
                Some(Via::Token | Via::NoAuth) => None,
                // The login form and proxy users: the cookie set with the form.
                Some(Via::Proxy { .. }) | None => Some(
                    req.cookie(CSRF_COOKIE)
                        .map(|c| c.value().to_string())
                        .unwrap_or_default(),
                ),
            };
            if let Some(expected) = expected {
                let given = csrf_token_of(req).await?;
                if expected.is_empty()
                    || !crate::auth::secret::same(given.as_bytes(), expected.as_bytes())
                {
                    return Err(refuse(ApiError::Forbidden(format!(
                        "{} {}: the CSRF token is missing or wrong; reload the page and try again",
                        req.method(),
                        req.path()
                    ))));
                }
            }
        }
        Ok(())
    }

    /// Records a change (a state-changing request) and how it ended.
    pub fn audit(
        &self,
        req: &actix_web::HttpRequest,
        identity: Option<&Identity>,
        outcome: String,
    ) {
        let action = self.route_of(req).and_then(|r| r.action).map_or_else(
            || format!("{} {}", req.method(), req.path()),
            str::to_string,
        );
        let info = req.match_info();
        let cluster = info.get("name").unwrap_or("").to_string();
        let target: Vec<&str> = info
            .iter()
            .filter(|(k, _)| *k != "name")
            .map(|(_, v)| v)
            .collect();
        let source = if crate::web::for_programs(req.path()) {
            "api"
        } else {
            "web"
        };
        self.trail.record(&AuditRecord {
            cluster,
            action,
            target: if target.is_empty() {
                req.path().to_string()
            } else {
                target.join(" ")
            },
            outcome,
            ..AuditRecord::now(
                source,
                identity.map_or("anonymous", |i| i.name.as_str()),
                &address_of(req.peer_addr().map(|a| a.ip())),
            )
        });
    }

    /// The session cookie for `id`.
    pub fn session_cookie(&self, id: &str) -> Cookie<'static> {
        self.cookie(SESSION_COOKIE, id.to_string())
    }

    /// A cookie of ours: HttpOnly, SameSite=Strict, Path=/, Secure under HTTPS.
    pub fn cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .finish()
    }

    /// The cookie that ties a single sign-on callback to the browser that started
    /// it. `SameSite=Lax`, unlike ours: the provider sends the browser back from
    /// another site, and a strict cookie would stay behind. It lives for the ten
    /// minutes a login may take; Path=/ because a proxy in front may serve the
    /// callback under another path.
    pub fn oidc_state_cookie(&self, state: String) -> Cookie<'static> {
        let mut cookie = self.cookie(OIDC_STATE_COOKIE, state);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_max_age(actix_web::cookie::time::Duration::minutes(10));
        cookie
    }

    /// A cookie that deletes `name`.
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = self.cookie(name, String::new());
        c.make_removal();
        c
    }
}

/// The name of whoever signed in, when access control is on: what an audit
/// record, a silence's `created_by` or an acknowledgement's `by` names instead of
/// what the request says.
pub fn signed_in_name(identity: Option<&Identity>) -> Option<String> {
    identity
        .filter(|i| i.via != Via::NoAuth)
        .map(|i| i.name.clone())
}

/// The address an audit record names.
pub fn address_of(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// The CSRF token a change carries: the `X-CSRF-Token` header, else the
/// `csrf_token` field of a form body (read here and given back to the handler).
async fn csrf_token_of(req: &mut ServiceRequest) -> Result<String, Refused> {
    if let Some(v) = req.headers().get(CSRF_HEADER) {
        return Ok(v.to_str().unwrap_or("").to_string());
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok(String::new());
    }
    let mut payload = req.take_payload();
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                refuse(ApiError::RequestTimeout(io.to_string()))
            }
            other => refuse(ApiError::BadRequest(format!("reading the form: {other}"))),
        })?;
        if body.len() + chunk.len() > MAX_FORM_BODY {
            return Err(refuse(ApiError::BadRequest(format!(
                "the form is larger than {MAX_FORM_BODY} bytes"
            ))));
        }
        body.extend_from_slice(&chunk);
    }
    let token = form_field(&body, CSRF_FIELD).unwrap_or_default();
    req.set_payload(Payload::from(Bytes::from(body)));
    Ok(token)
}

/// The first value of `name` in a urlencoded form.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
