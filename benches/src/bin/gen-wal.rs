//! `gen-wal`: writes a BRI-style data directory (`OUT/wal/000000.wal, ...`) with a generated,
//! realistic WAL and a valid pointer chain.
//!
//! cargo run --release -p bri-benches --bin gen-wal -- --bytes 268435456 --out DIR --seed 1

use bri_benches::walgen::{write_data_dir, GenOptions, DEFAULT_SEGMENT_BYTES, DEFAULT_START_MS};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Generate a BRI data directory with a realistic WAL (valid pointer chain)")]
struct Args {
    /// WAL bytes to write (at most; whole API calls only).
    #[arg(long)]
    bytes: u64,
    /// Data directory to create (segments go to OUT/wal/).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the generator (same seed, same bytes).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// BRI's walSegmentSize: rotate before a line that would push a segment past it.
    #[arg(long, default_value_t = DEFAULT_SEGMENT_BYTES)]
    segment_bytes: u64,
    /// Simulated clock start (Unix ms).
    #[arg(long, default_value_t = DEFAULT_START_MS)]
    start_ms: i64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.segment_bytes == 0 {
        eprintln!("INVALID_INPUT: --segment-bytes must be > 0");
        return ExitCode::from(2);
    }
    let mut opts = GenOptions::new(a.bytes, a.seed);
    opts.segment_bytes = a.segment_bytes;
    opts.start_ms = a.start_ms;
    let t = Instant::now();
    let summary = match write_data_dir(&a.out, &opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", a.out.display());
            return ExitCode::from(1);
        }
    };
    let secs = t.elapsed().as_secs_f64();
    let s = &summary.stats;
    if a.json {
        let v = serde_json::json!({
            "out": a.out,
            "seed": a.seed,
            "bytes": s.bytes,
            "lines": s.lines,
            "segments": summary.segments.len(),
            "segmentBytes": a.segment_bytes,
            "actions": {"SET": s.set, "SADD": s.sadd, "SREM": s.srem, "RENAME": s.rename, "DELETE": s.delete},
            "apiCalls": s.calls,
            "firstTimestamp": s.first_timestamp,
            "lastTimestamp": s.last_timestamp,
            "lastPointer": s.last_pointer,
            "seconds": secs,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    } else {
        println!(
            "wrote {} bytes, {} lines in {} segments to {} in {:.1} s \
             (SET {}, SADD {}, SREM {}, RENAME {}, DELETE {}; last pointer {})",
            s.bytes,
            s.lines,
            summary.segments.len(),
            a.out.join("wal").display(),
            secs,
            s.set,
            s.sadd,
            s.srem,
            s.rename,
            s.delete,
            s.last_pointer
        );
    }
    ExitCode::SUCCESS
}
