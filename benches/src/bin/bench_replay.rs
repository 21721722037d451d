//! `bench_replay`: WAL replay speed and peak memory of the BRI engine (bri_core::bri) against a
//! Node baseline that reads the same lines the way BRI's recovery does (readline per segment,
//! split on the first two `|`, JSON.parse, apply to a Map and Sets).
//!
//! cargo run --release -p bri-benches --bin bench_replay -- --bytes 268435456 --work /tmp/rb
//! cargo run --release -p bri-benches --bin bench_replay -- --dir some/bri/data --json
//!
//! Each side runs in its own process, so each peak RSS is its own: the engine in a child of
//! this binary (`--engine-only`), the baseline under `node`. Best of `--runs` wall times.

use bri_benches::walgen::{write_data_dir, GenOptions};
use bri_core::bri::replay::{ReplayOptions, WalEngine};
use bri_core::bri::state::State;
use clap::Parser;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Replay a BRI WAL with the engine and with a Node readline+JSON.parse baseline")]
struct Args {
    /// An existing BRI data directory (holds wal/).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Generate a WAL of this many bytes first (into --work).
    #[arg(long)]
    bytes: Option<u64>,
    /// Where to generate (must not hold wal/ already); default: a directory under /tmp.
    #[arg(long)]
    work: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs of each side; the best wall time is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Skip the Node baseline.
    #[arg(long)]
    no_node: bool,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
    /// Internal: replay --dir once in this process and print `secs bytes lines peak_kib`.
    #[arg(long, hide = true)]
    engine_only: bool,
}

