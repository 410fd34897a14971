//! The HTTP layer: translates between HTTP and the domain (snapshots, history,
//! alerts, and the key browser's read-only operations). Monitoring data never
//! comes from etcd here (the collectors' snapshots have it); only the key browser
//! calls etcd, through `ops::browse`.
//!
//! Every route is registered in one list ([`routes`]) with the role it needs, so
//! that access control plugs in at one place and tests can walk every route.

mod access;
mod api;
mod assets;
pub mod chart;
mod conn;
mod error;
mod guard;
pub mod openapi;
pub mod pages;
mod sse;
mod tls;

use std::future::Future;
use std::net::TcpListener;
use std::time::Instant;

use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpRequest};

use std::sync::Arc;

use crate::collect::SnapshotBoard;
use crate::store::Store;
pub use error::{ApiError, ERROR_CODES};

/// What every handler can read.
#[derive(Clone)]
pub struct AppState {
    pub board: SnapshotBoard,
    pub store: Arc<Store>,
    pub alerts: crate::alert::manager::AlertManager,
    pub started: Instant,
    /// The probe interval: charts never ask for a finer step.
    pub interval_ms: i64,
    /// `[bench] regression_threshold`: comparisons use it unless asked otherwise.
    pub regression_threshold: f64,
    /// The key browser's connections to the configured clusters.
    pub etcd: crate::ops::clients::ClusterClients,
    /// `[store] audit_retention`.
    pub audit_retention: std::time::Duration,
    /// `[[remote_write]]` targets' figures, for `/metrics`.
    pub remote_write: Vec<crate::remote_write::ShipperView>,
    /// Changes to the monitored clusters; None where they cannot change (a
    /// replayed state).
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
}

/// Serves the dashboard and API of a started monitor on `listener` until `shutdown`
/// completes.
pub async fn serve(
    monitor: &crate::monitor::Monitor,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let state = AppState {
        board: monitor.collectors.board.clone(),
        store: monitor.store.clone(),
        alerts: monitor.alerts.clone(),
        started: Instant::now(),
        interval_ms: i64::try_from(monitor.interval.as_millis()).unwrap_or(i64::MAX),
        regression_threshold: monitor.regression_threshold,
        etcd: monitor.etcd.clone(),
        audit_retention: monitor.audit_retention,
        remote_write: monitor
            .remote_write
            .iter()
            .map(|s| s.view.clone())
            .collect(),
        fleet: Some(monitor.fleet.clone()),
    };
    launch(state, &monitor.server, listener, shutdown).await
}

/// Pages may load only the monitor's own CSS and scripts; SVG charts are inline
/// markup, never inline styles or scripts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Headers of every answer.
const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
];

/// Adds [`SECURITY_HEADERS`] to an answer that does not pass the middleware.
fn add_security_headers(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    for (name, value) in SECURITY_HEADERS {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then drains connections.
/// `state` is what every handler reads; its `started` is when the server started.
/// `server` bounds connections (count, timeouts) and names the hosts answered.
pub async fn launch(
    state: AppState,
    server: &crate::config::ServerSettings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listening = listener.local_addr()?;
    crate::config::check_auth_covers(server.auth.mode, listening)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()))?;
    let tls = match server.tls.files() {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let gate = web::Data::new(
        access::Gate::new(
            &server.auth,
            state.store.clone(),
            state.audit_retention,
            tls.is_some(),
        )
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?,
    );
    let redirect = match server.tls.redirect_http {
        Some(addr) if tls.is_some() => {
            let plain = TcpListener::bind(addr).map_err(|e| {
                std::io::Error::new(e.kind(), format!("server.tls.redirect_http {addr}: {e}"))
            })?;
            plain.set_nonblocking(true)?;
            Some((
                plain,
                Redirect {
                    policy: guard::Policy::new(server, addr),
                    https_port: listening.port(),
                },
            ))
        }
        _ => None,
    };
    let limits = conn::Limits::new(server);
    let policy = guard::Policy::new(server, listener.local_addr()?);
    guard::install_panic_hook();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (done, finished) = tokio::sync::oneshot::channel();
    // actix's services are not Send: they live on one thread of their own, with a
    // current-thread runtime and a LocalSet, as an actix worker would.
    std::thread::Builder::new()
        .name("etcd-monitor-web".into())
        .spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|rt| {
                    tokio::task::LocalSet::new().block_on(&rt, async move {
                        let redirects = async {
                            match redirect {
                                Some((plain, redirect)) => {
                                    serve_redirects(
                                        redirect,
                                        limits.clone(),
                                        plain,
                                        stopped.clone(),
                                    )
                                    .await
                                }
                                None => Ok(()),
                            }
                        };
                        let (served, redirected) = futures::join!(
                            serve_on(
                                state,
                                policy,
                                gate,
                                tls,
                                limits.clone(),
                                listener,
                                stopped.clone()
                            ),
                            redirects
                        );
                        served.and(redirected)
                    })
                });
            let _ = done.send(served);
        })?;
    let mut finished = std::pin::pin!(finished);
    tokio::select! {
        _ = shutdown => {}
        served = &mut finished => return served.map_err(std::io::Error::other)?,
    }
    let _ = stop.send(true);
    finished.await.map_err(std::io::Error::other)?
}

