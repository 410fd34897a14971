//! The running product: store, its writer, collectors, and the web server over them.
//! `serve`, `demo` and the integration tests all start it the same way.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use crate::alert::manager::{self as alert_manager, AlertManager};
use crate::alert::AlertError;
use crate::collect::Collectors;
use crate::config::Settings;
use crate::etcd::EtcdError;
use crate::store::{Store, StoreError, StoreWriter};

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(transparent)]
    Alert(#[from] AlertError),
}

pub struct Monitor {
    pub collectors: Collectors,
    pub store: Arc<Store>,
    pub alerts: AlertManager,
    writer: StoreWriter,
    interval: std::time::Duration,
    etcd: crate::web::EtcdClients,
    stop_alerts: tokio::sync::watch::Sender<bool>,
    alert_task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    /// Opens the store in `store.data_dir` and starts collecting. Needs a tokio runtime.
    pub fn start(settings: &Settings) -> Result<Monitor, MonitorError> {
        // The key browser's clients: reading TLS files and passwords fails here,
        // before anything starts; nothing connects until a page asks.
        let etcd = crate::web::EtcdClients::new(
            &settings.clusters,
            settings.collect.request_timeout,
            settings.collect.dial_timeout,
        )?;
        let store = Arc::new(Store::open_dir(
            &settings.store.data_dir,
            settings.store.retention(),
        )?);
        let writer = StoreWriter::start(
            store.clone(),
            settings.store.checkpoint_interval,
            settings.store.maintenance_interval,
        );
        let collectors = match Collectors::start(settings, Some(writer.handle())) {
            Ok(c) => c,
            Err(e) => {
                writer.stop();
                return Err(e.into());
            }
        };
        let (stop_alerts, stop_rx) = tokio::sync::watch::channel(false);
        let (alerts, alert_task) = match alert_manager::start(
            settings,
            collectors.board.clone(),
            store.clone(),
            stop_rx,
        ) {
            Ok(started) => started,
            Err(e) => {
                writer.stop();
                return Err(e.into());
            }
        };
        Ok(Monitor {
            collectors,
            store,
            alerts,
            writer,
            interval: settings.collect.interval,
            etcd,
            stop_alerts,
            alert_task,
        })
    }

    /// Serves the dashboard and API on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        crate::web::launch(
            self.collectors.board.clone(),
            self.store.clone(),
            self.alerts.clone(),
            self.interval,
            self.etcd.clone(),
            listener,
            shutdown,
        )
        .await
    }

    /// Stops collecting, writes what is queued and takes a last checkpoint.
    pub async fn shutdown(self) {
        let _ = self.stop_alerts.send(true);
        let _ = self.alert_task.await;
        self.collectors.shutdown().await;
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || writer.stop()).await;
        // The file is closed when the last handle goes. The web server's workers drop
        // theirs on their own threads, shortly after the server says it stopped; wait
        // for them, so that a caller may open the store again at once.
        drop(self.alerts);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&self.store) > 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if Arc::strong_count(&self.store) > 1 {
            tracing::warn!("the store is still in use 5 s after shutdown");
        }
    }
}
