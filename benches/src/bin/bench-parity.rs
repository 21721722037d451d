//! `bench-parity`: the cost and speed of bri's built-in Reed-Solomon parity against `par2`
//! (par2cmdline, Debian package `par2`) on the same input, in the same run (issue 3,
//! "Benchmarks").
//!
//! 1. Generates a BRI WAL data directory (the WAL generator of this crate) and creates archives
//!    of it with `--redundancy 10` and `--redundancy 0`, both with `--no-verify` and with the
//!    default verify pass: MB/s and the parity overhead in % (target: at most 15%).
//! 2. Protects the `--redundancy 0` archive with `par2 create -r10` (same bytes, same
//!    redundancy), applies the same damage (zeroed 4 KiB blocks and bit flips at identical
//!    offsets inside the data region) to copies of both archives, and times `par2 verify` /
//!    `par2 repair` against `bri archive verify` / `bri archive repair`. Both repairs are
//!    compared byte for byte with the originals.
//!
//! Timing: wall clock (`Instant`) around each child process, best of `--reps` repetitions.
//! Throughput of verify, repair and parity-only create is in MB (10^6 bytes) of protected data
//! (the size of the `--redundancy 0` archive, whose data region is the same tar stream
//! compressed the same way) per second; create throughput is in MB of WAL input per second.
//!
//! cargo run --release -p bri-benches --bin bench-parity -- [--bytes N] [--reps 3] [--json]

