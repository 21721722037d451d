//! `checksums.sha256`: one line per member in the format of `sha256sum` (and `sha256sum -c`).
//!
//! Each line is `<64 lowercase hex digits><space><space><path>\n`, in member order. Paths
//! never contain line breaks or backslashes (refused by [`crate::ustar::check_path`]), so no
//! escaping is ever needed.

use crate::error::{Error, Result};

/// The member name of the checksum list inside every archive.
pub const CHECKSUMS_NAME: &str = "checksums.sha256";

/// Render the checksum list.
pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8; 32])>) -> String {
    let mut s = String::new();
    for (path, digest) in entries {
        s.push_str(&hex::encode(digest));
        s.push_str("  ");
        s.push_str(path);
        s.push('\n');
    }
    s
}

/// Parse a checksum list (text or `*` binary mode markers accepted).
pub fn parse(text: &str) -> Result<Vec<(String, [u8; 32])>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || {
            Error::corrupted(format!(
                "{CHECKSUMS_NAME} line {}: not `<sha256>  <path>`",
                i + 1
            ))
        };
        if line.len() < 66 || !line.is_char_boundary(64) {
            return Err(bad());
        }
        let (hexpart, rest) = line.split_at(64);
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hexpart, &mut digest).map_err(|_| bad())?;
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(bad)?;
        out.push((path.to_string(), digest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = [0xabu8; 32];
        let text = render([("a/b.txt", &d), ("c", &d)]);
        assert_eq!(
            text.lines().next().unwrap(),
            format!("{}  a/b.txt", "ab".repeat(32))
        );
        let back = parse(&text).unwrap();
        assert_eq!(back, vec![("a/b.txt".to_string(), d), ("c".to_string(), d)]);
        assert!(parse("zz  x\n").is_err());
        assert!(parse(&format!("{} x", "ab".repeat(32))).is_err());
    }
}
