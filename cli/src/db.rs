//! `bri db ...`: read a BRI data directory (state, chain verification, statistics).
//!
//! This is the host side of the sans-IO engine in [`bri_core::bri`]: it lists `wal/*.wal` in
//! name order (BRI's order), streams each segment in chunks into
//! [`bri_core::bri::WalEngine`], reads `snapshot.jss` and `cold/`, and takes the key from the
//! environment (`BRI_ENCRYPTION_KEY`). The helpers [`DataDir::scan`], [`replay_dir`],
//! [`load_snapshot_state`] and [`compute_state`] are what archive and restore code call.

use crate::error::{exit_code_for, CliError, CmdResult, EXIT_DAMAGED};
use crate::output::Output;
use bri_core::bri::replay::{iso_ms, LineBreaks, ReplayOptions, WalEngine, WalOutcome};
use bri_core::bri::snapshot::{read_snapshot, Snapshot};
use bri_core::bri::state::State;
use bri_core::bri::wal::DEFAULT_MAX_LINE_BYTES;
use bri_core::bri::{BriError, Key};
use bri_core::ErrorCode;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read from a segment at a time (memory stays bounded whatever the segment size).
pub const READ_CHUNK: usize = 1 << 20;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print the canonical state (the form of the fixtures' expected/*.json files) at the end
    /// of the WAL or at a point in time. Says on stderr whether it came from WAL replay or from
    /// snapshot.jss.
    State(StateArgs),
    /// Check the WAL pointer chain, corrupt lines and a torn last line. Exit 0 when intact,
    /// 3 when lines are unreadable (torn tail included), 7 when the chain is broken.
    Verify(DirArgs),
    /// Statistics of the WAL (lines, segments, operations by type, timestamps, chain head),
    /// the snapshot and open transactions.
    Stats(DirArgs),
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The BRI data directory (holds snapshot.jss and wal/).
    #[arg(long, default_value = ".")]
    pub data_dir: PathBuf,
    /// Longest WAL line accepted, in bytes (a longer one is reported as damage).
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// The runtime BRI ran under: Bun's line reader also breaks at raw U+2028/U+2029, which
    /// changes line numbers (and so the meaning of snapshot.jss's walLine).
    #[arg(long, value_enum, default_value_t = Runtime::Node)]
    pub runtime: Runtime,
}

/// `--runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    Node,
    Bun,
}

impl DirArgs {
    /// The base replay options these arguments ask for.
    pub fn replay_options(&self) -> ReplayOptions {
        ReplayOptions {
            max_line_bytes: self.max_line_bytes,
            line_breaks: match self.runtime {
                Runtime::Node => LineBreaks::Node,
                Runtime::Bun => LineBreaks::Bun,
            },
            ..Default::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// Point in time: every WAL entry with timestamp <= T is applied, none after.
    /// RFC 3339 (`2024-02-05T13:05:18.946Z`) or epoch milliseconds.
    #[arg(long)]
    pub at: Option<String>,
    /// Start from snapshot.jss (and cold/) plus the WAL lines after its walLine, as BRI
    /// recovers, instead of replaying the WAL from line 1.
    #[arg(long, conflicts_with = "from_wal")]
    pub from_snapshot: bool,
    /// Replay the WAL from line 1 even when it does not start at the chain's origin.
    #[arg(long)]
    pub from_wal: bool,
}

impl From<BriError> for CliError {
    fn from(e: BriError) -> Self {
        CliError::Core(bri_core::Error::from(e))
    }
}

pub fn run(cmd: DbCommand, out: &Output) -> CmdResult {
    match cmd {
        DbCommand::State(a) => cmd_state(a, out),
        DbCommand::Verify(a) => cmd_verify(a, out),
        DbCommand::Stats(a) => cmd_stats(a, out),
    }
}

/// The files of a BRI data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
    /// `wal/*.wal`, sorted by name as BRI sorts them.
    pub segments: Vec<(String, PathBuf)>,
    pub snapshot: Option<PathBuf>,
    /// `cold/TYPE/ID.jss`: (TYPE, file name, path).
    pub cold: Vec<(String, String, PathBuf)>,
    /// `txn/*.wal`: logs of open transactions.
    pub txn: Vec<PathBuf>,
}

fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, CliError> {
    let mut v = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(CliError::io(format!("listing {}", dir.display()), e)),
    };
    for ent in rd {
        let ent = ent.map_err(|e| CliError::io(format!("listing {}", dir.display()), e))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        v.push((name, ent.path()));
    }
    v.sort();
    Ok(v)
}

