//! Parity over real files with bounded memory: find the parity index, check every stripe,
//! and repair a damaged archive into a byte-identical copy of the original.
//!
//! Memory: one stripe (`k + m` shards) at a time, plus the index.

use crate::error::CliError;
use crate::fsutil::{self, TempGuard};
use bri_core::parity::{
    CopyState, IndexLocator, OverallState, ParityIndex, ParityReport, StripeState,
};
use indicatif::ProgressBar;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Read `r` from `file` (of length `len`), zero-filling what lies beyond its end.
pub fn read_zero_filled(file: &mut File, len: u64, r: Range<u64>) -> Result<Vec<u8>, CliError> {
    let mut buf = vec![0u8; (r.end - r.start) as usize];
    if r.start < len {
        let avail = (len.min(r.end) - r.start) as usize;
        file.seek(SeekFrom::Start(r.start))
            .and_then(|_| file.read_exact(&mut buf[..avail]))
            .map_err(|e| CliError::io("reading the archive", e))?;
    }
    Ok(buf)
}

/// Find the parity index (reading only what the locator asks for). `Ok(None)`: the file has
/// no usable parity index (none was written, or every copy is destroyed); the reason is
/// returned alongside.
pub fn locate(file: &mut File, len: u64) -> Result<Result<ParityIndex, String>, CliError> {
    let mut loc = IndexLocator::new(len);
    while let Some(r) = loc.next_request() {
        let bytes = read_zero_filled(file, len, r.clone())?;
        loc.supply(r.start, &bytes)?;
    }
    match loc.finish() {
        Ok(i) => Ok(Ok(i)),
        Err(bri_core::Error::Parity(e)) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

fn copy_state(
    file: &mut File,
    len: u64,
    r: Range<u64>,
    want: &[u8],
) -> Result<CopyState, CliError> {
    let present = read_zero_filled(file, len, r.start.min(len)..r.end.min(len))?;
    Ok(CopyState::of(&present, r, len, want))
}

/// Check every stripe and the replicated metadata of the archive at `path`.
pub fn scan(path: &Path, bar: &ProgressBar) -> Result<ParityReport, CliError> {
    let mut file = File::open(path).map_err(|e| not_found_or_io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?
        .len();
    let index = match locate(&mut file, len)? {
        Ok(i) => i,
        Err(message) => return Ok(ParityReport::index_lost(len, message)),
    };
    let mut stripes = Vec::new();
    for s in 0..index.stripe_count() {
        let plan = index.stripe_plan(s)?;
        let data = read_zero_filled(&mut file, len, plan.data.clone())?;
        let parity = read_zero_filled(&mut file, len, plan.parity.clone())?;
        stripes.push(index.check_stripe(s, &data, &parity)?);
        bar.inc(plan.data.end - plan.data.start + plan.parity.end - plan.parity.start);
    }
    let frame = index.index_frame();
    let copies = vec![
        copy_state(&mut file, len, index.index_copy_range(0), &frame)?,
        copy_state(&mut file, len, index.index_copy_range(1), &frame)?,
    ];
    let seek = copy_state(
        &mut file,
        len,
        index.seek_table_range(),
        &index.seek_table(),
    )?;
    Ok(ParityReport::assemble(&index, len, stripes, copies, seek))
}

fn not_found_or_io(path: &Path, e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::NotFound {
        CliError::NotFound(format!("archive {} does not exist", path.display()))
    } else {
        CliError::io(format!("opening {}", path.display()), e)
    }
}

/// What repair did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairSummary {
    pub output: PathBuf,
    /// True when the file was already intact (nothing written).
    pub already_intact: bool,
    pub stripes_repaired: u64,
    pub shards_rebuilt: u64,
    pub metadata_rewritten: bool,
    pub file_len: u64,
}

/// Repair the archive at `path` into `dest` (`None`: in place). The repaired bytes are
/// written to a temporary copy, fsynced, checked again, and only then renamed over the
/// destination: a failed repair leaves every existing file as it was.
pub fn repair(
    path: &Path,
    dest: Option<&Path>,
    overwrite: bool,
    bar: &ProgressBar,
) -> Result<RepairSummary, CliError> {
    let mut src = File::open(path).map_err(|e| not_found_or_io(path, e))?;
    let len = src
        .metadata()
        .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?
        .len();
    let index = match locate(&mut src, len)? {
        Ok(i) => i,
        Err(msg) => {
            return Err(
                bri_core::Error::Parity(bri_core::parity::ParityError::IndexNotFound {
                    reason: msg,
                })
                .into(),
            )
        }
    };
    let out_path = dest.unwrap_or(path).to_path_buf();
    if let Some(d) = dest {
        if !overwrite && d.exists() {
            return Err(CliError::Usage(format!(
                "{} already exists; pass --force to replace it",
                d.display()
            )));
        }
    }
    // One streaming pass: every stripe is read once, checked against its shard hashes,
    // rebuilt when damaged (each rebuilt shard is checked against its hash), and written to a
    // temporary sibling of the output; then the index copies and the seek table are written
    // from the index. Nothing existing is touched until the finished copy is fsynced,
    // re-checked and renamed into place.
    let expected = index.file_len();
    let tmp = fsutil::temp_sibling(&out_path);
    let mut guard = TempGuard(Some(tmp.clone()));
    let mut out = fsutil::create_new(&tmp)?;
    let io = |e: std::io::Error| CliError::io(format!("writing {}", tmp.display()), e);
    let mut stripes = Vec::new();
    let (mut stripes_repaired, mut shards) = (0u64, 0u64);
    for s in 0..index.stripe_count() {
        let plan = index.stripe_plan(s)?;
        let mut data = read_zero_filled(&mut src, len, plan.data.clone())?;
        let mut parity = read_zero_filled(&mut src, len, plan.parity.clone())?;
        let report = index.check_stripe(s, &data, &parity)?;
        bar.inc(plan.data.end - plan.data.start);
        match report.state {
            StripeState::BeyondRepair => {
                // Keep scanning: the error names every lost range, not just the first.
                stripes.push(report);
                continue;
            }
            StripeState::Repairable => {
                index.rebuild_stripe(s, &mut data, &mut parity)?;
                stripes_repaired += 1;
                shards += report.damaged() as u64;
            }
            StripeState::Intact => {}
        }
        out.seek(SeekFrom::Start(plan.data.start))
            .and_then(|_| out.write_all(&data))
            .map_err(io)?;
        out.seek(SeekFrom::Start(plan.parity.start))
            .and_then(|_| out.write_all(&parity))
            .map_err(io)?;
        stripes.push(report);
    }
    let frame = index.index_frame();
    let copies = vec![
        copy_state(&mut src, len, index.index_copy_range(0), &frame)?,
        copy_state(&mut src, len, index.index_copy_range(1), &frame)?,
    ];
    let seek = copy_state(&mut src, len, index.seek_table_range(), &index.seek_table())?;
    let report = ParityReport::assemble(&index, len, stripes, copies, seek);
    if report.state == OverallState::BeyondRepair {
        let first = report
            .stripes
            .iter()
            .find(|s| s.state == StripeState::BeyondRepair);
        return Err(
            bri_core::Error::Parity(bri_core::parity::ParityError::BeyondRepair {
                stripe: first.map(|s| s.stripe).unwrap_or(0),
                damaged: first.map(|s| s.damaged()).unwrap_or(0),
                parity: first.map(|s| s.parity_shards).unwrap_or(0),
                lost: report.lost.clone(),
            })
            .into(),
        );
    }
    let intact = report.state == OverallState::Intact;
    if intact && dest.is_none() {
        // Nothing to do in place; the temporary copy is dropped.
        return Ok(RepairSummary {
            output: out_path,
            already_intact: true,
            stripes_repaired: 0,
            shards_rebuilt: 0,
            metadata_rewritten: false,
            file_len: len,
        });
    }
    for c in 0..2u8 {
        out.seek(SeekFrom::Start(index.index_copy_range(c).start))
            .and_then(|_| out.write_all(&frame))
            .map_err(io)?;
    }
    out.seek(SeekFrom::Start(index.seek_table_range().start))
        .and_then(|_| out.write_all(&index.seek_table()))
        .map_err(io)?;
    out.set_len(expected).map_err(io)?;
    out.sync_all().map_err(io)?;
    drop(out);
    // Re-read the finished copy before it replaces anything.
    let after = scan(&tmp, &ProgressBar::hidden())?;
    if after.state != OverallState::Intact {
        return Err(bri_core::Error::Corrupted {
            what: "the repaired copy does not verify; nothing was replaced".into(),
        }
        .into());
    }
    fsutil::publish(&tmp, &out_path, overwrite || dest.is_none())?;
    guard.disarm();
    Ok(RepairSummary {
        output: out_path,
        already_intact: intact,
        stripes_repaired,
        shards_rebuilt: shards,
        metadata_rewritten: !intact
            && (report.index_copies.iter().any(|c| *c != CopyState::Intact)
                || report.seek_table != Some(CopyState::Intact)
                || len != expected),
        file_len: expected,
    })
}
