//! The streaming WAL engine: segments in (chunk by chunk), state, chain report, torn tail and
//! statistics out.
//!
//! Replay follows BRI's recovery: start from a state (empty, or a snapshot's), apply every
//! readable entry numbered after `after_line` (the snapshot's `walLine`), skip empty and corrupt
//! lines (they are numbered all the same). Point in time: with `until_time = T`, every entry
//! with timestamp <= T is applied and none after (lines are filtered, not cut, so a
//! later line with an earlier timestamp is still applied, as BRI's point-in-time copies do);
//! with `until_line = N`, entries numbered <= N.
//!
//! Every line is read whatever the limits, so the statistics and the chain report always cover
//! the whole input.

use super::chain::{BrokenLink, ChainVerifier};
use super::crypto::{decrypt_entry, looks_like_ciphertext, Key};
use super::state::{State, WorkState};
use super::wal::{
    count_u2028_u2029, parse_entry, parse_entry_fast, split_line, Action, LineShape, LineSplitter,
    Op, OpRef, RawLine, DEFAULT_MAX_LINE_BYTES,
};
use super::BriError;
use serde::Serialize;
use std::collections::BTreeMap;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Apply only lines numbered after this (a snapshot's `walLine`; 0 = from line 1).
    pub after_line: u64,
    /// Apply only lines numbered up to this.
    pub until_line: Option<u64>,
    /// Apply only entries with timestamp <= this (epoch ms).
    pub until_time: Option<u64>,
    /// Longest line accepted, in bytes (bounded memory).
    pub max_line_bytes: usize,
    /// Number of the line before the first byte fed (to continue a count; 0 = start of WAL).
    pub first_line_after: u64,
    /// Pointer before the first line fed: `Some("")`/`None` at the start of a WAL; for a WAL
    /// fed from the middle, the previous line's pointer, or use `unanchored`.
    pub anchor: Option<String>,
    /// Do not check the first entry's pointer (the anchor is unknown).
    pub unanchored: bool,
    /// Apply entries to the state. Off: only statistics and chain (encrypted WAL needs no key
    /// then, but the chain is not checked without it).
    pub apply: bool,
    /// How BRI's reader breaks lines: under Node (the default) only at `\n`; under Bun also at
    /// raw U+2028/U+2029, which JSON leaves inside strings, so such an entry becomes 2+
    /// unreadable lines (the write is lost) and every later line number, `walLine` included,
    /// grows. Choose the runtime the database ran under to interpret its `walLine`.
    pub line_breaks: LineBreaks,
}

/// The JavaScript runtime whose line splitting to follow (see [`ReplayOptions::line_breaks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineBreaks {
    /// Node's readline: `\n` only.
    #[default]
    Node,
    /// Bun's readline: `\n`, U+2028 and U+2029.
    Bun,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            after_line: 0,
            until_line: None,
            until_time: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            first_line_after: 0,
            anchor: None,
            unanchored: false,
            apply: true,
            line_breaks: LineBreaks::Node,
        }
    }
}

/// Longest list of corrupt lines or integrity errors kept in a report (memory stays bounded on
/// a file made of garbage; the counts are exact).
pub const MAX_LISTED: usize = 1000;

/// Statistics of one segment (field names as in the fixtures' `wal-stats.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentStats {
    pub file: String,
    pub bytes: u64,
    pub physical_lines: u64,
    pub first_line: Option<u64>,
    pub last_line: Option<u64>,
    pub ends_with_newline: Option<bool>,
    pub empty_lines: u64,
    pub entries: u64,
    pub first_timestamp: Option<u64>,
    pub last_timestamp: Option<u64>,
    /// Pointer of the last readable entry before this segment.
    pub anchor_pointer: Option<String>,
    pub first_pointer: Option<String>,
    pub last_pointer: Option<String>,
}

/// A line that BRI cannot read (it skips it, but numbers it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorruptLine {
    pub line: u64,
    pub segment: String,
    pub line_in_segment: u64,
    pub bytes: u64,
    pub ends_with_newline: bool,
    /// Why it cannot be read.
    pub reason: String,
}

/// One error of BRI's `verifyIntegrity()` (its numbering: empty lines dropped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntegrityError {
    pub line: u64,
    /// The WAL line number (BRI's reader numbering) of the same line.
    #[serde(rename = "walLine")]
    pub wal_line: u64,
    pub error: String,
}

