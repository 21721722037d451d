//! `snapshot.jss`: read versions 1 and 2 (plain or encrypted), write version 1.
//!
//! * Version 2 (what BRI 1.2 writes): `{version: 2, walLine, "timestamp<!D>", documents:
//!   {key: parsed document}, collections: {name: [members]}}`, one JSS text. Documents are
//!   objects, with referenced documents inlined (BRI bug 2); reading re-serialises each one and
//!   undoes the inlining ([`super::jss::deinline_document`]), giving the stored strings BRI held
//!   before the snapshot.
//! * Version 1 (read by BRI when `version != 2`): `documents` maps key -> stored string,
//!   loaded exactly. This is what [`write_snapshot_v1`] writes.
//! * Encrypted databases store `base64(IV | tag | ciphertext)` of the JSS text, without AAD.

use super::crypto::{decrypt_snapshot, encrypt_snapshot, Key};
use super::jss::{deinline_document, write_json_string, JVal};
use super::state::State;
use super::BriError;

/// A snapshot as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub version: u64,
    /// Number of the last WAL line folded into the snapshot; replay continues after it.
    pub wal_line: u64,
    /// `timestamp<!D>`: when the snapshot was taken (epoch ms), if recorded.
    pub timestamp: Option<u64>,
    pub state: State,
    /// The file was encrypted.
    pub encrypted: bool,
}

fn bad(message: impl Into<String>) -> BriError {
    BriError::BadSnapshot {
        message: message.into(),
    }
}

/// Whether snapshot bytes are encrypted (base64 text rather than a JSON object).
pub fn is_encrypted_snapshot(bytes: &[u8]) -> bool {
    !matches!(bytes.trim_ascii_start().first(), Some(b'{') | None)
}

