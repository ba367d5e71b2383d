//! Command-line interface: `estimate`, `check`, `serve`, `config check`, `catalog` and
//! `cluster rbac`, one file per command (its clap arguments and what it runs); this one holds
//! the clap [`Cli`] and dispatches.
//!
//! Arguments are parsed in two steps, as ripgrep does: clap reads raw strings, then the same
//! [`crate::request::parse_fields`] the webhook uses validates them, so a flag and an annotation
//! with the same name accept exactly the same values. This is the imperative shell: it reads
//! files and prints; the decisions are in the pure modules.

mod catalog;
mod check;
mod cluster;
mod config;
mod estimate;
mod estimate_serving;
mod serve;

pub use catalog::CatalogArgs;
pub use check::CheckArgs;
pub use cluster::ClusterCommand;
pub use config::ConfigCommand;
pub use estimate::{EstimateArgs, load_catalog};
pub use serve::ServeArgs;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;

#[derive(Debug, Parser)]
#[command(name = "vramgate", version, about = "GPU memory, GPU count and cost of LLM jobs, checked before they queue")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Estimate per-GPU memory, GPU count, compute and cost of one job.
    Estimate(Box<EstimateArgs>),
    /// Decide manifests offline, exactly as the validating webhook would (as a CREATE).
    Check(CheckArgs),
    /// Run the admission webhook (HTTPS) and its probe and metrics port (plain HTTP).
    Serve(ServeArgs),
    /// Validate the config file that `serve` and `check` read.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List the GPU catalog and the model presets.
    Catalog(CatalogArgs),
    /// What `serve --cluster` needs from the cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Exit codes: 0 fits or warn, 1 does not fit, 2 unusable input.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cli.command {
        Command::Estimate(a) => estimate::run(*a, out),
        Command::Catalog(a) => catalog::run(a, out),
        Command::Check(a) => check::run(a, out),
        Command::Serve(a) => serve::run(a),
        Command::Config(c) => config::run(c, out),
        Command::Cluster(c) => cluster::run(c, out),
    }
}

/// Loads `path`, or the built-in defaults without one; prints every problem and returns
/// `None` when the file is unusable.
fn settings_or_report(path: Option<&std::path::Path>) -> Option<crate::config::Settings> {
    let Some(path) = path else { return Some(crate::config::Settings::default()) };
    match crate::config::load_file(path) {
        Ok(s) => Some(s),
        Err(errors) => {
            for e in errors {
                eprintln!("error: {}: {e}", path.display());
            }
            None
        }
    }
}
