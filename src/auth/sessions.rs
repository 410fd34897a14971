//! Login sessions, kept in memory by the serving monitor: a random id in the
//! browser's cookie, its SHA-256 here. Logout, a deleted user or a changed password
//! end sessions at once; a restart ends them all (users log in again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{secret, Result, Role};

/// The book holds at most this many sessions; a login beyond it ends the one idle
/// the longest.
pub const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    /// The role at login (OIDC and proxy users have no record to read it from again);
    /// a local user's role is read from its record on every request.
    pub role: Role,
    /// Whether the user is a local one (its record is checked on every request).
    pub local: bool,
    /// Sent with every change made from a page.
    pub csrf: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
}

/// Sessions by the digest of their id.
#[derive(Clone)]
pub struct SessionBook {
    inner: Arc<Mutex<HashMap<[u8; 32], Session>>>,
    idle: i64,
    lifetime: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SessionBook {
    /// Sessions end after `idle` without a request, and `lifetime` after login.
    pub fn new(idle: Duration, lifetime: Duration) -> SessionBook {
        SessionBook {
            inner: Arc::default(),
            idle: ms(idle),
            lifetime: ms(lifetime),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding it cannot leave the map half-changed (every change
        // is one insert or remove), so a poisoned lock is still good.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a session; returns its id (for the cookie) and the session.
    pub fn start(
        &self,
        user: &str,
        role: Role,
        local: bool,
        now_ms: i64,
    ) -> Result<(String, Session)> {
        let id = secret::random_text()?;
        let session = Session {
            user: user.to_string(),
            role,
            local,
            csrf: secret::random_text()?,
            created_ms: now_ms,
            last_seen_ms: now_ms,
        };
        let mut map = self.lock();
        map.retain(|_, s| self.live(s, now_ms));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen_ms)
                .map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(secret::digest(&id), session.clone());
        Ok((id, session))
    }

    fn live(&self, s: &Session, now_ms: i64) -> bool {
        now_ms.saturating_sub(s.last_seen_ms) < self.idle
            && now_ms.saturating_sub(s.created_ms) < self.lifetime
    }

    /// The live session with this id, its last use set to `now_ms`; an ended one
    /// is removed.
    pub fn touch(&self, id: &str, now_ms: i64) -> Option<Session> {
        let key = secret::digest(id);
        let mut map = self.lock();
        let live = map.get(&key).map(|s| self.live(s, now_ms))?;
        if !live {
            map.remove(&key);
            return None;
        }
        let s = map.get_mut(&key)?;
        s.last_seen_ms = now_ms;
        Some(s.clone())
    }

    /// Ends the session with this id (logout).
    pub fn end(&self, id: &str) -> Option<Session> {
        self.lock().remove(&secret::digest(id))
    }

    /// Ends every session of `user` (deleted, password or role changed).
    pub fn end_user(&self, user: &str) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, s| s.user != user);
        before - map.len()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_idle_at_their_lifetime_or_on_demand() {
        let book = SessionBook::new(Duration::from_secs(10), Duration::from_secs(30));
        let (id, s) = book.start("ann", Role::Viewer, true, 0).unwrap();
        assert_eq!(book.touch(&id, 9_000).unwrap().user, "ann");
        assert!(
            book.touch(&id, 18_000).is_some(),
            "idle counts from the last use"
        );
        assert!(book.touch(&id, 29_000).is_none(), "idle for 11 s");
        let (id, _) = book.start("ann", Role::Viewer, true, 0).unwrap();
        for t in (5_000..30_000).step_by(5_000) {
            assert!(book.touch(&id, t).is_some());
        }
        assert!(book.touch(&id, 30_000).is_none(), "past its lifetime");
        let (a, _) = book.start("ann", Role::Viewer, true, 0).unwrap();
        let (b, _) = book.start("bob", Role::Admin, true, 0).unwrap();
        assert_eq!(book.end_user("ann"), 1);
        assert!(book.touch(&a, 1).is_none());
        assert!(book.end(&b).is_some());
        assert!(book.touch(&b, 1).is_none());
        assert!(book.touch("made up", 1).is_none());
        assert_ne!(s.csrf, id);
    }
}