/// What BRI's `verifyIntegrity()` reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrityReport {
    pub valid: bool,
    pub total_lines: u64,
    pub error_count: u64,
    pub errors: Vec<IntegrityError>,
}

/// Statistics of a WAL, in the shape of the fixtures' `expected/wal-stats.json` (the host adds
/// what lives outside the WAL, such as `txnFiles`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalStats {
    pub segments: Vec<SegmentStats>,
    pub segment_count: u64,
    pub total_physical_lines: u64,
    /// Readable entries.
    pub total_entries: u64,
    pub empty_lines: u64,
    #[serde(rename = "linesWithRawU2028orU2029")]
    pub lines_with_raw_u2028_or_u2029: u64,
    #[serde(rename = "rawU2028U2029Chars")]
    pub raw_u2028_u2029_chars: u64,
    /// Line count under Bun, whose readline also breaks at U+2028/U+2029.
    pub lines_as_counted_under_bun: u64,
    /// Unreadable lines, first first (at most [`MAX_LISTED`]; `corrupt_line_count` has them all).
    pub corrupt_lines: Vec<CorruptLine>,
    /// Number of unreadable lines.
    pub corrupt_line_count: u64,
    /// Entries per action (needs the key for encrypted entries).
    pub actions: BTreeMap<String, u64>,
    pub entries_with_txn_field: u64,
    pub first_timestamp: Option<u64>,
    pub last_timestamp: Option<u64>,
    pub distinct_timestamps: u64,
    pub max_entries_sharing_one_timestamp: u64,
    /// Pointer of the last readable entry.
    pub chain_head: Option<String>,
    /// Number of the last readable line: BRI's `getLineCount()`, what a snapshot taken now
    /// records as `walLine`.
    pub bri_get_line_count: u64,
    pub verify_integrity: IntegrityReport,
    pub encrypted: bool,
    /// Encrypted entries whose content could not be read for lack of a key.
    pub entries_needing_key: u64,
}

/// The chain check over everything fed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    /// `false` when encrypted entries were met without a key (nothing could be checked).
    pub checked: bool,
    pub valid: bool,
    pub entries_checked: u64,
    pub broken_count: u64,
    /// Up to 100 broken links, first first.
    pub broken: Vec<BrokenLink>,
    pub head: Option<String>,
    /// The first readable entry is line 1 and its pointer is anchored at "": the WAL is
    /// complete from its beginning. `None` when it could not be checked (no key).
    pub complete_from_line_1: Option<bool>,
}

/// The unterminated, unreadable last line of the WAL (a write cut by a crash): reported, never
/// applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TornTail {
    pub line: u64,
    pub segment: String,
    pub bytes: u64,
    pub reason: String,
}

/// Result of [`WalEngine::finish`].
#[derive(Debug, Clone)]
pub struct WalOutcome {
    pub state: State,
    pub stats: WalStats,
    pub chain: ChainReport,
    pub torn_tail: Option<TornTail>,
    /// Entries applied to the state.
    pub applied_entries: u64,
    /// Number of the last line applied (0 when none).
    pub last_applied_line: u64,
    /// Timestamp of the last entry applied.
    pub last_applied_timestamp: Option<u64>,
    /// Entries with an action this engine does not know (skipped, as BRI skips them).
    pub unknown_actions: BTreeMap<String, u64>,
}

/// The streaming engine. See the module docs; [`super`] has an example.
#[derive(Debug)]
pub struct WalEngine {
    opts: ReplayOptions,
    key: Option<Key>,
    splitter: LineSplitter,
    chain: ChainVerifier,
    /// The state being built (hash buckets; ordered again by `finish`).
    work: WorkState,
    stats: WalStats,
    /// Entries per known action (in [`Action::ALL`] order), merged into `stats.actions` by
    /// `finish` (no map lookup or allocation per line).
    action_counts: [u64; 5],
    /// Reused by the fast entry parser for strings with escapes.
    scratch: String,
    seg: Option<SegmentStats>,
    /// Entries per timestamp (ordered map: no hash state, no flooding). Runs of one timestamp
    /// are counted in `ts_run` first, so the map is touched once per run.
    ts_counts: BTreeMap<u64, u64>,
    ts_run: Option<(u64, u64)>,
    last_pointer: Option<String>,
    nonempty_lines: u64,
    first_entry_checked: Option<bool>,
    first_entry_seen: bool,
    decrypt_ok: u64,
    decrypt_failed: u64,
    first_decrypt_error: Option<BriError>,
    last_line_unreadable_unterminated: Option<TornTail>,
    applied: u64,
    last_applied_line: u64,
    last_applied_ts: Option<u64>,
    unknown: BTreeMap<String, u64>,
    chain_unchecked: bool,
    integrity_errors: u64,
    /// Lines whose payload was plaintext JSON (an encrypted DB has none).
    plaintext_entries: u64,
    /// Bun mode: extra lines so far (in all, in the current segment).
    bun_extra: u64,
    bun_extra_in_segment: u64,
}