impl DataDir {
    /// List what BRI would read in `root`.
    pub fn scan(root: &Path) -> Result<DataDir, CliError> {
        if !root.is_dir() {
            return Err(CliError::NotFound(format!(
                "{} is not a directory; pass the BRI data directory with --data-dir",
                root.display()
            )));
        }
        let segments: Vec<(String, PathBuf)> = list_dir(&root.join("wal"))?
            .into_iter()
            .filter(|(n, p)| n.ends_with(".wal") && p.is_file())
            .collect();
        let snap = root.join("snapshot.jss");
        let snapshot = snap.is_file().then_some(snap);
        if segments.is_empty() && snapshot.is_none() {
            return Err(CliError::NotFound(format!(
                "{} holds neither snapshot.jss nor wal/*.wal; pass the BRI data directory with --data-dir",
                root.display()
            )));
        }
        let mut cold = Vec::new();
        for (ty, tdir) in list_dir(&root.join("cold"))? {
            if !tdir.is_dir() {
                continue;
            }
            for (file, path) in list_dir(&tdir)? {
                if file.ends_with(".jss") && path.is_file() {
                    cold.push((ty.clone(), file, path));
                }
            }
        }
        let txn = list_dir(&root.join("txn"))?
            .into_iter()
            .filter(|(n, _)| n.ends_with(".wal"))
            .map(|(_, p)| p)
            .collect();
        Ok(DataDir {
            root: root.to_path_buf(),
            segments,
            snapshot,
            cold,
            txn,
        })
    }
}

/// The key from `BRI_ENCRYPTION_KEY`, if set.
pub fn key_from_env() -> Result<Option<Key>, CliError> {
    match std::env::var_os("BRI_ENCRYPTION_KEY") {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => {
            let s = v.to_string_lossy().into_owned();
            Ok(Some(Key::from_hex(s.as_bytes())?))
        }
    }
}

/// Stream every segment of `dd` through a [`WalEngine`] starting from `initial`.
pub fn replay_dir(
    dd: &DataDir,
    initial: State,
    opts: ReplayOptions,
    key: Option<Key>,
) -> Result<WalOutcome, CliError> {
    let mut engine = WalEngine::new(initial, opts, key);
    let mut buf = vec![0u8; READ_CHUNK];
    for (name, path) in &dd.segments {
        engine.begin_segment(name)?;
        let mut f = std::fs::File::open(path)
            .map_err(|e| CliError::io(format!("opening {}", path.display()), e))?;
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
            if n == 0 {
                break;
            }
            engine.feed(&buf[..n])?;
        }
        engine.end_segment()?;
    }
    Ok(engine.finish()?)
}

/// Read snapshot.jss and register cold/ documents the way BRI does on start.
pub fn load_snapshot_state(dd: &DataDir, key: Option<&Key>) -> Result<(Snapshot, State), CliError> {
    let path = dd.snapshot.as_ref().ok_or_else(|| {
        CliError::NotFound(format!(
            "{} has no snapshot.jss; replay the WAL instead (without --from-snapshot)",
            dd.root.display()
        ))
    })?;
    let bytes =
        std::fs::read(path).map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
    let snap = read_snapshot(&bytes, key)?;
    let state = with_cold_documents(dd, snap.state.clone())?;
    Ok((snap, state))
}

/// Register the `cold/` files of `dd` in `state` the way BRI does on start.
pub fn with_cold_documents(dd: &DataDir, mut state: State) -> Result<State, CliError> {
    for (ty, file, p) in &dd.cold {
        let text =
            std::fs::read(p).map_err(|e| CliError::io(format!("reading {}", p.display()), e))?;
        state.add_cold_document(ty, file, &String::from_utf8_lossy(&text));
    }
    Ok(state)
}

/// Where a computed state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateSource {
    /// Replay of the WAL from line 1.
    WalReplay,
    /// snapshot.jss (+ cold/) and the WAL lines after its walLine.
    Snapshot,
}

/// How to choose the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceChoice {
    /// WAL when it is complete from line 1 (its first entry is anchored at the chain's
    /// origin), else the snapshot.
    Auto,
    Wal,
    Snapshot,
}

