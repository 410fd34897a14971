//! `etcd-monitor demo`: a local 3-member cluster, monitored, until Ctrl-C.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Context;

use super::output::{self, outln, OutputError};
use super::DemoArgs;
use crate::config::{ClusterConfig, Overrides, Settings};
use crate::localetcd::{LocalCluster, LocalClusterOptions};
use crate::monitor::Monitor;

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        eprintln!("starting a local 3-member etcd cluster...");
        let cluster = LocalCluster::start(3, LocalClusterOptions::default())
            .await
            .context("cannot start the demo cluster")?;
        let listener = match &args.listen {
            Some(addr) => {
                TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?
            }
            None => {
                TcpListener::bind("127.0.0.1:9393").or_else(|_| TcpListener::bind("127.0.0.1:0"))?
            }
        };
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;

        let mut settings = Settings::load(None, &Overrides::default())?;
        settings.server.listen = addr;
        settings.store.data_dir = cluster.dir().join("monitor-data");
        settings.collect.interval = Duration::from_secs(args.interval);
        settings.collect.request_timeout = settings
            .collect
            .request_timeout
            .min(settings.collect.interval);
        settings.collect.consistency_interval = Duration::from_secs(30);
        settings.clusters = vec![ClusterConfig {
            tags: vec!["demo".into()],
            ..ClusterConfig::plain("demo", cluster.client_urls())
        }];
        settings.validate()?;

        let monitor = Monitor::start(&settings)?;
        if let Err(e) = print_guide(&cluster, addr) {
            // The reader went away (`demo | head -3`): stop as a pipe's writer does.
            monitor.shutdown().await;
            return Err(e.into());
        }
        crate::web::serve(&monitor, listener, super::shutdown_signal()).await?;
        monitor.shutdown().await;
        drop(cluster);
        eprintln!("demo cluster stopped and removed");
        Ok(())
    })
}

fn print_guide(cluster: &LocalCluster, addr: std::net::SocketAddr) -> Result<(), OutputError> {
    outln!("etcd members:")?;
    for m in &cluster.members {
        outln!(
            "  {}  {}  (log: {})",
            m.name,
            m.client_url,
            m.log_path.display()
        )?;
    }
    outln!(
        "try:    ETCDCTL_API=3 etcdctl --endpoints={} endpoint status -w table",
        cluster.client_urls().join(",")
    )?;
    outln!("API:    http://{addr}/api/v1/clusters")?;
    outln!("        http://{addr}/api/v1/clusters/demo")?;
    outln!("Press Ctrl-C to stop the monitor and the cluster.")?;
    output::flush()
}
