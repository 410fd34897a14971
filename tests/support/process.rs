//! The etcd-monitor binary (or any command) as a child process of a test: run with
//! text piped to its stdin, signalled, and waited for with a deadline.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary cargo built for the integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_etcd-monitor");

/// Runs `cmd` with `input` on its stdin (then closed) and returns what it printed.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Sends `signal` (SIGTERM, SIGINT) to a child the test started.
pub fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child process, with a valid signal; no memory is touched.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(sent, 0, "kill({}, {signal})", child.id());
}

pub fn sigterm(child: &Child) {
    signal(child, libc::SIGTERM);
}

/// Waits up to `within` for `child` to exit; past that, kills it and returns `None`
/// (for a test that reports other failures first).
pub async fn try_wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to `within` for `child` (`what`) to exit; past that, kills it and panics.
pub async fn wait_exit(child: &mut Child, what: &str, within: Duration) -> ExitStatus {
    try_wait_exit(child, within)
        .await
        .unwrap_or_else(|| panic!("{what} did not exit within {within:?}"))
}

/// A child process that is killed (and reaped) when the guard goes, so that a
/// failing test leaves no process behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
