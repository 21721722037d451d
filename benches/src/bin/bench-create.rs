//! `bench-create`: `bri archive create-files` against `tar -cf - | zstd -T0 -L` on the same
//! input, in the same run, several repetitions each: throughput (MB/s, MB = 10^6 bytes of
//! input per second of wall time, median of the repetitions), compressed size, ratio, size and
//! throughput relative to the CLI, and the peak RSS of each process (`/usr/bin/time -f %M`).
//!
//! Scenarios (issue 2): `l3-256m` (256 MiB of generated WAL, level 3), `l19-32m` (32 MiB,
//! level 19), `mem-1g` (1 GiB, level 3, bri's peak RSS must stay under 100 MiB). Inputs are
//! generated once by the WAL generator into `--work` (default `bench-out/`) and reused.
//!
//! cargo run --release -p bri-benches --bin bench-create -- [--scenario l3-256m] [--json]

use bri_benches::walgen::{write_data_dir, GenOptions};
use clap::Parser;
use serde_json::{json, Value};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const MIB: u64 = 1024 * 1024;
const TIME_BIN: &str = "/usr/bin/time";

#[derive(Parser)]
#[command(about = "Benchmark `bri archive create-files` against tar | zstd on the same input")]
struct Args {
    /// Scenarios to run: l3-256m, l19-32m, mem-1g, or all (default: all). Ignored with --input.
    #[arg(long = "scenario", value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Benchmark this directory instead of a generated one (with --level).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Level for --input.
    #[arg(long, default_value_t = 3)]
    level: i32,
    /// Repetitions per tool (the memory scenario runs min(reps, 2)).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Path of the `bri` binary.
    #[arg(long, default_value = "target/release/bri")]
    bri: PathBuf,
    /// Path of the `zstd` CLI.
    #[arg(long, default_value = "zstd")]
    zstd: PathBuf,
    /// Where generated inputs and outputs go (never in git; bench-out/ is gitignored).
    #[arg(long, default_value = "bench-out")]
    work: PathBuf,
    /// Seed of the generated inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Passed to bri as --threads (default: bri's own default, all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Passed to bri as --frame-size (default: bri's own default).
    #[arg(long)]
    frame_size: Option<u64>,
    /// Extra argument passed to bri create-files (repeatable), e.g. --bri-arg=--no-verify.
    #[arg(long = "bri-arg", allow_hyphen_values = true)]
    bri_extra: Vec<String>,
    /// Also run bri with `--redundancy 0` (no parity) as a second variant, to compare the
    /// compression alone with the CLI (the default archive adds Reed-Solomon parity).
    #[arg(long)]
    no_parity_variant: bool,
    /// Also run bri with `--no-verify` as another variant (without the re-read-and-verify
    /// pass before the rename).
    #[arg(long)]
    no_verify_variant: bool,
    /// Run only the zstd CLI (for when bri is not built).
    #[arg(long)]
    cli_only: bool,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON document to this file (with the table on stdout).
    #[arg(long)]
    json_out: Option<PathBuf>,
}

struct Scenario {
    name: String,
    input: Option<PathBuf>,
    bytes: u64,
    level: i32,
    reps: usize,
    rss_limit_mib: Option<u64>,
}

#[derive(Default, Clone)]
struct Run {
    seconds: f64,
    compressed: u64,
    /// Peak RSS of the compressor process, KiB.
    rss_kib: Option<u64>,
    /// Peak RSS of `tar` (CLI pipeline only), KiB.
    tar_rss_kib: Option<u64>,
    /// CPU seconds (user + system) of the process(es): far less sensitive than wall time to
    /// other work on the machine.
    cpu_seconds: Option<f64>,
}

struct ToolResult {
    label: String,
    variant: Vec<String>,
    runs: Vec<Run>,
    error: Option<String>,
    command: String,
}

