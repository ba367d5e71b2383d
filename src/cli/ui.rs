//! `vramgate ui --listen ADDR`: the calculator page (`server::ui`) alone, on plain HTTP.

use super::settings_or_report;
use clap::Args;

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Plain-HTTP address of /ui and /api/estimate; port 0 picks a free port (the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: std::net::SocketAddr,
    /// Config file whose GPU catalog (prices) the page uses; the built-in catalog without it.
    #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

pub(super) fn run(a: UiArgs) -> anyhow::Result<i32> {
    let Some(settings) = settings_or_report(a.config.as_deref()) else { return Ok(2) };
    match crate::server::ui::run_standalone(a.listen, settings) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(2)
        }
    }
}
