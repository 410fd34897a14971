//! The running product: store, its writer, collectors, the alert manager,
//! scheduled benchmarks and remote write. The web layer serves the dashboard over it (`web::serve`).
//! `serve`, `demo` and the integration tests all start it the same way.

use std::sync::Arc;

use crate::alert::manager::{self as alert_manager, AlertManager};
use crate::alert::AlertError;
use crate::collect::Collectors;
use crate::config::Settings;
use crate::etcd::EtcdError;
use crate::fleet::{Fleet, FleetError};
use crate::ops::clients::ClusterClients;
use crate::store::{Store, StoreError, StoreWriter};

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(transparent)]
    Alert(#[from] AlertError),
    #[error(transparent)]
    RemoteWrite(#[from] crate::remote_write::RemoteWriteError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

pub struct Monitor {
    pub collectors: Arc<Collectors>,
    /// The clusters monitored, changed at run time (registry, reload).
    pub fleet: Arc<Fleet>,
    pub store: Arc<Store>,
    pub alerts: AlertManager,
    writer: StoreWriter,
    pub interval: std::time::Duration,
    /// `[server]`: connection bounds and the host names answered.
    pub server: crate::config::ServerSettings,
    pub regression_threshold: f64,
    /// `[store] audit_retention`: how long the audit trail keeps records.
    pub audit_retention: std::time::Duration,
    /// Tells the alert manager and scheduled benchmarks to stop.
    stop: tokio::sync::watch::Sender<bool>,
    /// The key browser's clients of the configured clusters.
    pub etcd: ClusterClients,
    alert_task: tokio::task::JoinHandle<()>,
    bench_task: tokio::task::JoinHandle<()>,
    /// `[[remote_write]]` targets, each shipping the store's outbox.
    pub remote_write: Vec<crate::remote_write::Shipper>,
}

impl Monitor {
    /// Opens the store in `store.data_dir` and starts collecting. Needs a tokio runtime.
    pub fn start(settings: &Settings) -> Result<Monitor, MonitorError> {
        let series_filter = Arc::new(settings.series_filter()?);
        // This monitor's share of the fleet (`collect.shard`); all without one.
        let clusters = crate::fleet::owned(&settings.collect, &settings.clusters);
        if clusters.len() < settings.clusters.len() {
            tracing::info!(
                shard = %settings.collect.shard.map(|s| s.to_string()).unwrap_or_default(),
                "monitoring {} of the config's {} clusters: the others are other shards'",
                clusters.len(),
                settings.clusters.len()
            );
        }
        // The key browser's clients: reading TLS files and passwords fails here,
        // before anything starts; nothing connects until a page asks.
        let etcd = ClusterClients::new(
            &clusters,
            settings.collect.request_timeout,
            settings.collect.dial_timeout,
        )?;
        let store = Arc::new(Store::open_dir(
            &settings.store.data_dir,
            settings.store.retention(),
        )?);
        store.set_head_bytes(settings.store.head_bytes);
        // Before any sample arrives: every one the store accepts from now on is
        // in the outbox for the remote write targets.
        store.open_outbox(&crate::remote_write::outbox_readers(&settings.remote_write))?;
        let retention = settings.bench.retention;
        store.on_maintenance(
            "deleted benchmark runs past [bench.retention]",
            Box::new(move |store, now_ms| {
                crate::bench::history::apply_retention(store, &retention, now_ms)
                    .map_err(|e| e.to_string())
            }),
        );
        let events_retention = settings.store.events_retention;
        store.on_maintenance(
            "deleted cluster events past [store] events_retention",
            Box::new(move |store, now_ms| {
                crate::collect::events::trim(store, events_retention, now_ms)
                    .map_err(|e| e.to_string())
            }),
        );
        let writer = StoreWriter::start(
            store.clone(),
            settings.store.checkpoint_interval,
            settings.store.maintenance_interval,
        );
        let collectors = Arc::new(
            match Collectors::start(
                &clusters,
                &settings.collect,
                Some((writer.handle(), series_filter)),
                Some(crate::collect::EventLog {
                    store: store.clone(),
                    retention: settings.store.events_retention,
                }),
            ) {
                Ok(c) => c,
                Err(e) => {
                    writer.stop();
                    return Err(e.into());
                }
            },
        );
        let fleet = match Fleet::start(
            collectors.clone(),
            etcd.clone(),
            store.clone(),
            settings.collect.clone(),
            &clusters,
        ) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                writer.stop();
                return Err(e.into());
            }
        };
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (alerts, alert_task) = match alert_manager::start(
            &settings.alerting,
            &clusters,
            settings.server.listen,
            collectors.board.clone(),
            store.clone(),
            stop_rx.clone(),
        ) {
            Ok(started) => started,
            Err(e) => {
                writer.stop();
                return Err(e.into());
            }
        };
        let remote_write = match crate::remote_write::start(
            &settings.remote_write,
            store.clone(),
            stop_rx.clone(),
        ) {
            Ok(shippers) => shippers,
            Err(e) => {
                let _ = stop.send(true);
                writer.stop();
                return Err(e.into());
            }
        };
        let bench_task = tokio::spawn(scheduled_benchmarks(
            settings.clone(),
            store.clone(),
            stop_rx,
        ));
        Ok(Monitor {
            collectors,
            fleet,
            store,
            alerts,
            writer,
            interval: settings.collect.interval,
            server: settings.server.clone(),
            regression_threshold: settings.bench.regression_threshold,
            audit_retention: settings.store.audit_retention,
            stop,
            etcd,
            alert_task,
            bench_task,
            remote_write,
        })
    }

    /// Stops collecting, writes what is queued and takes a last checkpoint.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.alert_task.await;
        let _ = self.bench_task.await;
        for shipper in self.remote_write {
            shipper.stopped().await;
        }
        self.collectors.shutdown().await;
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || writer.stop()).await;
        // The file is closed when the last handle goes. The web server's workers drop
        // theirs on their own threads, shortly after the server says it stopped; wait
        // for them, so that a caller may open the store again at once.
        drop(self.alerts);
        // Both hold the store (the registry, the collectors' event log).
        drop(self.fleet);
        drop(self.collectors);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&self.store) > 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if Arc::strong_count(&self.store) > 1 {
            tracing::warn!("the store is still in use 5 s after shutdown");
        }
    }
}

/// Runs the `[[bench.schedules]]` until `stop`, then lets runs in progress clean up.
async fn scheduled_benchmarks(
    settings: Settings,
    store: Arc<Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let scheduled = match crate::bench::schedule::start(
        &settings.bench,
        &settings.clusters,
        &settings.collect,
        store,
        stop.clone(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("scheduled benchmarks not started: {e}");
            None
        }
    };
    let _ = stop.wait_for(|s| *s).await;
    if let Some(s) = scheduled {
        // A stopped run still deletes its keys (each call under its deadline).
        s.shutdown(std::time::Duration::from_secs(30)).await;
    }
}
