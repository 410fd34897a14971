//! Bounds on connections, so that slow or stalled clients cannot hold the monitor:
//! how many are served at once, how long a request may take to arrive, how long an
//! idle keep-alive connection stays, and a last watchdog that closes a connection
//! that has been sent nothing for a long while (headers trickled in byte by byte on a
//! keep-alive connection, a body nobody reads). The request body's own deadline is
//! in `guard`.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::ServerSettings;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub request_timeout: Duration,
    pub keep_alive: Duration,
}

impl Limits {
    /// From the settings; `max_connections` is lowered to half the process's
    /// open-file limit when that is smaller, so that the store, the clusters'
    /// connections and the probes keep descriptors of their own.
    pub fn new(settings: &ServerSettings) -> Limits {
        let mut max_connections = settings.max_connections.max(1);
        if let Some(files) = open_file_limit() {
            let half = usize::try_from(files / 2).unwrap_or(usize::MAX).max(1);
            if half < max_connections {
                tracing::warn!(
                    "dashboard: serving at most {half} connections at once, not {max_connections} (server.max_connections): the open-file limit is {files}"
                );
                max_connections = half;
            }
        }
        Limits {
            max_connections,
            request_timeout: settings.request_timeout,
            keep_alive: settings.keep_alive,
        }
    }

    /// A connection that has been sent nothing for this long is closed. Every
    /// answer starts within a handler's deadline, and the live-update stream sends
    /// a comment every 15 s, so only a stalled client reaches it.
    pub fn silence_limit(&self) -> Duration {
        self.request_timeout
            .saturating_mul(3)
            .max(Duration::from_secs(30))
    }
}

fn open_file_limit() -> Option<libc::rlim_t> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// A warning said at most once per `every`, with the number of times it was
/// kept quiet in between.
pub struct RateLimitedLog {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(every: Duration) -> RateLimitedLog {
        RateLimitedLog {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to say it now, and how many times it was kept quiet since.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// Logs `message(suffix)` at WARN unless said within the interval.
    pub fn warn(&mut self, message: impl FnOnce(String) -> String) {
        if let Some(suppressed) = self.check(Instant::now()) {
            let suffix = if suppressed > 0 {
                format!(
                    " ({suppressed} more since the last such warning, {:?} ago at most)",
                    self.every
                )
            } else {
                String::new()
            };
            tracing::warn!("{}", message(suffix));
        }
    }
}

/// The connection's stream, noting when a byte was last sent to the client.
pub struct Watched<S> {
    inner: S,
    last_write: Rc<Cell<Instant>>,
}

/// Completes once the connection has been sent nothing for its limit.
pub struct Silence {
    last_write: Rc<Cell<Instant>>,
    limit: Duration,
}

impl<S> Watched<S> {
    pub fn new(inner: S, limit: Duration) -> (Watched<S>, Silence) {
        let last_write = Rc::new(Cell::new(Instant::now()));
        (
            Watched {
                inner,
                last_write: last_write.clone(),
            },
            Silence { last_write, limit },
        )
    }
}

impl Silence {
    pub async fn expired(self) {
        loop {
            let due = self.last_write.get() + self.limit;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.last_write.set(Instant::now());
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.last_write.set(Instant::now());
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_log_counts_what_it_kept_quiet() {
        let mut log = RateLimitedLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.check(t0), Some(0));
        for i in 1..=99u64 {
            assert_eq!(log.check(t0 + Duration::from_millis(100 * i)), None);
        }
        assert_eq!(log.check(t0 + Duration::from_secs(10)), Some(99));
        assert_eq!(log.check(t0 + Duration::from_secs(11)), None);
        assert_eq!(log.check(t0 + Duration::from_secs(20)), Some(1));
    }
}
