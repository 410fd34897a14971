//! What every request passes through around its handler (one middleware, so that
//! the order is read in one place):
//!
//! 1. `Host` must name this monitor (an IP address, `localhost`, the machine's name
//!    when listening on a wildcard address, or `server.allowed_hosts`): otherwise
//!    421. A page of another site reached through DNS rebinding names its own host.
//! 2. A state-changing request (POST, PUT, PATCH, DELETE) that a browser marks as
//!    coming from elsewhere (`Origin`, else `Sec-Fetch-Site`, else `Referer`) is
//!    refused with 403. Clients that send none of them (curl, the command line) pass.
//! 3. `HEAD` is served as `GET` (actix-http leaves the body out).
//! 4. The request body must arrive within `server.request_timeout`: a stalled body
//!    ends in 408 and the connection is closed.
//! 5. A panic in a handler is caught: 500 and one log line, the connection lives on.
//! 6. An error answer without a body (actix's own 400 and 405) gets one: the JSON
//!    error under `/api/`, a small page elsewhere; `Allow` lists HEAD beside GET.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use futures::{FutureExt, Stream};

use super::pages::PageError;
use super::ApiError;
use crate::config::ServerSettings;

/// Which hosts and origins the monitor answers, and how long a body may take.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `server.allowed_hosts`, lower case.
    allowed: Vec<String>,
    /// `"*"` is among them.
    any_host: bool,
    /// The machine's name, when listening on a wildcard address.
    machine_name: Option<String>,
    pub request_timeout: Duration,
}

impl Policy {
    pub fn new(settings: &ServerSettings, listening: SocketAddr) -> Policy {
        let allowed: Vec<String> = settings
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        Policy {
            any_host: allowed.iter().any(|h| h == "*"),
            allowed,
            machine_name: if listening.ip().is_unspecified() {
                machine_name()
            } else {
                None
            },
            request_timeout: settings.request_timeout,
        }
    }

    /// A name from `server.allowed_hosts` (not `"*"`).
    fn configured(&self, host: &str) -> bool {
        self.allowed.iter().any(|a| match a.strip_prefix('.') {
            Some(domain) => {
                host == domain
                    || host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.ends_with('.'))
            }
            None => a == host,
        })
    }

    /// Whether `host` (no port, lower case) names this monitor. An IP address cannot
    /// be rebound to another server, nor can `localhost` (browsers resolve it
    /// themselves, RFC 6761).
    fn host_allowed(&self, host: &str) -> bool {
        self.any_host
            || host.parse::<IpAddr>().is_ok()
            || host == "localhost"
            || host.ends_with(".localhost")
            || self.machine_name.as_deref() == Some(host)
            || self.configured(host)
    }

    /// Whether `origin` (`scheme://host[:port]`) is the monitor's own: the `Host` the
    /// request was sent to, or a configured name (a proxy that rewrites `Host`).
    fn origin_allowed(&self, origin: &str, host_header: Option<&str>) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        let scheme = scheme.to_ascii_lowercase();
        let authority = authority.split(['/', '?', '#']).next().unwrap_or("");
        let Some((host, port)) = split_authority(authority) else {
            return false;
        };
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        let same_as_host = host_header.and_then(split_authority).is_some_and(|(h, p)| {
            h == host && p.unwrap_or(default_port) == port.unwrap_or(default_port)
        });
        same_as_host || self.configured(&host)
    }
}

