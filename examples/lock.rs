//! A distributed lock: etcd's lock service, with the lock held under a lease.
//!
//! Holders race for the lock `<name>`; etcd queues them by revision and grants it
//! to one at a time. The name is a prefix: etcd puts one key per contender under
//! `<name>/` and the oldest holds the lock, so no other key may live under it
//! (a counter at `<name>/counter` would be the "oldest contender" forever). The lock key is attached to the holder's lease, so a holder
//! that dies loses the lock when its lease expires instead of blocking everyone.
//! Each holder does a read-modify-write of a counter under the lock: without the
//! lock, concurrent increments would be lost.
//!
//! ```text
//! cargo run --example lock -- --endpoints http://127.0.0.1:2379 --holders 3 --rounds 2
//! ```
//! prints each acquisition and release, and exits once every holder has done its rounds.

use std::time::{Duration, Instant};

use clap::Parser;
use etcd_client::{Client, LockOptions};
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

/// Runs `work` while holding the lock `name`, under a lease of `ttl` seconds kept
/// alive meanwhile; unlocks and revokes the lease afterwards.
pub async fn with_lock<T>(
    client: &Client,
    name: &str,
    ttl: i64,
    work: impl std::future::Future<Output = T>,
) -> Result<T, etcd_client::Error> {
    let mut client = client.clone();
    let lease = client.lease_grant(ttl, None).await?.id();
    let (mut keeper, mut responses) = client.lease_keep_alive(lease).await?;
    let period = Duration::from_millis((ttl as u64 * 1000 / 3).max(200));
    let keep_alive = tokio::spawn(async move {
        while keeper.keep_alive().await.is_ok() {
            if !matches!(responses.message().await, Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(period).await;
        }
    });
    let locked = client
        .lock(name, Some(LockOptions::new().with_lease(lease)))
        .await;
    let result = match locked {
        Ok(resp) => {
            let out = work.await;
            client.unlock(resp.key()).await.map(|_| out)
        }
        Err(e) => Err(e),
    };
    keep_alive.abort();
    // Revoking also releases the lock if unlock failed.
    let _ = client.lease_revoke(lease).await;
    result
}

/// When one holder held the lock.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub holder: usize,
    pub from: Instant,
    pub to: Instant,
}

/// `rounds` times: take the lock, increment the counter at `counter_key` by a
/// read, a pause and a write (a lost update if anyone else wrote in between),
/// release. Returns when it held the lock.
pub async fn increment_rounds(
    client: &Client,
    name: &str,
    counter_key: &str,
    holder: usize,
    rounds: usize,
) -> Result<Vec<Held>, etcd_client::Error> {
    let mut held = Vec::new();
    for _ in 0..rounds {
        let mut kv = client.clone();
        let span = with_lock(client, name, 5, async {
            let from = Instant::now();
            println!("holder {holder}: acquired {name}");
            let current: i64 = match kv.get(counter_key, None).await {
                Ok(r) => r
                    .kvs()
                    .first()
                    .and_then(|kv| std::str::from_utf8(kv.value()).ok()?.parse().ok())
                    .unwrap_or(0),
                Err(e) => return Err(e),
            };
            tokio::time::sleep(Duration::from_millis(30)).await;
            kv.put(counter_key, (current + 1).to_string(), None).await?;
            println!("holder {holder}: counter {current} -> {}", current + 1);
            let to = Instant::now();
            println!("holder {holder}: releasing {name}");
            Ok((from, to))
        })
        .await??;
        held.push(Held {
            holder,
            from: span.0,
            to: span.1,
        });
    }
    Ok(held)
}

#[derive(Parser)]
#[command(about = "Holders take turns with an etcd lock to increment a shared counter")]
struct Args {
    /// etcd endpoints, comma-separated.
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        default_value = "http://127.0.0.1:2379"
    )]
    endpoints: String,
    #[arg(long, default_value = "examples/lock")]
    name: String,
    /// The shared counter (not under the lock's prefix).
    #[arg(long, default_value = "examples/lock-counter")]
    counter: String,
    #[arg(long, default_value_t = 2)]
    holders: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let counter = args.counter.clone();
    if counter.starts_with(&format!("{}/", args.name)) {
        return Err("--counter must not be under the lock's prefix <name>/".into());
    }
    let mut client = connect(&args.endpoints).await?;
    client.delete(counter.as_str(), None).await?;
    let mut tasks = Vec::new();
    for holder in 1..=args.holders {
        // A client (connection) each, as separate processes would have.
        let client = connect(&args.endpoints).await?;
        let (name, counter) = (args.name.clone(), counter.clone());
        let rounds = args.rounds;
        tasks.push(tokio::spawn(async move {
            increment_rounds(&client, &name, &counter, holder, rounds).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let resp = client.get(counter.as_str(), None).await?;
    let total = resp
        .kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
        .unwrap_or_default();
    let expected = (args.holders * args.rounds).to_string();
    println!("counter = {total} (expected {expected}: no increment lost)");
    if total != expected {
        return Err(format!("counter is {total}, not {expected}: increments were lost").into());
    }
    Ok(())
}
