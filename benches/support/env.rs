//! What the benches read from their environment: knobs, the machine's cores and
//! its load before a run.
#![allow(dead_code)]

use anyhow::{anyhow, Result};

/// The environment variable `name` parsed, or `default` when it is not set.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow!("{name}={v:?} is not a valid value")),
        Err(_) => Ok(default),
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The 1, 5 and 15 minute load averages (/proc/loadavg), as printed there.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
