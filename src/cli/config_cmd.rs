//! `etcd-monitor config default|reference|check`.

use anyhow::Context;

use super::output::{out, outln};
use super::ConfigCommand;
use crate::config::{Overrides, Settings, DEFAULT_CONFIG};

pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Default => {
            out!("{DEFAULT_CONFIG}")?;
            Ok(())
        }
        ConfigCommand::Reference => {
            out!("{}", crate::config::reference_markdown())?;
            Ok(())
        }
        ConfigCommand::Check { config } => {
            let settings = Settings::load(config.as_deref(), &Overrides::default())?;
            // Passwords are never in Settings (only where to read them), so this is safe to print.
            let text = toml::to_string_pretty(&settings).context("printing the configuration")?;
            outln!("# configuration is valid\n{text}")?;
            Ok(())
        }
    }
}
