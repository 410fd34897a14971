//! The HTTP layer: translates between HTTP and the domain (snapshots, history,
//! alerts, and the key browser's read-only operations). Monitoring data never
//! comes from etcd here (the collectors' snapshots have it); only the key browser
//! calls etcd, through `ops::browse`.
//!
//! Routes are grouped by the role they will need (viewer / operator / admin) so that
//! access control plugs in at one place, the scope of each group.

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
        .app_data(web::JsonConfig::default().error_handler(error::json_error))
        .wrap(
            DefaultHeaders::new()
                .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "same-origin")),
        )
        .configure(viewer_routes)
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

/// Read-only routes: whoever may look at the monitor.
fn viewer_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::overview))
        .route("/clusters/{name}", web::get().to(pages::cluster))
        .route(
            "/clusters/{name}/members/{member}",
            web::get().to(pages::member),
        )
        .route("/clusters/{name}/keys", web::get().to(pages::keys))
        .route("/clusters/{name}/keys/value", web::get().to(pages::key))
        .route("/alerts", web::get().to(pages::alerts))
        .route("/benchmarks", web::get().to(pages::benchmarks))
        .route(
            "/benchmarks/compare",
            web::get().to(pages::benchmark_comparison),
        )
        .route("/benchmarks/{id}", web::get().to(pages::benchmark))
        .route("/explore", web::get().to(pages::explore))
        .route("/about", web::get().to(pages::about))
        .route("/events", web::get().to(sse::events))
        .route("/assets/{file:.*}", web::get().to(assets::asset));
    cfg.service(
        web::scope("/api/v1")
            .route("/health", web::get().to(api::health))
            .route("/clusters", web::get().to(api::clusters))
            .route("/clusters/{name}", web::get().to(api::cluster))
            .route("/clusters/{name}/members", web::get().to(api::members))
            .route("/clusters/{name}/metrics", web::get().to(api::metrics))
            .route("/clusters/{name}/latency", web::get().to(api::latency))
            .route("/clusters/{name}/keys", web::get().to(keys::list))
            .route("/clusters/{name}/keys/value", web::get().to(keys::value))
            .route(
                "/clusters/{name}/metrics/history",
                web::get().to(api::history),
            )
            .route(
                "/clusters/{name}/metrics/series",
                web::get().to(api::series),
            )
            .route("/store", web::get().to(api::store))
            .route("/alerts", web::get().to(alerts::active))
            .route("/alerts/history", web::get().to(alerts::history))
            // GET lists (viewer); POST creates (operator, see operator_routes).
            .service(
                web::resource("/silences")
                    .route(web::get().to(alerts::silences))
                    .route(web::post().to(alerts::create_silence)),
            )
            .service(
                web::resource("/benchmarks")
                    .app_data(
                        web::JsonConfig::default()
                            .limit(bench::MAX_RUN_BODY)
                            .error_handler(error::json_error),
                    )
                    .route(web::get().to(bench::list))
                    .route(web::post().to(bench::create)),
            )
            .route("/benchmarks/compare", web::get().to(bench::compare))
            .route("/benchmarks/{id}", web::get().to(bench::one))
            .configure(operator_routes),
    );
}

/// Routes that change what the monitor does (not the clusters): silences and
/// acknowledgements, each recorded in the alert history with who did it. Access
/// control will guard this group (and POST /silences and POST /benchmarks above:
/// storing a run the command line made while this monitor holds the store).
fn operator_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/silences/{id}", web::delete().to(alerts::expire_silence))
        // Deleting a stored benchmark run: an operator action.
        .route("/benchmarks/{id}", web::delete().to(bench::delete))
        .route(
            "/alerts/{fingerprint}/ack",
            web::post().to(alerts::acknowledge),
        );
}
