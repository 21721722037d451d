//! TODO
use crate::{args::ArchiveCommand, error::CmdResult, output::Output};
pub fn run(_cmd: ArchiveCommand, _out: &Output) -> CmdResult {
    Ok(0)
}
