//! The `vramgate` binary: parse the command line, run, exit with the command's code.
#![forbid(unsafe_code)]

use std::io::{self, Write};

// mimalloc: a review allocates a few hundred small objects (the parsed object); glibc's
// malloc and free were a quarter of a review's time under load (benches/estimate.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = vramgate::cli::Cli::parse_from_invocation(std::env::args_os());
    let mut out = PipeOut { inner: io::stdout().lock(), closed: false };
    let result = vramgate::cli::run(cli, &mut out);
    let _ = out.flush();
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

/// Standard output that treats a reader gone away (`vramgate check ... | head -1`: EPIPE, as
/// Rust ignores SIGPIPE) as the end of the output, not as an error: what is left is dropped,
/// and the command ends with the exit code its result has (a broken pipe is not "unusable
/// input", exit 2).
struct PipeOut<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Write for PipeOut<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}
