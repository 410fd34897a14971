//! `[collect]`: how often and how patiently members are probed. Loaded and checked
//! by [`crate::config`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectSettings {
    #[serde(with = "crate::time::duration")]
    pub interval: Duration,
    #[serde(with = "crate::time::duration")]
    pub request_timeout: Duration,
    #[serde(with = "crate::time::duration")]
    pub dial_timeout: Duration,
    #[serde(with = "crate::time::duration")]
    pub consistency_interval: Duration,
    /// How long a member's `/health` "true" is trusted while its Status answers
    /// with no errors; zero asks `/health` at every probe.
    #[serde(with = "crate::time::duration")]
    pub health_interval: Duration,
    /// How long the member list is reused while every Status answers as before;
    /// zero asks for it at every probe.
    #[serde(with = "crate::time::duration")]
    pub member_list_interval: Duration,
    pub max_raft_index_lag: u64,
    /// This monitor's share of the fleet (`"2/3"`); none: every cluster.
    #[serde(default)]
    pub shard: Option<super::shard::Shard>,
}

impl CollectSettings {
    /// The settings `cluster` is probed with: its own interval and request
    /// deadline where it has them, the deadline never past the interval (a
    /// probe ends before the next starts).
    pub fn for_cluster(&self, cluster: &crate::etcd::ClusterConfig) -> CollectSettings {
        let mut s = self.clone();
        if let Some(i) = cluster.interval {
            s.interval = i;
        }
        if let Some(t) = cluster.request_timeout {
            s.request_timeout = t;
        }
        s.request_timeout = s.request_timeout.min(s.interval);
        s
    }
}