fn segments(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    Ok(v)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn engine_once(dir: &Path) -> Result<(f64, u64, u64, usize), String> {
    let segs = segments(dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
    let t = Instant::now();
    let mut e = WalEngine::new(State::new(), ReplayOptions::default(), None);
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    for p in &segs {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        e.begin_segment(&name).map_err(|e| e.to_string())?;
        let mut f = std::fs::File::open(p).map_err(|e| e.to_string())?;
        loop {
            let n = f.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            e.feed(&buf[..n]).map_err(|e| e.to_string())?;
        }
        e.end_segment().map_err(|e| e.to_string())?;
    }
    let out = e.finish().map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    if !out.chain.valid {
        return Err("the WAL's pointer chain is broken".into());
    }
    Ok((
        secs,
        bytes,
        out.stats.total_physical_lines,
        out.state.documents.len(),
    ))
}

const NODE_BASELINE: &str = r#"
// BRI-style recovery: readline per segment, split on the first two '|', JSON.parse, apply.
const fs = require('fs'), path = require('path'), readline = require('readline');
async function main() {
  const dir = process.argv[2];
  const segs = fs.readdirSync(path.join(dir, 'wal')).filter(n => n.endsWith('.wal')).sort();
  const t0 = process.hrtime.bigint();
  const docs = new Map(), cols = new Map();
  let lines = 0, bytes = 0;
  for (const s of segs) {
    const p = path.join(dir, 'wal', s);
    bytes += fs.statSync(p).size;
    const rl = readline.createInterface({ input: fs.createReadStream(p), crlfDelay: Infinity });
    for await (const line of rl) {
      lines++;
      if (!line) continue;
      const a = line.indexOf('|'), b = line.indexOf('|', a + 1);
      if (a < 0 || b < 0) continue;
      let e;
      try { e = JSON.parse(line.slice(b + 1)); } catch { continue; }
      switch (e.action) {
        case 'SET': docs.set(e.target, e.value); break;
        case 'DELETE': docs.delete(e.target); break;
        case 'RENAME': if (docs.has(e.oldKey)) { docs.set(e.target, docs.get(e.oldKey)); docs.delete(e.oldKey); } break;
        case 'SADD': { let s = cols.get(e.target); if (!s) cols.set(e.target, s = new Set()); s.add(e.member); break; }
        case 'SREM': { const s = cols.get(e.target); if (s) s.delete(e.member); break; }
      }
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${secs} ${bytes} ${lines} ${process.resourceUsage().maxRSS} ${docs.size}`);
}
main().catch(e => { console.error(e); process.exit(1); });
"#;

struct Run {
    secs: f64,
    bytes: u64,
    lines: u64,
    peak_kib: u64,
    documents: u64,
}

fn parse_run(text: &str) -> Option<Run> {
    let v: Vec<&str> = text.split_whitespace().collect();
    Some(Run {
        secs: v.first()?.parse().ok()?,
        bytes: v.get(1)?.parse().ok()?,
        lines: v.get(2)?.parse().ok()?,
        peak_kib: v.get(3)?.parse().ok()?,
        documents: v.get(4)?.parse().ok()?,
    })
}

fn best_of(runs: u32, mut f: impl FnMut() -> Result<Run, String>) -> Result<Run, String> {
    let mut best: Option<Run> = None;
    for _ in 0..runs.max(1) {
        let r = f()?;
        let better = best.as_ref().is_none_or(|b| r.secs < b.secs);
        if better {
            let peak = best
                .as_ref()
                .map_or(r.peak_kib, |b| b.peak_kib.max(r.peak_kib));
            best = Some(Run {
                peak_kib: peak,
                ..r
            });
        } else if let Some(b) = best.as_mut() {
            b.peak_kib = b.peak_kib.max(r.peak_kib);
        }
    }
    best.ok_or_else(|| "no run".into())
}

fn run_child(cmd: &mut Command, what: &str) -> Result<Run, String> {
    let o = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    parse_run(&String::from_utf8_lossy(&o.stdout))
        .ok_or_else(|| format!("{what}: unexpected output"))
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.engine_only {
        let Some(dir) = &a.dir else {
            eprintln!("INVALID_INPUT: --engine-only needs --dir");
            return ExitCode::from(2);
        };
        return match engine_once(dir) {
            Ok((secs, bytes, lines, docs)) => {
                println!("{secs} {bytes} {lines} {} {docs}", peak_rss_kib());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    let dir = match (&a.dir, a.bytes) {
        (Some(d), None) => d.clone(),
        (None, Some(n)) => {
            let work = a.work.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("bench-replay-{}-{n}", a.seed))
            });
            if !work.join("wal").exists() {
                eprintln!("generating {n} bytes of WAL into {} ...", work.display());
                if let Err(e) = write_data_dir(&work, &GenOptions::new(n, a.seed)) {
                    eprintln!("error: cannot generate into {}: {e}", work.display());
                    return ExitCode::from(1);
                }
            }
            work
        }
        _ => {
            eprintln!("INVALID_INPUT: give either --dir DIR or --bytes N");
            return ExitCode::from(2);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this binary: {e}");
            return ExitCode::from(1);
        }
    };
    let engine = best_of(a.runs, || {
        run_child(
            Command::new(&exe)
                .arg("--engine-only")
                .arg("--dir")
                .arg(&dir),
            "engine",
        )
    });
    let engine = match engine {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let node = if a.no_node {
        None
    } else {
        let script = std::env::temp_dir().join(format!("bench-replay-{}.cjs", std::process::id()));
        if let Err(e) = std::fs::write(&script, NODE_BASELINE) {
            eprintln!("error: cannot write {}: {e}", script.display());
            return ExitCode::from(1);
        }
        let r = best_of(a.runs, || {
            run_child(Command::new("node").arg(&script).arg(&dir), "node baseline")
        });
        let _ = std::fs::remove_file(&script);
        match r {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("warning: no Node baseline: {e}");
                None
            }
        }
    };
    let mbps = |r: &Run| r.bytes as f64 / 1e6 / r.secs;
    if node
        .as_ref()
        .is_some_and(|n| n.documents != engine.documents || n.lines != engine.lines)
    {
        eprintln!("warning: the baseline and the engine disagree on lines or documents");
    }
    if a.json {
        let side = |r: &Run| {
            serde_json::json!({"seconds": r.secs, "bytes": r.bytes, "lines": r.lines,
                "MBps": mbps(r), "peakRssKiB": r.peak_kib, "documents": r.documents})
        };
        let v = serde_json::json!({
            "dir": dir, "runs": a.runs,
            "engine": side(&engine),
            "node": node.as_ref().map(side),
            "speedup": node.as_ref().map(|n| n.secs / engine.secs),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!(
            "WAL: {} ({} bytes, {} lines, {} documents at the end)",
            dir.display(),
            engine.bytes,
            engine.lines,
            engine.documents
        );
        println!(
            "engine (replay + chain check): {:.3} s, {:.1} MB/s, peak RSS {} KiB",
            engine.secs,
            mbps(&engine),
            engine.peak_kib
        );
        if let Some(n) = &node {
            println!(
                "node readline+JSON.parse:     {:.3} s, {:.1} MB/s, peak RSS {} KiB",
                n.secs,
                mbps(n),
                n.peak_kib
            );
            println!("speed-up: {:.1}x", n.secs / engine.secs);
        }
    }
    ExitCode::SUCCESS
}
