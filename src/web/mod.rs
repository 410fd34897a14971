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
use actix_web::{web, App, HttpRequest, HttpServer};

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
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
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
    })
    // One worker is plenty for a dashboard and an API (the heavier store queries run
    // on the blocking pool), and every actix worker wakes twice a second when idle
    // (actix-http's date timer): with two, that was a tenth of the monitor's CPU.
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let serving = tokio::spawn(server);
    shutdown.await;
    handle.stop(true).await;
    serving.await.map_err(std::io::Error::other)?
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
        .route(
            "/alerts/{fingerprint}/ack",
            web::post().to(alerts::acknowledge),
        );
}
