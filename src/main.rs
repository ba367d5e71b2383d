//! The `vramgate` binary: parse the command line, run, exit with the command's code.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = vramgate::cli::Cli::parse();
    let code = match vramgate::cli::run(cli, &mut std::io::stdout().lock()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