use bri_benches::walgen::{write_data_dir, GenOptions};
use clap::Parser;
use serde_json::{json, Value};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Benchmark bri's built-in parity (create, verify, repair) against par2")]
struct Args {
    /// Bytes of generated WAL to archive.
    #[arg(long, default_value_t = 268_435_456)]
    bytes: u64,
    /// Seed of the generated WAL.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Repetitions of every timed command (the best one is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// zstd level passed to bri.
    #[arg(long, default_value_t = 3)]
    level: i32,
    /// Path of the `bri` binary.
    #[arg(long, default_value = "target/release/bri")]
    bri: PathBuf,
    /// Path of the `par2` binary (installed with apt-get when missing and left at its default).
    #[arg(long, default_value = "par2")]
    par2: PathBuf,
    /// OMP_WAIT_POLICY given to par2 (an OpenMP program). PASSIVE (the default) keeps its idle
    /// threads from spinning, which on a shared, loaded machine made par2 several times slower
    /// (0.42 s against 1.6 s for the same 4 MB here); pass an empty string to leave par2's
    /// environment untouched.
    #[arg(long, default_value = "PASSIVE")]
    omp_wait_policy: String,
    /// Redundancy in percent, for both tools.
    #[arg(long, default_value_t = 10)]
    redundancy: u32,
    /// Time `bri archive verify` in full (parity + decompressing and hashing every member)
    /// instead of `--quick` (parity shard hashes over every byte, which is what `par2 verify`
    /// does: block hashes, no interpretation of the content).
    #[arg(long)]
    full_verify: bool,
    /// Zeroed 4 KiB blocks (4096-aligned) in the data region.
    #[arg(long, default_value_t = 3)]
    zero_blocks: usize,
    /// Single-bit flips in the data region.
    #[arg(long, default_value_t = 5)]
    bit_flips: usize,
    /// Seed of the damage offsets.
    #[arg(long, default_value_t = 1)]
    damage_seed: u64,
    /// Working directory for generated data (outside git).
    #[arg(long, default_value = "/tmp/bri-bench-parity")]
    work: PathBuf,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON document to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

/// One timed child process.
struct Timed {
    seconds: f64,
    /// User + system CPU seconds of the child (and its children), from the change of this
    /// process's `cutime + cstime` in `/proc/self/stat` (10 ms resolution): far less sensitive
    /// than wall time to other work on a shared machine.
    cpu: Option<f64>,
    code: Option<i32>,
}

/// `cutime + cstime` of this process (waited-for children), seconds.
fn children_cpu() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 16 and 17 of proc(5); `rest` starts at field 3.
    let ticks: u64 = f.get(13)?.parse::<u64>().ok()? + f.get(14)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Runs `cmd` with its output discarded (stderr kept for errors), timing the wall clock.
fn run_timed(cmd: &mut Command) -> Result<Timed, String> {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let cpu0 = children_cpu();
    let t = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let seconds = t.elapsed().as_secs_f64();
    let cpu = match (cpu0, children_cpu()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(Timed {
        seconds,
        cpu,
        code: out.status.code(),
    })
}

/// Runs a command that must succeed (setup, not timed), returning stdout.
fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Best-of-N result of one measured operation.
struct Measure {
    name: String,
    command: String,
    times: Vec<f64>,
    cpus: Vec<Option<f64>>,
    codes: Vec<Option<i32>>,
}

impl Measure {
    fn new(name: &str, command: String) -> Self {
        Measure {
            name: name.to_string(),
            command,
            times: Vec::new(),
            cpus: Vec::new(),
            codes: Vec::new(),
        }
    }
    fn push(&mut self, t: Timed) {
        self.times.push(t.seconds);
        self.cpus.push(t.cpu);
        self.codes.push(t.code);
    }
    fn best(&self) -> f64 {
        self.times.iter().copied().fold(f64::INFINITY, f64::min)
    }
    /// Least CPU seconds over the repetitions (NaN when unknown).
    fn best_cpu(&self) -> f64 {
        self.cpus.iter().flatten().copied().fold(f64::NAN, f64::min)
    }
    fn json(&self, mb: f64) -> Value {
        json!({
            "name": self.name,
            "command": self.command,
            "seconds": self.times,
            "cpuSeconds": self.cpus,
            "exitCodes": self.codes,
            "bestSeconds": self.best(),
            "bestCpuSeconds": self.best_cpu(),
            "mbPerSecond": mb / self.best(),
        })
    }
}

/// splitmix64: the damage offsets must be reproducible and identical for both tools.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy)]
enum Damage {
    Zero4k(u64),
    BitFlip(u64, u8),
}

impl Damage {
    fn json(&self) -> Value {
        match *self {
            Damage::Zero4k(o) => json!({"kind": "zero4k", "offset": o, "len": 4096}),
            Damage::BitFlip(o, b) => json!({"kind": "bitflip", "offset": o, "bit": b}),
        }
    }
}

/// Damage offsets inside `[0, limit)`: 4096-aligned zeroed blocks that do not overlap, and
/// bit flips outside them (so every flip changes a byte the zeroing did not already change).
fn plan_damage(seed: u64, limit: u64, zero_blocks: usize, bit_flips: usize) -> Vec<Damage> {
    let mut rng = Rng(seed);
    let blocks = (limit / 4096).max(1);
    let mut zeroed: Vec<u64> = Vec::new();
    let mut tries = 0;
    while zeroed.len() < zero_blocks && tries < 100_000 {
        tries += 1;
        let b = rng.below(blocks) * 4096;
        if !zeroed.contains(&b) {
            zeroed.push(b);
        }
    }
    let mut plan: Vec<Damage> = zeroed.iter().map(|&o| Damage::Zero4k(o)).collect();
    let mut flips: Vec<u64> = Vec::new();
    tries = 0;
    while flips.len() < bit_flips && tries < 100_000 {
        tries += 1;
        let o = rng.below(limit);
        if zeroed.iter().any(|&z| o >= z && o < z + 4096) || flips.contains(&o) {
            continue;
        }
        flips.push(o);
        plan.push(Damage::BitFlip(o, (rng.next() % 8) as u8));
    }
    plan
}

/// Copies `src` to `dst` and applies `plan`; returns how many bytes differ afterwards.
fn damaged_copy(src: &Path, dst: &Path, plan: &[Damage]) -> Result<u64, String> {
    fs::copy(src, dst).map_err(|e| format!("copy {} -> {}: {e}", src.display(), dst.display()))?;
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dst)
        .map_err(|e| e.to_string())?;
    let mut changed = 0u64;
    for d in plan {
        match *d {
            Damage::Zero4k(o) => {
                let mut old = vec![0u8; 4096];
                f.seek(SeekFrom::Start(o)).map_err(|e| e.to_string())?;
                f.read_exact(&mut old).map_err(|e| e.to_string())?;
                changed += old.iter().filter(|&&b| b != 0).count() as u64;
                f.seek(SeekFrom::Start(o)).map_err(|e| e.to_string())?;
                f.write_all(&[0u8; 4096]).map_err(|e| e.to_string())?;
            }
            Damage::BitFlip(o, bit) => {
                let mut b = [0u8; 1];
                f.seek(SeekFrom::Start(o)).map_err(|e| e.to_string())?;
                f.read_exact(&mut b).map_err(|e| e.to_string())?;
                b[0] ^= 1 << bit;
                f.seek(SeekFrom::Start(o)).map_err(|e| e.to_string())?;
                f.write_all(&b).map_err(|e| e.to_string())?;
                changed += 1;
            }
        }
    }
    f.sync_all().map_err(|e| e.to_string())?;
    Ok(changed)
}

/// Byte-for-byte comparison; `Ok(None)` when identical, else the first differing offset.
fn first_difference(a: &Path, b: &Path) -> Result<Option<u64>, String> {
    let x = fs::read(a).map_err(|e| format!("{}: {e}", a.display()))?;
    let y = fs::read(b).map_err(|e| format!("{}: {e}", b.display()))?;
    if x == y {
        return Ok(None);
    }
    let n = x.len().min(y.len());
    let first = (0..n).find(|&i| x[i] != y[i]).unwrap_or(n);
    Ok(Some(first as u64))
}

fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                total += e.metadata()?.len();
                // Read it once so that every tool starts from the page cache.
                let mut f = fs::File::open(e.path())?;
                let mut buf = vec![0u8; 1 << 20];
                while f.read(&mut buf)? > 0 {}
            }
        }
    }
    Ok(total)
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The par2 binary, installing the Debian package when it is missing.
fn ensure_par2(par2: &Path, quiet: bool) -> Result<(), String> {
    let works = |p: &Path| {
        Command::new(p)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if works(par2) {
        return Ok(());
    }
    if par2 != Path::new("par2") {
        return Err(format!("{} cannot be run", par2.display()));
    }
    if !quiet {
        eprintln!("par2 missing: apt-get update && apt-get install -y par2 ...");
    }
    let st = Command::new("sh")
        .arg("-c")
        .arg("apt-get update && apt-get install -y par2")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("par2 is missing and apt-get cannot run: {e}"))?;
    if !st.success() || !works(par2) {
        return Err(format!(
            "par2 is missing and `apt-get update && apt-get install -y par2` failed ({st})"
        ));
    }
    Ok(())
}

