//! Service registration and discovery with a lease and a watch.
//!
//! An instance registers as `services/<service>/<id>` = its address, attached to a
//! lease it keeps alive. When it stops keeping it alive (it crashed, or the network
//! cut it off) the lease expires and etcd deletes the key: nobody has to clean up.
//! Clients list `services/<service>/` once, then watch it from the next revision,
//! so they miss no change between the two.
//!
//! ```text
//! cargo run --example service_discovery -- --endpoints http://127.0.0.1:2379
//! ```
//! registers `demo-1`, keeps it alive for `--for` (5 s), then stops as if it had
//! crashed, and exits once the watch has seen the instance expire.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use etcd_client::{Client, EventType, GetOptions, PutOptions, WatchOptions};
use etcd_monitor::config::{split_endpoints, ClusterConfig};
use etcd_monitor::etcd::Connector;

/// Connects through the crate's Connector (its deadlines; TLS and auth would come
/// from the ClusterConfig).
pub async fn connect(endpoints: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let endpoints = split_endpoints(endpoints);
    let cluster = ClusterConfig::plain("example", endpoints.clone());
    let connector = Connector::new(&cluster, Duration::from_secs(5), Duration::from_secs(3))?;
    Ok(connector.connect(&endpoints).await?)
}

pub fn service_prefix(service: &str) -> String {
    format!("services/{service}/")
}

/// A registered instance: its key stays while the keep-alive task runs.
pub struct Registration {
    pub key: String,
    pub lease: i64,
    keeper: tokio::task::JoinHandle<()>,
}

/// Puts `services/<service>/<id>` = `addr` under a lease of `ttl` seconds, and keeps
/// the lease alive (a refresh every third of the TTL) until stopped.
pub async fn register(
    client: &Client,
    service: &str,
    id: &str,
    addr: &str,
    ttl: i64,
) -> Result<Registration, etcd_client::Error> {
    let mut client = client.clone();
    let lease = client.lease_grant(ttl, None).await?.id();
    let key = format!("{}{id}", service_prefix(service));
    client
        .put(
            key.as_str(),
            addr,
            Some(PutOptions::new().with_lease(lease)),
        )
        .await?;
    println!("registered {key} = {addr} with lease {lease:x} (ttl {ttl}s)");
    let (mut keeper, mut responses) = client.lease_keep_alive(lease).await?;
    let period = Duration::from_millis((ttl as u64 * 1000 / 3).max(200));
    let keeper = tokio::spawn(async move {
        loop {
            if keeper.keep_alive().await.is_err() {
                return;
            }
            match responses.message().await {
                Ok(Some(r)) if r.ttl() > 0 => {}
                _ => return, // the lease is gone: nothing left to keep alive
            }
            tokio::time::sleep(period).await;
        }
    });
    Ok(Registration { key, lease, keeper })
}

impl Registration {
    /// Stops refreshing the lease, as a crashed instance would: the key goes when the
    /// lease expires, up to its TTL later.
    pub fn stop_keep_alive(self) {
        self.keeper.abort();
        println!("{}: stopped keeping lease {:x} alive", self.key, self.lease);
    }

    /// A clean shutdown: revoking the lease deletes the key at once.
    pub async fn deregister(self, client: &Client) -> Result<(), etcd_client::Error> {
        self.keeper.abort();
        client.clone().lease_revoke(self.lease).await?;
        println!(
            "{}: deregistered (lease {:x} revoked)",
            self.key, self.lease
        );
        Ok(())
    }
}

/// Instance id -> address.
pub type Instances = BTreeMap<String, String>;

/// Lists the instances of `service`, then follows every change; calls `on_change`
/// with the whole set each time (first with the initial list) until it returns false.
pub async fn discover(
    client: &Client,
    service: &str,
    mut on_change: impl FnMut(&Instances) -> bool,
) -> Result<(), etcd_client::Error> {
    let mut client = client.clone();
    let prefix = service_prefix(service);
    let listed = client
        .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
        .await?;
    let mut instances = Instances::new();
    for kv in listed.kvs() {
        instances.insert(
            String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned(),
            String::from_utf8_lossy(kv.value()).into_owned(),
        );
    }
    println!("{service}: {} instance(s) {instances:?}", instances.len());
    if !on_change(&instances) {
        return Ok(());
    }
    // From the revision of the list: no change between list and watch is missed.
    let from = listed.header().map_or(0, |h| h.revision()) + 1;
    let mut watch = client
        .watch(
            prefix.as_str(),
            Some(WatchOptions::new().with_prefix().with_start_revision(from)),
        )
        .await?;
    while let Some(resp) = watch.message().await? {
        // The first response only says the watch was created.
        if resp.events().is_empty() {
            continue;
        }
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            let id = String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned();
            match event.event_type() {
                EventType::Put => {
                    let addr = String::from_utf8_lossy(kv.value()).into_owned();
                    println!("{service}: instance {id} up at {addr}");
                    instances.insert(id, addr);
                }
                EventType::Delete => {
                    println!("{service}: instance {id} gone");
                    instances.remove(&id);
                }
            }
        }
        if !on_change(&instances) {
            return Ok(());
        }
    }
    Ok(())
}

#[derive(Parser)]
#[command(about = "Register an instance under a lease and watch it come and go")]
struct Args {
    /// etcd endpoints, comma-separated.
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        default_value = "http://127.0.0.1:2379"
    )]
    endpoints: String,
    #[arg(long, default_value = "demo")]
    service: String,
    #[arg(long, default_value = "demo-1")]
    id: String,
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Lease TTL in seconds.
    #[arg(long, default_value_t = 2)]
    ttl: i64,
    /// How long the instance stays registered before it "crashes".
    #[arg(long = "for", default_value = "5s", value_parser = humantime::parse_duration)]
    run_for: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = connect(&args.endpoints).await?;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = {
        let (client, service, id) = (client.clone(), args.service.clone(), args.id.clone());
        tokio::spawn(async move {
            discover(&client, &service, |instances| {
                let _ = seen_tx.send(instances.contains_key(&id));
                true
            })
            .await
        })
    };
    let registration = register(&client, &args.service, &args.id, &args.addr, args.ttl).await?;
    tokio::time::sleep(args.run_for).await;
    registration.stop_keep_alive();
    // Exit when the watch has seen the instance expire (or give up well after the TTL).
    let expired = tokio::time::timeout(Duration::from_secs(args.ttl as u64 + 10), async {
        let mut was_up = false;
        while let Some(up) = seen_rx.recv().await {
            was_up |= up;
            if was_up && !up {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    watcher.abort();
    if expired {
        println!("done: the instance expired with its lease");
        Ok(())
    } else {
        Err("the instance did not expire in time".into())
    }
}