/// The state of a data directory, at the end or at `at` (epoch ms).
pub fn compute_state(
    dd: &DataDir,
    choice: SourceChoice,
    at: Option<u64>,
    key: Option<Key>,
    base: &ReplayOptions,
) -> Result<(State, StateSource, WalOutcome, Option<Snapshot>), CliError> {
    let wal_opts = ReplayOptions {
        until_time: at,
        ..base.clone()
    };
    if choice != SourceChoice::Snapshot {
        let out = replay_dir(dd, State::new(), wal_opts.clone(), key.clone())?;
        let complete = out.chain.complete_from_line_1 == Some(true);
        let no_wal = out.stats.total_entries == 0;
        if choice == SourceChoice::Wal || (complete && !no_wal) || dd.snapshot.is_none() {
            return Ok((out.state.clone(), StateSource::WalReplay, out, None));
        }
    }
    let (snap, state) = load_snapshot_state(dd, key.as_ref())?;
    if let (Some(t), Some(st)) = (at, snap.timestamp) {
        if t < st {
            return Err(BriError::TimestampNotFound {
                message: format!(
                    "{t} ({}) is before snapshot.jss was taken ({st}, {}), so the snapshot cannot give the state at that time; replay the WAL from line 1 instead (it must be complete: --from-wal)",
                    iso_ms(t),
                    iso_ms(st)
                ),
            }
            .into());
        }
    }
    let out = replay_dir(
        dd,
        state,
        ReplayOptions {
            after_line: snap.wal_line,
            ..wal_opts
        },
        key,
    )?;
    Ok((out.state.clone(), StateSource::Snapshot, out, Some(snap)))
}