/// Read a snapshot. `key` is needed only when the file is encrypted; without it the error has
/// the code `ENCRYPTION_KEY_REQUIRED`.
pub fn read_snapshot(bytes: &[u8], key: Option<&Key>) -> Result<Snapshot, BriError> {
    let encrypted = is_encrypted_snapshot(bytes);
    let plain_buf;
    let plain: &[u8] = if encrypted {
        let key = key.ok_or_else(|| BriError::KeyRequired {
            what: "snapshot.jss is encrypted; reading it".into(),
        })?;
        plain_buf = decrypt_snapshot(key, bytes)?;
        &plain_buf
    } else {
        bytes
    };
    let text = std::str::from_utf8(plain).map_err(|e| {
        bad(format!(
            "snapshot.jss is not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let root =
        JVal::parse(text).map_err(|e| bad(format!("snapshot.jss is not valid JSS/JSON: {e}")))?;
    if !matches!(root, JVal::Obj(_)) {
        return Err(bad("snapshot.jss is not a JSON object"));
    }
    let version = root.get("version").and_then(JVal::as_u64).unwrap_or(1);
    let wal_line = match root.get_untagged("walLine") {
        None | Some(JVal::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| bad("snapshot.jss has a walLine that is not a line number"))?,
    };
    let timestamp = root.get_untagged("timestamp").and_then(JVal::as_u64);
    let mut state = State::new();
    match root.get_untagged("documents") {
        None | Some(JVal::Null) => {}
        Some(JVal::Obj(docs)) => {
            for (k, v) in docs {
                let stored = if version == 2 {
                    match v {
                        JVal::Str(s) => s.clone(),
                        other => deinline_document(other, k, &root).to_json_string(),
                    }
                } else {
                    match v {
                        JVal::Str(s) => s.clone(),
                        other => other.to_json_string(),
                    }
                };
                state.documents.insert(k.clone(), stored);
            }
        }
        Some(_) => return Err(bad("snapshot.jss: documents is not an object")),
    }
    match root.get_untagged("collections") {
        None | Some(JVal::Null) => {}
        Some(JVal::Obj(cols)) => {
            for (name, members) in cols {
                let set = state.collections.entry(name.clone()).or_default();
                match members {
                    JVal::Arr(a) => {
                        for m in a {
                            set.insert(match m {
                                JVal::Str(s) => s.clone(),
                                other => other.to_json_string(),
                            });
                        }
                    }
                    _ => {
                        return Err(bad(format!(
                            "snapshot.jss: collection {name:?} is not an array"
                        )))
                    }
                }
            }
        }
        Some(_) => return Err(bad("snapshot.jss: collections is not an object")),
    }
    Ok(Snapshot {
        version,
        wal_line,
        timestamp,
        state,
        encrypted,
    })
}

/// Write a version-1 `snapshot.jss` that BRI loads exactly: every document as its stored
/// string, every collection (empty ones too), `walLine` = the last WAL line folded in (chosen by
/// the caller), `timestamp<!D>` = when (epoch ms; the host passes the time in).
pub fn write_snapshot_v1(state: &State, wal_line: u64, timestamp_ms: u64) -> Vec<u8> {
    let mut out = String::with_capacity(
        64 + state
            .documents
            .iter()
            .map(|(k, v)| k.len() + v.len() + 16)
            .sum::<usize>(),
    );
    out.push_str("{\"version\":1,\"walLine\":");
    out.push_str(&wal_line.to_string());
    out.push_str(",\"timestamp<!D>\":");
    out.push_str(&timestamp_ms.to_string());
    out.push_str(",\"documents\":{");
    for (i, (k, v)) in state.sorted_documents().into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(k, &mut out);
        out.push(':');
        write_json_string(v, &mut out);
    }
    out.push_str("},\"collections\":{");
    for (i, (name, set)) in state.sorted_collections().into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(name, &mut out);
        out.push_str(":[");
        for (j, m) in set.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            write_json_string(m, &mut out);
        }
        out.push(']');
    }
    out.push_str("}}");
    out.into_bytes()
}

/// [`write_snapshot_v1`], encrypted as BRI encrypts snapshots (`iv`: 12 fresh random bytes
/// from the host).
pub fn write_snapshot_v1_encrypted(
    state: &State,
    wal_line: u64,
    timestamp_ms: u64,
    key: &Key,
    iv: [u8; 12],
) -> Vec<u8> {
    encrypt_snapshot(key, iv, &write_snapshot_v1(state, wal_line, timestamp_ms)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_roundtrip_plain_and_encrypted() {
        let mut st = State::new();
        st.documents
            .insert("A".into(), "{\"t<!D>\":1,\"s\":\"\u{2028}|\\\"\"}".into());
        st.documents
            .insert("weird \"key\"".into(), "not json".into());
        st.collections.entry("E?".into()).or_default();
        st.collections
            .entry("T?".into())
            .or_default()
            .insert("a".into());
        let bytes = write_snapshot_v1(&st, 42, 1700000000000);
        let back = read_snapshot(&bytes, None).unwrap();
        assert_eq!(
            (back.version, back.wal_line, back.timestamp),
            (1, 42, Some(1700000000000))
        );
        assert_eq!(back.state, st);
        let key = Key::from_hex(&[b'1'; 64]).unwrap();
        let enc = write_snapshot_v1_encrypted(&st, 7, 1, &key, [3; 12]);
        assert!(is_encrypted_snapshot(&enc));
        let err = read_snapshot(&enc, None).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::EncryptionKeyRequired);
        let back = read_snapshot(&enc, Some(&key)).unwrap();
        assert!(back.encrypted);
        assert_eq!(back.state, st);
    }

    #[test]
    fn bad_snapshots_are_errors() {
        for b in [
            &b"{"[..],
            b"[1]",
            b"{\"documents\":[]}",
            b"{\"walLine\":\"x\"}",
            b"\xff{",
        ] {
            assert!(read_snapshot(b, None).is_err(), "{b:?}");
        }
        let empty = read_snapshot(b"{}", None).unwrap();
        assert_eq!(empty.wal_line, 0);
    }
}