impl Policy {
    /// Where `server.tls.redirect_http` sends a plain-HTTP request for `path`: the
    /// host it asked for, over HTTPS on `https_port`. A host the monitor does not
    /// answer to is refused, as on the HTTPS side, and so is one with characters a
    /// host name does not have.
    pub fn https_location(
        &self,
        host_header: Option<&str>,
        path: &str,
        https_port: u16,
    ) -> Result<String, ApiError> {
        let Some((host, _)) = host_header.and_then(split_authority) else {
            return Err(ApiError::BadRequest(
                "Host: missing or not host[:port]; the redirect to HTTPS needs it".into(),
            ));
        };
        let plain = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        if !plain || !self.host_allowed(&host) {
            return Err(ApiError::MisdirectedRequest(format!(
                "this monitor does not answer to the host name {:?}; add it to server.allowed_hosts",
                host.chars().take(200).collect::<String>()
            )));
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let port = if https_port == 443 {
            String::new()
        } else {
            format!(":{https_port}")
        };
        let path = if path.starts_with('/') && !path.starts_with("//") {
            path
        } else {
            "/"
        };
        Ok(format!("https://{host}{port}{path}"))
    }
}

/// `host[:port]` or `[v6]:port` → (lower-case host without brackets, port).
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        match after {
            "" => (v6, None),
            p => (v6, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (authority, None),
        }
    };
    if host.is_empty() || host.contains('@') {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

fn machine_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

pub fn is_state_changing(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The error as the client asked: JSON under `/api/`, a page elsewhere.
fn answer(api: bool, err: ApiError) -> HttpResponse {
    if api {
        err.error_response()
    } else {
        PageError(err).error_response()
    }
}

/// Refuses a request that another site's page sent, or one not meant for this
/// monitor; `None` lets it through.
fn refusal(policy: &Policy, req: &ServiceRequest) -> Option<ApiError> {
    let headers = req.headers();
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().ok());
    let host = match text(header::HOST) {
        // HTTP/1.0 clients may send no Host: not a browser.
        None => None,
        Some(None) => {
            return Some(ApiError::BadRequest(
                "the Host header is not valid text".into(),
            ))
        }
        Some(Some(h)) => Some(h),
    };
    if let Some(h) = host {
        match split_authority(h) {
            Some((name, _)) if policy.host_allowed(&name) => {}
            _ => {
                return Some(ApiError::MisdirectedRequest(format!(
                    "this monitor does not answer to the host name {:?}; open it by its address, or add the name to server.allowed_hosts",
                    h.chars().take(200).collect::<String>()
                )))
            }
        }
    }
    if !is_state_changing(req.method()) {
        return None;
    }
    let foreign = |what: &str, value: &str| {
        Some(ApiError::Forbidden(format!(
            "{} {} from {what} {:?} refused: changes are accepted only from the monitor's own pages",
            req.method(),
            req.path(),
            value.chars().take(200).collect::<String>()
        )))
    };
    if let Some(origin) = text(header::ORIGIN) {
        let origin = origin.unwrap_or("(not text)");
        return if policy.origin_allowed(origin, host) {
            None
        } else {
            foreign("origin", origin)
        };
    }
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        let site = site.unwrap_or("(not text)");
        // `same-site` includes other ports of the same host: not this monitor.
        return match site {
            "same-origin" | "none" => None,
            other => foreign("a page that is", other),
        };
    }
    if let Some(referer) = text(header::REFERER) {
        let referer = referer.unwrap_or("(not text)");
        return if policy.origin_allowed(referer, host) {
            None
        } else {
            foreign("page", referer)
        };
    }
    None
}

/// The request body, cut off with an error when its deadline passes first.
struct BodyDeadline {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
    timed_out: Rc<Cell<bool>>,
    ended: bool,
}

impl Stream for BodyDeadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            if !matches!(item, Some(Ok(_))) {
                self.ended = true;
            }
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.ended = true;
            self.timed_out.set(true);
            let message = format!(
                "the request body did not arrive within {} (server.request_timeout)",
                humantime::format_duration(self.limit)
            );
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                message,
            )))));
        }
        Poll::Pending
    }
}

thread_local! {
    /// Set while a handler's future is polled: its panic is caught and logged here.
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per process) a panic hook that keeps a handler's panic message
/// for the middleware to log in one line; every other panic goes to the hook
/// that was there before.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(Cell::get) {
                let message = info.to_string().replace('\n', " ");
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
}

/// Polls `fut` with [`IN_HANDLER`] set.
struct Handler<F>(Pin<Box<F>>);

impl<F: Future> Future for Handler<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_HANDLER.with(|c| c.set(self.0));
            }
        }
        let _reset = Reset(IN_HANDLER.with(|c| c.replace(true)));
        self.0.as_mut().poll(cx)
    }
}

