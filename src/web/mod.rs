//! The HTTP layer: translates between HTTP and the domain (snapshots, history,
//! alerts, and the key browser's read-only operations). Monitoring data never
//! comes from etcd here (the collectors' snapshots have it); only the key browser
//! calls etcd, through `ops::browse`.
//!
//! Every route is registered in one list ([`routes`]) with the role it needs, so
//! that access control plugs in at one place and tests can walk every route.

mod alerts;
mod api;
mod assets;
mod bench;
pub mod chart;
mod error;
pub mod keys;
pub mod pages;
mod sse;
pub mod units;

use std::future::Future;
use std::net::TcpListener;
use std::time::Instant;

use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpRequest};

use std::sync::Arc;

use crate::collect::SnapshotBoard;
use crate::store::Store;
pub use error::ApiError;
pub use keys::EtcdClients;

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
    pub etcd: EtcdClients,
}

/// Pages may load only the monitor's own CSS and scripts; SVG charts are inline
/// markup, never inline styles or scripts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Serves the API on `listener` until `shutdown` completes, then drains connections.
/// `state` is what every handler reads; its `started` is when the server started.
pub async fn launch(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
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
                    tokio::task::LocalSet::new().block_on(&rt, serve(state, listener, stopped))
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
async fn serve(
    state: AppState,
    listener: TcpListener,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut connections = tokio::task::JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn_local(serve_connection(state.clone(), stream, stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("dashboard: cannot accept a connection: {e}");
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
    stream: tokio::net::TcpStream,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    use actix_service::{
        map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt,
    };
    let app = app(state)
        .into_factory()
        .map_err(|e: actix_web::Error| e.error_response());
    let mut builder = actix_http::HttpService::build();
    if let Ok(addr) = stream.local_addr() {
        builder = builder.local_addr(addr);
    }
    let service = builder
        .graceful_shutdown_signal(move || {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        })
        .finish(map_config(app, |_| actix_web::dev::AppConfig::default()))
        .tcp();
    match service.new_service(()).await {
        Ok(service) => {
            // A connection's protocol errors (a client gone mid-request) are its own.
            let _ = service.call(stream).await;
        }
        Err(()) => tracing::error!("dashboard: the HTTP service could not be built"),
    }
}

/// The application: state, extractor error handlers, security headers and routes.
fn app(
    state: AppState,
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
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        // A request body is a silence or an acknowledgement: tens of KiB at most
        // (stored runs have their own limit).
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BODY)
                .error_handler(error::json_error),
        )
        .wrap(
            DefaultHeaders::new()
                .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "same-origin")),
        )
        .configure(|cfg| {
            register(&mut Routes {
                cfg,
                list: &mut Vec::new(),
            })
        })
        .default_service(web::to(fallback))
}

/// Whatever no route took: JSON under `/api/`, a page elsewhere.
async fn fallback(req: HttpRequest) -> Result<actix_web::HttpResponse, actix_web::Error> {
    if req.path().starts_with("/api/") {
        Ok(error::not_found(req).await?)
    } else {
        Ok(pages::not_found(req).await?)
    }
}

/// What a route needs of whoever calls it; access control checks it at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Looks: every page and read API.
    Viewer,
    /// Changes what the monitor does (silences, acknowledgements, benchmark runs).
    Operator,
}

/// One route as registered: the list the tests walk (every route answers, none
/// panics) and access control will read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: actix_web::http::Method,
    /// actix's pattern: `/clusters/{name}`.
    pub path: &'static str,
    pub role: Role,
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

/// Registers resources and records each method and path it serves.
struct Routes<'a, 'b> {
    cfg: &'a mut web::ServiceConfig,
    list: &'b mut Vec<RouteInfo>,
}

impl Routes<'_, '_> {
    /// One resource at `path`: each `(role, method, route)` is one handler.
    fn at(
        &mut self,
        path: &'static str,
        routes: Vec<(Role, actix_web::http::Method, actix_web::Route)>,
    ) {
        self.resource(web::resource(path), path, routes);
    }