/// The largest JSON body most routes read.
const MAX_JSON_BODY: usize = 64 << 10;

/// How long open connections get to finish their request at shutdown.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Accepts connections until `stop`, each served by its own actix-http service.
///
/// Why not actix-web's `HttpServer`: each of its workers keeps actix-http's date timer,
/// which wakes the worker twice a second for ever, and was a fifth of the monitor's
/// CPU when idle. Here the service (and its timer) exists only while a connection is
/// open. Building the app per connection costs tens of microseconds, once per
/// keep-alive connection.
///
/// At most `limits.max_connections` are served at once: while that many are open,
/// no more are accepted, and new ones wait in the kernel's backlog (costing no
/// descriptor of ours) until one ends; every connection ends within bounded time
/// (see [`conn`]).
async fn serve_on(
    state: AppState,
    policy: guard::Policy,
    gate: web::Data<access::Gate>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: conn::Limits,
    listener: TcpListener,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let policy = web::Data::new(policy);
    let max = limits.max_connections;
    accept_until_stopped(listener, max, stop.clone(), |stream| {
        serve_connection(
            state.clone(),
            policy.clone(),
            gate.clone(),
            tls.clone(),
            limits.clone(),
            stream,
            stop.clone(),
        )
    })
    .await
}

/// Accepts connections on `listener`, at most `max` served at once, each by
/// `serve`, until `stop`; then drains them.
async fn accept_until_stopped<F, Served>(
    listener: TcpListener,
    max: usize,
    stop: tokio::sync::watch::Receiver<bool>,
    serve: F,
) -> std::io::Result<()>
where
    F: Fn(tokio::net::TcpStream) -> Served,
    Served: Future<Output = ()> + 'static,
{
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut connections = tokio::task::JoinSet::new();
    let mut stopping = stop;
    let mut accept_errors = conn::RateLimitedLog::new(std::time::Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept(), if connections.len() < max => match accepted {
                Ok((stream, _)) => {
                    connections.spawn_local(serve(stream));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin, and
                    // say so once in a while rather than at every attempt.
                    accept_errors.warn(|suppressed| {
                        format!("dashboard: cannot accept a connection: {e}{suppressed}")
                    });
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    // Idle keep-alive connections close at once (the graceful signal); requests in
    // flight get the grace period; live-update streams are cut after it.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    Ok(())
}

async fn serve_connection(
    state: AppState,
    policy: web::Data<guard::Policy>,
    gate: web::Data<access::Gate>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: conn::Limits,
    stream: tokio::net::TcpStream,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().ok();
    let local = stream.local_addr().ok();
    let _ = stream.set_nodelay(true);
    let (stream, silence) = conn::Watched::new(stream, limits.silence_limit());
    let Some(tls) = tls else {
        let conn = Connection {
            peer,
            local,
            silence,
            stop,
        };
        return serve_stream(state, policy, gate, limits, stream, conn).await;
    };
    // The handshake has the deadline of a request's headers.
    match tokio::time::timeout(limits.request_timeout, tls.accept(stream)).await {
        Ok(Ok(stream)) => {
            let conn = Connection {
                peer,
                local,
                silence,
                stop,
            };
            serve_stream(state, policy, gate, limits, stream, conn).await
        }
        Ok(Err(e)) => tracing::debug!("dashboard: TLS handshake with {peer:?} failed: {e}"),
        Err(_) => tracing::debug!(
            "dashboard: TLS handshake with {peer:?} not done within {:?}",
            limits.request_timeout
        ),
    }
}

/// `server.tls.redirect_http`: where plain HTTP is sent.
struct Redirect {
    policy: guard::Policy,
    /// The HTTPS listener's port.
    https_port: u16,
}

/// Answers every request on `listener` with a redirect to HTTPS, until `stop`.
async fn serve_redirects(
    redirect: Redirect,
    limits: conn::Limits,
    listener: TcpListener,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let redirect = std::rc::Rc::new(redirect);
    let max = limits.max_connections;
    accept_until_stopped(listener, max, stop.clone(), |stream| {
        serve_redirect(redirect.clone(), limits.clone(), stream, stop.clone())
    })
    .await
}

/// One plain-HTTP connection: `308 Permanent Redirect` (the method and body are
/// kept, unlike 301) to the same path over HTTPS, or the error that says why not.
async fn serve_redirect(
    redirect: std::rc::Rc<Redirect>,
    limits: conn::Limits,
    stream: tokio::net::TcpStream,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    use actix_service::{Service, ServiceFactory};
    use actix_web::{HttpMessage, HttpResponse, ResponseError};
    let peer = stream.peer_addr().ok();
    let (stream, silence) = conn::Watched::new(stream, limits.silence_limit());
    let answer = move |req: actix_http::Request| {
        let redirect = redirect.clone();
        async move {
            let host = req
                .headers()
                .get(actix_web::http::header::HOST)
                .and_then(|v| v.to_str().ok());
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let mut response: HttpResponse =
                match redirect
                    .policy
                    .https_location(host, path, redirect.https_port)
                {
                    Ok(location) => HttpResponse::PermanentRedirect()
                        .insert_header((actix_web::http::header::LOCATION, location))
                        .finish(),
                    Err(e) => e.error_response(),
                };
            add_security_headers(response.headers_mut());
            Ok::<_, actix_web::Error>(response)
        }
    };
    let service = actix_http::HttpService::build()
        .client_request_timeout(limits.request_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .keep_alive(actix_http::KeepAlive::Disabled)
        .graceful_shutdown_signal(move || {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        })
        .finish(actix_service::fn_service(answer));
    let Ok(service) = service.new_service(()).await else {
        tracing::error!("dashboard: the redirect service could not be built");
        return;
    };
    tokio::select! {
        served = service.call((stream, actix_http::Protocol::Http1, peer)) => {
            if let Err(e) = served {
                tracing::debug!("dashboard: redirect connection from {peer:?} ended: {e}");
            }
        }
        () = silence.expired() => {}
    }
}

/// What a connection's service needs besides its stream.
struct Connection {
    peer: Option<std::net::SocketAddr>,
    local: Option<std::net::SocketAddr>,
    silence: conn::Silence,
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Serves HTTP/1.1 on `stream` (plain, or TLS already accepted).
async fn serve_stream<T>(
    state: AppState,
    policy: web::Data<guard::Policy>,
    gate: web::Data<access::Gate>,
    limits: conn::Limits,
    stream: T,
    conn: Connection,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    use actix_service::{
        map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt,
    };
    let Connection {
        peer,
        local,
        silence,
        stop,
    } = conn;
    let app = app(state, policy, gate)
        .into_factory()
        .map_err(|e: actix_web::Error| e.error_response());
    let mut builder = actix_http::HttpService::build()
        // The first request's headers (later ones: the silence watchdog below).
        .client_request_timeout(limits.request_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .keep_alive(if limits.keep_alive.is_zero() {
            actix_http::KeepAlive::Disabled
        } else {
            actix_http::KeepAlive::Timeout(limits.keep_alive)
        });
    if let Some(addr) = local {
        builder = builder.local_addr(addr);
    }
    let service = builder
        .graceful_shutdown_signal(move || {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        })
        .finish(map_config(app, |_| actix_web::dev::AppConfig::default()));
    match service.new_service(()).await {
        Ok(service) => {
            tokio::select! {
                served = service.call((stream, actix_http::Protocol::Http1, peer)) => {
                    // A connection's protocol errors (a malformed request, a client gone
                    // mid-request) are the client's: actix-http's own ERROR line for them
                    // is silenced (see `QUIET_LOG_DIRECTIVES`), this one is debug.
                    if let Err(e) = served {
                        tracing::debug!("dashboard: connection from {peer:?} ended: {e}");
                    }
                }
                () = silence.expired() => {
                    tracing::debug!("dashboard: connection from {peer:?} closed: nothing sent to it for {:?}", limits.silence_limit());
                }
            }
        }
        Err(()) => tracing::error!("dashboard: the HTTP service could not be built"),
    }
}

/// Log filter directives the binary adds unless the user's filter names actix_http:
/// actix-http logs a client's malformed request or broken body at ERROR ("stream
/// error: ..."), so any client could write ERROR lines into the log. The monitor
/// logs them at debug itself (target `etcd_monitor::web`).
pub const QUIET_LOG_DIRECTIVES: &str = "actix_http::h1::dispatcher=off";

/// The application: state, extractor error handlers, security headers and routes.
fn app(
    state: AppState,
    policy: web::Data<guard::Policy>,
    gate: web::Data<access::Gate>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(policy)
        .app_data(gate)
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        // A request body is a silence or an acknowledgement: tens of KiB at most
        // (stored runs have their own limit).
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BODY)
                .error_handler(error::json_error),
        )
        // Inside the headers below, so that its own answers carry them too.
        .wrap(actix_web::middleware::from_fn(guard::guard))
        .wrap(
            SECURITY_HEADERS
                .iter()
                .fold(DefaultHeaders::new(), |h, &header| h.add(header)),
        )
        .configure(|cfg| {
            register(&mut Routes {
                cfg,
                list: &mut Vec::new(),
            })
        })
        .default_service(web::to(fallback))
}

/// Whether `path` is for programs rather than browsers: the JSON API and
/// Prometheus' `/metrics`. Their errors are JSON, and a missing login is a 401,
/// not a redirect to the login page.
pub(crate) fn for_programs(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// Whatever no route took: JSON under `/api/`, a page elsewhere.
async fn fallback(req: HttpRequest) -> Result<actix_web::HttpResponse, actix_web::Error> {
    if for_programs(req.path()) {
        Ok(error::not_found(req).await?)
    } else {
        Ok(pages::not_found(req).await?)
    }
}

/// What a route needs of whoever calls it: checked at one place (`web/access.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Anyone: the login page, the assets, the health check.
    Public,
    /// Looks: every page and read API (key values excepted).
    Viewer,
    /// Changes what the monitor does (silences, acknowledgements, benchmark runs);
    /// reads key values where the cluster allows.
    Operator,
    /// Users, tokens, the audit trail.
    Admin,
}

impl Access {
    /// The least role that may call the route; `None` for a public one.
    pub fn role(self) -> Option<crate::auth::Role> {
        use crate::auth::Role;
        match self {
            Access::Public => None,
            Access::Viewer => Some(Role::Viewer),
            Access::Operator => Some(Role::Operator),
            Access::Admin => Some(Role::Admin),
        }
    }
}

/// One route as registered: the list the tests walk (every route answers, none
/// panics, each answers each role as declared) and access control reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    /// actix's pattern: `/clusters/{name}`.
    pub path: &'static str,
    pub access: Access,
    /// What the audit trail calls a change made through it ("silence create");
    /// `None` for reads, and for changes whose handler records them itself (login).
    pub action: Option<&'static str>,
}

/// Every route of the application, in the order they are matched.
pub fn routes() -> Vec<RouteInfo> {
    let mut list = Vec::new();
    let _ = App::new().configure(|cfg| {
        register(&mut Routes {
            cfg,
            list: &mut list,
        })
    });
    list
}

/// Registers resources and records each method and path it serves. Every way to
/// add a route takes its [`Access`]: a route without one does not compile.
struct Routes<'a, 'b> {
    cfg: &'a mut web::ServiceConfig,
    list: &'b mut Vec<RouteInfo>,
}

/// One handler of a resource: who may call it, the method, the audit action of a
/// change, the handler.
struct Handler(Access, Method, Option<&'static str>, actix_web::Route);

fn read<F, Args>(access: Access, handler: F) -> Handler
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    Handler(access, Method::GET, None, web::route().to(handler))
}

fn change<F, Args>(access: Access, method: Method, action: &'static str, handler: F) -> Handler
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    Handler(access, method, Some(action), web::route().to(handler))
}

impl Routes<'_, '_> {
    /// One resource at `path` with its handlers.
    fn at(&mut self, path: &'static str, handlers: Vec<Handler>) {
        self.resource(web::resource(path), path, handlers);
    }

    fn resource(
        &mut self,
        mut resource: actix_web::Resource,
        path: &'static str,
        handlers: Vec<Handler>,
    ) {
        for Handler(access, method, action, route) in handlers {
            self.list.push(RouteInfo {
                method: method.clone(),
                path,
                access,
                action,
            });
            resource = resource.route(route.method(method));
        }
        self.cfg.service(resource);
    }

    /// A page or read API for viewers.
    fn get<F, Args>(&mut self, path: &'static str, handler: F)
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.at(path, vec![read(Access::Viewer, handler)]);
    }
}

/// Every route, each with who may call it. Viewer routes only read; operator routes
/// change what the monitor does (not the clusters); admin routes manage access.
/// Every change is recorded in the audit trail with who made it.
fn register(r: &mut Routes) {
    r.at(
        "/login",
        vec![
            read(Access::Public, pages::login_form),
            // The handler records logins, failed ones included.
            Handler(
                Access::Public,
                Method::POST,
                None,
                web::route().to(pages::login),
            ),
        ],
    );
    r.at("/oidc/login", vec![read(Access::Public, pages::oidc_login)]);
    // The provider's redirect back; the handler records the login.
    r.at(
        "/oidc/callback",
        vec![read(Access::Public, pages::oidc_callback)],
    );
    r.at(
        "/logout",
        vec![Handler(
            Access::Viewer,
            Method::POST,
            None,
            web::route().to(pages::logout),
        )],
    );
    r.get("/", pages::overview);
    r.get("/compare", pages::compare_clusters);
    r.get("/timeline", pages::timeline);
    r.get("/clusters/{name}", pages::cluster);
    r.get("/clusters/{name}/members/{member}", pages::member);
    r.get("/clusters/{name}/keys", pages::keys);
    r.at(
        "/clusters/{name}/keys/value",
        vec![read(Access::Operator, pages::key)],
    );
    r.get("/alerts", pages::alerts);
    r.get("/benchmarks", pages::benchmarks);
    r.get("/benchmarks/compare", pages::benchmark_comparison);
    r.get("/benchmarks/{id}", pages::benchmark);
    r.get("/explore", pages::explore);
    // The pages' forms: each answers with a redirect (303) or an error page.
    r.at(
        "/silences/new",
        vec![read(Access::Operator, pages::silence_form)],
    );
    r.at(
        "/silences",
        vec![change(
            Access::Operator,
            Method::POST,
            "silence create",
            pages::create_silence,
        )],
    );
    r.at(
        "/silences/{id}/expire",
        vec![change(
            Access::Operator,
            Method::POST,
            "silence expire",
            pages::expire_silence,
        )],
    );
    r.at(
        "/alerts/{fingerprint}/ack",
        vec![change(
            Access::Operator,
            Method::POST,
            "alert acknowledge",
            pages::acknowledge,
        )],
    );
    r.at(
        "/benchmarks/{id}/delete",
        vec![change(
            Access::Operator,
            Method::POST,
            "benchmark delete",
            pages::delete_run,
        )],
    );
    r.at("/admin", vec![read(Access::Admin, pages::admin)]);
    r.at("/admin/audit", vec![read(Access::Admin, pages::audit)]);
    r.at(
        "/admin/clusters",
        vec![
            read(Access::Admin, pages::clusters_admin),
            change(
                Access::Admin,
                Method::POST,
                "cluster add",
                pages::add_cluster,
            ),
        ],
    );
    r.at(
        "/admin/clusters/test",
        vec![change(
            Access::Admin,
            Method::POST,
            "cluster test",
            pages::test_cluster,
        )],
    );
    r.at(
        "/admin/clusters/{name}/delete",
        vec![change(
            Access::Admin,
            Method::POST,
            "cluster remove",
            pages::remove_cluster,
        )],
    );
    r.at(
        "/admin/users",
        vec![change(
            Access::Admin,
            Method::POST,
            "user add",
            pages::add_user,
        )],
    );
    r.at(
        "/admin/users/{user}/role",
        vec![change(
            Access::Admin,
            Method::POST,
            "user change",
            pages::set_role,
        )],
    );
    r.at(
        "/admin/users/{user}/password",
        vec![change(
            Access::Admin,
            Method::POST,
            "user passwd",
            pages::set_password,
        )],
    );
    r.at(
        "/admin/users/{user}/delete",
        vec![change(
            Access::Admin,
            Method::POST,
            "user delete",
            pages::delete_user,
        )],
    );
    r.at(
        "/admin/tokens",
        vec![change(
            Access::Admin,
            Method::POST,
            "token create",
            pages::create_token,
        )],
    );
    r.at(
        "/admin/tokens/{token}/revoke",
        vec![change(
            Access::Admin,
            Method::POST,
            "token revoke",
            pages::revoke_token,
        )],
    );
    r.get("/about", pages::about);
    r.get("/events", sse::events);
    r.at(
        "/assets/{file:.*}",
        vec![read(Access::Public, assets::asset)],
    );

    // Only in the library's own tests (never in the binary nor the integration
    // tests' build): a handler that panics, to show the panic is a 500.
    #[cfg(test)]
    r.get("/api/v1/test/panic", || async {
        panic!("a test handler panicked on purpose");
        #[allow(unreachable_code)]
        actix_web::HttpResponse::Ok().finish()
    });
    r.at(
        "/api/v1/health",
        vec![read(Access::Public, api::monitor::health)],
    );
    // Public: it describes the API of this version, the same on every install
    // (which /api/v1/health already tells anyone), and no data of this one; tools
    // that generate clients can read it before they have a token.
    r.at(
        openapi::PATH,
        vec![read(Access::Public, openapi::openapi_json)],
    );
    r.at(
        "/api/v1/clusters",
        vec![
            read(Access::Viewer, api::clusters::clusters),
            change(
                Access::Admin,
                Method::POST,
                "cluster add",
                api::registry::add,
            ),
        ],
    );
    r.at(
        "/api/v1/clusters/{name}",
        vec![
            read(Access::Viewer, api::clusters::cluster),
            change(
                Access::Admin,
                Method::PUT,
                "cluster change",
                api::registry::update,
            ),
            change(
                Access::Admin,
                Method::DELETE,
                "cluster remove",
                api::registry::remove,
            ),
        ],
    );
    r.at(
        "/api/v1/clusters/{name}/settings",
        vec![read(Access::Admin, api::registry::settings)],
    );
    // It connects where the body says: an admin's, like adding a cluster.
    r.at(
        "/api/v1/connection-test",
        vec![change(
            Access::Admin,
            Method::POST,
            "cluster test",
            api::registry::test,
        )],
    );
    r.get("/api/v1/clusters/{name}/members", api::clusters::members);
    r.get("/api/v1/clusters/{name}/metrics", api::clusters::metrics);
    r.get("/api/v1/clusters/{name}/latency", api::clusters::latency);
    r.get("/api/v1/clusters/{name}/keys", api::keys::list);
    r.at(
        "/api/v1/clusters/{name}/keys/value",
        vec![read(Access::Operator, api::keys::value)],
    );
    r.get(
        "/api/v1/clusters/{name}/metrics/history",
        api::history::history,
    );
    r.get(
        "/api/v1/clusters/{name}/metrics/series",
        api::history::series,
    );
    r.get("/api/v1/events", api::events::list);
    r.get("/api/v1/store", api::monitor::store);
    // For Prometheus: protected like the read API (a viewer's token).
    r.get("/metrics", api::monitor::metrics);
    r.get("/api/v1/alerts", api::alerts::active);
    r.get("/api/v1/alerts/history", api::alerts::history);
    r.at(
        "/api/v1/silences",
        vec![
            read(Access::Viewer, api::alerts::silences),
            change(
                Access::Operator,
                Method::POST,
                "silence create",
                api::alerts::create_silence,
            ),
        ],
    );
    r.at(
        "/api/v1/silences/{id}",
        vec![change(
            Access::Operator,
            Method::DELETE,
            "silence expire",
            api::alerts::expire_silence,
        )],
    );
    r.at(
        "/api/v1/alerts/{fingerprint}/ack",
        vec![change(
            Access::Operator,
            Method::POST,
            "alert acknowledge",
            api::alerts::acknowledge,
        )],
    );
    // POST stores a run the command line made while this monitor holds the store.
    r.resource(
        web::resource("/api/v1/benchmarks").app_data(
            web::JsonConfig::default()
                .limit(api::bench::MAX_RUN_BODY)
                .error_handler(error::json_error),
        ),
        "/api/v1/benchmarks",
        vec![
            read(Access::Viewer, api::bench::list),
            change(
                Access::Operator,
                Method::POST,
                "benchmark store",
                api::bench::create,
            ),
        ],
    );
    r.get("/api/v1/benchmarks/compare", api::bench::compare);
    r.at(
        "/api/v1/benchmarks/{id}",
        vec![
            read(Access::Viewer, api::bench::one),
            change(
                Access::Operator,
                Method::DELETE,
                "benchmark delete",
                api::bench::delete,
            ),
        ],
    );
    r.at(
        "/api/v1/audit",
        vec![read(Access::Admin, api::access::audit)],
    );
    r.at(
        "/api/v1/users",
        vec![
            read(Access::Admin, api::access::users),
            change(
                Access::Admin,
                Method::POST,
                "user add",
                api::access::add_user,
            ),
        ],
    );
    r.at(
        "/api/v1/users/{user}",
        vec![
            change(
                Access::Admin,
                Method::PATCH,
                "user change",
                api::access::change_user,
            ),
            change(
                Access::Admin,
                Method::DELETE,
                "user delete",
                api::access::delete_user,
            ),
        ],
    );
    r.at(
        "/api/v1/tokens",
        vec![
            read(Access::Admin, api::access::tokens),
            change(
                Access::Admin,
                Method::POST,
                "token create",
                api::access::create_token,
            ),
        ],
    );
    r.at(
        "/api/v1/tokens/{token}",
        vec![change(
            Access::Admin,
            Method::DELETE,
            "token revoke",
            api::access::revoke_token,
        )],
    );
    r.get("/api/v1/whoami", api::access::whoami);
}

#[cfg(test)]
mod route_tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once_with_its_role() {
        let routes = routes();
        assert!(routes.len() > 30, "{routes:?}");
        let mut seen = std::collections::HashSet::new();
        for r in &routes {
            assert!(seen.insert((r.method.clone(), r.path)), "twice: {r:?}");
            if r.method != Method::GET && r.path != "/login" && r.path != "/logout" {
                assert!(
                    r.access >= Access::Operator,
                    "a change needs an operator: {r:?}"
                );
                assert!(r.action.is_some(), "a change is audited: {r:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use crate::config::{ClusterConfig, Overrides, Settings};

    /// Writes `request` and reads one answer (with `Content-Length`) from `s`.
    fn exchange(s: &mut std::net::TcpStream, request: &str) -> String {
        s.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .and_then(|n| n.trim().parse::<usize>().ok())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed; got {text:?}");
            got.extend_from_slice(&buf[..n]);
        }
    }

    /// A handler's panic is a 500 with the JSON error, on a connection that then
    /// serves the next request; later connections are served too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_panic_is_a_500_and_the_connection_lives_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::load_with_env(None, &Overrides::default(), |_| None).unwrap();
        settings.store.data_dir = dir.path().to_path_buf();
        // No etcd is needed: nothing here asks a cluster.
        settings.clusters = vec![ClusterConfig::plain(
            "none",
            vec!["http://127.0.0.1:1".into()],
        )];
        let monitor = crate::monitor::Monitor::start(&settings).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = super::serve(&monitor, listener, async move {
                let _ = stopped.await;
            })
            .await;
            (monitor, served)
        });
        let answers = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            let mut answers = vec![
                exchange(&mut s, &get("/api/v1/test/panic")),
                exchange(&mut s, &get("/api/v1/health")),
            ];
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            answers.push(exchange(&mut s, &get("/api/v1/test/panic")));
            answers.push(exchange(&mut s, &get("/")));
            answers
        })
        .await
        .unwrap();
        assert!(answers[0].starts_with("HTTP/1.1 500"), "{}", answers[0]);
        assert!(
            answers[0].contains("\"code\":\"internal\""),
            "{}",
            answers[0]
        );
        assert!(
            answers[0].contains("content-security-policy"),
            "{}",
            answers[0]
        );
        assert!(answers[1].starts_with("HTTP/1.1 200"), "{}", answers[1]);
        assert!(answers[2].starts_with("HTTP/1.1 500"), "{}", answers[2]);
        assert!(answers[3].starts_with("HTTP/1.1 200"), "{}", answers[3]);
        let _ = stop.send(());
        let (monitor, served) = server.await.unwrap();
        served.unwrap();
        monitor.shutdown().await;
    }
}
