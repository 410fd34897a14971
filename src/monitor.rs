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
    stop_alerts: tokio::sync::watch::Sender<bool>,
    alert_task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    /// Opens the store in `store.data_dir` and starts collecting. Needs a tokio runtime.
    pub fn start(settings: &Settings) -> Result<Monitor, MonitorError> {
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
    }
}