impl WalEngine {
    /// Start from `initial` (empty, or a snapshot's state with `opts.after_line` = its
    /// `walLine`). `key` decrypts encrypted entries.
    pub fn new(initial: State, opts: ReplayOptions, key: Option<Key>) -> Self {
        let chain = if opts.unanchored {
            ChainVerifier::unanchored()
        } else {
            ChainVerifier::new(opts.anchor.as_deref())
        };
        WalEngine {
            splitter: LineSplitter::starting_after(opts.first_line_after, opts.max_line_bytes),
            last_pointer: opts.anchor.clone().filter(|a| !a.is_empty()),
            opts,
            key,
            chain,
            work: WorkState::from_state(initial),
            stats: WalStats::default(),
            action_counts: [0; 5],
            scratch: String::new(),
            seg: None,
            ts_counts: BTreeMap::new(),
            ts_run: None,
            nonempty_lines: 0,
            first_entry_checked: None,
            first_entry_seen: false,
            decrypt_ok: 0,
            decrypt_failed: 0,
            first_decrypt_error: None,
            last_line_unreadable_unterminated: None,
            applied: 0,
            last_applied_line: 0,
            last_applied_ts: None,
            unknown: BTreeMap::new(),
            chain_unchecked: false,
            integrity_errors: 0,
            plaintext_entries: 0,
            bun_extra: 0,
            bun_extra_in_segment: 0,
        }
    }

    /// A copy of the state so far (replay keeps it in an unordered working form; `finish`
    /// hands it over without copying).
    pub fn state(&self) -> State {
        self.work.to_state()
    }

    /// Number of the last line seen.
    pub fn lines_seen(&self) -> u64 {
        self.splitter.lines_seen()
    }

    /// Start a segment (`name` as in `wal/`, e.g. `000003.wal`). Ends the previous one if the
    /// host did not.
    pub fn begin_segment(&mut self, name: &str) -> Result<(), BriError> {
        if self.seg.is_some() {
            self.end_segment()?;
        }
        self.bun_extra_in_segment = 0;
        self.seg = Some(SegmentStats {
            file: name.to_owned(),
            anchor_pointer: self.last_pointer.clone(),
            ..SegmentStats::default()
        });
        Ok(())
    }