    fn resource(
        &mut self,
        mut resource: actix_web::Resource,
        path: &'static str,
        routes: Vec<(Role, actix_web::http::Method, actix_web::Route)>,
    ) {
        for (role, method, route) in routes {
            self.list.push(RouteInfo {
                method: method.clone(),
                path,
                role,
            });
            resource = resource.route(route.method(method));
        }
        self.cfg.service(resource);
    }

    fn get<F, Args>(&mut self, path: &'static str, handler: F)
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.at(
            path,
            vec![(Role::Viewer, Method::GET, web::route().to(handler))],
        );
    }
}

/// Every route, each with the role it needs. Viewer routes only read; operator routes
/// change what the monitor does (not the clusters), each recorded with who did it.
fn register(r: &mut Routes) {
    r.get("/", pages::overview);
    r.get("/clusters/{name}", pages::cluster);
    r.get("/clusters/{name}/members/{member}", pages::member);
    r.get("/clusters/{name}/keys", pages::keys);
    r.get("/clusters/{name}/keys/value", pages::key);
    r.get("/alerts", pages::alerts);
    r.get("/benchmarks", pages::benchmarks);
    r.get("/benchmarks/compare", pages::benchmark_comparison);
    r.get("/benchmarks/{id}", pages::benchmark);
    r.get("/explore", pages::explore);
    r.get("/about", pages::about);
    r.get("/events", sse::events);
    r.get("/assets/{file:.*}", assets::asset);

    r.get("/api/v1/health", api::health);
    r.get("/api/v1/clusters", api::clusters);
    r.get("/api/v1/clusters/{name}", api::cluster);
    r.get("/api/v1/clusters/{name}/members", api::members);
    r.get("/api/v1/clusters/{name}/metrics", api::metrics);
    r.get("/api/v1/clusters/{name}/latency", api::latency);
    r.get("/api/v1/clusters/{name}/keys", keys::list);
    r.get("/api/v1/clusters/{name}/keys/value", keys::value);
    r.get("/api/v1/clusters/{name}/metrics/history", api::history);
    r.get("/api/v1/clusters/{name}/metrics/series", api::series);
    r.get("/api/v1/store", api::store);
    r.get("/api/v1/alerts", alerts::active);
    r.get("/api/v1/alerts/history", alerts::history);
    r.at(
        "/api/v1/silences",
        vec![
            (Role::Viewer, Method::GET, web::route().to(alerts::silences)),
            (
                Role::Operator,
                Method::POST,
                web::route().to(alerts::create_silence),
            ),
        ],
    );
    r.at(
        "/api/v1/silences/{id}",
        vec![(
            Role::Operator,
            Method::DELETE,
            web::route().to(alerts::expire_silence),
        )],
    );
    r.at(
        "/api/v1/alerts/{fingerprint}/ack",
        vec![(
            Role::Operator,
            Method::POST,
            web::route().to(alerts::acknowledge),
        )],
    );
    // POST stores a run the command line made while this monitor holds the store.
    r.resource(
        web::resource("/api/v1/benchmarks").app_data(
            web::JsonConfig::default()
                .limit(bench::MAX_RUN_BODY)
                .error_handler(error::json_error),
        ),
        "/api/v1/benchmarks",
        vec![
            (Role::Viewer, Method::GET, web::route().to(bench::list)),
            (Role::Operator, Method::POST, web::route().to(bench::create)),
        ],
    );
    r.get("/api/v1/benchmarks/compare", bench::compare);
    // Deleting a stored run is an operator action.
    r.at(
        "/api/v1/benchmarks/{id}",
        vec![
            (Role::Viewer, Method::GET, web::route().to(bench::one)),
            (Role::Operator, Method::DELETE, web::route().to(bench::delete)),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once_with_its_role() {
        let routes = routes();
        assert!(routes.len() > 30, "{routes:?}");
        let mut seen = std::collections::HashSet::new();
        for r in &routes {
            assert!(seen.insert((r.method.clone(), r.path)), "twice: {r:?}");
            if r.method != Method::GET {
                assert_eq!(r.role, Role::Operator, "a change needs an operator: {r:?}");
            }
        }
    }
}
