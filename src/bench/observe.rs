//! What a stored run keeps besides its latencies: the cluster's facts when it started
//! (version, members, leader, DB size), the host that drove it, and the cluster's own
//! indicators over the run (WAL fsync and backend commit p99, leader changes, failed
//! proposals), from the members' `/metrics` scraped before and after the load.
//!
//! Gathering never fails a run: what cannot be read is left out and said in `errors`.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::collect::derive::{counter_increase, MetricsSample};
use crate::collect::snapshot::version_key;
use crate::etcd::{with_deadline, Connector};

/// The cluster when the run started.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterFacts {
    /// etcd's cluster id (hex), the same for every member of one cluster.
    pub cluster_id: Option<String>,
    pub members: Vec<MemberFact>,
    /// Name (else id) of the leader.
    pub leader: Option<String>,
    /// The lowest server version among the members that answered.
    pub version: Option<String>,
    /// The largest DB size among the members that answered.
    pub db_size_bytes: Option<i64>,
    #[serde(default)]
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemberFact {
    pub id: String,
    pub name: String,
    pub endpoint: Option<String>,
    pub learner: bool,
    pub version: Option<String>,
    pub db_size_bytes: Option<i64>,
    pub is_leader: bool,
}

/// The machine that drove the load: runs from different hosts compare poorly.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostFacts {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub monitor_version: String,
}

