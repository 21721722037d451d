//! WAL lines: splitting byte chunks into numbered lines, and parsing one line.
//!
//! A WAL line is `{timestamp ms}|{8 hex pointer}|{entry}`; the entry is JSON (plaintext) or
//! base64 (encrypted). Only `\n` ends a line. Lines are numbered from 1 across all segments in
//! name order, as BRI's reader (Node's readline) counts them: every empty or corrupt line is a
//! line, a segment's last line without `\n` is a line, and the next segment starts a new line.

use super::BriError;

/// Default limit for one line (64 MiB): far above anything BRI writes for documents of normal
/// size, small enough that a file without newlines cannot exhaust memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// One line cut out of the byte stream.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// Global line number (1-based, across segments).
    pub number: u64,
    /// Number of the line within its segment (1-based).
    pub in_segment: u64,
    /// The bytes of the line, without its `\n`.
    pub bytes: &'a [u8],
    /// `false` for a segment's last line that has no `\n` (possibly torn).
    pub terminated: bool,
}

/// Incremental line splitter with global numbering and a per-line size limit.
///
/// Feed the bytes of each segment with [`LineSplitter::push`] (chunks of any size), then call
/// [`LineSplitter::end_segment`]; lines come out through the callback as soon as they are
/// complete. Memory is bounded by the longest line, which must not exceed `max_line_bytes`.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    last_number: u64,
    in_segment: u64,
    max_line_bytes: usize,
}

impl LineSplitter {
    /// A splitter whose first line gets number 1.
    pub fn new(max_line_bytes: usize) -> Self {
        Self::starting_after(0, max_line_bytes)
    }