use std::future::Future;

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(policy) = req.app_data::<web::Data<Policy>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let api = crate::web::for_programs(req.path());
    if let Some(err) = refusal(&policy, &req) {
        tracing::debug!("dashboard: {} {}: {err}", req.method(), req.path());
        return Ok(req.into_response(answer(api, err)));
    }
    let head = req.method() == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let timed_out = Rc::new(Cell::new(false));
    let body = BodyDeadline {
        inner: req.take_payload(),
        sleep: Box::pin(tokio::time::sleep(policy.request_timeout)),
        limit: policy.request_timeout,
        timed_out: timed_out.clone(),
        ended: false,
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let gate = req.app_data::<web::Data<super::access::Gate>>().cloned();
    let changing = is_state_changing(req.method());
    let mut identity = None;
    if let Some(gate) = &gate {
        if let Err(refused) = gate.admit(&mut req).await {
            tracing::debug!(
                "dashboard: {} {}: {}",
                req.method(),
                req.path(),
                refused.error
            );
            if changing && req.path() != "/login" {
                gate.audit(
                    req.request(),
                    req.extensions().get::<crate::auth::Identity>(),
                    format!("refused: {}", refused.error),
                );
            }
            let response = if refused.login_redirect && !api {
                HttpResponse::SeeOther()
                    .insert_header((
                        header::LOCATION,
                        super::pages::login_location(req.request()),
                    ))
                    .finish()
            } else {
                answer(api, refused.error)
            };
            return Ok(req.into_response(response));
        }
        identity = req.extensions().get::<crate::auth::Identity>().cloned();
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let (method, path) = (
        if head {
            Method::HEAD
        } else {
            req.method().clone()
        },
        req.path().to_string(),
    );
    let current = identity.clone();
    let handled = Handler(Box::pin(super::access::with_identity(
        current,
        async move { next.call(req).await },
    )));
    let mut res = match std::panic::AssertUnwindSafe(handled).catch_unwind().await {
        Ok(res) => res?.map_into_boxed_body(),
        Err(_) => {
            let message = PANIC_MESSAGE
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| "a handler panicked".into());
            tracing::error!("dashboard: {method} {path}: handler panicked: {message}");
            let mut response = answer(
                api,
                ApiError::Internal(format!(
                    "the monitor failed answering {method} {path}; its log has the details"
                )),
            );
            if has_body {
                // Whatever the handler read of the body, the rest is unread.
                response
                    .head_mut()
                    .set_connection_type(actix_http::ConnectionType::Close);
            }
            // The request went down with the handler (and a clone of it kept here
            // would break routing), so the answer goes up as an error; the headers
            // the outer middleware would add are added here.
            super::add_security_headers(response.headers_mut());
            return Err(actix_web::error::InternalError::from_response(
                "a handler panicked",
                response,
            )
            .into());
        }
    };
    if let (Some(gate), true) = (&gate, changing) {
        let audited = gate
            .route_of(res.request())
            .is_some_and(|r| r.action.is_some());
        if audited {
            let status = res.status();
            let outcome = if status.is_success() || status.is_redirection() {
                "ok".to_string()
            } else {
                format!("failed: HTTP {}", status.as_u16())
            };
            gate.audit(res.request(), identity.as_ref(), outcome);
        }
    }
    if let (
        Some(gate),
        Some(crate::auth::Identity {
            via: crate::auth::Via::Proxy { csrf, fresh: true },
            ..
        }),
    ) = (&gate, &identity)
    {
        // A proxy user's first request: the token its forms carry, as a cookie.
        let cookie = gate.cookie(super::access::CSRF_COOKIE, csrf.clone());
        if let Ok(v) = header::HeaderValue::from_str(&cookie.to_string()) {
            res.response_mut()
                .headers_mut()
                .append(header::SET_COOKIE, v);
        }
    }
    if timed_out.get() {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_http::ConnectionType::Close);
    }
    let status = res.status();
    let empty = matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    );
    if status == StatusCode::METHOD_NOT_ALLOWED || (empty && status.is_client_error()) {
        res = fill_error(res, api, &method, &path);
    }
    if head && matches!(res.response().body().size(), BodySize::Stream) {
        // A stream (the live updates) would be polled for ever with nothing sent.
        res = res.map_body(|_, _| BoxBody::new(()));
    }
    Ok(res)
}

