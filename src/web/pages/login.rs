//! The login page, login and logout. A login checks the password off the web
//! thread (Argon2id takes tens of milliseconds), counts failures against the
//! throttle, and is recorded in the audit trail whatever its outcome.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::layout::{Layout, Nav};
use super::{html, PageResult};
use crate::audit::AuditRecord;
use crate::auth::{users, AuthMode};
use crate::web::access::{address_of, Gate, CSRF_COOKIE, SESSION_COOKIE};
use crate::web::ApiError;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    message: Option<String>,
    csrf: String,
    next: String,
    user: String,
    /// Mode "oidc": the single sign-on button's address.
    sso_href: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Where to go after a login: a path of this monitor, never another site
/// (`//host` and `/\host` are other sites to a browser).
fn safe_next(next: &str) -> String {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control())
        && next.len() <= 2048;
    if local && !next.starts_with("/login") {
        next.to_string()
    } else {
        "/".to_string()
    }
}

/// `/login?next=<this page>`: where a page asked for without a login sends the browser.
pub fn login_location(req: &HttpRequest) -> String {
    let here = match req.uri().query() {
        Some(q) => format!("{}?{q}", req.path()),
        None => req.path().to_string(),
    };
    format!("/login?next={}", super::urlencode(&here))
}

fn gate(req: &HttpRequest) -> Result<web::Data<Gate>, ApiError> {
    req.app_data::<web::Data<Gate>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("access control is not set up".into()))
}

/// The form, with a fresh CSRF cookie.
fn form_page(
    gate: &Gate,
    status: StatusCode,
    message: Option<String>,
    next: &str,
    user: &str,
) -> PageResult {
    let csrf = crate::auth::secret::random_text()?;
    let page = LoginPage {
        layout: Layout::new("Log in", Nav::None, None),
        message,
        csrf: csrf.clone(),
        next: safe_next(next),
        user: user.to_string(),
        sso_href: gate
            .oidc
            .as_ref()
            .map(|_| format!("/oidc/login?next={}", super::urlencode(&safe_next(next)))),
    };
    let mut response = html(status, page.render());
    response
        .add_cookie(&gate.cookie(CSRF_COOKIE, csrf))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(response)
}