impl ToolResult {
    fn median_seconds(&self) -> Option<f64> {
        if self.runs.is_empty() {
            return None;
        }
        let mut s: Vec<f64> = self.runs.iter().map(|r| r.seconds).collect();
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = s.len();
        Some(if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        })
    }
    fn best_seconds(&self) -> Option<f64> {
        self.runs.iter().map(|r| r.seconds).reduce(f64::min)
    }
    fn compressed(&self) -> Option<u64> {
        self.runs.iter().map(|r| r.compressed).max()
    }
    fn peak_rss_kib(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.rss_kib).max()
    }
    fn median_cpu(&self) -> Option<f64> {
        let mut s: Vec<f64> = self.runs.iter().filter_map(|r| r.cpu_seconds).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Some(s[s.len() / 2])
    }
    fn peak_tar_rss_kib(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.tar_rss_kib).max()
    }
}

fn have_time() -> bool {
    Path::new(TIME_BIN).exists()
}

/// `prog args...`, under `/usr/bin/time -f %M -o rss_file` when that exists.
fn wrapped(prog: &Path, args: &[String], rss_file: &Path) -> Command {
    if have_time() {
        let mut c = Command::new(TIME_BIN);
        c.arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(rss_file)
            .arg(prog)
            .args(args);
        c
    } else {
        let mut c = Command::new(prog);
        c.args(args);
        c
    }
}

/// (peak RSS KiB, user + system CPU seconds) from the `%M %U %S` line of GNU time.
fn read_rss(rss_file: &Path) -> (Option<u64>, Option<f64>) {
    let Ok(text) = fs::read_to_string(rss_file) else {
        return (None, None);
    };
    for l in text.lines().rev() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 3 {
            if let (Ok(m), Ok(u), Ok(sy)) = (f[0].parse(), f[1].parse::<f64>(), f[2].parse::<f64>())
            {
                return (Some(m), Some(u + sy));
            }
        }
    }
    (None, None)
}

fn dir_stats(dir: &Path) -> std::io::Result<(u64, u64)> {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                bytes += e.metadata()?.len();
                files += 1;
            }
        }
    }
    Ok((bytes, files))
}

/// Reads every file once so that both tools start from the page cache.
fn warm(dir: &Path) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                let mut f = fs::File::open(e.path())?;
                while f.read(&mut buf)? > 0 {}
            }
        }
    }
    Ok(())
}

/// The generated input of `bytes` bytes and `seed`, made once under `work`.
fn generated_input(work: &Path, bytes: u64, seed: u64, quiet: bool) -> Result<PathBuf, String> {
    let dir = work.join(format!("input-{bytes}-seed{seed}"));
    let done = work.join(format!("input-{bytes}-seed{seed}.complete"));
    if done.exists() && dir.join("wal").is_dir() {
        return Ok(dir);
    }
    let _ = fs::remove_dir_all(&dir);
    if !quiet {
        eprintln!(
            "generating {} ({} bytes of WAL, seed {seed}) ...",
            dir.display(),
            bytes
        );
    }
    write_data_dir(&dir, &GenOptions::new(bytes, seed))
        .map_err(|e| format!("cannot generate {}: {e}", dir.display()))?;
    fs::write(&done, b"").map_err(|e| e.to_string())?;
    Ok(dir)
}

fn bri_args(a: &Args, input: &Path, out: &Path, level: i32, variant: &[String]) -> Vec<String> {
    let mut v = vec![
        "archive".to_string(),
        "create-files".to_string(),
        input.display().to_string(),
        "-o".to_string(),
        out.display().to_string(),
        "--level".to_string(),
        level.to_string(),
        "--force".to_string(),
    ];
    if let Some(t) = a.threads {
        v.push("--threads".into());
        v.push(t.to_string());
    }
    if let Some(f) = a.frame_size {
        v.push("--frame-size".into());
        v.push(f.to_string());
    }
    v.extend(a.bri_extra.iter().cloned());
    v.extend(variant.iter().cloned());
    v
}

fn zstd_args(out: &Path, level: i32) -> Vec<String> {
    let mut v = vec!["-T0".to_string()];
    if level > 19 {
        v.push("--ultra".into());
    }
    v.extend([
        format!("-{level}"),
        "-q".into(),
        "-f".into(),
        "-o".into(),
        out.display().to_string(),
    ]);
    v
}