/// Gives an error answer that has no body the project's error body; `Allow` lists
/// HEAD wherever GET is allowed (HEAD is served as GET).
fn fill_error(
    res: ServiceResponse<BoxBody>,
    api: bool,
    method: &Method,
    path: &str,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let mut allow: Vec<String> = res
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if allow.iter().any(|m| m == "GET") && !allow.iter().any(|m| m == "HEAD") {
        allow.push("HEAD".into());
    }
    let empty = matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    );
    if !empty {
        return res;
    }
    let err = if status == StatusCode::METHOD_NOT_ALLOWED {
        ApiError::MethodNotAllowed(if allow.is_empty() {
            format!("{method} is not allowed on {path}")
        } else {
            format!(
                "{method} is not allowed on {path}; allowed: {}",
                allow.join(", ")
            )
        })
    } else {
        ApiError::BadRequest(format!(
            "{method} {path}: {}",
            status.canonical_reason().unwrap_or("bad request")
        ))
    };
    let (req, old) = res.into_parts();
    let mut new = answer(api, err);
    *new.status_mut() = status;
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if !allow.is_empty() {
        if let Ok(v) = header::HeaderValue::from_str(&allow.join(", ")) {
            new.headers_mut().insert(header::ALLOW, v);
        }
    }
    ServiceResponse::new(req, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], listen: &str) -> Policy {
        let mut s = crate::config::Settings::load_with_env(
            None,
            &crate::config::Overrides::default(),
            |_| None,
        )
        .unwrap()
        .server;
        s.allowed_hosts = allowed.iter().map(|s| s.to_string()).collect();
        Policy::new(&s, listen.parse().unwrap())
    }

    #[test]
    fn hosts() {
        let p = policy(&["mon.example", ".corp.example"], "127.0.0.1:9393");
        for ok in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "localhost",
            "app.localhost",
            "mon.example",
            "corp.example",
            "a.b.corp.example",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in ["attacker.example", "xcorp.example", "mon.example.evil", ""] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        assert!(policy(&["*"], "127.0.0.1:1").host_allowed("anything.example"));
    }

    #[test]
    fn https_locations() {
        let p = policy(&["mon.example"], "0.0.0.0:80");
        let at = |host: Option<&str>, path: &str, port: u16| {
            p.https_location(host, path, port)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            at(Some("mon.example"), "/alerts?x=1", 9393).unwrap(),
            "https://mon.example:9393/alerts?x=1"
        );
        assert_eq!(
            at(Some("Mon.Example:80"), "/", 443).unwrap(),
            "https://mon.example/"
        );
        assert_eq!(
            at(Some("[::1]:80"), "/a", 8443).unwrap(),
            "https://[::1]:8443/a"
        );
        assert_eq!(
            at(Some("10.0.0.1"), "//evil.example/x", 443).unwrap(),
            "https://10.0.0.1/"
        );
        assert_eq!(at(Some("10.0.0.1"), "*", 443).unwrap(), "https://10.0.0.1/");
        assert!(at(None, "/", 443).unwrap_err().contains("Host"));
        assert!(at(Some("attacker.example"), "/", 443).is_err());
        let any = policy(&["*"], "0.0.0.0:80");
        assert!(any.https_location(Some("a/b.example"), "/", 443).is_err());
        assert!(any.https_location(Some("x.example\\y"), "/", 443).is_err());
    }

    #[test]
    fn authorities() {
        assert_eq!(
            split_authority("Example.COM:80"),
            Some(("example.com".into(), Some(80)))
        );
        assert_eq!(
            split_authority("[::1]:9393"),
            Some(("::1".into(), Some(9393)))
        );
        assert_eq!(split_authority("[::1]"), Some(("::1".into(), None)));
        assert_eq!(split_authority("::1"), Some(("::1".into(), None)));
        assert_eq!(split_authority("h:99999"), None);
        assert_eq!(split_authority("u@h"), None);
        assert_eq!(split_authority(""), None);
    }

    #[test]
    fn origins() {
        let p = policy(&["mon.example"], "127.0.0.1:9393");
        let host = Some("127.0.0.1:9393");
        assert!(p.origin_allowed("http://127.0.0.1:9393", host));
        assert!(p.origin_allowed("http://127.0.0.1:9393/alerts?x=1", host));
        assert!(p.origin_allowed("https://mon.example", host));
        assert!(!p.origin_allowed("http://127.0.0.1:9394", host));
        assert!(!p.origin_allowed("http://attacker.example", host));
        assert!(!p.origin_allowed("null", host));
        assert!(!p.origin_allowed("file:///x", host));
        assert!(p.origin_allowed("https://proxy.example", Some("proxy.example")));
        assert!(!p.origin_allowed("http://proxy.example", Some("proxy.example:8080")));
    }
}