    /// A splitter whose first line gets number `last_number + 1` (to continue a count).
    pub fn starting_after(last_number: u64, max_line_bytes: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            last_number,
            in_segment: 0,
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// Number of lines emitted so far (= number of the last line).
    pub fn lines_seen(&self) -> u64 {
        self.last_number
    }

    /// Bytes of the current segment held back (an unfinished line).
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Feed a chunk of the current segment.
    pub fn push<F>(&mut self, mut chunk: &[u8], mut on_line: F) -> Result<(), BriError>
    where
        F: FnMut(RawLine<'_>) -> Result<(), BriError>,
    {
        while !chunk.is_empty() {
            match memchr_nl(chunk) {
                Some(pos) => {
                    let piece = &chunk[..pos];
                    self.check_len(self.buf.len() + piece.len())?;
                    self.last_number += 1;
                    self.in_segment += 1;
                    let line = RawLine {
                        number: self.last_number,
                        in_segment: self.in_segment,
                        bytes: if self.buf.is_empty() {
                            piece
                        } else {
                            self.buf.extend_from_slice(piece);
                            &self.buf
                        },
                        terminated: true,
                    };
                    let r = on_line(line);
                    self.buf.clear();
                    r?;
                    chunk = &chunk[pos + 1..];
                }
                None => {
                    self.check_len(self.buf.len() + chunk.len())?;
                    self.buf.extend_from_slice(chunk);
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    /// End the current segment: an unterminated last line is emitted (it is a line for BRI).
    pub fn end_segment<F>(&mut self, mut on_line: F) -> Result<(), BriError>
    where
        F: FnMut(RawLine<'_>) -> Result<(), BriError>,
    {
        let r = if self.buf.is_empty() {
            Ok(())
        } else {
            self.last_number += 1;
            self.in_segment += 1;
            on_line(RawLine {
                number: self.last_number,
                in_segment: self.in_segment,
                bytes: &self.buf,
                terminated: false,
            })
        };
        self.buf.clear();
        self.in_segment = 0;
        r
    }

    fn check_len(&self, len: usize) -> Result<(), BriError> {
        if len > self.max_line_bytes {
            Err(BriError::LineTooLong {
                line: self.last_number + 1,
                limit: self.max_line_bytes as u64,
            })
        } else {
            Ok(())
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    find_byte(b, b'\n')
}

/// Position of the first `needle` in `hay` (the `memchr` crate: SIMD where the target has
/// it, a portable word-at-a-time loop elsewhere, wasm included).
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    memchr::memchr(needle, hay)
}

/// The three fields of a line, before the entry is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFields<'a> {
    /// The timestamp as written (decimal digits); AAD of encrypted entries uses this text.
    pub timestamp_text: &'a str,
    pub timestamp: u64,
    /// The pointer as written (8 lowercase hex digits for BRI).
    pub pointer: &'a str,
    /// Entry JSON (plaintext databases) or base64 ciphertext (encrypted ones). `|` inside the
    /// entry is not escaped: only the first two `|` separate fields.
    pub payload: &'a str,
}

impl LineFields<'_> {
    /// Whether the payload is an encrypted entry (base64) rather than JSON.
    pub fn is_encrypted(&self) -> bool {
        !self.payload.starts_with('{')
    }
}

/// What a non-empty line is, before decoding the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineShape<'a> {
    Empty,
    Fields(LineFields<'a>),
    /// Not `{digits}|{pointer}|{payload}` or not UTF-8: a corrupt line (BRI skips it).
    Corrupt(String),
}

/// Split a line into its fields.
pub fn split_line(bytes: &[u8]) -> LineShape<'_> {
    if bytes.is_empty() {
        return LineShape::Empty;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return LineShape::Corrupt(format!(
                "the line is not valid UTF-8 (byte {})",
                e.valid_up_to()
            ))
        }
    };
    // The first two `|` separate the fields (ASCII, so the slices are char boundaries).
    let fields = find_byte(bytes, b'|').and_then(|a| {
        let b = a + 1 + find_byte(&bytes[a + 1..], b'|')?;
        Some((text.get(..a)?, text.get(a + 1..b)?, text.get(b + 1..)?))
    });
    let Some((ts, ptr, payload)) = fields else {
        return LineShape::Corrupt(
            "the line does not have the form timestamp|pointer|entry".into(),
        );
    };
    if ts.is_empty() || ts.len() > 19 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return LineShape::Corrupt(format!(
            "the timestamp {:?} is not a number of milliseconds",
            truncate(ts, 40)
        ));
    }
    let Ok(timestamp) = ts.parse::<u64>() else {
        return LineShape::Corrupt("the timestamp is out of range".into());
    };
    if ptr.len() != 8 || !ptr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return LineShape::Corrupt(format!(
            "the pointer {:?} is not 8 hex digits",
            truncate(ptr, 40)
        ));
    }
    if payload.is_empty() {
        return LineShape::Corrupt("the entry is empty".into());
    }
    LineShape::Fields(LineFields {
        timestamp_text: ts,
        timestamp,
        pointer: ptr,
        payload,
    })
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One operation of the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `documents[target] = value` (value: the document's JSS text, kept exactly).
    Set { target: String, value: String },
    /// Remove the document `target`.
    Delete { target: String },
    /// Move the document `old_key` to `target`.
    Rename { old_key: String, target: String },
    /// Add `member` to the set `target` (creating it).
    SAdd { target: String, member: String },
    /// Remove `member` from the set `target` (the set is kept, even empty).
    SRem { target: String, member: String },
    /// An action this engine does not know: skipped, as BRI's replay skips it.
    Unknown { action: String },
}

impl Op {
    /// The action name as written in the WAL.
    pub fn action(&self) -> &str {
        match self {
            Op::Set { .. } => "SET",
            Op::Delete { .. } => "DELETE",
            Op::Rename { .. } => "RENAME",
            Op::SAdd { .. } => "SADD",
            Op::SRem { .. } => "SREM",
            Op::Unknown { action } => action,
        }
    }
}

/// A decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub op: Op,
    /// The entry carries a `txn` field (squashed from a committed transaction).
    pub has_txn: bool,
}

/// A field of an entry: a string as is (the common case, one allocation), anything else as
/// its JSON text (what BRI's replay would store).
enum Field {
    Str(String),
    Other(String),
}

impl Field {
    fn into_text(self) -> String {
        match self {
            Field::Str(s) | Field::Other(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Field;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::Str(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Field, E> {
                Ok(Field::Str(v))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Field, E> {
                Ok(Field::Other(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Field, E> {
                Ok(Field::Other(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Field, E> {
                Ok(Field::Other(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Field, E> {
                Ok(Field::Other(super::jss::js_number(v)))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Field, E> {
                Ok(Field::Other("null".into()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<Field, A::Error> {
                let v: super::jss::JVal = serde::Deserialize::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(a),
                )?;
                Ok(Field::Other(v.to_json_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Field, A::Error> {
                let v: super::jss::JVal = serde::Deserialize::deserialize(
                    serde::de::value::MapAccessDeserializer::new(a),
                )?;
                Ok(Field::Other(v.to_json_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
struct RawEntry {
    action: Option<Field>,
    target: Option<Field>,
    value: Option<Field>,
    #[serde(rename = "oldKey")]
    old_key: Option<Field>,
    member: Option<Field>,
    txn: Option<serde::de::IgnoredAny>,
}

/// Decode the JSON text of an entry. Errors are sentences (without the line number, which the
/// caller adds).
pub fn parse_entry(json: &str) -> Result<Entry, String> {
    let raw: RawEntry =
        serde_json::from_str(json).map_err(|e| format!("the entry is not valid JSON ({e})"))?;
    let action = match raw.action {
        Some(Field::Str(a)) => a,
        Some(Field::Other(_)) => return Err("the entry's action is not a string".into()),
        None => return Err("the entry has no action".into()),
    };
    let need = |v: Option<Field>, what: &str| -> Result<String, String> {
        v.map(Field::into_text)
            .ok_or_else(|| format!("the {action} entry has no {what}"))
    };
    let op = match action.as_str() {
        "SET" => Op::Set {
            target: need(raw.target, "target")?,
            value: need(raw.value, "value")?,
        },
        "DELETE" => Op::Delete {
            target: need(raw.target, "target")?,
        },
        "RENAME" => Op::Rename {
            old_key: need(raw.old_key, "oldKey")?,
            target: need(raw.target, "target")?,
        },
        "SADD" => Op::SAdd {
            target: need(raw.target, "target")?,
            member: need(raw.member, "member")?,
        },
        "SREM" => Op::SRem {
            target: need(raw.target, "target")?,
            member: need(raw.member, "member")?,
        },
        _ => Op::Unknown { action },
    };
    Ok(Entry {
        op,
        has_txn: raw.txn.is_some(),
    })
}

fn hex4(h: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// The known actions, for counting without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Set,
    Delete,
    Rename,
    SAdd,
    SRem,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Set,
        Action::Delete,
        Action::Rename,
        Action::SAdd,
        Action::SRem,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Set => "SET",
            Action::Delete => "DELETE",
            Action::Rename => "RENAME",
            Action::SAdd => "SADD",
            Action::SRem => "SREM",
        }
    }

    fn from_name(s: &str) -> Option<Action> {
        Some(match s {
            "SET" => Action::Set,
            "DELETE" => Action::Delete,
            "RENAME" => Action::Rename,
            "SADD" => Action::SAdd,
            "SREM" => Action::SRem,
            _ => return None,
        })
    }
}

/// A borrowed operation from [`parse_entry_fast`]: the same operation [`parse_entry`] gives,
/// its strings decoded (borrowed from the line, or from the caller's scratch buffer when they
/// had escapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpRef<'a> {
    Set { target: &'a str, value: RawStr<'a> },
    Delete { target: &'a str },
    Rename { old_key: &'a str, target: &'a str },
    SAdd { target: &'a str, member: &'a str },
    SRem { target: &'a str, member: &'a str },
    Unknown { action: &'a str },
}

impl OpRef<'_> {
    /// The known action, `None` for an unknown one.
    pub fn action(&self) -> Option<Action> {
        Some(match self {
            OpRef::Set { .. } => Action::Set,
            OpRef::Delete { .. } => Action::Delete,
            OpRef::Rename { .. } => Action::Rename,
            OpRef::SAdd { .. } => Action::SAdd,
            OpRef::SRem { .. } => Action::SRem,
            OpRef::Unknown { .. } => return None,
        })
    }

    /// The owned [`Op`] (what [`parse_entry`] returns for the same text).
    pub fn to_op(&self) -> Op {
        let s = |x: &str| x.to_owned();
        match *self {
            OpRef::Set { target, value } => Op::Set {
                target: s(target),
                value: value.decoded(),
            },
            OpRef::Delete { target } => Op::Delete { target: s(target) },
            OpRef::Rename { old_key, target } => Op::Rename {
                old_key: s(old_key),
                target: s(target),
            },
            OpRef::SAdd { target, member } => Op::SAdd {
                target: s(target),
                member: s(member),
            },
            OpRef::SRem { target, member } => Op::SRem {
                target: s(target),
                member: s(member),
            },
            OpRef::Unknown { action } => Op::Unknown {
                action: action.to_owned(),
            },
        }
    }
}

/// The character a JSON escape at `b[i]` (a backslash) stands for, and the escape's length.
/// `None` for invalid escapes and for surrogate escapes (left to the general parser).
#[inline]
fn escape_at(b: &[u8], i: usize) -> Option<(char, usize)> {
    Some(match *b.get(i + 1)? {
        b'"' => ('"', 2),
        b'\\' => ('\\', 2),
        b'/' => ('/', 2),
        b'b' => ('\u{8}', 2),
        b'f' => ('\u{c}', 2),
        b'n' => ('\n', 2),
        b'r' => ('\r', 2),
        b't' => ('\t', 2),
        b'u' => {
            let v = hex4(b.get(i + 2..i + 6)?)?;
            if (0xD800..0xE000).contains(&v) {
                return None;
            }
            (char::from_u32(v)?, 6)
        }
        _ => return None,
    })
}

/// Index of the first `"` or `\` in `b` at or after `i` (`b.len()` when none), eight bytes
/// at a time.
#[inline]
fn next_quote_or_backslash(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = LO * b'"' as u64;
    const BACKSLASH: u64 = LO * b'\\' as u64;
    while let Some(w) = b.get(i..i + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let w = u64::from_le_bytes(a);
        let (x, y) = (w ^ QUOTE, w ^ BACKSLASH);
        // High bit set in the byte of the first zero of x or y (later bytes may be false
        // positives; the lowest one is exact).
        let m = (x.wrapping_sub(LO) & !x | y.wrapping_sub(LO) & !y) & HI;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// Where a string field of an entry is: in the line (no escapes) or decoded in the scratch
/// buffer.
#[derive(Clone, Copy)]
enum Span {
    Line(usize, usize),
    Scratch(usize, usize),
    /// Still escaped (the document text of a SET): start, end, has escapes.
    Raw(usize, usize, bool),
}

/// A JSON string as written between its quotes, its escapes checked (each valid, none a
/// surrogate) but not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> RawStr<'a> {
    /// The text between the quotes.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether it has escapes (else the raw text is the string).
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// The decoded string.
    pub fn decoded(&self) -> String {
        let mut s = String::with_capacity(self.raw.len());
        decode_checked_escapes(self.raw, &mut s);
        s
    }
}

/// Decode the escapes of a JSON string's text (between its quotes) that [`parse_entry_fast`]
/// has checked, appending to `out`. Never fails: an escape it does not know (impossible after
/// the check) is copied as written.
pub(crate) fn decode_checked_escapes(raw: &str, out: &mut String) {
    let b = raw.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // A checked string has no raw `"`, so this stops at backslashes only (short spans between
    // escapes: a word-at-a-time loop beats a SIMD search call per span).
    loop {
        let at = next_quote_or_backslash(b, i);
        if at >= b.len() {
            break;
        }
        // Backslashes and escape ends are ASCII positions: char boundaries.
        out.push_str(raw.get(start..at).unwrap_or(""));
        match escape_at(b, at) {
            Some((c, len)) => {
                out.push(c);
                i = at + len;
            }
            None => {
                out.push('\\');
                i = at + 1;
            }
        }
        start = i;
    }
    out.push_str(raw.get(start..).unwrap_or(""));
}

/// Read the JSON string whose opening quote is at `b[i - 1]`, decoding it into `out` in the
/// same pass when it has escapes: the index of the closing quote and where the text is.
fn read_string(json: &str, i: usize, out: &mut String) -> Option<(usize, Span)> {
    let b = json.as_bytes();
    let mut j = next_quote_or_backslash(b, i);
    if *b.get(j)? == b'"' {
        return Some((j, Span::Line(i, j)));
    }
    let from = out.len();
    let mut start = i;
    loop {
        // `start` and `j` are at ASCII bytes: char boundaries.
        out.push_str(json.get(start..j)?);
        if *b.get(j)? == b'"' {
            return Some((j, Span::Scratch(from, out.len())));
        }
        let (c, len) = escape_at(b, j)?;
        out.push(c);
        start = j + len;
        j = next_quote_or_backslash(b, start);
    }
}

/// Scan a JSON string whose opening quote is at `b[i - 1]`: the index of its closing quote and
/// whether it has escapes. `None` (let the general parser decide) for invalid escapes,
/// surrogate escapes and a missing closing quote. The caller has checked that `b` holds no
/// control characters (which JSON forbids in strings).
fn scan_string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        i = next_quote_or_backslash(b, i);
        if *b.get(i)? == b'"' {
            return Some((i, escaped));
        }
        escaped = true;
        match *b.get(i + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
            b'u' => {
                let v = hex4(b.get(i + 2..i + 6)?)?;
                if (0xD800..0xE000).contains(&v) {
                    return None;
                }
                i += 6;
            }
            _ => return None,
        }
    }
}

/// Whether `b` holds a control character (U+0000..U+001F), in one vectorisable pass.
fn has_control(b: &[u8]) -> bool {
    b.chunks(64)
        .any(|c| c.iter().fold(0u8, |acc, &x| acc | (x < 0x20) as u8) != 0)
}

/// Skip one JSON value without whitespace starting at `b[i]`: the index after it. Stricter
/// than JSON (no whitespace, no surrogate escapes, nesting depth at most 32): `None` means
/// "let the general parser decide", never "valid".
fn skip_value(b: &[u8], i: usize, depth: u32) -> Option<usize> {
    match *b.get(i)? {
        b'"' => scan_string(b, i + 1).map(|(end, _)| end + 1),
        b't' => b[i..].starts_with(b"true").then_some(i + 4),
        b'f' => b[i..].starts_with(b"false").then_some(i + 5),
        b'n' => b[i..].starts_with(b"null").then_some(i + 4),
        b'-' | b'0'..=b'9' => skip_number(b, i),
        open @ (b'[' | b'{') => {
            if depth >= 32 {
                return None;
            }
            let close = if open == b'[' { b']' } else { b'}' };
            let mut j = i + 1;
            if b.get(j) == Some(&close) {
                return Some(j + 1);
            }
            loop {
                if open == b'{' {
                    if b.get(j) != Some(&b'"') {
                        return None;
                    }
                    let (end, _) = scan_string(b, j + 1)?;
                    if b.get(end + 1) != Some(&b':') {
                        return None;
                    }
                    j = end + 2;
                }
                j = skip_value(b, j, depth + 1)?;
                match *b.get(j)? {
                    b',' => j += 1,
                    c if c == close => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

/// Skip a JSON number (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`) at `b[i]`.
fn skip_number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| -> Option<usize> {
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > s).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(b, i)?,
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Some(i)
}

/// An entry read by [`parse_entry_fast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub op: OpRef<'a>,
    /// The entry carries a `txn` field (its content is checked as JSON and otherwise ignored).
    pub has_txn: bool,
}

/// The fast path of [`parse_entry`] for the shape BRI writes: one object without whitespace
/// whose members are `action`, `target`, `value`, `member`, `oldKey` (each a string) and `txn`
/// (any JSON value), each at most once. Strings with escapes are decoded into `scratch`
/// (cleared first; reuse it across lines to avoid allocations). Returns `None` for anything
/// else (other fields, other value types, whitespace, escaped keys, surrogate escapes,
/// errors): the caller then uses [`parse_entry`], which has the final word. When it returns
/// `Some`, the entry is the one [`parse_entry`] returns (property-tested against it).
pub fn parse_entry_fast<'a>(json: &'a str, scratch: &'a mut String) -> Option<EntryRef<'a>> {
    scratch.clear();
    let b = json.as_bytes();
    if b.first() != Some(&b'{') || has_control(b) {
        return None;
    }
    let mut fields: [Option<Span>; 5] = [None; 5];
    let (mut seen_txn, mut has_txn) = (false, false);
    let mut i = 1;
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = next_quote_or_backslash(b, i + 1);
        let slot = match b.get(i + 1..key_end)? {
            b"action" => 0,
            b"target" => 1,
            b"value" => 2,
            b"member" => 3,
            b"oldKey" => 4,
            b"txn" => 5,
            _ => return None,
        };
        if b.get(key_end) != Some(&b'"') || b.get(key_end + 1) != Some(&b':') {
            return None;
        }
        i = key_end + 2;
        let end = if slot == 5 {
            if seen_txn {
                return None;
            }
            seen_txn = true;
            // serde reads `"txn":null` as an absent field.
            has_txn = !b[i..].starts_with(b"null");
            skip_value(b, i, 0)?
        } else {
            if fields[slot].is_some() || b.get(i) != Some(&b'"') {
                return None;
            }
            let (end, span) = if slot == 2 {
                // The document text is kept escaped (checked, decoded once at the end, so
                // overwritten versions are never decoded).
                let (end, escaped) = scan_string(b, i + 1)?;
                (end, Span::Raw(i + 1, end, escaped))
            } else {
                read_string(json, i + 1, scratch)?
            };
            fields[slot] = Some(span);
            end + 1
        };
        match b.get(end) {
            Some(b',') => i = end + 1,
            Some(b'}') if end + 1 == b.len() => break,
            _ => return None,
        }
    }
    let decoded: &'a str = scratch;
    let text = |f: Option<Span>| -> Option<&'a str> {
        match f? {
            Span::Line(a, z) => json.get(a..z),
            Span::Scratch(a, z) => decoded.get(a..z),
            Span::Raw(..) => None,
        }
    };
    let [action, target, value, member, old_key] = fields;
    let action = match action? {
        Span::Line(a, z) => json.get(a..z)?,
        // An escaped action name is rare enough for the general parser.
        Span::Scratch(..) | Span::Raw(..) => return None,
    };
    let op = match Action::from_name(action) {
        Some(Action::Set) => OpRef::Set {
            target: text(target)?,
            value: match value? {
                Span::Raw(a, z, escaped) => RawStr {
                    raw: json.get(a..z)?,
                    escaped,
                },
                _ => return None,
            },
        },
        Some(Action::Delete) => OpRef::Delete {
            target: text(target)?,
        },
        Some(Action::Rename) => OpRef::Rename {
            old_key: text(old_key)?,
            target: text(target)?,
        },
        Some(Action::SAdd) => OpRef::SAdd {
            target: text(target)?,
            member: text(member)?,
        },
        Some(Action::SRem) => OpRef::SRem {
            target: text(target)?,
            member: text(member)?,
        },
        None => OpRef::Unknown { action },
    };
    Some(EntryRef { op, has_txn })
}

/// Count raw U+2028/U+2029 characters (line breaks for Bun's readline, not for Node's).
pub fn count_u2028_u2029(bytes: &[u8]) -> u64 {
    // UTF-8: E2 80 A8 / E2 80 A9.
    let mut n = 0;
    let mut i = 0;
    while let Some(p) = find_byte(&bytes[i..], 0xE2) {
        let at = i + p;
        if bytes.get(at + 1) == Some(&0x80) && matches!(bytes.get(at + 2), Some(0xA8 | 0xA9)) {
            n += 1;
        }
        i = at + 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines = Vec<(u64, u64, Vec<u8>, bool)>;

    fn collect(chunks: &[&[&[u8]]], max: usize) -> Result<Lines, BriError> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for seg in chunks {
            for c in *seg {
                s.push(c, |l| {
                    out.push((l.number, l.in_segment, l.bytes.to_vec(), l.terminated));
                    Ok(())
                })?;
            }
            s.end_segment(|l| {
                out.push((l.number, l.in_segment, l.bytes.to_vec(), l.terminated));
                Ok(())
            })?;
        }
        Ok(out)
    }

    #[test]
    fn numbering_across_segments_and_chunks() {
        let out = collect(&[&[b"a\n\nb", b"c\n"], &[], &[b"d\nto", b"rn"]], 100).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|(n, i, b, t)| (*n, *i, String::from_utf8_lossy(b).into_owned(), *t))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 1, "a".into(), true),
                (2, 2, "".into(), true),
                (3, 3, "bc".into(), true),
                (4, 1, "d".into(), true),
                (5, 2, "torn".into(), false),
            ]
        );
    }

    #[test]
    fn u2028_is_not_a_break_and_cr_is_kept() {
        let out = collect(&[&["x\u{2028}y\r\nz".as_bytes()]], 100).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].2, "x\u{2028}y\r".as_bytes());
        assert_eq!(count_u2028_u2029(&out[0].2), 1);
    }

    #[test]
    fn giant_line_is_an_error_with_its_number() {
        let err = collect(&[&[b"ok\n", b"0123456789", b"0123456789"]], 15).unwrap_err();
        match err {
            BriError::LineTooLong { line, limit } => {
                assert_eq!((line, limit), (2, 15));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn find_byte_matches_naive() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for n in [0u8, 10, 0xE2, 0xFF, 7] {
            for start in 0..20 {
                assert_eq!(
                    find_byte(&hay[start..], n),
                    hay[start..].iter().position(|&c| c == n),
                    "needle {n} from {start}"
                );
            }
        }
        assert_eq!(
            count_u2028_u2029("a\u{2028}\u{2029}\u{20ac}\u{2028}".as_bytes()),
            3
        );
    }

    #[test]
    fn split_fields() {
        let LineShape::Fields(f) = split_line(b"17|0123abcd|{\"a\":\"x|y\"}") else {
            panic!("not fields")
        };
        assert_eq!(
            (f.timestamp, f.pointer, f.payload),
            (17, "0123abcd", "{\"a\":\"x|y\"}")
        );
        assert!(!f.is_encrypted());
        assert_eq!(split_line(b""), LineShape::Empty);
        for bad in [
            &b"x|0123abcd|{}"[..],
            b"1|zz|{}",
            b"1|0123abcd",
            b"\xff\xfe",
            b"1|0123abcd|",
        ] {
            assert!(matches!(split_line(bad), LineShape::Corrupt(_)), "{bad:?}");
        }
    }

    /// What the general parser gives, in the fast path's terms.
    fn general(json: &str) -> Option<(Op, bool)> {
        parse_entry(json).ok().map(|e| (e.op, e.has_txn))
    }

    /// The fast path never disagrees with the general parser: when it answers, the general
    /// parser gives the same operation and `txn` flag.
    fn check_agrees(json: &str) -> bool {
        let mut scratch = String::from("left over from an earlier line");
        match parse_entry_fast(json, &mut scratch) {
            Some(e) => {
                assert_eq!(
                    Some((e.op.to_op(), e.has_txn)),
                    general(json),
                    "fast path disagrees on {json:?}"
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn fast_path_edge_cases() {
        let taken = [
            r#"{"action":"SET","target":"A","value":"{\"n\":1}"}"#,
            r#"{"target":"A","value":"x|y|z","action":"SET"}"#,
            r#"{"action":"SET","target":"k\"q","value":"\\\/\b\f\n\r\t\u00e9\u20AC\u0000"}"#,
            "{\"action\":\"SET\",\"target\":\"A\",\"value\":\"raw \u{2028} \u{2029} \u{1F389} é\"}",
            r#"{"action":"SET","target":"","value":""}"#,
            r#"{"action":"DELETE","target":"A"}"#,
            r#"{"action":"RENAME","target":"X:A:X","oldKey":"A"}"#,
            r#"{"action":"SADD","target":"T?","member":"a"}"#,
            r#"{"action":"SREM","target":"T?","member":"a"}"#,
            r#"{"action":"FLY","target":"x"}"#,
            r#"{"action":"NOPE"}"#,
            r#"{"action":"DELETE","target":"A","value":"ignored"}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":{"txnId":"t","actions":[{"a":1.5e-3,"b":[true,false,null,-0,{}],"c":[]}]}}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":null}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":"s"}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":12}"#,
        ];
        for j in taken {
            assert!(check_agrees(j), "expected the fast path to take {j:?}");
        }
        let declined = [
            r#"{ "action":"SET","target":"A","value":"v"}"#,
            r#"{"action":"SET","target":"A","value":"v"} "#,
            r#"{"action":"SET","target":"A","value":"v","extra":1}"#,
            r#"{"action":"SET","target":"A","value":1}"#,
            r#"{"action":"SET","target":"A","value":null}"#,
            r#"{"action":"SET","target":"A","value":{"a":1}}"#,
            r#"{"action":"SET","target":"A","target":"B","value":"v"}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":1,"txn":2}"#,
            r#"{"action":"SET","target":"A","value":"\ud83c\udf89"}"#,
            r#"{"action":"SET","target":"A","value":"\ud800"}"#,
            r#"{"action":"SET","target":"A","value":"\x"}"#,
            r#"{"action":"SET","target":"A","value":"\u12"}"#,
            "{\"action\":\"SET\",\"target\":\"A\",\"value\":\"tab\there\"}",
            r#"{"action":"SET","target":"A"}"#,
            r#"{"action":"S\u0045T","target":"A","value":"v"}"#,
            r#"{"\u0061ction":"SET","target":"A","value":"v"}"#,
            r#"{"action":"SET","target":"A","value":"v""#,
            r#"{"action":"SET","target":"A","value":"v"}}"#,
            r#"{"action":"SET","target":"A","value":"v",}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":01}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":[1,]}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":tru}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":1.}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":-}"#,
            r#"{"action":"SET","target":"A","value":"v","txn":{"a" :1}}"#,
            "{}",
            "[]",
            "",
            "{",
        ];
        for j in declined {
            assert!(!check_agrees(j), "expected the fast path to decline {j:?}");
        }
    }

    /// Random entries built from pieces BRI writes and pieces it never writes: the fast path
    /// agrees with the general parser whenever it answers, and answers for most well-formed
    /// entries.
    #[test]
    fn fast_path_agrees_with_general_parser_on_random_entries() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pieces = [
            "a",
            "Z",
            "|",
            "||",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u0041",
            "\\u00e9",
            "\\u2028",
            "\\uFFFF",
            "\\ud83c\\udf89",
            "\\ud800",
            "\u{2028}",
            "\u{2029}",
            "é",
            "東京",
            "\u{1F389}",
            "<!D>",
            "$ID",
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            " ",
            "\t",
            "\\",
            "\\x",
            "\\u12",
            "\"",
            "\u{7f}",
            "\u{1}",
        ];
        let keys = [
            "action",
            "target",
            "value",
            "member",
            "oldKey",
            "txn",
            "other",
            "act\\u0069on",
        ];
        let actions = [
            "SET",
            "DELETE",
            "RENAME",
            "SADD",
            "SREM",
            "FLY",
            "",
            "set",
            "S\\u0045T",
        ];
        let raw_values = [
            "null",
            "1",
            "-2.5e3",
            "true",
            "[1,\"a\"]",
            "{\"k\":[]}",
            "{}",
            "01",
            "[1,]",
            "nul",
            " 1",
            "{\"a\" :1}",
        ];
        let string = |rng: &mut rand::rngs::StdRng| -> String {
            let n = rng.gen_range(0..6);
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(pieces[rng.gen_range(0..pieces.len())]);
            }
            s
        };
        let mut taken = 0;
        let mut sane_taken = 0;
        let rounds = 20_000;
        for _ in 0..rounds {
            let sane = rng.gen_bool(0.5);
            let mut parts = Vec::new();
            let action = actions[rng.gen_range(0..if sane { 5 } else { actions.len() })];
            parts.push(format!("\"action\":\"{action}\""));
            for k in ["target", "value", "member", "oldKey"] {
                if rng.gen_bool(if sane { 0.8 } else { 0.5 }) {
                    let v = if sane {
                        let mut s = String::new();
                        for _ in 0..rng.gen_range(0..6) {
                            s.push_str(pieces[rng.gen_range(0..17)]);
                        }
                        s
                    } else {
                        string(&mut rng)
                    };
                    parts.push(format!("\"{k}\":\"{v}\""));
                }
            }
            if rng.gen_bool(0.2) {
                let v = raw_values[rng.gen_range(0..if sane { 7 } else { raw_values.len() })];
                parts.push(format!("\"txn\":{v}"));
            }
            if !sane {
                for _ in 0..rng.gen_range(0..3) {
                    let k = keys[rng.gen_range(0..keys.len())];
                    let v = if rng.gen_bool(0.5) {
                        format!("\"{}\"", string(&mut rng))
                    } else {
                        raw_values[rng.gen_range(0..raw_values.len())].to_owned()
                    };
                    parts.insert(rng.gen_range(0..=parts.len()), format!("\"{k}\":{v}"));
                }
            }
            // Random order of members.
            for i in (1..parts.len()).rev() {
                parts.swap(i, rng.gen_range(0..=i));
            }
            let mut json = format!("{{{}}}", parts.join(","));
            if !sane && rng.gen_bool(0.3) {
                let cut = rng.gen_range(0..=json.len());
                json = json.get(..cut).unwrap_or(&json).to_owned();
            }
            let took = check_agrees(&json);
            taken += took as u32;
            if sane && took {
                sane_taken += 1;
            }
        }
        assert!(
            taken > rounds / 5,
            "the fast path took only {taken} entries"
        );
        assert!(
            sane_taken > rounds / 5,
            "only {sane_taken} well-formed entries"
        );
    }

    #[test]
    fn json_str_decoding() {
        let json = r#"{"action":"SADD","target":"a\"b\\c\/d\u00e9\u20ac|","member":"plain"}"#;
        let mut scratch = String::new();
        let e = parse_entry_fast(json, &mut scratch).unwrap();
        let OpRef::SAdd { target, member } = e.op else {
            panic!("not SADD")
        };
        assert_eq!(target, "a\"b\\c/d\u{e9}\u{20ac}|");
        // Strings without escapes are borrowed from the line.
        assert!(std::ptr::eq(
            member.as_ptr(),
            json[json.len() - 7..].as_ptr()
        ));
    }

    #[test]
    fn entries() {
        let e = parse_entry(r#"{"action":"RENAME","target":"X:A:X","oldKey":"A","txn":{"a":1}}"#)
            .unwrap();
        assert_eq!(
            e.op,
            Op::Rename {
                old_key: "A".into(),
                target: "X:A:X".into()
            }
        );
        assert!(e.has_txn);
        assert!(matches!(
            parse_entry(r#"{"action":"FLY","target":"x"}"#).unwrap().op,
            Op::Unknown { .. }
        ));
        assert!(parse_entry(r#"{"action":"SET","target":"x"}"#).is_err());
        assert!(parse_entry(r#"{"action":"SET","target":"x","value":"{\"a\""#).is_err());
        assert!(parse_entry("[]").is_err());
    }
}