/// A `par2` command running in `dir`, with the configured OMP_WAIT_POLICY.
fn par2_cmd(a: &Args, dir: &Path) -> Command {
    let mut c = Command::new(&a.par2);
    c.current_dir(dir);
    if !a.omp_wait_policy.is_empty() {
        c.env("OMP_WAIT_POLICY", &a.omp_wait_policy);
    }
    c
}

fn par2_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "par2"))
        .collect();
    v.sort();
    Ok(v)
}

/// A fresh directory holding `data` as `archive.bri.zst` and copies of the par2 files.
fn par2_dir(dir: &Path, data: &Path, pars: &[PathBuf]) -> Result<(), String> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    fs::copy(data, dir.join("archive.bri.zst")).map_err(|e| e.to_string())?;
    for p in pars {
        fs::copy(p, dir.join(p.file_name().unwrap())).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn mbs(mb: f64, s: f64) -> String {
    if s > 0.0 && s.is_finite() {
        format!("{:.1}", mb / s)
    } else {
        "n/a".into()
    }
}

fn machine() -> Value {
    let nproc = run_ok(&mut Command::new("nproc"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cpu = run_ok(&mut Command::new("lscpu"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Model name:"))
                .map(|l| l["Model name:".len()..].trim().to_string())
        })
        .unwrap_or_default();
    json!({"nproc": nproc, "cpu": cpu})
}

fn real_main(a: &Args) -> Result<Value, String> {
    let quiet = a.json;
    let say = |s: String| {
        if !quiet {
            eprintln!("{s}");
        }
    };
    if a.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    ensure_par2(&a.par2, quiet)?;
    let par2_version = run_ok(Command::new(&a.par2).arg("-V"))
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let bri_version = run_ok(Command::new(&a.bri).arg("--version"))
        .map_err(|e| format!("bri at {}: {e}", a.bri.display()))?
        .trim()
        .to_string();
    let bri = a.bri.to_string_lossy().to_string();
    let work = &a.work;
    fs::create_dir_all(work).map_err(|e| e.to_string())?;

    // --- input ---
    let input = work.join(format!("input-{}-seed{}", a.bytes, a.seed));
    let done = work.join(format!("input-{}-seed{}.complete", a.bytes, a.seed));
    if !(done.exists() && input.join("wal").is_dir()) {
        let _ = fs::remove_dir_all(&input);
        say(format!("generating {} ...", input.display()));
        write_data_dir(&input, &GenOptions::new(a.bytes, a.seed))
            .map_err(|e| format!("cannot generate {}: {e}", input.display()))?;
        fs::write(&done, b"").map_err(|e| e.to_string())?;
    }
    let input_bytes = dir_bytes(&input).map_err(|e| e.to_string())?;
    let input_mb = input_bytes as f64 / 1e6;
    let load_start = load_average();

    // --- 1. create, with and without parity, with and without verify ---
    let variants: [(&str, u32, bool); 4] = [
        ("create --redundancy R --no-verify", a.redundancy, false),
        ("create --redundancy 0 --no-verify", 0, false),
        ("create --redundancy R (verify)", a.redundancy, true),
        ("create --redundancy 0 (verify)", 0, true),
    ];
    let create_out = |i: usize| work.join(format!("create-{i}.bri.zst"));
    let create_args = |i: usize| -> Vec<String> {
        let (_, r, verify) = variants[i];
        let mut v = vec![
            "archive".to_string(),
            "create-files".into(),
            input.to_string_lossy().into(),
            "-o".into(),
            create_out(i).to_string_lossy().into(),
            "--level".into(),
            a.level.to_string(),
            "--redundancy".into(),
            r.to_string(),
            "--force".into(),
            "-q".into(),
        ];
        if !verify {
            v.push("--no-verify".into());
        }
        v
    };
    let mut creates: Vec<Measure> = (0..4)
        .map(|i| {
            Measure::new(
                &variants[i].0.replace('R', &a.redundancy.to_string()),
                format!("{bri} {}", create_args(i).join(" ")),
            )
        })
        .collect();
    for rep in 0..a.reps {
        for j in 0..4 {
            // Rotate the order so that no variant always runs first.
            let i = (j + rep) % 4;
            say(format!("rep {}: {}", rep + 1, creates[i].name));
            let t = run_timed(Command::new(&a.bri).args(create_args(i)))?;
            if t.code != Some(0) {
                return Err(format!("`{}` exited with {:?}", creates[i].command, t.code));
            }
            creates[i].push(t);
        }
    }
    let base10 = work.join("base-r.bri.zst");
    let base0 = work.join("base-0.bri.zst");
    fs::rename(create_out(0), &base10).map_err(|e| e.to_string())?;
    fs::rename(create_out(1), &base0).map_err(|e| e.to_string())?;
    for i in 2..4 {
        let _ = fs::remove_file(create_out(i));
    }
    let size10 = fs::metadata(&base10).map_err(|e| e.to_string())?.len();
    let size0 = fs::metadata(&base0).map_err(|e| e.to_string())?.len();
    let protected_mb = size0 as f64 / 1e6;

    // The archive with parity must verify as intact before anything else is measured.
    let intact = run_timed(
        Command::new(&a.bri)
            .args(["archive", "verify", "-q"])
            .arg(&base10),
    )?;
    if intact.code != Some(0) {
        let report = Command::new(&a.bri)
            .args(["archive", "verify"])
            .arg(&base10)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        return Err(format!(
            "bri archive verify of the freshly created archive exited {:?} (expected 0):\n{report}",
            intact.code
        ));
    }

    // --- 2. par2 create on the --redundancy 0 archive ---
    let pdir = work.join("par2");
    let r_arg = format!("-r{}", a.redundancy);
    let par2_create_args = [
        "create",
        r_arg.as_str(),
        "-q",
        "-q",
        "archive.bri.zst.par2",
        "archive.bri.zst",
    ];
    let mut par2_create = Measure::new(
        "par2 create",
        format!("par2 {}", par2_create_args.join(" ")),
    );
    for rep in 0..a.reps {
        par2_dir(&pdir, &base0, &[])?;
        say(format!("rep {}: par2 create", rep + 1));
        let t = run_timed(par2_cmd(a, &pdir).args(par2_create_args))?;
        if t.code != Some(0) {
            return Err(format!("par2 create exited with {:?}", t.code));
        }
        par2_create.push(t);
    }
    let pars = par2_files(&pdir)?;
    let par2_bytes: u64 = pars
        .iter()
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();

    // --- damage, identical offsets in both files ---
    // The data region starts at offset 0 in both files; the last 10% of the smaller file
    // (manifest frame, seek table) is left alone so that every offset is data region in both.
    // Rounded down to whole MiB so that the offsets do not move when the archive id changes
    // the archive's size by a byte or two from one run to the next.
    let limit = ((size0 - size0 / 10) & !0xF_FFFF).max(4096);
    let plan = plan_damage(a.damage_seed, limit, a.zero_blocks, a.bit_flips);
    let dmg10 = work.join("damaged-r.bri.zst");
    let dmg0 = work.join("damaged-0.bri.zst");
    let changed10 = damaged_copy(&base10, &dmg10, &plan)?;
    let changed0 = damaged_copy(&base0, &dmg0, &plan)?;

    // --- verify ---
    let verify_args = |f: &Path| -> Vec<String> {
        let mut v: Vec<String> = vec!["archive".into(), "verify".into(), "-q".into()];
        if !a.full_verify {
            v.push("--quick".into());
        }
        v.push(f.to_string_lossy().into());
        v
    };
    let par2_verify_args = ["verify", "-q", "-q", "archive.bri.zst.par2"];
    let pdir_ok = work.join("par2-intact");
    let pdir_dmg = work.join("par2-damaged");
    par2_dir(&pdir_ok, &base0, &pars)?;
    par2_dir(&pdir_dmg, &dmg0, &pars)?;
    let mut bri_verify_ok = Measure::new(
        "bri verify (intact)",
        format!("{bri} {}", verify_args(&base10).join(" ")),
    );
    let mut bri_verify_dmg = Measure::new(
        "bri verify (damaged)",
        format!("{bri} {}", verify_args(&dmg10).join(" ")),
    );
    let mut par2_verify_ok = Measure::new(
        "par2 verify (intact)",
        format!("par2 {}", par2_verify_args.join(" ")),
    );
    let mut par2_verify_dmg = Measure::new(
        "par2 verify (damaged)",
        format!("par2 {}", par2_verify_args.join(" ")),
    );
    for rep in 0..a.reps {
        say(format!("rep {}: verify", rep + 1));
        bri_verify_ok.push(run_timed(Command::new(&a.bri).args(verify_args(&base10)))?);
        par2_verify_ok.push(run_timed(par2_cmd(a, &pdir_ok).args(par2_verify_args))?);
        bri_verify_dmg.push(run_timed(Command::new(&a.bri).args(verify_args(&dmg10)))?);
        par2_verify_dmg.push(run_timed(par2_cmd(a, &pdir_dmg).args(par2_verify_args))?);
    }

    // --- repair ---
    let rep10 = work.join("repaired-r.bri.zst");
    let repair_args: Vec<String> = vec![
        "archive".into(),
        "repair".into(),
        "-q".into(),
        dmg10.to_string_lossy().into(),
        "-o".into(),
        rep10.to_string_lossy().into(),
        "--force".into(),
    ];
    let par2_repair_args = ["repair", "-q", "-q", "archive.bri.zst.par2"];
    let mut bri_repair = Measure::new("bri repair", format!("{bri} {}", repair_args.join(" ")));
    let mut par2_repair = Measure::new(
        "par2 repair",
        format!("par2 {}", par2_repair_args.join(" ")),
    );
    let pdir_rep = work.join("par2-repair");
    let mut bri_identical = true;
    let mut par2_identical = true;
    let mut bri_first_diff: Option<u64> = None;
    let mut par2_first_diff: Option<u64> = None;
    for rep in 0..a.reps {
        say(format!("rep {}: repair", rep + 1));
        let _ = fs::remove_file(&rep10);
        bri_repair.push(run_timed(Command::new(&a.bri).args(&repair_args))?);
        match first_difference(&rep10, &base10) {
            Ok(None) => {}
            Ok(Some(o)) => {
                bri_identical = false;
                bri_first_diff = Some(o);
            }
            Err(_) => bri_identical = false,
        }
        par2_dir(&pdir_rep, &dmg0, &pars)?;
        par2_repair.push(run_timed(par2_cmd(a, &pdir_rep).args(par2_repair_args))?);
        match first_difference(&pdir_rep.join("archive.bri.zst"), &base0) {
            Ok(None) => {}
            Ok(Some(o)) => {
                par2_identical = false;
                par2_first_diff = Some(o);
            }
            Err(_) => par2_identical = false,
        }
    }
    let load_end = load_average();

    // Timings only mean something when every tool did what it was asked.
    let mut warnings: Vec<String> = Vec::new();
    let expect = |m: &Measure, want: i32, what: &str, w: &mut Vec<String>| {
        if m.codes.iter().any(|&c| c != Some(want)) {
            w.push(format!(
                "{}: exit codes {:?}, expected {want} ({what})",
                m.name, m.codes
            ));
        }
    };
    expect(&bri_verify_ok, 0, "intact", &mut warnings);
    expect(&par2_verify_ok, 0, "intact", &mut warnings);
    expect(&bri_verify_dmg, 3, "damaged, repairable", &mut warnings);
    expect(&par2_verify_dmg, 1, "repair possible", &mut warnings);
    expect(&bri_repair, 0, "repaired", &mut warnings);
    expect(&par2_repair, 0, "repaired", &mut warnings);
    if !bri_identical {
        warnings.push(format!(
            "bri repair output differs from the original (first difference at {bri_first_diff:?})"
        ));
    }
    if !par2_identical {
        warnings.push(format!(
            "par2 repair output differs from the original (first difference at {par2_first_diff:?})"
        ));
    }

    // --- results ---
    let overhead = |with: &Measure, without: &Measure| (with.best() / without.best() - 1.0) * 100.0;
    let overhead_noverify = overhead(&creates[0], &creates[1]);
    let overhead_verify = overhead(&creates[2], &creates[3]);
    let cpu_overhead =
        |with: &Measure, without: &Measure| (with.best_cpu() / without.best_cpu() - 1.0) * 100.0;
    let cpu_overhead_noverify = cpu_overhead(&creates[0], &creates[1]);
    let cpu_overhead_verify = cpu_overhead(&creates[2], &creates[3]);
    let bri_parity_seconds = creates[0].best() - creates[1].best();
    let bri_parity_cpu = creates[0].best_cpu() - creates[1].best_cpu();
    let par2_over_archive = par2_create.best() / creates[1].best() * 100.0;
    let verify_ratio = par2_verify_dmg.best() / bri_verify_dmg.best();
    let verify_ok_ratio = par2_verify_ok.best() / bri_verify_ok.best();
    let repair_ratio = par2_repair.best() / bri_repair.best();

    let creates_json: Vec<Value> = creates.iter().map(|m| m.json(input_mb)).collect();
    let doc = json!({
        "benchmark": "bench-parity",
        "machine": machine(),
        "briVersion": bri_version,
        "par2Version": par2_version,
        "par2OmpWaitPolicy": a.omp_wait_policy,
        "reps": a.reps,
        "loadAverage": {"start": load_start, "end": load_end},
        "input": {"dir": input, "bytes": input_bytes, "seed": a.seed, "level": a.level},
        "redundancyPercent": a.redundancy,
        "archive": {
            "withParityBytes": size10,
            "withoutParityBytes": size0,
            "briParityBytes": size10 - size0,
            "par2FilesBytes": par2_bytes,
            "par2Files": pars.len(),
        },
        "create": creates_json,
        "createOverheadPercent": {
            "noVerify": overhead_noverify,
            "verify": overhead_verify,
            "noVerifyCpu": cpu_overhead_noverify,
            "verifyCpu": cpu_overhead_verify,
            "target": 15.0,
        },
        "parityOnlyCreate": {
            "bri": {
                "seconds": bri_parity_seconds,
                "cpuSeconds": bri_parity_cpu,
                "mbPerSecond": if bri_parity_seconds > 0.0 { Value::from(protected_mb / bri_parity_seconds) } else { Value::Null },
            },
            "par2": par2_create.json(protected_mb),
            "par2AsPercentOfArchiveCreate": par2_over_archive,
        },
        "damage": {
            "plan": plan.iter().map(|d| d.json()).collect::<Vec<_>>(),
            "bytesChangedWithParity": changed10,
            "bytesChangedWithoutParity": changed0,
        },
        "protectedMB": protected_mb,
        "verify": {
            "briIntact": bri_verify_ok.json(protected_mb),
            "par2Intact": par2_verify_ok.json(protected_mb),
            "briDamaged": bri_verify_dmg.json(protected_mb),
            "par2Damaged": par2_verify_dmg.json(protected_mb),
            "speedupDamaged": verify_ratio,
            "speedupIntact": verify_ok_ratio,
            "target": 10.0,
        },
        "repair": {
            "bri": bri_repair.json(protected_mb),
            "par2": par2_repair.json(protected_mb),
            "speedup": repair_ratio,
            "target": 10.0,
            "briByteIdentical": bri_identical,
            "briFirstDifference": bri_first_diff,
            "par2ByteIdentical": par2_identical,
            "par2FirstDifference": par2_first_diff,
        },
        "warnings": warnings,
    });

    if !a.json {
        let code = |m: &Measure| {
            let mut c: Vec<String> = m
                .codes
                .iter()
                .map(|c| c.map(|x| x.to_string()).unwrap_or("signal".into()))
                .collect();
            c.dedup();
            c.join(",")
        };
        println!(
            "input: {input_bytes} bytes of WAL (seed {}), level {}; archive {size0} bytes without \
             parity, {size10} with {}% parity; par2 files {par2_bytes} bytes; best of {} reps; \
             load average {load_start} -> {load_end}",
            a.seed, a.level, a.redundancy, a.reps
        );
        println!();
        println!("| create (bri) | best wall s | MB/s (input) | best CPU s |");
        println!("|---|---:|---:|---:|");
        for m in &creates {
            println!(
                "| {} | {:.3} | {} | {:.2} |",
                m.name,
                m.best(),
                mbs(input_mb, m.best()),
                m.best_cpu()
            );
        }
        let verdict = |x: f64| if x <= 15.0 { "met" } else { "MISSED" };
        println!(
            "| parity overhead, --no-verify | {:+.1}% | target <= 15%: {} | {:+.1}% (CPU) |",
            overhead_noverify,
            verdict(overhead_noverify),
            cpu_overhead_noverify
        );
        println!(
            "| parity overhead, with verify | {:+.1}% | target <= 15%: {} | {:+.1}% (CPU) |",
            overhead_verify,
            verdict(overhead_verify),
            cpu_overhead_verify
        );
        println!();
        let ratio = |p: f64, b: f64| {
            if b > 0.0 && p.is_finite() {
                format!("{:.1}x", p / b)
            } else {
                "n/a".into()
            }
        };
        println!(
            "| operation | bri best wall s | bri MB/s | par2 best wall s | par2 MB/s | par2 time / bri time | bri CPU s | par2 CPU s | exit codes bri / par2 |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        println!(
            "| create, parity only | {:.3} | {} | {:.3} | {} | {} | {:.2} | {:.2} | - |",
            bri_parity_seconds,
            mbs(protected_mb, bri_parity_seconds),
            par2_create.best(),
            mbs(protected_mb, par2_create.best()),
            ratio(par2_create.best(), bri_parity_seconds),
            bri_parity_cpu,
            par2_create.best_cpu()
        );
        for (name, b, p) in [
            ("verify, intact", &bri_verify_ok, &par2_verify_ok),
            ("verify, damaged", &bri_verify_dmg, &par2_verify_dmg),
            ("repair", &bri_repair, &par2_repair),
        ] {
            println!(
                "| {name} | {:.3} | {} | {:.3} | {} | {} | {:.2} | {:.2} | {} / {} |",
                b.best(),
                mbs(protected_mb, b.best()),
                p.best(),
                mbs(protected_mb, p.best()),
                ratio(p.best(), b.best()),
                b.best_cpu(),
                p.best_cpu(),
                code(b),
                code(p)
            );
        }
        println!();
        println!(
            "MB/s of verify, repair and parity-only create = {protected_mb:.3} MB (the archive \
             without parity) / best seconds. Bri parity-only create = best(--redundancy {}) - \
             best(--redundancy 0), both --no-verify (CPU: the same difference of CPU \
             seconds; n/a when the difference is not positive). par2 create takes {:.1}% of the time of \
             creating the archive itself.",
            a.redundancy, par2_over_archive
        );
        println!(
            "damage: {} zeroed 4 KiB blocks + {} bit flips at offsets {}; bytes changed: {changed10} \
             (bri file), {changed0} (par2-protected file)",
            a.zero_blocks,
            a.bit_flips,
            plan.iter()
                .map(|d| match d {
                    Damage::Zero4k(o) => format!("z{o}"),
                    Damage::BitFlip(o, b) => format!("f{o}.{b}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!(
            "targets: verify >= 10x faster than par2: {} ({:.1}x damaged, {:.1}x intact); repair >= 10x: {} ({:.1}x)",
            if verify_ratio >= 10.0 { "met" } else { "MISSED" },
            verify_ratio,
            verify_ok_ratio,
            if repair_ratio >= 10.0 { "met" } else { "MISSED" },
            repair_ratio
        );
        println!(
            "repairs byte-identical to the originals: bri {}, par2 {}",
            if bri_identical { "yes" } else { "NO" },
            if par2_identical { "yes" } else { "NO" }
        );
        for w in &warnings {
            println!("WARNING: {w}");
        }
    }
    Ok(doc)
}

fn main() -> ExitCode {
    let a = Args::parse();
    match real_main(&a) {
        Ok(doc) => {
            let text = serde_json::to_string_pretty(&doc).unwrap();
            if a.json {
                println!("{text}");
            }
            if let Some(p) = &a.json_out {
                if let Err(e) = fs::write(p, format!("{text}\n")) {
                    eprintln!("error: cannot write {}: {e}", p.display());
                    return ExitCode::from(1);
                }
            }
            let ok = doc["warnings"].as_array().is_some_and(|w| w.is_empty());
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
