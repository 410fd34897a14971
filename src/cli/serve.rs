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
    let config = args.config.clone();
    serve(settings, move || {
        Settings::load(config.as_deref(), &overrides)
    })
}

/// Serves until SIGINT or SIGTERM; on SIGHUP, `reload` reads the config again and
/// its `[[clusters]]` are applied (other settings take a restart).
pub fn serve(
    settings: Settings,
    reload: impl Fn() -> crate::config::Result<Settings> + 'static,
) -> anyhow::Result<()> {
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
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
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
        let operator = if settings.kubernetes.enabled {
            match crate::k8s::operator::Operator::start(
                &settings.kubernetes,
                monitor.fleet.clone(),
                monitor.collectors.board.clone(),
                settings.collect.clone(),
                &settings.store.data_dir,
                settings.alerting.external_url.clone(),
            )
            .await
            {
                Ok(o) => Some(o),
                Err(e) => {
                    monitor.shutdown().await;
                    return Err(anyhow::Error::new(e).context("[kubernetes] operator mode"));
                }
            }
        } else {
            None
        };
        let reloads = tokio::task::spawn_local(reload_on_sighup(monitor.fleet.clone(), reload));
        let served = crate::web::serve(&monitor, listener, super::shutdown_signal()).await;
        reloads.abort();
        if let Some(o) = operator {
            o.shutdown().await;
        }
        monitor.shutdown().await;
        served?;
        Ok(())
    })
}

/// Applies the config file's clusters at every SIGHUP. A file that does not load
/// changes nothing (the error is logged).
async fn reload_on_sighup(
    fleet: std::sync::Arc<crate::fleet::Fleet>,
    reload: impl Fn() -> crate::config::Result<Settings>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP (no config reload): {e}");
            return;
        }
    };
    while hup.recv().await.is_some() {
        info!("SIGHUP: reading the config again");
        let settings = match reload() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("config not reloaded, nothing changed: {e:#}");
                continue;
            }
        };
        match fleet.reload(&settings.clusters).await {
            Ok(done) => info!(
                added = ?done.added,
                removed = ?done.removed,
                changed = ?done.changed,
                "config reloaded: clusters applied (other settings take a restart)"
            ),
            Err(e) => tracing::error!("config not reloaded, nothing changed: {e}"),
        }
    }
}