fn tar_args(input: &Path) -> Vec<String> {
    vec![
        "-cf".into(),
        "-".into(),
        "-C".into(),
        input.display().to_string(),
        ".".into(),
    ]
}

fn run_bri(
    a: &Args,
    input: &Path,
    out: &Path,
    level: i32,
    variant: &[String],
    tmp: &Path,
) -> Result<Run, String> {
    let _ = fs::remove_file(out);
    let rss = tmp.join("bri.rss");
    let err = tmp.join("bri.stderr");
    let _ = fs::remove_file(&rss);
    let t = Instant::now();
    let status = wrapped(&a.bri, &bri_args(a, input, out, level, variant), &rss)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).map_err(|e| e.to_string())?)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", a.bri.display()))?;
    let seconds = t.elapsed().as_secs_f64();
    if !status.success() {
        let msg = fs::read_to_string(&err).unwrap_or_default();
        return Err(format!(
            "{} exited with {status}: {}",
            a.bri.display(),
            msg.trim()
        ));
    }
    let compressed = fs::metadata(out)
        .map_err(|e| format!("no output {}: {e}", out.display()))?
        .len();
    let (rss_kib, cpu_seconds) = read_rss(&rss);
    Ok(Run {
        seconds,
        compressed,
        rss_kib,
        tar_rss_kib: None,
        cpu_seconds,
    })
}

fn run_cli(a: &Args, input: &Path, out: &Path, level: i32, tmp: &Path) -> Result<Run, String> {
    let _ = fs::remove_file(out);
    let tar_rss = tmp.join("tar.rss");
    let zstd_rss = tmp.join("zstd.rss");
    let _ = fs::remove_file(&tar_rss);
    let _ = fs::remove_file(&zstd_rss);
    let t = Instant::now();
    let mut tar = wrapped(Path::new("tar"), &tar_args(input), &tar_rss)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let pipe = tar.stdout.take().unwrap();
    let zstd = wrapped(&a.zstd, &zstd_args(out, level), &zstd_rss)
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::null())
        .status();
    let tar_status = tar.wait().map_err(|e| e.to_string())?;
    let seconds = t.elapsed().as_secs_f64();
    let zstd = zstd.map_err(|e| format!("cannot run {}: {e}", a.zstd.display()))?;
    if !tar_status.success() || !zstd.success() {
        return Err(format!("tar: {tar_status}, zstd: {zstd}"));
    }
    let compressed = fs::metadata(out).map_err(|e| e.to_string())?.len();
    let (rss_kib, zstd_cpu) = read_rss(&zstd_rss);
    let (tar_rss_kib, tar_cpu) = read_rss(&tar_rss);
    Ok(Run {
        seconds,
        compressed,
        rss_kib,
        tar_rss_kib,
        cpu_seconds: zstd_cpu.zip(tar_cpu).map(|(a, b)| a + b),
    })
}

fn tool_version(prog: &Path, args: &[&str]) -> Option<String> {
    let o = Command::new(prog).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let s = if s.is_empty() {
        String::from_utf8_lossy(&o.stderr).trim().to_string()
    } else {
        s
    };
    s.lines().next().map(|l| l.to_string())
}

/// The 1-minute load average (other work on the machine skews the timings).
fn loadavg() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn mbps(bytes: u64, secs: Option<f64>) -> Option<f64> {
    secs.map(|s| bytes as f64 / 1e6 / s)
}

