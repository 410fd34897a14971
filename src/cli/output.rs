//! The one way commands write to standard output.
//!
//! A reader that goes away before the command is done (`etcd-monitor ... | head -1`)
//! is not a failure of the command: the write fails with EPIPE (Rust ignores
//! SIGPIPE), [`OutputError::Closed`] goes up to `main`, and the process ends quietly
//! with exit status 0, as ripgrep does. Not 141 (the shell's 128 + SIGPIPE that a C
//! tool gets by dying of the signal): with `set -o pipefail`, `cmd | head -1` would
//! fail a script whose reader simply had enough. Every other write error (a full
//! disk behind a redirect) is an error of the command, named as one.
//!
//! Once the reader has gone, every later write fails at once with `Closed`, so a
//! callback that cannot return an error (a watch's) still stops at its next write.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader of standard output went away: the command ends quietly.
    #[error("standard output was closed by its reader")]
    Closed,
    #[error("cannot write to standard output: {0}")]
    Io(#[source] io::Error),
}

fn classify(e: io::Error) -> OutputError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        OutputError::Closed
    } else {
        OutputError::Io(e)
    }
}

fn with_stdout(
    f: impl FnOnce(&mut io::StdoutLock<'_>) -> io::Result<()>,
) -> Result<(), OutputError> {
    if CLOSED.load(Ordering::Relaxed) {
        return Err(OutputError::Closed);
    }
    f(&mut io::stdout().lock()).map_err(|e| {
        let e = classify(e);
        if matches!(e, OutputError::Closed) {
            CLOSED.store(true, Ordering::Relaxed);
        }
        e
    })
}

/// Writes formatted text (what the `out!` and `outln!` macros expand to).
pub fn write_fmt(args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    with_stdout(|o| o.write_fmt(args))
}

/// Writes bytes as they are (keys and values of etcd).
pub fn write_bytes(bytes: &[u8]) -> Result<(), OutputError> {
    with_stdout(|o| o.write_all(bytes))
}

/// Pushes out what is buffered (before waiting on something else).
pub fn flush() -> Result<(), OutputError> {
    with_stdout(|o| o.flush())
}

/// `value` as pretty JSON and a newline.
pub fn json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(write_fmt(format_args!("{text}\n"))?)
}

/// Whether `err` is (or was caused by) the reader of standard output going away.
pub fn is_closed(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|c| matches!(c.downcast_ref::<OutputError>(), Some(OutputError::Closed)))
}

/// `print!` through [`write_fmt`]: a `Result<(), OutputError>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` through [`write_fmt`]: a `Result<(), OutputError>`.
macro_rules! outln {
    () => {
        $crate::cli::output::write_bytes(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_reader_is_quiet() {
        let closed = anyhow::Error::from(OutputError::Closed).context("printing the history");
        assert!(is_closed(&closed));
        let full = anyhow::Error::from(OutputError::Io(io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(!is_closed(&full));
        // A broken pipe elsewhere (a socket, a child's stdin) is an error, not a reader
        // of our output that went away.
        let socket = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(!is_closed(&socket));
        assert!(matches!(
            classify(io::Error::from(io::ErrorKind::BrokenPipe)),
            OutputError::Closed
        ));
    }
}