    /// Feed the next bytes of the current segment.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), BriError> {
        if self.seg.is_none() {
            self.begin_segment("")?;
        }
        if let Some(s) = self.seg.as_mut() {
            s.bytes += chunk.len() as u64;
        }
        let mut splitter = std::mem::replace(&mut self.splitter, LineSplitter::new(1));
        let r = splitter.push(chunk, |line| self.on_line(line));
        self.splitter = splitter;
        r.map_err(|e| self.renumber(e))
    }

    /// Splitter errors carry Node line numbers; in Bun mode add the extra lines seen so far.
    fn renumber(&self, e: BriError) -> BriError {
        match e {
            BriError::LineTooLong { line, limit } => BriError::LineTooLong {
                line: line + self.bun_extra,
                limit,
            },
            other => other,
        }
    }

    /// End the current segment (an unterminated last line is processed now).
    pub fn end_segment(&mut self) -> Result<(), BriError> {
        let mut splitter = std::mem::replace(&mut self.splitter, LineSplitter::new(1));
        let r = splitter.end_segment(|line| self.on_line(line));
        self.splitter = splitter;
        if let Some(s) = self.seg.take() {
            self.stats.segments.push(s);
        }
        r
    }

    fn on_line(&mut self, line: RawLine<'_>) -> Result<(), BriError> {
        let u = count_u2028_u2029(line.bytes);
        if u > 0 {
            self.stats.lines_with_raw_u2028_or_u2029 += 1;
            self.stats.raw_u2028_u2029_chars += u;
        }
        if self.opts.line_breaks == LineBreaks::Node || u == 0 {
            let number = line.number + self.bun_extra;
            let in_segment = line.in_segment + self.bun_extra_in_segment;
            return self.on_runtime_line(RawLine {
                number,
                in_segment,
                ..line
            });
        }
        // Bun: the pieces between U+2028/U+2029 are lines of their own.
        let pieces = split_u2028_u2029(line.bytes);
        let last = pieces.len() - 1;
        for (k, piece) in pieces.into_iter().enumerate() {
            let r = RawLine {
                number: line.number + self.bun_extra + k as u64,
                in_segment: line.in_segment + self.bun_extra_in_segment + k as u64,
                bytes: piece,
                terminated: if k == last { line.terminated } else { true },
            };
            self.on_runtime_line(r)?;
        }
        self.bun_extra += last as u64;
        self.bun_extra_in_segment += last as u64;
        Ok(())
    }

    /// One line as the chosen runtime's reader sees it.
    fn on_runtime_line(&mut self, line: RawLine<'_>) -> Result<(), BriError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = self.on_line_with(line, &mut scratch);
        self.scratch = scratch;
        r
    }

    /// [`Self::on_runtime_line`] with the buffer the fast entry parser decodes into.
    fn on_line_with(&mut self, line: RawLine<'_>, scratch: &mut String) -> Result<(), BriError> {
        let seg = self.seg.get_or_insert_with(SegmentStats::default);
        seg.physical_lines += 1;
        seg.first_line.get_or_insert(line.number);
        seg.last_line = Some(line.number);
        seg.ends_with_newline = Some(line.terminated);
        self.stats.total_physical_lines += 1;
        // Only the last line of everything fed can be the torn tail; forget an earlier one.
        self.last_line_unreadable_unterminated = None;
        let fields = match split_line(line.bytes) {
            LineShape::Empty => {
                seg.empty_lines += 1;
                self.stats.empty_lines += 1;
                return Ok(());
            }
            LineShape::Corrupt(reason) => {
                self.nonempty_lines += 1;
                self.corrupt(&line, reason);
                return Ok(());
            }
            LineShape::Fields(f) => f,
        };
        self.nonempty_lines += 1;
        let wants_apply = self.opts.apply
            && line.number > self.opts.after_line
            && self.opts.until_line.is_none_or(|n| line.number <= n)
            && self.opts.until_time.is_none_or(|t| fields.timestamp <= t);

        // Get the plaintext entry. A payload that is neither JSON nor base64 is corrupt; a
        // base64 one in a WAL whose entries so far were plaintext is too (not an encrypted DB).
        let decrypted;
        let encrypted = fields.is_encrypted()
            && looks_like_ciphertext(fields.payload)
            && (self.key.is_some() || self.plaintext_entries == 0);
        if !encrypted && fields.is_encrypted() {
            let reason = if looks_like_ciphertext(fields.payload) {
                "the entry looks encrypted, but the entries before it are plaintext JSON"
            } else {
                "the entry is neither JSON nor an encrypted (base64) entry"
            };
            self.corrupt(&line, reason.into());
            return Ok(());
        }
        let plaintext: Option<&str> = if encrypted {
            self.stats.encrypted = true;
            match &self.key {
                Some(key) => match decrypt_entry(
                    key,
                    line.number,
                    fields.timestamp_text,
                    fields.pointer,
                    fields.payload,
                ) {
                    Ok(p) => {
                        self.decrypt_ok += 1;
                        decrypted = p;
                        Some(decrypted.as_str())
                    }
                    Err(e) => {
                        self.decrypt_failed += 1;
                        let msg = e.to_string();
                        if self.first_decrypt_error.is_none() {
                            self.first_decrypt_error = Some(e);
                        }
                        self.corrupt(&line, msg);
                        return Ok(());
                    }
                },
                None => {
                    if wants_apply {
                        return Err(BriError::KeyRequired {
                            what: format!("WAL line {} is encrypted; replaying it", line.number),
                        });
                    }
                    None
                }
            }
        } else {
            self.plaintext_entries += 1;
            Some(fields.payload)
        };

        // The fast path reads the shape BRI writes without building anything; anything else
        // goes through the general parser, which has the final word.
        let entry = match plaintext {
            Some(p) => match parse_entry_fast(p, scratch) {
                Some(e) => Some(Parsed::Fast(e.op, e.has_txn)),
                None => match parse_entry(p) {
                    Ok(e) => Some(Parsed::Full(e.op, e.has_txn)),
                    Err(reason) => {
                        self.corrupt(&line, reason);
                        return Ok(());
                    }
                },
            },
            None => {
                // Encrypted, no key: readable as far as timestamps and pointers go.
                self.stats.entries_needing_key += 1;
                self.chain_unchecked = true;
                None
            }
        };

        // A readable entry.
        let seg = self.seg.get_or_insert_with(SegmentStats::default);
        seg.entries += 1;
        seg.first_timestamp.get_or_insert(fields.timestamp);
        seg.last_timestamp = Some(fields.timestamp);
        if seg.first_pointer.is_none() {
            seg.first_pointer = Some(fields.pointer.to_owned());
        }
        set_opt(&mut seg.last_pointer, fields.pointer);
        set_opt(&mut self.last_pointer, fields.pointer);
        self.stats.total_entries += 1;
        self.stats.first_timestamp.get_or_insert(fields.timestamp);
        self.stats.last_timestamp = Some(fields.timestamp);
        match &mut self.ts_run {
            Some((ts, n)) if *ts == fields.timestamp => *n += 1,
            run => {
                if let Some((ts, n)) = run.take() {
                    *self.ts_counts.entry(ts).or_default() += n;
                }
                *run = Some((fields.timestamp, 1));
            }
        }
        self.stats.bri_get_line_count = line.number;
        set_opt(&mut self.stats.chain_head, fields.pointer);

        if let Some(p) = plaintext {
            let ok = self.chain.check(line.number, fields.pointer, p);
            if !ok {
                self.integrity_errors += 1;
                if self.stats.verify_integrity.errors.len() < MAX_LISTED {
                    self.stats.verify_integrity.errors.push(IntegrityError {
                        line: self.nonempty_lines,
                        wal_line: line.number,
                        error: format!(
                            "Pointer mismatch: expected {}, found {}",
                            self.chain
                                .broken()
                                .last()
                                .map(|b| b.expected.as_str())
                                .unwrap_or(""),
                            fields.pointer
                        ),
                    });
                }
            }
            if !self.first_entry_seen {
                self.first_entry_checked = Some(
                    line.number == 1
                        && self.opts.first_line_after == 0
                        && super::chain::pointer("", p) == fields.pointer,
                );
            }
        }
        self.first_entry_seen = true;

        if let Some(entry) = entry {
            let has_txn = match &entry {
                Parsed::Fast(_, t) | Parsed::Full(_, t) => *t,
            };
            if has_txn {
                self.stats.entries_with_txn_field += 1;
            }
            match &entry {
                Parsed::Fast(op, _) => match op.action() {
                    Some(a) => self.action_counts[a as usize] += 1,
                    None => {
                        if let OpRef::Unknown { action } = op {
                            self.count_unknown(action);
                        }
                    }
                },
                Parsed::Full(op, _) => match op {
                    Op::Set { .. } => self.action_counts[Action::Set as usize] += 1,
                    Op::Delete { .. } => self.action_counts[Action::Delete as usize] += 1,
                    Op::Rename { .. } => self.action_counts[Action::Rename as usize] += 1,
                    Op::SAdd { .. } => self.action_counts[Action::SAdd as usize] += 1,
                    Op::SRem { .. } => self.action_counts[Action::SRem as usize] += 1,
                    Op::Unknown { action } => self.count_unknown(action),
                },
            }
            if wants_apply {
                match entry {
                    Parsed::Fast(op, _) => self.work.apply_ref(&op),
                    Parsed::Full(op, _) => self.work.apply_owned(op),
                }
                self.applied += 1;
                self.last_applied_line = line.number;
                self.last_applied_ts = Some(fields.timestamp);
            }
        }
        Ok(())
    }

    fn count_unknown(&mut self, action: &str) {
        for map in [&mut self.stats.actions, &mut self.unknown] {
            match map.get_mut(action) {
                Some(n) => *n += 1,
                None => {
                    map.insert(action.to_owned(), 1);
                }
            }
        }
    }

    fn corrupt(&mut self, line: &RawLine<'_>, reason: String) {
        let segment = self
            .seg
            .as_ref()
            .map(|s| s.file.clone())
            .unwrap_or_default();
        if !line.terminated {
            self.last_line_unreadable_unterminated = Some(TornTail {
                line: line.number,
                segment: segment.clone(),
                bytes: line.bytes.len() as u64,
                reason: reason.clone(),
            });
        }
        self.integrity_errors += 1;
        self.stats.corrupt_line_count += 1;
        if self.stats.verify_integrity.errors.len() < MAX_LISTED {
            self.stats.verify_integrity.errors.push(IntegrityError {
                line: self.nonempty_lines,
                wal_line: line.number,
                error: format!("Parse error: {reason}"),
            });
        }
        if self.stats.corrupt_lines.len() < MAX_LISTED {
            self.stats.corrupt_lines.push(CorruptLine {
                line: line.number,
                segment,
                line_in_segment: line.in_segment,
                bytes: line.bytes.len() as u64,
                ends_with_newline: line.terminated,
                reason,
            });
        }
    }

    /// Finish: the state, statistics, chain report and torn tail.
    ///
    /// Errors: a key that decrypts none of the encrypted entries (wrong key), and a point in
    /// time before the first entry (`TIMESTAMP_NOT_FOUND`).
    pub fn finish(mut self) -> Result<WalOutcome, BriError> {
        if self.seg.is_some() {
            self.end_segment()?;
        }
        if self.decrypt_failed > 0 && self.decrypt_ok == 0 {
            if let Some(e) = self.first_decrypt_error.take() {
                return Err(e);
            }
        }
        if let (Some(t), Some(first)) = (self.opts.until_time, self.stats.first_timestamp) {
            if t < first {
                return Err(BriError::TimestampNotFound {
                    message: format!(
                        "no WAL entry has a timestamp at or before {t} ({}); the first entry is at {first} ({})",
                        iso_ms(t),
                        iso_ms(first)
                    ),
                });
            }
        }
        if let Some((ts, n)) = self.ts_run.take() {
            *self.ts_counts.entry(ts).or_default() += n;
        }
        let mut stats = self.stats;
        for a in Action::ALL {
            let n = self.action_counts[a as usize];
            if n > 0 {
                *stats.actions.entry(a.name().to_owned()).or_default() += n;
            }
        }
        stats.segment_count = stats.segments.len() as u64;
        stats.lines_as_counted_under_bun = match self.opts.line_breaks {
            LineBreaks::Node => stats.total_physical_lines + stats.raw_u2028_u2029_chars,
            LineBreaks::Bun => stats.total_physical_lines,
        };
        stats.distinct_timestamps = self.ts_counts.len() as u64;
        stats.max_entries_sharing_one_timestamp =
            self.ts_counts.values().copied().max().unwrap_or(0);
        let vi = &mut stats.verify_integrity;
        vi.total_lines = self.nonempty_lines;
        vi.error_count = self.integrity_errors;
        vi.valid = self.integrity_errors == 0;
        let chain_checked = !self.chain_unchecked;
        let chain = ChainReport {
            checked: chain_checked,
            valid: chain_checked && self.chain.is_valid(),
            entries_checked: self.chain.checked(),
            broken_count: self.chain.broken_count(),
            broken: self.chain.broken().to_vec(),
            head: stats.chain_head.clone(),
            complete_from_line_1: if chain_checked {
                Some(self.first_entry_checked.unwrap_or(false))
            } else {
                None
            },
        };
        Ok(WalOutcome {
            state: self.work.into_state(),
            stats,
            chain,
            torn_tail: self.last_line_unreadable_unterminated,
            applied_entries: self.applied,
            last_applied_line: self.last_applied_line,
            last_applied_timestamp: self.last_applied_ts,
            unknown_actions: self.unknown,
        })
    }
}

