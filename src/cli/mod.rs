//! Command-line interface: `estimate`, `check`, `serve`, `config check`, `catalog` and
//! `cluster rbac`, one file per command (its clap arguments and what it runs); this one holds
//! the clap [`Cli`] and dispatches.
//!
//! Arguments are parsed in two steps, as ripgrep does: clap reads raw strings, then the same
//! [`crate::request::parse_fields`] the webhook uses validates them, so a flag and an annotation
//! with the same name accept exactly the same values. This is the imperative shell: it reads
//! files and prints; the decisions are in the pure modules.

mod audit;
mod catalog;
mod check;
mod cluster;
mod config;
mod estimate;
mod estimate_serving;
mod estimate_table;
mod serve;
mod test;
mod ui;

pub use audit::AuditArgs;
pub use catalog::CatalogArgs;
pub use check::CheckArgs;
pub use cluster::ClusterCommand;
pub use config::ConfigCommand;
pub use estimate::{EstimateArgs, load_catalog};
pub use serve::ServeArgs;
pub use test::TestArgs;
pub use ui::UiArgs;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;

#[derive(Debug, Parser)]
#[command(name = "vramgate", version, about = "GPU memory, GPU count and cost of LLM jobs, checked before they queue")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The name kubectl finds a plugin by (`kubectl vramgate ...` runs `kubectl-vramgate` from
/// PATH; kubectl's plugin docs, "Writing kubectl plugins").
pub const KUBECTL_PLUGIN: &str = "kubectl-vramgate";

impl Cli {
    /// Parses `args` (the process's, argv[0] first), exiting with clap's usage on an error.
    /// Invoked as [`KUBECTL_PLUGIN`] (a copy or a symlink, with any extension such as
    /// `.exe`), usage and help name the command as the user typed it: `kubectl vramgate`.
    pub fn parse_from_invocation<I, T>(args: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let mut cmd = Self::command();
        if args.first().is_some_and(|a| invoked_as_plugin(std::path::Path::new(a))) {
            cmd = cmd.bin_name("kubectl vramgate").name("kubectl vramgate");
        }
        let matches = cmd.get_matches_from(args);
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Whether argv[0]'s file name, without extension, is [`KUBECTL_PLUGIN`].
fn invoked_as_plugin(argv0: &std::path::Path) -> bool {
    argv0.file_stem().is_some_and(|s| s == KUBECTL_PLUGIN)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Estimate per-GPU memory, GPU count, compute and cost of one job.
    ///
    /// Prints the per-GPU memory by tensor class, the decision against the GPU's memory, the
    /// fewest GPUs that fit, time and cost with --training-tokens, and, when it does not fit,
    /// the plan that does under --objective (README, "Plans and objectives").
    #[command(after_help = estimate::AFTER_HELP)]
    Estimate(Box<EstimateArgs>),
    /// Decide manifests offline, exactly as the validating webhook would (as a CREATE).
    #[command(after_help = check::AFTER_HELP)]
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
    /// Run policy test cases (`vramgate-test.yaml`: manifest, config, expected decision).
    Test(TestArgs),
    /// Serve the calculator page alone (plain HTTP): model, job and GPUs in, memory, plan and
    /// annotations out.
    Ui(UiArgs),
    /// Judge the workloads already in the cluster (read-only, kubeconfig), as if created now.
    Audit(AuditArgs),
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
        Command::Test(a) => test::run(a, out),
        Command::Ui(a) => ui::run(a),
        Command::Audit(a) => audit::run(a, out),
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