/// Parse a point in time: epoch milliseconds, or RFC 3339 (`2024-02-05T13:05:18.946Z`,
/// `2024-02-05T14:05:18+01:00`; fractions beyond milliseconds are truncated).
pub fn parse_time(s: &str) -> Result<u64, CliError> {
    let s = s.trim();
    let bad = || {
        CliError::Usage(format!(
            "{s:?} is not a time: give RFC 3339 (2024-02-05T13:05:18.946Z) or epoch milliseconds"
        ))
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().map_err(|_| bad());
    }
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, CliError> {
        let t = s.get(r).ok_or_else(bad)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse::<i64>().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let frac = &s[start..i];
        let mut digits: String = frac.chars().take(3).collect();
        while digits.len() < 3 {
            digits.push('0');
        }
        ms = digits.parse::<i64>().map_err(|_| bad())?;
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && (tz.starts_with('+') || tz.starts_with('-'))
            && tz.as_bytes()[3] == b':' =>
        {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let v = oh * 60 + om;
            if tz.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err(bad()),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > mdays[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 60
    {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let total = ((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + ms;
    u64::try_from(total).map_err(|_| {
        CliError::Usage(format!(
            "{s:?} is before 1970; BRI timestamps start at 1970"
        ))
    })
}

fn cmd_state(a: StateArgs, out: &Output) -> CmdResult {
    let dd = DataDir::scan(&a.dir.data_dir)?;
    let at = a.at.as_deref().map(parse_time).transpose()?;
    let key = key_from_env()?;
    let choice = if a.from_snapshot {
        SourceChoice::Snapshot
    } else if a.from_wal {
        SourceChoice::Wal
    } else {
        SourceChoice::Auto
    };
    let (state, source, outcome, snap) =
        compute_state(&dd, choice, at, key, &a.dir.replay_options())?;
    let when = match at {
        Some(t) => format!(" at {t} ({})", iso_ms(t)),
        None => String::new(),
    };
    let note = match (source, &snap) {
        (StateSource::Snapshot, Some(s)) => format!(
            "state{when} from snapshot.jss (version {}, walLine {}) + {} cold documents + {} WAL entries after it",
            s.version,
            s.wal_line,
            dd.cold.len(),
            outcome.applied_entries
        ),
        _ => format!(
            "state{when} from WAL replay: {} entries applied, lines 1-{} ({} segments){}",
            outcome.applied_entries,
            outcome.last_applied_line,
            dd.segments.len(),
            if outcome.chain.complete_from_line_1 == Some(true) {
                ""
            } else {
                "; warning: the WAL does not start at the chain's origin (segments missing?)"
            }
        ),
    };
    let note = if source == StateSource::Snapshot
        && outcome.chain.complete_from_line_1 != Some(true)
        && outcome.stats.total_entries > 0
    {
        format!(
            "{note}; warning: the WAL does not start at the chain's origin, so if segments before the first one present were deleted, line numbers after walLine are shifted and BRI itself would skip or repeat writes"
        )
    } else {
        note
    };
    let mut notes = vec![note];
    if let Some(b) = outcome.chain.broken.first() {
        notes.push(format!(
            "warning: the WAL pointer chain is broken at line {} ({} broken link(s)); see bri db verify",
            b.line, outcome.chain.broken_count
        ));
    }
    if outcome.stats.corrupt_line_count > 0 {
        notes.push(format!(
            "{} unreadable line(s) skipped, as BRI skips them",
            outcome.stats.corrupt_line_count
        ));
    }
    if let Some(t) = &outcome.torn_tail {
        notes.push(format!(
            "torn last line {} in {} ({} bytes) was not applied",
            t.line, t.segment, t.bytes
        ));
    }
    for n in &notes {
        eprintln!("{n}");
    }
    // The canonical form, comparable with the fixtures' expected/*.json files.
    let value = state.to_canonical_value();
    out.emit(&value, || state.to_canonical_json());
    Ok(0)
}

fn needs_key_for_chain(o: &WalOutcome) -> bool {
    !o.chain.checked
}

fn cmd_verify(a: DirArgs, out: &Output) -> CmdResult {
    let dd = DataDir::scan(&a.data_dir)?;
    let key = key_from_env()?;
    let o = replay_dir(
        &dd,
        State::new(),
        ReplayOptions {
            apply: false,
            ..a.replay_options()
        },
        key.clone(),
    )?;
    if needs_key_for_chain(&o) {
        return Err(BriError::KeyRequired {
            what: "the WAL is encrypted; verifying its pointer chain".into(),
        }
        .into());
    }
    let snapshot = match &dd.snapshot {
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| CliError::io(format!("reading {}", p.display()), e))?;
            match read_snapshot(&bytes, key.as_ref()) {
                Ok(s) => json!({
                    "version": s.version, "walLine": s.wal_line, "timestamp": s.timestamp,
                    "walLineWithinWal": s.wal_line <= o.stats.total_physical_lines,
                }),
                Err(e) => json!({"error": e.to_string(), "code": e.code().as_str()}),
            }
        }
        None => Value::Null,
    };
    let chain_ok = o.chain.valid;
    let lines_ok = o.stats.corrupt_line_count == 0;
    let code = if !chain_ok {
        exit_code_for(ErrorCode::WalChainBroken)
    } else if !lines_ok {
        EXIT_DAMAGED
    } else {
        0
    };
    let report = json!({
        "dataDir": dd.root.display().to_string(),
        "valid": chain_ok && lines_ok,
        "segments": dd.segments.len(),
        "lines": o.stats.total_physical_lines,
        "entries": o.stats.total_entries,
        "chain": o.chain,
        "tornTail": o.torn_tail,
        "corruptLines": o.stats.corrupt_lines,
        "corruptLineCount": o.stats.corrupt_line_count,
        "snapshot": snapshot,
        "firstBrokenLine": o.chain.broken.first().map(|b| b.line),
    });
    out.emit(&report, || {
        let mut s = format!(
            "{}: {} segments, {} lines, {} entries\n",
            dd.root.display(),
            dd.segments.len(),
            o.stats.total_physical_lines,
            o.stats.total_entries
        );
        match o.chain.broken.first() {
            None => s.push_str(&format!(
                "chain: valid ({} entries checked, head {})\n",
                o.chain.entries_checked,
                o.chain.head.as_deref().unwrap_or("-")
            )),
            Some(b) => s.push_str(&format!(
                "chain: BROKEN at line {} (expected pointer {}, found {}); {} broken link(s)\n",
                b.line, b.expected, b.found, o.chain.broken_count
            )),
        }
        if o.chain.complete_from_line_1 != Some(true) {
            s.push_str("chain: the first entry is not anchored at the origin (the WAL does not start at line 1 of the history)\n");
        }
        for c in &o.stats.corrupt_lines {
            s.push_str(&format!(
                "line {} ({} line {}, {} bytes{}): {}\n",
                c.line,
                c.segment,
                c.line_in_segment,
                c.bytes,
                if c.ends_with_newline { "" } else { ", no newline" },
                c.reason
            ));
        }
        if let Some(t) = &o.torn_tail {
            s.push_str(&format!(
                "torn tail: line {} in {} ({} bytes) is an unfinished write; BRI skips it\n",
                t.line, t.segment, t.bytes
            ));
        }
        s.push_str(if code == 0 { "OK\n" } else { "DAMAGED\n" });
        s
    });
    Ok(code)
}

fn cmd_stats(a: DirArgs, out: &Output) -> CmdResult {
    let dd = DataDir::scan(&a.data_dir)?;
    let key = key_from_env()?;
    let o = replay_dir(
        &dd,
        State::new(),
        ReplayOptions {
            apply: true,
            ..a.replay_options()
        },
        key.clone(),
    )
    .or_else(|e| match e {
        // Encrypted without key: statistics that need no key.
        CliError::Core(ref c) if c.code() == ErrorCode::EncryptionKeyRequired && key.is_none() => {
            replay_dir(
                &dd,
                State::new(),
                ReplayOptions {
                    apply: false,
                    ..a.replay_options()
                },
                None,
            )
        }
        other => Err(other),
    })?;
    let mut v = serde_json::to_value(&o.stats).unwrap_or(Value::Null);
    let mut txn = Vec::new();
    for p in &dd.txn {
        let bytes =
            std::fs::read(p).map_err(|e| CliError::io(format!("reading {}", p.display()), e))?;
        let lines = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        txn.push(json!({
            "file": p.file_name().map(|n| n.to_string_lossy().into_owned()),
            "bytes": bytes.len(),
            "lines": lines,
        }));
    }
    if let Value::Object(m) = &mut v {
        m.insert("txnFiles".into(), Value::Array(txn));
        m.insert(
            "documents".into(),
            if o.stats.entries_needing_key == 0 {
                json!(o.state.documents.len())
            } else {
                Value::Null
            },
        );
        m.insert(
            "collections".into(),
            if o.stats.entries_needing_key == 0 {
                json!(o.state.collections.len())
            } else {
                Value::Null
            },
        );
        m.insert(
            "chain".into(),
            serde_json::to_value(&o.chain).unwrap_or(Value::Null),
        );
        m.insert("coldDocuments".into(), json!(dd.cold.len()));
    }
    let s = &o.stats;
    out.emit(&v, || {
        let mut t = format!(
            "{}: {} segments, {} lines ({} entries, {} empty, {} corrupt)\n",
            dd.root.display(),
            s.segment_count,
            s.total_physical_lines,
            s.total_entries,
            s.empty_lines,
            s.corrupt_line_count
        );
        if let (Some(a), Some(b)) = (s.first_timestamp, s.last_timestamp) {
            t.push_str(&format!("time: {} .. {}\n", iso_ms(a), iso_ms(b)));
        }
        if s.entries_needing_key > 0 {
            t.push_str(&format!(
                "operations: {} encrypted entries (set BRI_ENCRYPTION_KEY to count them by type)\n",
                s.entries_needing_key
            ));
        } else {
            let ops: Vec<String> = s.actions.iter().map(|(k, v)| format!("{k} {v}")).collect();
            t.push_str(&format!("operations: {}\n", ops.join(", ")));
            t.push_str(&format!(
                "state: {} documents, {} collections (WAL replay)\n",
                o.state.documents.len(),
                o.state.collections.len()
            ));
        }
        t.push_str(&format!(
            "chain head: {}; walLine for a snapshot now: {}\n",
            s.chain_head.as_deref().unwrap_or("-"),
            s.bri_get_line_count
        ));
        t
    });
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1707138318946").unwrap(), 1707138318946);
        assert_eq!(
            parse_time("2024-02-05T13:05:18.946Z").unwrap(),
            1707138318946
        );
        assert_eq!(
            parse_time("2024-02-05T14:05:18.946+01:00").unwrap(),
            1707138318946
        );
        assert_eq!(
            parse_time("2024-02-05t13:05:18.9469z").unwrap(),
            1707138318946
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        for bad in [
            "",
            "yesterday",
            "2024-02-30T00:00:00Z",
            "2024-02-05T13:05:18",
            "1969-12-31T23:59:59Z",
            "2024-02-05T13:05:18.Z",
            "2024-02-05T13:05:18+0\u{e9}:0",
            "2024-02-05T13:05:18.946\u{e9}",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "2024-\u{e9}2-05T13:05:18Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
