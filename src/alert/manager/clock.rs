//! The time the alert manager reads: the system clock in production, a clock the
//! tests set by hand, so that group_wait, group_interval, repeat_interval and the
//! notification log are tested in milliseconds, without sleeping.
//!
//! Only reading the time goes through it. The engine's task still sleeps on tokio's
//! timer until the next group is due; the tests call the engine's steps themselves
//! instead of running that task.

#[cfg(test)]
use std::sync::atomic::{AtomicI64, Ordering};
#[cfg(test)]
use std::sync::Arc;

/// Where "now" comes from. Clones share the time: advancing a manual clock advances
/// it for the engine and the handle that hold its clones.
#[derive(Debug, Clone)]
pub(super) struct Clock(Source);

#[derive(Debug, Clone)]
enum Source {
    System,
    /// Unix milliseconds, changed only by [`Clock::advance`].
    #[cfg(test)]
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The wall clock.
    pub(super) fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock that stands at `start_ms` until advanced.
    #[cfg(test)]
    pub(super) fn manual(start_ms: i64) -> Clock {
        Clock(Source::Manual(Arc::new(AtomicI64::new(start_ms))))
    }

    /// Moves a manual clock forward, and every clone with it.
    #[cfg(test)]
    pub(super) fn advance(&self, by: std::time::Duration) {
        match &self.0 {
            Source::System => panic!("the system clock cannot be advanced"),
            Source::Manual(ms) => {
                ms.fetch_add(super::duration_ms(by), Ordering::SeqCst);
            }
        }
    }

    /// Now, as unix milliseconds.
    pub(super) fn now_ms(&self) -> i64 {
        match &self.0 {
            Source::System => crate::unix_ms_now(),
            #[cfg(test)]
            Source::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }
}