pub async fn login_form(req: HttpRequest, q: web::Query<NextParam>) -> PageResult {
    let gate = gate(&req)?;
    let next = q.next.as_deref().unwrap_or("/");
    if gate.mode == AuthMode::None {
        return Ok(redirect(&safe_next(next)));
    }
    form_page(&gate, StatusCode::OK, None, next, "")
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

pub async fn login(req: HttpRequest, form: web::Form<LoginForm>) -> PageResult {
    let gate = gate(&req)?;
    let form = form.into_inner();
    if gate.mode == AuthMode::None {
        return Ok(redirect(&safe_next(&form.next)));
    }
    let address = address_of(req.peer_addr().map(|a| a.ip()));
    let user = form.user.trim().to_string();
    let record = |outcome: &str| {
        gate.trail.record(&AuditRecord {
            at_unix_ms: crate::unix_ms_now(),
            actor: user.chars().take(64).collect(),
            source: "web".into(),
            cluster: String::new(),
            action: "login".into(),
            target: user.chars().take(64).collect(),
            outcome: outcome.to_string(),
            address: address.clone(),
        })
    };
    if let Some(seconds) = gate.throttle.locked(&user, &address, crate::unix_ms_now()) {
        record("refused: locked out after failed logins");
        let message = format!("Too many failed logins: try again in {seconds} s.");
        let mut page = form_page(
            &gate,
            StatusCode::TOO_MANY_REQUESTS,
            Some(message),
            &form.next,
            &user,
        )?;
        if let Ok(v) = header::HeaderValue::from_str(&seconds.to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(page);
    }
    let checked = {
        let _slot = gate
            .logins
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let store = gate.store.clone();
        let (name, password) = (user.clone(), form.password);
        web::block(move || users::check_password(&store, &name, &password)).await??
    };
    let Some(found) = checked else {
        let locked = gate.throttle.failed(&user, &address, crate::unix_ms_now());
        record(if locked {
            "failed: wrong user name or password; now locked out"
        } else {
            "failed: wrong user name or password"
        });
        return form_page(
            &gate,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password.".into()),
            &form.next,
            &user,
        );
    };
    gate.throttle.succeeded(&user, &address);
    let (id, _) = gate
        .sessions
        .start(&found.name, found.role, true, crate::unix_ms_now())?;
    record("ok");
    let mut response = redirect(&safe_next(&form.next));
    for cookie in [gate.session_cookie(&id), gate.removal(CSRF_COOKIE)] {
        response
            .add_cookie(&cookie)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(response)
}

/// `GET /oidc/login?next=`: off to the provider.
pub async fn oidc_login(req: HttpRequest, q: web::Query<NextParam>) -> PageResult {
    let gate = gate(&req)?;
    let Some(oidc) = &gate.oidc else {
        return Err(ApiError::NotFound(
            "single sign-on is not set up (server.auth.mode is not \"oidc\")".into(),
        )
        .into());
    };
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    match oidc.start(&next).await {
        Ok(url) => Ok(redirect(&url)),
        Err(e) => {
            tracing::warn!("single sign-on: {e}");
            form_page(&gate, StatusCode::BAD_GATEWAY, Some(format!("The single sign-on provider cannot be reached: {e}. Local users can still log in below.")), &next, "")
        }
    }
}

#[derive(serde::Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oidc/callback?code=&state=` (or `error=`): the provider sends the browser
/// back; the login is completed, recorded, and a session started.
pub async fn oidc_callback(req: HttpRequest, q: web::Query<CallbackParams>) -> PageResult {
    let gate = gate(&req)?;
    let Some(oidc) = &gate.oidc else {
        return Err(ApiError::NotFound("single sign-on is not set up".into()).into());
    };
    let address = address_of(req.peer_addr().map(|a| a.ip()));
    let record = |actor: &str, outcome: &str| {
        gate.trail.record(&AuditRecord {
            at_unix_ms: crate::unix_ms_now(),
            actor: actor.chars().take(128).collect(),
            source: "web".into(),
            cluster: String::new(),
            action: "login".into(),
            target: "single sign-on".into(),
            outcome: outcome.to_string(),
            address: address.clone(),
        })
    };
    let refused = |message: String| form_page(&gate, StatusCode::FORBIDDEN, Some(message), "/", "");
    if let Some(error) = &q.error {
        let why = format!("{error}: {}", q.error_description.as_deref().unwrap_or(""));
        record("unknown", &format!("failed: the provider said {why}"));
        return refused(format!(
            "The single sign-on provider refused the login ({why})."
        ));
    }
    let (Some(code), Some(state)) = (&q.code, &q.state) else {
        return Err(ApiError::BadRequest(
            "code and state: missing (this address is for the provider's redirect)".into(),
        )
        .into());
    };
    let (user, next) = match oidc.finish(code, state).await {
        Ok(done) => done,
        Err(e) => {
            record("unknown", &format!("failed: {e}"));
            return refused(format!("The single sign-on login failed: {e}"));
        }
    };
    let Some(role) = gate.roles.role_of(user.groups.iter().map(String::as_str)) else {
        record(
            &user.name,
            &format!(
                "refused: none of the groups {:?} has a role in [server.auth.roles]",
                user.groups
            ),
        );
        return refused(format!("{} is signed in at the provider, but none of their groups has a role here; ask an admin to map one in [server.auth.roles].", user.name));
    };
    let name: String = user.name.chars().take(128).collect();
    let (id, _) = gate
        .sessions
        .start(&name, role, false, crate::unix_ms_now())?;
    record(&name, &format!("ok (single sign-on, {role})"));
    let mut response = redirect(&safe_next(&next));
    response
        .add_cookie(&gate.session_cookie(&id))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(response)
}

pub async fn logout(req: HttpRequest) -> PageResult {
    let gate = gate(&req)?;
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        if let Some(session) = gate.sessions.end(cookie.value()) {
            gate.trail.record(&AuditRecord {
                at_unix_ms: crate::unix_ms_now(),
                actor: session.user.clone(),
                source: "web".into(),
                cluster: String::new(),
                action: "logout".into(),
                target: session.user,
                outcome: "ok".into(),
                address: address_of(req.peer_addr().map(|a| a.ip())),
            });
        }
    }
    let mut response = redirect("/login");
    response
        .add_cookie(&gate.removal(SESSION_COOKIE))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_monitor() {
        assert_eq!(safe_next("/alerts?x=1"), "/alerts?x=1");
        for other in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example",
            "",
            "/login?next=/",
            "/a\nb",
        ] {
            assert_eq!(safe_next(other), "/", "{other:?}");
        }
    }
}
