//! Configuration that reloads on watch.
//!
//! An application keeps its settings under a prefix (`app/config/` here), one key
//! per setting. It loads them all at start, then watches the prefix from the next
//! revision and applies every change as it comes: no restart, no polling.
//!
//! ```text
//! cargo run --example config_reload -- --endpoints http://127.0.0.1:2379 --reloads 1
//! etcdctl put app/config/log_level debug      # in another terminal
//! ```
//! prints the loaded configuration, then each reload; exits after `--reloads`
//! changes or after `--for` (60 s).

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use etcd_client::{Client, EventType, GetOptions, WatchOptions};
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

/// Setting name (the key below the prefix) -> value.
pub type Config = BTreeMap<String, String>;

/// Loads every setting under `prefix`, calls `apply` with them, then with the whole
/// configuration after each change, until `apply` returns false.
pub async fn load_and_watch(
    client: &Client,
    prefix: &str,
    mut apply: impl FnMut(&Config) -> bool,
) -> Result<(), etcd_client::Error> {
    let mut client = client.clone();
    let loaded = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await?;
    let name = |key: &[u8]| String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
    let mut config: Config = loaded
        .kvs()
        .iter()
        .map(|kv| {
            (
                name(kv.key()),
                String::from_utf8_lossy(kv.value()).into_owned(),
            )
        })
        .collect();
    println!("loaded {} setting(s): {config:?}", config.len());
    if !apply(&config) {
        return Ok(());
    }
    // Watch from just after the load: a change made in between is not lost.
    let from = loaded.header().map_or(0, |h| h.revision()) + 1;
    let mut watch = client
        .watch(
            prefix,
            Some(WatchOptions::new().with_prefix().with_start_revision(from)),
        )
        .await?;
    while let Some(resp) = watch.message().await? {
        // The first response only says the watch was created.
        if resp.events().is_empty() {
            continue;
        }
        // One response holds the events of one revision (a transaction changes
        // several settings at once): apply them together.
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            match event.event_type() {
                EventType::Put => {
                    let value = String::from_utf8_lossy(kv.value()).into_owned();
                    println!("reload: {} = {value}", name(kv.key()));
                    config.insert(name(kv.key()), value);
                }
                EventType::Delete => {
                    println!("reload: {} removed", name(kv.key()));
                    config.remove(&name(kv.key()));
                }
            }
        }
        if !apply(&config) {
            return Ok(());
        }
    }
    Ok(())
}

#[derive(Parser)]
#[command(about = "Load settings from etcd and reload them on every change")]
struct Args {
    /// etcd endpoints, comma-separated.
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        default_value = "http://127.0.0.1:2379"
    )]
    endpoints: String,
    #[arg(long, default_value = "app/config/")]
    prefix: String,
    /// Exit after this many reloads.
    #[arg(long)]
    reloads: Option<usize>,
    /// Exit after this long in any case.
    #[arg(long = "for", default_value = "60s", value_parser = humantime::parse_duration)]
    run_for: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = connect(&args.endpoints).await?;
    let mut applied = 0usize;
    let watching = load_and_watch(&client, &args.prefix, |config| {
        if applied > 0 {
            println!("configuration now: {config:?}");
        }
        applied += 1;
        // The first call is the initial load, not a reload.
        args.reloads.is_none_or(|n| applied <= n)
    });
    match tokio::time::timeout(args.run_for, watching).await {
        Ok(result) => result?,
        Err(_) => println!("stopping after {:?}", args.run_for),
    }
    Ok(())
}
