//! `vramgate config check`: validate the config file that `serve` and `check` read.

use super::settings_or_report;
use clap::Subcommand;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file; every problem is printed with its key's path.
    Check {
        #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE")]
        config: std::path::PathBuf,
    },
}

pub(super) fn run(c: ConfigCommand, out: &mut dyn Write) -> anyhow::Result<i32> {
    match c {
        ConfigCommand::Check { config } => run_check(&config, out),
    }
}

fn run_check(path: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(s) = settings_or_report(Some(path)) else { return Ok(2) };
    writeln!(
        out,
        "{}: valid; default mode {}, {} namespace override(s), {} GPUs in the catalog, default GPU {}",
        path.display(),
        s.defaults.mode.as_str(),
        s.namespaces.len(),
        s.catalog.all().len(),
        s.defaults.default_gpu
    )?;
    Ok(0)
}
