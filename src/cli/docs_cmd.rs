//! `etcd-monitor completions SHELL` and the hidden `etcd-monitor manpages DIR`: both
//! generated from the CLI definition itself, so they never drift from `--help`.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use super::output;
use super::Cli;

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "etcd-monitor", &mut script);
    output::write_bytes(&script)?;
    Ok(0)
}

/// Writes `etcd-monitor.1` and one page per subcommand (`etcd-monitor-ctl-get.1`, …)
/// into `dir`, creating it.
pub fn manpages(dir: &Path) -> anyhow::Result<u8> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    let pages = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".1"))
        .count();
    eprintln!("{pages} man pages in {}", dir.display());
    Ok(0)
}
