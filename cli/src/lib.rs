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
        Command::Archive(args::ArchiveCommand::Info(a)) => {
            config().and_then(|c| bri_cmd::info(a, &c, &out))
        }
        Command::Archive(args::ArchiveCommand::Delete(a)) => {
            config().and_then(|c| bri_cmd::delete(a, &c, &out))
        }
        Command::Archive(args::ArchiveCommand::Stats(a)) => {
            config().and_then(|c| bri_cmd::stats(a, &c, &out))
        }
        Command::Archive(mut cmd) => {
            resolve_ids(&mut cmd, &config).and_then(|_| archive_cmd::run(cmd, &out))
        }
        Command::Db(cmd) => db::run(cmd, &out),
        Command::Restore(cmd) => config().and_then(|c| bri_cmd::restore(cmd, &c, &out)),
        Command::Config => config().and_then(|c| bri_cmd::show_config(&c, &out)),
    };
    match result {
        Ok(code) => code,
        Err(err) => report_error(&err, &out),
    }
}

/// `inspect|verify|repair|extract` accept an archive id as well as a file: an argument that is
/// not an existing file but is an id in the configured store is replaced by that archive's path.
fn resolve_ids(
    cmd: &mut args::ArchiveCommand,
    config: &dyn Fn() -> Result<config::Config, CliError>,
) -> Result<(), CliError> {
    use args::ArchiveCommand as A;
    let file = match cmd {
        A::Inspect(a) => &mut a.file,
        A::Verify(a) => &mut a.file,
        A::Repair(a) => &mut a.file,
        A::Extract(a) => &mut a.file,
        _ => return Ok(()),
    };
    let name = file.to_string_lossy().into_owned();
    if file.exists() || !name.starts_with("arc_") || name.contains('/') {
        return Ok(());
    }
    let cfg = config()?;
    let data = cfg
        .data_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("./data"));
    if let Ok(p) = bri_cmd::resolve_archive(&name, &cfg.local_dir(&data)) {
        *file = p;
    }
    Ok(())
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
