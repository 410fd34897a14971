//! Tiers, their retention, and the point every tier is made of: the vocabulary
//! the head, the blocks and the queries share. A tier's windows are aligned to the
//! Unix epoch (`floor`), so a point's block key follows from its time alone.

use std::time::Duration;

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::tables::{HOUR, MINUTE, RAW};

/// A storage tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Raw,
    #[serde(rename = "1m")]
    Minute,
    #[serde(rename = "1h")]
    Hour,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Raw, Tier::Minute, Tier::Hour];

    /// Time window of one block.
    pub fn block_ms(self) -> i64 {
        match self {
            Tier::Raw => 2 * 3_600_000,
            Tier::Minute => 6 * 3_600_000,
            Tier::Hour => 7 * 86_400_000,
        }
    }

    /// Width of one point (0: raw samples).
    pub fn step_ms(self) -> i64 {
        match self {
            Tier::Raw => 0,
            Tier::Minute => 60_000,
            Tier::Hour => 3_600_000,
        }
    }

    pub(super) fn columns(self) -> usize {
        match self {
            Tier::Raw => 1,
            _ => 5,
        }
    }

    pub(super) fn table(self) -> TableDefinition<'static, (u64, i64), &'static [u8]> {
        match self {
            Tier::Raw => RAW,
            Tier::Minute => MINUTE,
            Tier::Hour => HOUR,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::Minute => "1m",
            Tier::Hour => "1h",
        }
    }
}

/// How long each tier is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
}

impl Retention {
    pub fn of(&self, tier: Tier) -> Duration {
        match tier {
            Tier::Raw => self.raw,
            Tier::Minute => self.minute,
            Tier::Hour => self.hour,
        }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(2 * 86_400),
            minute: Duration::from_secs(30 * 86_400),
            hour: Duration::from_secs(400 * 86_400),
        }
    }
}

/// A point of any tier: a raw sample is a point whose min = max = sum = last and count = 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub ts: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: f64,
    pub last: f64,
}

impl Point {
    /// A raw sample as a point.
    pub fn sample(ts: i64, v: f64) -> Point {
        Point {
            ts,
            min: v,
            max: v,
            sum: v,
            count: 1.0,
            last: v,
        }
    }

    pub(super) fn columns(&self) -> [f64; 5] {
        [self.min, self.max, self.sum, self.count, self.last]
    }

    /// Folds a later point of the same bucket in.
    pub(super) fn merge(&mut self, later: &Point) {
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.sum += later.sum;
        self.count += later.count;
        self.last = later.last;
    }
}

/// The start of the step-wide window holding `ts` (windows are aligned to the epoch).
pub(super) fn floor(ts: i64, step: i64) -> i64 {
    // Saturating: the earliest instants of i64 have no whole step below them.
    ts.saturating_sub(ts.rem_euclid(step))
}
