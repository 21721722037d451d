//! The `bri` binary: parse the command line, run it, exit with its code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = bri_cli::args::Cli::parse();
    ExitCode::from(bri_cli::run(cli))
}
