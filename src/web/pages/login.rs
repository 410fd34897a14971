//! The login page, login and logout. A login checks the password off the web
//! thread (Argon2id takes tens of milliseconds), counts failures against the
//! throttle, and is recorded in the audit trail whatever its outcome.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use askama::Template;

use super::layout::{Layout, Nav};
use super::{html, see_other, PageResult};
use crate::audit::AuditRecord;
use crate::auth::{users, AuthMode};
use crate::web::access::{address_of, Gate, CSRF_COOKIE, OIDC_STATE_COOKIE, SESSION_COOKIE};
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

#[derive(Template)]
#[template(path = "signed_in.html")]
struct SignedInPage {
    layout: Layout,
    user: String,
    role: String,
    next: String,
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
    let gate = Gate::of(&req)?;
    let next = q.next.as_deref().unwrap_or("/");
    if gate.mode == AuthMode::None {
        return Ok(see_other(&safe_next(next)));
    }
    form_page(&gate, StatusCode::OK, None, next, "")
}

pub async fn login(req: HttpRequest, form: web::Form<LoginForm>) -> PageResult {
    let gate = Gate::of(&req)?;
    let form = form.into_inner();
    if gate.mode == AuthMode::None {
        return Ok(see_other(&safe_next(&form.next)));
    }
    let address = address_of(req.peer_addr().map(|a| a.ip()));
    let user = form.user.trim().to_string();
    let record = |outcome: &str| {
        gate.trail.record(&AuditRecord {
            action: "login".into(),
            target: user.chars().take(128).collect(),
            outcome: outcome.to_string(),
            ..AuditRecord::now("web", &user, &address)
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
    let mut response = see_other(&safe_next(&form.next));
    for cookie in [gate.session_cookie(&id), gate.removal(CSRF_COOKIE)] {
        response
            .add_cookie(&cookie)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(response)
}

/// `GET /oidc/login?next=`: off to the provider.
pub async fn oidc_login(req: HttpRequest, q: web::Query<NextParam>) -> PageResult {
    let gate = Gate::of(&req)?;
    let Some(oidc) = &gate.oidc else {
        return Err(ApiError::NotFound(
            "single sign-on is not set up (server.auth.mode is not \"oidc\")".into(),
        )
        .into());
    };
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    match oidc.start(&next).await {
        Ok((url, state)) => {
            let mut response = see_other(&url);
            response
                .add_cookie(&gate.oidc_state_cookie(state))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(response)
        }
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
    let gate = Gate::of(&req)?;
    let Some(oidc) = &gate.oidc else {
        return Err(ApiError::NotFound("single sign-on is not set up".into()).into());
    };
    let address = address_of(req.peer_addr().map(|a| a.ip()));
    let record = |actor: &str, outcome: &str| {
        gate.trail.record(&AuditRecord {
            action: "login".into(),
            target: "single sign-on".into(),
            outcome: outcome.to_string(),
            ..AuditRecord::now("web", actor, &address)
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
    let started_here = req
        .cookie(OIDC_STATE_COOKIE)
        .is_some_and(|c| crate::auth::secret::same(c.value().as_bytes(), state.as_bytes()));
    if !started_here {
        record(
            "unknown",
            "refused: the login was not started in this browser (no or another state cookie)",
        );
        return refused("This single sign-on login was not started in this browser; log in again from the login page.".into());
    }
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
    // A page that moves on by itself, not a redirect: the browser came from the
    // provider's site, and a redirect would still be part of that cross-site
    // navigation, which does not send the SameSite=Strict session cookie.
    let next = safe_next(&next);
    let page = SignedInPage {
        layout: Layout::new("Signed in", Nav::None, None),
        user: name,
        role: role.to_string(),
        next: next.clone(),
    };
    let mut response = html(StatusCode::OK, page.render());
    response.headers_mut().insert(
        header::REFRESH,
        header::HeaderValue::from_str(&format!("0; url={next}"))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    for cookie in [gate.session_cookie(&id), gate.removal(OIDC_STATE_COOKIE)] {
        response
            .add_cookie(&cookie)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(response)
}

pub async fn logout(req: HttpRequest) -> PageResult {
    let gate = Gate::of(&req)?;
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        if let Some(session) = gate.sessions.end(cookie.value()) {
            gate.trail.record(&AuditRecord {
                action: "logout".into(),
                target: session.user.clone(),
                outcome: "ok".into(),
                ..AuditRecord::now(
                    "web",
                    &session.user,
                    &address_of(req.peer_addr().map(|a| a.ip())),
                )
            });
        }
    }
    let mut response = see_other("/login");
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
