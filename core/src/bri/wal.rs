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

/// Position of the first `needle` in `hay`, eight bytes at a time (portable SWAR; no `memchr`
/// dependency, works on wasm).
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO.wrapping_mul(needle as u64);
    let mut i = 0;
    while i + 8 <= hay.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&hay[i..i + 8]);
        let x = u64::from_le_bytes(w) ^ pat;
        if (x.wrapping_sub(LO) & !x & HI) != 0 {
            break;
        }
        i += 8;
    }
    hay[i..].iter().position(|&c| c == needle).map(|p| p + i)
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
    let mut parts = text.splitn(3, '|');
    let (Some(ts), Some(ptr), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
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
