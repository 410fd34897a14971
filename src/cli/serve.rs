//! `etcd-monitor serve`: monitor the configured clusters and serve the API.

use std::net::TcpListener;

use anyhow::Context;
use tracing::info;

use super::ServeArgs;
use crate::config::{Overrides, Settings};
use crate::monitor::Monitor;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        interval_secs: args.interval,
        endpoints: args.endpoints.map(|e| {
            e.iter()
                .flat_map(|s| crate::config::split_endpoints(s))
                .collect()
        }),
        cluster_name: args.name,
    };
    let settings = Settings::load(args.config.as_deref(), &overrides)?;
    serve(settings)
}

pub fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind(settings.server.listen).with_context(|| {
        format!(
            "cannot listen on {} (server.listen)",
            settings.server.listen
        )
    })?;
    listener.set_nonblocking(true)?;
    // One thread: collecting is a burst of small calls every interval, and with a
    // multi-thread runtime every burst also woke the other, idle workers and moved
    // tasks between them; one thread does the same work with fewer context switches.
    // The API server has its own worker thread and the store its writer thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let monitor = Monitor::start(&settings)?;
        let addr = listener.local_addr()?;
        for c in &settings.clusters {
            info!(cluster = %c.name, endpoints = %c.endpoints.join(","), "monitoring");
        }
        info!(file = %monitor.store.path().display(), "history store");
        let scheme = if settings.server.tls.files().is_some() {
            "https"
        } else {
            "http"
        };
        info!("API on {scheme}://{addr}/api/v1/clusters");
        crate::web::serve(&monitor, listener, super::shutdown_signal()).await?;
        monitor.shutdown().await;
        Ok(())
    })
}
