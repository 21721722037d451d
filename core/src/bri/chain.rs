//! The WAL pointer chain: `pointer = hex(sha256((previous pointer or "") + entry))[..8]`, where
//! `entry` is the plaintext JSON of the entry (decrypted first in encrypted databases). The
//! chain runs across segments and restarts; the first line of a complete WAL is anchored at "".

use sha2::{Digest, Sha256};

/// The pointer BRI writes for `entry` after `previous` (`""` for the very first line).
pub fn pointer(previous: &str, entry: &str) -> String {
    let b = pointer_bytes(previous, entry);
    String::from_utf8_lossy(&b).into_owned()
}

/// [`pointer()`] as 8 ASCII hex digits on the stack (no allocation).
pub fn pointer_bytes(previous: &str, entry: &str) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(entry.as_bytes());
    let d = h.finalize();
    let mut out = [0u8; 8];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in d[..4].iter().enumerate() {
        out[2 * i] = HEX[(byte >> 4) as usize];
        out[2 * i + 1] = HEX[(byte & 15) as usize];
    }
    out
}

/// One place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLink {
    /// Global line number.
    pub line: u64,
    /// Pointer computed from the previous pointer and this line's entry.
    pub expected: String,
    /// Pointer written in the line.
    pub found: String,
}

/// Checks pointers line by line from an anchor.
///
/// After a mismatch the check continues from the pointer written in the broken line, so every
/// independent break is found (the list is capped at [`ChainVerifier::MAX_REPORTED`]).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev: String,
    anchored: bool,
    checked: u64,
    broken_count: u64,
    broken: Vec<BrokenLink>,
}

impl ChainVerifier {
    /// How many broken links are kept for the report.
    pub const MAX_REPORTED: usize = 100;

    /// Start from `anchor`: the pointer of the line before the first one checked, or `None`
    /// for the start of the WAL (`""`).
    pub fn new(anchor: Option<&str>) -> Self {
        ChainVerifier {
            prev: anchor.unwrap_or("").to_owned(),
            anchored: true,
            checked: 0,
            broken_count: 0,
            broken: Vec::new(),
        }
    }

    /// Start without knowing the anchor: the first entry is taken as it is and checking starts
    /// from its pointer (for a WAL whose beginning is not available).
    pub fn unanchored() -> Self {
        let mut v = Self::new(None);
        v.anchored = false;
        v
    }

    /// Check one entry; returns whether its pointer is the expected one.
    pub fn check(&mut self, line: u64, written_pointer: &str, plaintext_entry: &str) -> bool {
        self.checked += 1;
        if !self.anchored {
            self.anchored = true;
            self.prev.clear();
            self.prev.push_str(written_pointer);
            return true;
        }
        let expected = pointer_bytes(&self.prev, plaintext_entry);
        let ok = expected.eq_ignore_ascii_case(written_pointer.as_bytes());
        if !ok {
            self.broken_count += 1;
            if self.broken.len() < Self::MAX_REPORTED {
                self.broken.push(BrokenLink {
                    line,
                    expected: String::from_utf8_lossy(&expected).into_owned(),
                    found: written_pointer.to_owned(),
                });
            }
        }
        self.prev.clear();
        self.prev.push_str(written_pointer);
        ok
    }

    /// The last pointer seen (the chain head), or the anchor when nothing was checked.
    pub fn head(&self) -> &str {
        &self.prev
    }

    pub fn checked(&self) -> u64 {
        self.checked
    }

    pub fn is_valid(&self) -> bool {
        self.broken_count == 0
    }

    pub fn broken_count(&self) -> u64 {
        self.broken_count
    }

    pub fn first_broken(&self) -> Option<&BrokenLink> {
        self.broken.first()
    }

    pub fn broken(&self) -> &[BrokenLink] {
        &self.broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_first_line() {
        // basic/000000.wal, line 2: SADD after the first SET (pointer 08635475).
        let e = r#"{"action":"SADD","target":"USER?","member":"p5aphcp"}"#;
        assert_eq!(pointer("08635475", e), "9d6ef614");
    }

    #[test]
    fn reports_first_break_and_continues() {
        let a = pointer("", "A");
        let b = pointer(&a, "B");
        let mut v = ChainVerifier::new(None);
        assert!(v.check(1, &a, "A"));
        assert!(!v.check(2, "deadbeef", "B"));
        assert!(v.check(3, &pointer("deadbeef", "C"), "C"));
        assert_eq!(v.first_broken().unwrap().line, 2);
        assert_eq!(v.first_broken().unwrap().expected, b);
        assert_eq!(v.broken_count(), 1);
    }
}
