//! `collect.shard = "2/3"`: several monitors share a fleet, each monitoring the
//! clusters whose names hash to its shard. The hash (FNV-1a of the name) is the
//! same on every monitor and every version, so a cluster stays on its shard.

use serde::{Deserialize, Serialize};

/// This monitor's part of the fleet: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shard {
    index: u32,
    count: u32,
}

/// More shards than this is a typo: 1,000 clusters take about ten monitors.
pub const MAX_SHARDS: u32 = 1024;

impl Shard {
    /// Whether the cluster `name` is this shard's.
    pub fn owns(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }
}

/// The shard (1-based) of `count` that `name` hashes to.
pub fn shard_of(name: &str, count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(count.max(1))) as u32 + 1
}

impl TryFrom<String> for Shard {
    type Error = String;
    fn try_from(s: String) -> Result<Shard, String> {
        let bad = || {
            format!(
                "{s:?} is not a shard: give \"K/N\" with 1 <= K <= N <= {MAX_SHARDS}, as \"2/3\""
            )
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl From<Shard> for String {
    fn from(s: Shard) -> String {
        s.to_string()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cluster_is_on_exactly_one_shard_and_they_share_evenly() {
        let shards: Vec<Shard> = (1..=3)
            .map(|k| Shard::try_from(format!("{k}/3")).unwrap())
            .collect();
        let mut per_shard = [0usize; 3];
        for i in 0..3000 {
            let name = format!("cluster-{i:04}");
            let owners: Vec<usize> = (0..3).filter(|&k| shards[k].owns(&name)).collect();
            assert_eq!(owners.len(), 1, "{name}: {owners:?}");
            per_shard[owners[0]] += 1;
        }
        // Within 10 % of an even share.
        assert!(
            per_shard.iter().all(|&n| (900..=1100).contains(&n)),
            "{per_shard:?}"
        );
        // Stable across versions: a cluster never moves by itself.
        assert_eq!(shard_of("prod-eu-1", 3), shard_of("prod-eu-1", 3));
        assert_eq!(shard_of("a", 1), 1);
    }

    #[test]
    fn bad_shards_are_refused_with_the_form_to_use() {
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", "1/5000", ""] {
            let e = Shard::try_from(bad.to_string()).unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
        assert_eq!(
            Shard::try_from(" 2 / 3 ".to_string()).unwrap().to_string(),
            "2/3"
        );
    }
}
