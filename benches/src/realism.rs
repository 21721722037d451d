//! Realism check of the WAL generator: zstd compression ratios of generated WAL against the
//! WAL that BRI itself wrote (the fixtures under `benches/fixtures/bri-wal/`).

use crate::walgen::WalGenerator;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The fixture scenarios whose WAL is concatenated into the reference corpus, in this order.
pub const FIXTURE_SCENARIOS: &[&str] = &["multiseg", "softdelete-sets", "txn"];

/// `benches/fixtures/bri-wal` of this crate.
pub fn default_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bri-wal")
}

/// The WAL segments of one scenario directory, in name order.
pub fn segments(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    Ok(v)
}

/// The concatenation of every segment of every scenario in [`FIXTURE_SCENARIOS`] under `dir`
/// (the same bytes as `cat {multiseg,softdelete-sets,txn}/data/wal/*.wal`).
pub fn fixture_corpus(dir: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for s in FIXTURE_SCENARIOS {
        for seg in segments(&dir.join(s))? {
            out.extend(fs::read(seg)?);
        }
    }
    Ok(out)
}

/// Generated WAL text of at most `bytes` bytes (whole API calls), seed `seed`.
pub fn generate_bytes(seed: u64, bytes: usize) -> Vec<u8> {
    let mut g = WalGenerator::new(seed);
    let mut out = Vec::with_capacity(bytes);
    let mut lines = Vec::new();
    loop {
        g.next_call(&mut lines);
        let n: usize = lines.iter().map(|l| l.len()).sum();
        if out.len() + n > bytes {
            return out;
        }
        for l in &lines {
            out.extend_from_slice(l.as_bytes());
        }
    }
}

/// Compressed size of `data` as one zstd frame at `level` (single-threaded libzstd, the same
/// parameters as `zstd -L` on a file of that size).
pub fn zstd_size(data: &[u8], level: i32) -> io::Result<usize> {
    Ok(zstd::bulk::compress(data, level)?.len())
}

/// `data.len() / compressed` at `level`.
pub fn zstd_ratio(data: &[u8], level: i32) -> io::Result<f64> {
    Ok(data.len() as f64 / zstd_size(data, level)? as f64)
}
