//! `wal-realism`: compares the zstd -3 and -19 compression ratios of generated WAL with those
//! of the WAL written by BRI itself (benches/fixtures/bri-wal: multiseg, softdelete-sets, txn).
//!
//! cargo run --release -p bri-benches --bin wal-realism [-- --big-bytes 33554432 --seed 1 --json]

use bri_benches::realism::{default_fixture_dir, fixture_corpus, generate_bytes, zstd_size};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Compression ratio of generated WAL vs BRI's own WAL (zstd -3 and -19)")]
struct Args {
    /// Directory holding multiseg/, softdelete-sets/, txn/ with *.wal segments.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Size of the second, larger generated sample (0 to skip).
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    big_bytes: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Allowed relative difference of the ratio (exit 1 when exceeded).
    #[arg(long, default_value_t = 0.15)]
    tolerance: f64,
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let dir = a.fixtures.clone().unwrap_or_else(default_fixture_dir);
    let fixture = match fixture_corpus(&dir) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("error: no WAL segments under {}", dir.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    let mut corpora: Vec<(String, Vec<u8>)> = vec![
        ("fixtures (BRI-written)".into(), fixture.clone()),
        (
            format!("generated, seed {}, fixture size", a.seed),
            generate_bytes(a.seed, fixture.len()),
        ),
    ];
    if a.big_bytes > 0 {
        corpora.push((
            format!("generated, seed {}, {} bytes", a.seed, a.big_bytes),
            generate_bytes(a.seed, a.big_bytes),
        ));
    }
    let mut rows = Vec::new();
    let mut ok = true;
    let mut base = [0f64; 2];
    for (i, (name, data)) in corpora.iter().enumerate() {
        let mut r = [0f64; 2];
        let mut sizes = [0usize; 2];
        for (j, level) in [3, 19].into_iter().enumerate() {
            sizes[j] = zstd_size(data, level).expect("zstd");
            r[j] = data.len() as f64 / sizes[j] as f64;
        }
        if i == 0 {
            base = r;
        }
        let d = [r[0] / base[0] - 1.0, r[1] / base[1] - 1.0];
        if i > 0 && (d[0].abs() > a.tolerance || d[1].abs() > a.tolerance) {
            ok = false;
        }
        rows.push((name.clone(), data.len(), sizes, r, d));
    }
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(n, len, s, r, d)| {
                serde_json::json!({
                    "corpus": n, "bytes": len,
                    "level3": {"compressed": s[0], "ratio": r[0], "vsFixtures": d[0]},
                    "level19": {"compressed": s[1], "ratio": r[1], "vsFixtures": d[1]},
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"rows": v, "withinTolerance": ok, "tolerance": a.tolerance})
            )
            .unwrap()
        );
    } else {
        println!(
            "| corpus | bytes | zstd -3 bytes | ratio -3 | vs fixtures | zstd -19 bytes | ratio -19 | vs fixtures |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (n, len, s, r, d) in &rows {
            println!(
                "| {n} | {len} | {} | {:.2} | {:+.1}% | {} | {:.2} | {:+.1}% |",
                s[0],
                r[0],
                d[0] * 100.0,
                s[1],
                r[1],
                d[1] * 100.0
            );
        }
        println!(
            "\n{} (tolerance ±{:.0}%)",
            if ok {
                "within tolerance"
            } else {
                "OUT OF TOLERANCE"
            },
            a.tolerance * 100.0
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