impl ChainReport {
    /// The first broken link as an error (`WAL_CHAIN_BROKEN`), if any.
    pub fn to_error(&self) -> Option<BriError> {
        self.broken.first().map(|b| BriError::ChainBroken {
            line: b.line,
            expected: b.expected.clone(),
            found: b.found.clone(),
        })
    }
}

/// A decoded entry: borrowed from the line (fast path) or parsed in full (with its `txn` flag).
enum Parsed<'a> {
    Fast(OpRef<'a>, bool),
    Full(Op, bool),
}

/// Split at every raw U+2028/U+2029 (UTF-8 `E2 80 A8`/`E2 80 A9`), dropping the separators.
fn split_u2028_u2029(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 2 < bytes.len() {
        if bytes[i] == 0xE2 && bytes[i + 1] == 0x80 && matches!(bytes[i + 2], 0xA8 | 0xA9) {
            out.push(&bytes[start..i]);
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&bytes[start..]);
    out
}

/// Put `v` into `slot`, reusing its buffer (no allocation per line).
fn set_opt(slot: &mut Option<String>, v: &str) {
    match slot {
        Some(s) => {
            s.clear();
            s.push_str(v);
        }
        None => *slot = Some(v.to_owned()),
    }
}

/// Epoch milliseconds as RFC 3339 UTC (`2024-02-05T08:30:00.000Z`), for messages.
pub fn iso_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bri::chain::pointer;

    fn wal(entries: &[(u64, &str)]) -> String {
        let mut prev = String::new();
        let mut out = String::new();
        for (ts, e) in entries {
            let p = pointer(&prev, e);
            out.push_str(&format!("{ts}|{p}|{e}\n"));
            prev = p;
        }
        out
    }

    fn run(bytes: &[u8], opts: ReplayOptions, chunk: usize) -> Result<WalOutcome, BriError> {
        let mut e = WalEngine::new(State::new(), opts, None);
        e.begin_segment("000000.wal")?;
        for c in bytes.chunks(chunk.max(1)) {
            e.feed(c)?;
        }
        e.end_segment()?;
        e.finish()
    }

    const SET_A: &str = r#"{"action":"SET","target":"A","value":"{\"n\":1}"}"#;
    const SADD: &str = r#"{"action":"SADD","target":"T?","member":"a"}"#;
    const REN: &str = r#"{"action":"RENAME","target":"B","oldKey":"A"}"#;

    #[test]
    fn replay_pitr_and_torn_tail() {
        let mut w = wal(&[(10, SET_A), (20, SADD), (30, REN)]);
        w.push_str("40|0123abcd|{\"action\":\"SE");
        for chunk in [1, 7, 4096] {
            let out = run(w.as_bytes(), ReplayOptions::default(), chunk).unwrap();
            assert_eq!(out.state.documents.keys().collect::<Vec<_>>(), vec!["B"]);
            assert_eq!(out.stats.total_physical_lines, 4);
            assert_eq!(out.stats.bri_get_line_count, 3);
            assert!(out.chain.valid && out.chain.complete_from_line_1 == Some(true));
            let torn = out.torn_tail.unwrap();
            assert_eq!(torn.line, 4);
            assert!(!out.stats.verify_integrity.valid);
        }
        let out = run(
            w.as_bytes(),
            ReplayOptions {
                until_time: Some(25),
                ..Default::default()
            },
            5,
        )
        .unwrap();
        assert_eq!(out.state.documents.keys().collect::<Vec<_>>(), vec!["A"]);
        assert_eq!(out.last_applied_line, 2);
        let err = run(
            w.as_bytes(),
            ReplayOptions {
                until_time: Some(5),
                ..Default::default()
            },
            5,
        )
        .unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::TimestampNotFound);
    }

    #[test]
    fn broken_chain_reported_with_line() {
        let w = wal(&[(10, SET_A), (20, SADD)]).replacen(
            &pointer(&pointer("", SET_A), SADD),
            "00000000",
            1,
        );
        let out = run(w.as_bytes(), ReplayOptions::default(), 3).unwrap();
        assert!(!out.chain.valid);
        let e = out.chain.to_error().unwrap();
        assert_eq!(e.code(), crate::ErrorCode::WalChainBroken);
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn encrypted_needs_key_only_to_apply() {
        let key = Key::from_hex(&[b'c'; 64]).unwrap();
        let p = pointer("", SET_A);
        let c = crate::bri::crypto::encrypt_entry(&key, [9; 12], "10", &p, SET_A);
        let w = format!("10|{p}|{c}\n");
        let err = run(w.as_bytes(), ReplayOptions::default(), 64).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::EncryptionKeyRequired);
        let out = run(
            w.as_bytes(),
            ReplayOptions {
                apply: false,
                ..Default::default()
            },
            64,
        )
        .unwrap();
        assert_eq!(out.stats.first_timestamp, Some(10));
        assert!(!out.chain.checked);
        let mut e = WalEngine::new(State::new(), ReplayOptions::default(), Some(key));
        e.feed(w.as_bytes()).unwrap();
        let out = e.finish().unwrap();
        assert_eq!(out.state.documents["A"], "{\"n\":1}");
        assert!(out.chain.valid);
        let wrong = Key::from_hex(&[b'd'; 64]).unwrap();
        let mut e = WalEngine::new(State::new(), ReplayOptions::default(), Some(wrong));
        e.feed(w.as_bytes()).unwrap();
        assert_eq!(
            e.finish().unwrap_err().code(),
            crate::ErrorCode::EncryptionKeyRequired
        );
    }

    #[test]
    fn garbage_lines_never_panic() {
        let inputs: [&[u8]; 6] = [
            b"\n\n\n",
            b"\xff\xfe|\x00\n",
            b"1|2|3\n",
            b"99999999999999999999999|0123abcd|{}\n",
            b"1|0123abcd|{\"action\":7}\n1|0123abcd|{\"action\":\"NOPE\",\"target\":1}\n",
            b"1|0123abcd|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        ];
        for i in inputs {
            let opts = ReplayOptions {
                apply: false,
                ..Default::default()
            };
            let _ = run(i, opts, 2);
            let _ = run(i, ReplayOptions::default(), 3);
        }
        let out = run(
            b"1|0123abcd|{\"action\":\"NOPE\",\"target\":\"x\"}\n",
            ReplayOptions::default(),
            9,
        )
        .unwrap();
        assert_eq!(out.unknown_actions["NOPE"], 1);
    }

    /// A damaged payload in a plaintext WAL is a corrupt line, not a demand for a key.
    #[test]
    fn non_json_payload_in_plaintext_wal_is_corrupt() {
        let mut w = wal(&[(10, SET_A)]);
        w.push_str("20|0123abcd|not json at all\n");
        w.push_str(&format!("30|0123abcd|{}\n", "QUJD".repeat(20)));
        let out = run(w.as_bytes(), ReplayOptions::default(), 7).unwrap();
        assert_eq!(out.stats.corrupt_line_count, 2);
        assert_eq!(out.stats.corrupt_lines[0].line, 2);
        assert!(out.stats.corrupt_lines[1].reason.contains("plaintext"));
        assert!(!out.stats.encrypted);
        assert_eq!(out.state.documents.len(), 1);
        // The same garbage first in a WAL is no encrypted entry either.
        let out = run(b"20|0123abcd|not json\n", ReplayOptions::default(), 7).unwrap();
        assert_eq!(out.stats.corrupt_line_count, 1);
    }

    #[test]
    fn reports_stay_bounded_on_garbage() {
        let garbage = "not a wal line\n".repeat(MAX_LISTED + 500);
        let out = run(garbage.as_bytes(), ReplayOptions::default(), 4096).unwrap();
        assert_eq!(out.stats.corrupt_line_count, (MAX_LISTED + 500) as u64);
        assert_eq!(out.stats.corrupt_lines.len(), MAX_LISTED);
        assert_eq!(out.stats.verify_integrity.errors.len(), MAX_LISTED);
        assert_eq!(
            out.stats.verify_integrity.error_count,
            (MAX_LISTED + 500) as u64
        );
        assert!(!out.stats.verify_integrity.valid);
        assert_eq!(
            out.stats.corrupt_lines.last().unwrap().line,
            MAX_LISTED as u64
        );
    }

    #[test]
    fn bun_breaks_lines_at_u2028() {
        let doc = r#"{"action":"SET","target":"A","value":"{\"s\":\"a b c\"}"}"#;
        let w = wal(&[(10, doc), (20, SADD)]);
        let node = run(w.as_bytes(), ReplayOptions::default(), 5).unwrap();
        assert_eq!(node.stats.total_physical_lines, 2);
        assert_eq!(node.stats.lines_as_counted_under_bun, 4);
        assert!(node.state.documents.contains_key("A"));
        let opts = ReplayOptions {
            line_breaks: LineBreaks::Bun,
            ..Default::default()
        };
        let bun = run(w.as_bytes(), opts, 5).unwrap();
        assert_eq!(bun.stats.total_physical_lines, 4);
        assert_eq!(bun.stats.bri_get_line_count, 4);
        assert_eq!(bun.stats.corrupt_line_count, 3);
        assert_eq!(bun.stats.raw_u2028_u2029_chars, 2);
        // The write is lost under Bun; the SADD after it is line 4.
        assert!(!bun.state.documents.contains_key("A"));
        assert_eq!(bun.last_applied_line, 4);
    }

    #[test]
    fn iso() {
        assert_eq!(iso_ms(1707138318946), "2024-02-05T13:05:18.946Z");
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
