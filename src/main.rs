use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = etcd_monitor::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ETCD_MONITOR_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = etcd_monitor::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
