//! Leader election: etcd's election service.
//!
//! Candidates campaign for an election name; etcd makes the one with the oldest
//! key the leader, and the others' campaigns wait. The leader's key is attached to
//! its lease: when the leader resigns, or dies and its lease expires, the next
//! candidate in line becomes leader.
//!
//! ```text
//! cargo run --example election -- --endpoints http://127.0.0.1:2379 --candidates 3 --term 2s
//! ```
//! each candidate leads for `--term`, then resigns; exits when all have led.

use std::time::Duration;

use clap::Parser;
use etcd_client::{Client, LeaderKey, ResignOptions};
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

/// A won election: leadership lasts while the lease is kept alive.
pub struct Leadership {
    pub candidate: String,
    key: LeaderKey,
    lease: i64,
    keeper: tokio::task::JoinHandle<()>,
}

/// Campaigns for `election` as `candidate`, under a lease of `ttl` seconds;
/// returns when elected (which may be never, if the leader never leaves).
pub async fn campaign(
    client: &Client,
    election: &str,
    candidate: &str,
    ttl: i64,
) -> Result<Leadership, etcd_client::Error> {
    let mut client = client.clone();
    let lease = client.lease_grant(ttl, None).await?.id();
    let (mut keeper, mut responses) = client.lease_keep_alive(lease).await?;
    let period = Duration::from_millis((ttl as u64 * 1000 / 3).max(200));
    // Kept alive while waiting too: a candidate in line keeps its place.
    let keeper = tokio::spawn(async move {
        while keeper.keep_alive().await.is_ok() {
            if !matches!(responses.message().await, Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(period).await;
        }
    });
    println!("{candidate}: campaigning for {election}");
    let won = match client.campaign(election, candidate, lease).await {
        Ok(mut resp) => resp.take_leader(),
        Err(e) => {
            keeper.abort();
            return Err(e);
        }
    };
    let Some(key) = won else {
        keeper.abort();
        return Err(etcd_client::Error::InvalidArgs(
            "campaign answered without a leader key".into(),
        ));
    };
    println!("{candidate}: elected leader of {election}");
    Ok(Leadership {
        candidate: candidate.to_string(),
        key,
        lease,
        keeper,
    })
}

impl Leadership {
    /// Steps down at once: the next candidate in line is elected.
    pub async fn resign(self, client: &Client) -> Result<(), etcd_client::Error> {
        let mut client = client.clone();
        client
            .resign(Some(ResignOptions::new().with_leader(self.key)))
            .await?;
        self.keeper.abort();
        let _ = client.lease_revoke(self.lease).await;
        println!("{}: resigned", self.candidate);
        Ok(())
    }
}

/// The current leader's proposal (its candidate name), if there is a leader.
pub async fn current_leader(
    client: &Client,
    election: &str,
) -> Result<Option<String>, etcd_client::Error> {
    match client.clone().leader(election).await {
        Ok(resp) => Ok(resp
            .kv()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())),
        // etcd answers "election: no leader" as an error.
        Err(e) if e.to_string().contains("no leader") => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Parser)]
#[command(about = "Candidates take turns leading an etcd election")]
struct Args {
    /// etcd endpoints, comma-separated.
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        default_value = "http://127.0.0.1:2379"
    )]
    endpoints: String,
    #[arg(long, default_value = "examples/election")]
    election: String,
    #[arg(long, default_value_t = 2)]
    candidates: usize,
    /// How long each leader leads before resigning.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    term: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut tasks = Vec::new();
    for i in 1..=args.candidates {
        // A client (connection) each, as separate processes would have.
        let client = connect(&args.endpoints).await?;
        let (election, term) = (args.election.clone(), args.term);
        tasks.push(tokio::spawn(async move {
            let name = format!("candidate-{i}");
            let leadership = campaign(&client, &election, &name, 5).await?;
            if let Some(leader) = current_leader(&client, &election).await? {
                println!("{name}: the election says the leader is {leader}");
            }
            tokio::time::sleep(term).await;
            leadership.resign(&client).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!("every candidate led once");
    Ok(())
}