impl HostFacts {
    pub fn current() -> HostFacts {
        HostFacts {
            hostname: hostname(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            monitor_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The cluster's own view of the run: quantiles of the histogram increase between the
/// scrapes before and after it, the worst member for each.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunIndicators {
    pub wal_fsync_p99_seconds: Option<f64>,
    pub backend_commit_p99_seconds: Option<f64>,
    /// Leader changes any member saw during the run (the most of any member).
    pub leader_changes: Option<f64>,
    pub proposals_failed: Option<f64>,
    /// Members whose metrics were read both before and after.
    pub members_observed: usize,
    #[serde(default)]
    pub errors: Vec<String>,
}

/// Scrapes taken before the load, keyed by URL.
pub struct Baseline {
    scrapes: BTreeMap<String, MetricsSample>,
    urls: Vec<String>,
    errors: Vec<String>,
}

/// Reads the member list and every member's status; the `/metrics` URLs to scrape are
/// `metrics_urls` when given (as in a cluster's config), else each member's first
/// client URL + `/metrics` (etcd serves them there by default).
pub async fn cluster_facts(
    connector: &Connector,
    endpoints: &[String],
    metrics_urls: &[String],
) -> (ClusterFacts, Vec<String>) {
    let mut facts = ClusterFacts::default();
    let timeout = connector.request_timeout();
    let client = match connector.answering_client(endpoints).await {
        Ok(c) => c,
        Err(e) => {
            facts.errors.push(e.to_string());
            return (facts, metrics_urls.to_vec());
        }
    };
    let mut cluster = client.cluster_client();
    let list = match with_deadline("member list", timeout, cluster.member_list()).await {
        Ok(l) => l,
        Err(e) => {
            facts.errors.push(e.to_string());
            return (facts, metrics_urls.to_vec());
        }
    };
    facts.cluster_id = list.header().map(|h| format!("{:x}", h.cluster_id()));
    let statuses = futures::future::join_all(list.members().iter().map(|m| async move {
        let url = m.client_urls().first()?.clone();
        let status = async {
            let c = connector.connect(std::slice::from_ref(&url)).await?;
            let mut maintenance = c.maintenance_client();
            with_deadline(&format!("status of {url}"), timeout, maintenance.status()).await
        }
        .await;
        Some((url, status))
    }))
    .await;
    let mut leader_id = None;
    for (m, status) in list.members().iter().zip(statuses) {
        let mut fact = MemberFact {
            id: format!("{:x}", m.id()),
            name: m.name().to_string(),
            learner: m.is_learner(),
            ..Default::default()
        };
        if let Some((url, status)) = status {
            fact.endpoint = Some(url);
            match status {
                Ok(s) => {
                    fact.version = Some(s.version().to_string());
                    fact.db_size_bytes = Some(s.db_size());
                    fact.is_leader = s.leader() == m.id();
                    leader_id = leader_id.or(Some(s.leader()).filter(|&l| l != 0));
                }
                Err(e) => facts.errors.push(e.to_string()),
            }
        }
        facts.members.push(fact);
    }
    facts.leader = leader_id.map(|id| {
        facts
            .members
            .iter()
            .find(|f| f.id == format!("{id:x}"))
            .filter(|f| !f.name.is_empty())
            .map_or(format!("{id:x}"), |f| f.name.clone())
    });
    facts.version = facts
        .members
        .iter()
        .filter_map(|f| f.version.clone())
        .min_by_key(|v| version_key(v));
    facts.db_size_bytes = facts.members.iter().filter_map(|f| f.db_size_bytes).max();
    let urls = if metrics_urls.is_empty() {
        facts
            .members
            .iter()
            .filter_map(|f| f.endpoint.as_ref())
            .map(|u| format!("{}/metrics", u.trim_end_matches('/')))
            .collect()
    } else {
        metrics_urls.to_vec()
    };
    (facts, urls)
}

async fn scrape_all(
    connector: &Connector,
    urls: &[String],
) -> (BTreeMap<String, MetricsSample>, Vec<String>) {
    let results = futures::future::join_all(urls.iter().map(|url| async move {
        let body = connector.metrics(url).await.map_err(|e| e.to_string())?;
        let scrape = crate::promtext::parse(&body).map_err(|e| format!("GET {url}: {e}"))?;
        Ok(MetricsSample::from_scrape(&scrape, Instant::now()))
    }))
    .await;
    let mut scrapes = BTreeMap::new();
    let mut errors = Vec::new();
    for (url, r) in urls.iter().zip(results) {
        match r {
            Ok(s) => {
                scrapes.insert(url.clone(), s);
            }
            Err(e) => errors.push(e),
        }
    }
    (scrapes, errors)
}

/// Scrapes every member before the load.
pub async fn baseline(connector: &Connector, urls: Vec<String>) -> Baseline {
    let (scrapes, errors) = scrape_all(connector, &urls).await;
    Baseline {
        scrapes,
        urls,
        errors,
    }
}

impl Baseline {
    /// Scrapes again after the load and derives what the cluster saw in between.
    pub async fn indicators(self, connector: &Connector) -> RunIndicators {
        let (after, mut errors) = scrape_all(connector, &self.urls).await;
        let mut ind = between(&self.scrapes, &after);
        errors.splice(0..0, self.errors);
        ind.errors = errors;
        ind
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The worst member's figures over the scrapes both maps hold.
fn between(
    before: &BTreeMap<String, MetricsSample>,
    after: &BTreeMap<String, MetricsSample>,
) -> RunIndicators {
    let mut ind = RunIndicators::default();
    for (url, b) in before {
        let Some(a) = after.get(url) else { continue };
        ind.members_observed += 1;
        let p99 = |cur: &Option<crate::collect::derive::Histogram>,
                   prev: &Option<crate::collect::derive::Histogram>| {
            match (cur, prev) {
                (Some(c), Some(p)) => c.delta(p).quantile(0.99),
                _ => None,
            }
        };
        let increase = |cur: Option<f64>, prev: Option<f64>| Some(counter_increase(prev?, cur?));
        ind.wal_fsync_p99_seconds =
            max_opt(ind.wal_fsync_p99_seconds, p99(&a.wal_fsync, &b.wal_fsync));
        ind.backend_commit_p99_seconds = max_opt(
            ind.backend_commit_p99_seconds,
            p99(&a.backend_commit, &b.backend_commit),
        );
        ind.leader_changes = max_opt(
            ind.leader_changes,
            increase(a.leader_changes, b.leader_changes),
        );
        ind.proposals_failed = max_opt(
            ind.proposals_failed,
            increase(a.proposals_failed, b.proposals_failed),
        );
    }
    ind
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str) -> MetricsSample {
        MetricsSample::from_scrape(&crate::promtext::parse(text).unwrap(), Instant::now())
    }

    fn scrape(fsync: [u64; 3], leader_changes: u64) -> String {
        format!(
            "etcd_disk_wal_fsync_duration_seconds_bucket{{le=\"0.001\"}} {}\n\
             etcd_disk_wal_fsync_duration_seconds_bucket{{le=\"0.01\"}} {}\n\
             etcd_disk_wal_fsync_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
             etcd_disk_wal_fsync_duration_seconds_sum 1\n\
             etcd_disk_wal_fsync_duration_seconds_count {}\n\
             etcd_server_leader_changes_seen_total {leader_changes}\n",
            fsync[0], fsync[1], fsync[2], fsync[2]
        )
    }

    #[test]
    fn indicators_are_the_worst_members_increase_over_the_run() {
        let mut before = BTreeMap::new();
        let mut after = BTreeMap::new();
        // Member a: 100 fsyncs before, then 100 more, all under 1 ms -> p99 in the
        // first bucket. Member b: of 100 new fsyncs, 10 took 1..10 ms -> p99 there.
        before.insert("a".to_string(), sample(&scrape([100, 100, 100], 1)));
        after.insert("a".to_string(), sample(&scrape([200, 200, 200], 1)));
        before.insert("b".to_string(), sample(&scrape([50, 50, 50], 1)));
        after.insert("b".to_string(), sample(&scrape([140, 150, 150], 3)));
        // c answered only before: not counted.
        before.insert("c".to_string(), sample(&scrape([0, 0, 0], 0)));
        let ind = between(&before, &after);
        assert_eq!(ind.members_observed, 2);
        let p99 = ind.wal_fsync_p99_seconds.unwrap();
        assert!(p99 > 0.001 && p99 <= 0.01, "{p99}");
        assert_eq!(ind.leader_changes, Some(2.0));
        assert_eq!(ind.backend_commit_p99_seconds, None);
    }

    #[test]
    fn lowest_version_is_the_clusters() {
        let mut v = ["3.5.12", "3.4.23", "3.5.9"];
        v.sort_by_key(|v| version_key(v));
        assert_eq!(v[0], "3.4.23");
        assert!(version_key("3.10.0") > version_key("3.9.1"));
    }
}
