//! # bri-cli
//!
//! The native host of bri-archive: it owns the file system, threads and (later) the network,
//! and drives the sans-IO `bri-core` library. The `bri` binary is a thin `main.rs` over
//! [`run`]; the Node module calls the same functions.
//!
//! Map of the crate:
//! * [`args`]: the command line (clap), parsed into a validated configuration.
//! * [`archive_cmd`]: `bri archive create-files|inspect|verify|extract`.
//! * [`files`]: streaming archive creation and reading over real files (thread pool for
//!   frame compression, bounded memory, atomic writes).
//! * [`db`]: `bri db state|verify|stats` over a BRI data directory.
//! * [`error`]: the one error type and the one mapping of errors to exit codes.
//! * [`output`]: `--json` or human output, progress bars.

pub mod archive_cmd;
pub mod args;
pub mod bri_archive;
pub mod bri_cmd;
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod fsutil;
pub mod heal;
pub mod output;

use args::{Cli, Command};
use error::CliError;
use output::Output;

/// Run a parsed command line; returns the process exit code. Errors are printed here, once:
/// as `{"error": {"code", "message"}}` on stdout with `--json`, and always as a sentence on
/// stderr.
pub fn run(cli: Cli) -> u8 {
    let out = Output::new(cli.json, cli.quiet);
    let config = || config::Config::load(cli.config.as_deref());
    let result = match cli.command {
        Command::Archive(args::ArchiveCommand::Create(a)) => {
            config().and_then(|c| bri_cmd::create(a, &c, &out))
        }
        Command::Archive(args::ArchiveCommand::List(a)) => {
            config().and_then(|c| bri_cmd::list(a, &c, &out))
        }
        Command::Archive(cmd) => archive_cmd::run(cmd, &out),
        Command::Db(cmd) => db::run(cmd, &out),
        Command::Restore(cmd) => config().and_then(|c| bri_cmd::restore(cmd, &c, &out)),
        Command::Config => config().and_then(|c| bri_cmd::show_config(&c, &out)),
    };
    match result {
        Ok(code) => code,
        Err(err) => report_error(&err, &out),
    }
}

/// Print an error the one way every command does, and return its exit code.
pub fn report_error(err: &CliError, out: &Output) -> u8 {
    let code = err.code();
    if out.json {
        let v = serde_json::json!({"error": {"code": code.as_str(), "message": err.to_string()}});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    eprintln!("error[{}]: {}", code.as_str(), err);
    err.exit_code()
}
