//! The running product: store, its writer, collectors, and the web server over them.
//! `serve`, `demo` and the integration tests all start it the same way.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

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
}

pub struct Monitor {
    pub collectors: Collectors,
    pub store: Arc<Store>,
    writer: StoreWriter,
    interval: std::time::Duration,
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
        Ok(Monitor {
            collectors,
            store,
            writer,
            interval: settings.collect.interval,
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
            self.interval,
            listener,
            shutdown,
        )
        .await
    }

    /// Stops collecting, writes what is queued and takes a last checkpoint.
    pub async fn shutdown(self) {
        self.collectors.shutdown().await;
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || writer.stop()).await;
    }
}