fn main() -> ExitCode {
    let a = Args::parse();
    let mut scenarios: Vec<Scenario> = Vec::new();
    if let Some(input) = &a.input {
        scenarios.push(Scenario {
            name: format!("custom-l{}", a.level),
            input: Some(input.clone()),
            bytes: 0,
            level: a.level,
            reps: a.reps,
            rss_limit_mib: None,
        });
    } else {
        let mut names: Vec<String> = a.scenarios.clone();
        if names.is_empty() || names.iter().any(|n| n == "all") {
            names = vec!["l3-256m".into(), "l19-32m".into(), "mem-1g".into()];
        }
        for n in names {
            let s = match n.as_str() {
                "l3-256m" => Scenario {
                    name: n.clone(),
                    input: None,
                    bytes: 256 * MIB,
                    level: 3,
                    reps: a.reps,
                    rss_limit_mib: None,
                },
                "l19-32m" => Scenario {
                    name: n.clone(),
                    input: None,
                    bytes: 32 * MIB,
                    level: 19,
                    reps: a.reps,
                    rss_limit_mib: None,
                },
                "mem-1g" => Scenario {
                    name: n.clone(),
                    input: None,
                    bytes: 1024 * MIB,
                    level: 3,
                    reps: a.reps.min(2),
                    rss_limit_mib: Some(100),
                },
                other => {
                    eprintln!(
                        "INVALID_INPUT: unknown scenario {other:?} (l3-256m, l19-32m, mem-1g, all)"
                    );
                    return ExitCode::from(2);
                }
            };
            scenarios.push(s);
        }
    }
    if let Err(e) = fs::create_dir_all(&a.work) {
        eprintln!("error: cannot create {}: {e}", a.work.display());
        return ExitCode::from(1);
    }
    let tmp = a.work.join("tmp");
    let _ = fs::create_dir_all(&tmp);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let zstd_version = tool_version(&a.zstd, &["--version"]);
    let bri_version = if a.cli_only {
        None
    } else {
        tool_version(&a.bri, &["--version"])
    };
    if !have_time() && !a.json {
        eprintln!("note: {TIME_BIN} not found (apt-get install time): peak RSS not measured");
    }

    let mut results: Vec<Value> = Vec::new();
    let mut table: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut failed = false;
    for sc in &scenarios {
        let input = match &sc.input {
            Some(p) => p.clone(),
            None => match generated_input(&a.work, sc.bytes, a.seed, a.json) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            },
        };
        let (in_bytes, files) = match dir_stats(&input) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", input.display());
                return ExitCode::from(1);
            }
        };
        if !a.json {
            eprintln!(
                "scenario {}: {} ({} bytes in {} files), level {}, {} repetition(s)",
                sc.name,
                input.display(),
                in_bytes,
                files,
                sc.level,
                sc.reps
            );
        }
        let _ = warm(&input);
        let load_before = loadavg();
        let bri_out = a.work.join(format!("{}.bri.zst", sc.name));
        let cli_out = a.work.join(format!("{}.tar.zst", sc.name));
        let mut variants: Vec<(String, Vec<String>)> = vec![("bri create-files".into(), vec![])];
        if a.no_parity_variant {
            variants.push((
                "bri create-files --redundancy 0".into(),
                vec!["--redundancy".into(), "0".into()],
            ));
        }
        if a.no_verify_variant {
            variants.push((
                "bri create-files --no-verify".into(),
                vec!["--no-verify".into()],
            ));
        }
        let mut bris: Vec<ToolResult> = variants
            .into_iter()
            .map(|(label, variant)| ToolResult {
                command: format!(
                    "{} {}",
                    a.bri.display(),
                    bri_args(&a, &input, &bri_out, sc.level, &variant).join(" ")
                ),
                label,
                variant,
                runs: vec![],
                error: if a.cli_only {
                    Some("skipped (--cli-only)".into())
                } else {
                    None
                },
            })
            .collect();
        let mut cli = ToolResult {
            label: format!("tar \\| zstd -T0 -{}", sc.level),
            variant: vec![],
            runs: vec![],
            error: None,
            command: format!(
                "tar {} | {} {}",
                tar_args(&input).join(" "),
                a.zstd.display(),
                zstd_args(&cli_out, sc.level).join(" ")
            ),
        };
        let mut bri_valid: Option<bool> = None;
        for rep in 0..sc.reps {
            // Alternate the order so that neither tool always runs on a cooler machine.
            let cli_first = rep % 2 == 1;
            if cli_first && cli.error.is_none() {
                match run_cli(&a, &input, &cli_out, sc.level, &tmp) {
                    Ok(r) => cli.runs.push(r),
                    Err(e) => cli.error = Some(e),
                }
            }
            for b in bris.iter_mut() {
                if b.error.is_some() {
                    continue;
                }
                match run_bri(&a, &input, &bri_out, sc.level, &b.variant, &tmp) {
                    Ok(r) => {
                        b.runs.push(r);
                        // The bri output must at least be valid zstd (untimed, once).
                        if bri_valid.is_none() {
                            let ok = Command::new(&a.zstd)
                                .args(["-t", "-q"])
                                .arg(&bri_out)
                                .stdout(Stdio::null())
                                .stderr(Stdio::null())
                                .status()
                                .map(|s| s.success())
                                .unwrap_or(false);
                            bri_valid = Some(ok);
                            if !ok {
                                b.error =
                                    Some(format!("{} does not pass `zstd -t`", bri_out.display()));
                            }
                        }
                    }
                    Err(e) => b.error = Some(e),
                }
            }
            if !cli_first && cli.error.is_none() {
                match run_cli(&a, &input, &cli_out, sc.level, &tmp) {
                    Ok(r) => cli.runs.push(r),
                    Err(e) => cli.error = Some(e),
                }
            }
        }
        let _ = fs::remove_file(&bri_out);
        let _ = fs::remove_file(&cli_out);

        let load_after = loadavg();
        let cli_mbps = mbps(in_bytes, cli.median_seconds());
        let f = |x: Option<f64>, d: usize| x.map_or("-".to_string(), |v| format!("{v:.d$}"));
        let rss =
            |k: Option<u64>| k.map_or("-".to_string(), |k| format!("{:.1}", k as f64 / 1024.0));
        let mib = in_bytes as f64 / MIB as f64;
        let tool_json = |t: &ToolResult| {
            let mb = mbps(in_bytes, t.median_seconds());
            json!({
                "label": t.label.replace("\\|", "|"),
                "command": t.command,
                "error": t.error,
                "mbPerSec": mb,
                "medianSeconds": t.median_seconds(),
                "bestSeconds": t.best_seconds(),
                "bestMbPerSec": mbps(in_bytes, t.best_seconds()),
                "seconds": t.runs.iter().map(|r| r.seconds).collect::<Vec<_>>(),
                "compressedBytes": t.compressed(),
                "ratio": t.compressed().map(|c| in_bytes as f64 / c as f64),
                "peakRssKiB": t.peak_rss_kib(),
                "cpuSeconds": t.runs.iter().map(|r| r.cpu_seconds).collect::<Vec<_>>(),
                "medianCpuSeconds": t.median_cpu(),
                "mbPerCpuSecond": t.median_cpu().map(|c| in_bytes as f64 / 1e6 / c),
                "tarPeakRssKiB": t.peak_tar_rss_kib(),
            })
        };
        let mut bri_json = Vec::new();
        for (i, b) in bris.iter().enumerate() {
            let b_mbps = mbps(in_bytes, b.median_seconds());
            let size_vs_cli = match (b.compressed(), cli.compressed()) {
                (Some(x), Some(c)) => Some(x as f64 / c as f64 - 1.0),
                _ => None,
            };
            let thr_vs_cli = match (b_mbps, cli_mbps) {
                (Some(x), Some(c)) => Some(x / c),
                _ => None,
            };
            let cpu_vs_cli = match (b.median_cpu(), cli.median_cpu()) {
                (Some(x), Some(c)) => Some(x / c),
                _ => None,
            };
            // The memory limit applies to the default command (the first variant).
            let mem_ok = match (sc.rss_limit_mib, b.peak_rss_kib()) {
                (Some(lim), Some(kib)) if i == 0 => Some(kib < lim * 1024),
                _ => None,
            };
            if mem_ok == Some(false) || b.error.is_some() {
                failed = true;
            }
            let mut j = tool_json(b);
            j["sizeVsCli"] = json!(size_vs_cli);
            j["throughputVsCli"] = json!(thr_vs_cli);
            j["cpuVsCli"] = json!(cpu_vs_cli);
            j["peakRssUnderLimit"] = json!(mem_ok);
            bri_json.push(j);
            table.push(format!(
                "| {} ({:.0} MiB, -{}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}{} |",
                sc.name,
                mib,
                sc.level,
                b.label,
                f(b_mbps, 1),
                f(mbps(in_bytes, b.best_seconds()), 1),
                f(b.compressed().map(|c| in_bytes as f64 / c as f64), 3),
                b.compressed().map_or("-".into(), |c| c.to_string()),
                size_vs_cli.map_or("-".into(), |x| format!("{:+.2}%", x * 100.0)),
                f(thr_vs_cli, 2) + "x",
                f(b.median_cpu(), 2),
                f(cpu_vs_cli, 2) + "x",
                rss(b.peak_rss_kib()),
                match mem_ok {
                    Some(true) => format!(" (< {} MiB: ok)", sc.rss_limit_mib.unwrap()),
                    Some(false) => format!(" (>= {} MiB: FAIL)", sc.rss_limit_mib.unwrap()),
                    None => String::new(),
                }
            ));
        }
        if cli.error.is_some() {
            failed = true;
        }
        results.push(json!({
            "scenario": sc.name,
            "input": input,
            "inputBytes": in_bytes,
            "files": files,
            "level": sc.level,
            "repetitions": sc.reps,
            "bri": bri_json,
            "zstdCli": tool_json(&cli),
            "briOutputPassesZstdTest": bri_valid,
            "rssLimitMiB": sc.rss_limit_mib,
            "loadAverage1m": {"before": load_before, "after": load_after},
        }));
        table.push(format!(
            "| {} ({:.0} MiB, -{}) | {} | {} | {} | {} | {} | 0% | 1x | {} | 1x | {} (tar {}) |",
            sc.name,
            mib,
            sc.level,
            cli.label,
            f(cli_mbps, 1),
            f(mbps(in_bytes, cli.best_seconds()), 1),
            f(cli.compressed().map(|c| in_bytes as f64 / c as f64), 3),
            cli.compressed().map_or("-".into(), |c| c.to_string()),
            f(cli.median_cpu(), 2),
            rss(cli.peak_rss_kib()),
            rss(cli.peak_tar_rss_kib()),
        ));
        notes.push(format!(
            "- {}: 1-min load average {} before, {} after",
            sc.name,
            f(load_before, 2),
            f(load_after, 2)
        ));
        for t in bris.iter().chain(std::iter::once(&cli)) {
            if let Some(e) = &t.error {
                notes.push(format!("- {}: {}: {e}", sc.name, t.label));
            }
        }
    }
    let _ = fs::remove_dir_all(&tmp);

    let doc = json!({
        "machine": {"cores": cores, "zstdCli": zstd_version, "bri": bri_version},
        "mb": "10^6 bytes of input per second of wall time (median of the repetitions)",
        "scenarios": results,
    });
    let doc_text = serde_json::to_string_pretty(&doc).unwrap();
    if let Some(p) = &a.json_out {
        if let Err(e) = fs::write(p, format!("{doc_text}\n")) {
            eprintln!("error: cannot write {}: {e}", p.display());
            failed = true;
        }
    }
    if a.json {
        println!("{doc_text}");
    } else {
        println!(
            "cores: {cores}; zstd: {}; bri: {}",
            zstd_version.as_deref().unwrap_or("?"),
            bri_version.as_deref().unwrap_or("-")
        );
        println!();
        println!(
            "| scenario | tool | MB/s (median) | MB/s (best) | ratio | archive bytes | size vs CLI | throughput vs CLI (median) | CPU s (median) | CPU vs CLI | peak RSS MiB |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in &table {
            println!("{l}");
        }
        println!();
        for l in &notes {
            println!("{l}");
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
