//! The `vramgate` binary: parse the command line, run, exit with the command's code.
#![forbid(unsafe_code)]

use clap::Parser;

// mimalloc: a review allocates a few hundred small objects (the parsed object); glibc's
// malloc and free were a quarter of a review's time under load (benches/estimate.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
