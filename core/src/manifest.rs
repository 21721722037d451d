//! `manifest.json`: what an archive holds, written last inside the archive.
//!
//! The schema is versioned ([`MANIFEST_VERSION`]); readers refuse a major version they do not
//! know and ignore fields they do not know, so later versions can add fields freely. Keys are
//! camelCase, like the JSON configuration. See FORMAT.md for every field.

use crate::error::{Error, Result};
use crate::ustar::MemberKind;
use serde::{Deserialize, Serialize};

/// The member name of the manifest inside every archive.
pub const MANIFEST_NAME: &str = "manifest.json";
/// `format` field value of every bri archive manifest.
pub const FORMAT_NAME: &str = "bri-archive";
/// Version of the manifest schema this crate writes.
pub const MANIFEST_VERSION: u32 = 1;
/// Largest manifest accepted by readers.
pub const MAX_MANIFEST: usize = 128 << 20;

/// What kind of content the archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveKind {
    /// A plain set of files (`bri archive create-files`, FactoryWager file sets).
    Files,
    /// A BRI database: snapshot + WAL segments.
    Bri,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always `"bri-archive"`.
    pub format: String,
    /// Schema version ([`MANIFEST_VERSION`]).
    pub format_version: u32,
    pub archive_id: String,
    pub kind: ArchiveKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// RFC 3339 UTC time the host gave as "now" when the archive was written.
    pub created_at: String,
    pub created_at_ms: i64,
    /// Software that wrote the archive, e.g. `bri-core 0.1.0`.
    pub writer: String,
    #[serde(default)]
    pub retention: Retention,
    pub compression: Compression,
    pub integrity: Integrity,
    /// Reed-Solomon layout; `null` when the archive carries no parity.
    #[serde(default)]
    pub error_correction: Option<serde_json::Value>,
    /// Every member except `manifest.json` itself, in archive order.
    pub members: Vec<MemberEntry>,
    pub totals: Totals,
    /// BRI database facts (instance, WAL and time ranges, segments, statistics, chain anchor);
    /// `null` for file-set archives.
    #[serde(default)]
    pub bri: Option<serde_json::Value>,
    /// Free-form metadata added by hosts (e.g. FactoryWager type and group).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// How long the archive is to be kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    #[serde(default)]
    pub permanent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

/// Compression settings used for the data region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compression {
    /// Always `"zstd"`.
    pub algorithm: String,
    pub level: i32,
    /// Uncompressed bytes per frame (large members are split at this size).
    pub frame_size: u64,
    /// Implementation that compressed it (`zstd` = libzstd, `ruzstd`).
    pub codec: String,
}

/// Integrity information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integrity {
    /// Always `"sha256"`.
    pub algorithm: String,
    /// Frame checksums in the seek table: `"xxh64-low32"`.
    pub frame_checksum: String,
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberEntry {
    pub path: String,
    #[serde(flatten)]
    pub kind: MemberKind,
    pub size: u64,
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: u64,
    /// sha256 of the content, lowercase hex (of the target's content for hard links).
    pub sha256: String,
    /// Offset of the member's first header block in the tar stream.
    pub tar_offset: u64,
    /// Index (in the seek table) of the first frame holding this member.
    pub first_frame: u32,
    /// Number of frames holding this member (its headers, content and padding).
    pub frame_count: u32,
    /// Bytes those frames occupy in the file.
    pub compressed_size: u64,
}

/// Sums over the archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Members listed (checksums.sha256 included, manifest.json not).
    pub members: u64,
    /// Content bytes of those members.
    pub content_bytes: u64,
    /// Compressed bytes of their frames.
    pub compressed_bytes: u64,
    /// Frames before the manifest's frame.
    pub frames: u32,
}

impl Manifest {
    /// Serialize as pretty JSON (the bytes stored in the archive).
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parse and check the format name and version.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        if bytes.len() > MAX_MANIFEST {
            return Err(Error::limit(
                "manifest.json size",
                bytes.len() as u64,
                MAX_MANIFEST as u64,
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupted(format!("manifest.json is not valid JSON: {e}")))?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT_NAME) => {}
            _ => {
                return Err(Error::not_archive(
                    "manifest.json does not say format \"bri-archive\"",
                ))
            }
        }
        match v.get("formatVersion").and_then(|f| f.as_u64()) {
            Some(1) => {}
            Some(n) => {
                return Err(Error::invalid(format!(
                    "manifest format version {n} is newer than this reader (1); upgrade bri"
                )))
            }
            None => return Err(Error::corrupted("manifest.json has no formatVersion")),
        }
        serde_json::from_value(v)
            .map_err(|e| Error::corrupted(format!("manifest.json does not match the schema: {e}")))
    }

    /// The entry of a member by path.
    pub fn member(&self, path: &str) -> Option<&MemberEntry> {
        self.members.iter().find(|m| m.path == path)
    }
}

/// Format epoch milliseconds as RFC 3339 UTC (`2024-02-05T12:00:00.000Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_707_138_318_946), "2024-02-05T13:05:18.946Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn unknown_versions_and_formats_are_refused() {
        assert!(Manifest::from_json(br#"{"format":"x","formatVersion":1}"#).is_err());
        let e = Manifest::from_json(br#"{"format":"bri-archive","formatVersion":2}"#).unwrap_err();
        assert!(e.to_string().contains("upgrade"));
        assert!(Manifest::from_json(b"not json").is_err());
    }
}
