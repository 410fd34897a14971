//! Login throttling: after `max_failures` failed logins in a row for one user name,
//! or from one address, further logins for it are refused for `lockout`, without
//! looking at the password (a right one too: it is refused until the lockout ends).
//! A successful login clears the user's and the address's count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The book tracks at most this many names and addresses; beyond it the entries
/// with the oldest failure go first.
pub const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    last_ms: i64,
    locked_until_ms: i64,
}

#[derive(Clone)]
pub struct LoginThrottle {
    inner: Arc<Mutex<HashMap<String, Failures>>>,
    max_failures: u32,
    lockout_ms: i64,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, lockout: Duration) -> LoginThrottle {
        LoginThrottle {
            inner: Arc::default(),
            max_failures: max_failures.max(1),
            lockout_ms: i64::try_from(lockout.as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn keys(user: &str, address: &str) -> [String; 2] {
        [format!("user {user}"), format!("address {address}")]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Some(seconds left)` while `user` or `address` is locked out.
    pub fn locked(&self, user: &str, address: &str, now_ms: i64) -> Option<u64> {
        let map = self.lock();
        Self::keys(user, address)
            .iter()
            .filter_map(|k| map.get(k))
            .map(|f| f.locked_until_ms.saturating_sub(now_ms))
            .filter(|&left| left > 0)
            .max()
            .map(|left| u64::try_from(left).unwrap_or(0).div_ceil(1000))
    }

    /// Counts a failed login; returns whether it locked `user` or `address` out.
    pub fn failed(&self, user: &str, address: &str, now_ms: i64) -> bool {
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED {
            map.retain(|_, f| f.locked_until_ms > now_ms);
            while map.len() >= MAX_TRACKED {
                let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, f)| f.last_ms)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                map.remove(&oldest);
            }
        }
        let mut locked = false;
        for k in Self::keys(user, address) {
            let f = map.entry(k).or_default();
            if f.locked_until_ms != 0 && f.locked_until_ms <= now_ms {
                // A lockout that ended starts the count again.
                *f = Failures::default();
            }
            f.count = f.count.saturating_add(1);
            f.last_ms = now_ms;
            if f.count >= self.max_failures && f.locked_until_ms <= now_ms {
                f.locked_until_ms = now_ms.saturating_add(self.lockout_ms);
                locked = true;
            }
        }
        locked
    }

    /// Clears the counts after a successful login.
    pub fn succeeded(&self, user: &str, address: &str) {
        let mut map = self.lock();
        for k in Self::keys(user, address) {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_out_until_the_lockout_ends() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        assert!(!t.failed("ann", "10.0.0.1", 0));
        assert!(!t.failed("ann", "10.0.0.1", 1));
        assert_eq!(t.locked("ann", "10.0.0.1", 2), None);
        assert!(t.failed("ann", "10.0.0.1", 2));
        assert_eq!(
            t.locked("ann", "10.0.0.2", 3),
            Some(60),
            "the user, from anywhere"
        );
        assert_eq!(
            t.locked("bob", "10.0.0.1", 3),
            Some(60),
            "the address, for anyone"
        );
        assert_eq!(t.locked("bob", "10.0.0.2", 3), None);
        assert_eq!(t.locked("ann", "10.0.0.2", 60_002), None, "ended");
        assert!(
            !t.failed("ann", "10.0.0.2", 60_003),
            "counts again from one"
        );
        t.succeeded("ann", "10.0.0.2");
        assert_eq!(t.locked("ann", "10.0.0.2", 60_004), None);
    }
}
