use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use etcd_monitor::cli::output;
use tracing_subscriber::EnvFilter;

/// Adds the web layer's quieting of actix-http unless the user's filter names it.
fn quiet_actix(filter: EnvFilter) -> EnvFilter {
    if filter.to_string().contains("actix_http") {
        return filter;
    }
    etcd_monitor::web::QUIET_LOG_DIRECTIVES
        .split(',')
        .filter_map(|d| d.parse().ok())
        .fold(filter, EnvFilter::add_directive)
}

/// Standard error for log lines, where a failed write (its reader went away: a
/// closed pipe, a stopped log collector) loses the line and nothing else.
/// tracing-subscriber reports a failed write with `eprintln!`, which panics on the
/// same broken stderr: the next log line took the process down, the store left
/// open.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = etcd_monitor::cli::Cli::parse();
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logger = tracing_subscriber::fmt()
        .with_env_filter(quiet_actix(
            EnvFilter::try_from_env("ETCD_MONITOR_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        ))
        .with_writer(|| LossyStderr)
        .with_ansi(on_terminal);
    // Under systemd (JOURNAL_STREAM set, stderr not a terminal) the journal stamps
    // every line itself: a second timestamp would only take space.
    if !on_terminal && std::env::var_os("JOURNAL_STREAM").is_some() {
        logger.without_time().init();
    } else {
        logger.init();
    }
    match etcd_monitor::cli::run(cli) {
        Ok(status) => ExitCode::from(status),
        // `... | head -1`: the reader had enough; see cli::output.
        Err(e) if output::is_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors say their cause in their own message, and keep it as their
            // source too: print each cause once.
            // Not eprintln!: it panics when stderr is gone, and the status must stay 1.
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                etcd_monitor::etcd::error_chain(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}
