//! `bri db ...`: read a BRI data directory (state, chain verification, statistics).

use crate::error::CmdResult;
use crate::output::Output;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print the canonical state of the database (skeleton until the BRI engine lands).
    State,
}

pub fn run(cmd: DbCommand, _out: &Output) -> CmdResult {
    match cmd {
        DbCommand::State => Err(crate::error::CliError::Usage(
            "bri db state is not built yet".into(),
        )),
    }
}
