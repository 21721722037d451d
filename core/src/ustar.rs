//! tar headers as bri writes and accepts them: POSIX ustar, with pax extended headers (`x`)
//! for paths longer than 100 bytes and sizes or times that do not fit the octal fields.
//!
//! Header blocks are built and parsed with the `tar` crate's [`tar::Header`]; path rules,
//! pax records and what is refused are ours (see FORMAT.md "tar stream").

use crate::error::{Error, Result};
use tar::{EntryType, Header};

/// tar block size.
pub const BLOCK: usize = 512;
/// Longest member path accepted (bytes).
pub const MAX_PATH: usize = 4096;
/// Largest pax extended-header payload accepted.
pub const MAX_PAX: u64 = 64 * 1024;
/// Largest value of a ustar octal size/mtime field (11 octal digits).
const OCTAL11_MAX: u64 = 0o777_7777_7777;

/// Name of the pax extended header entries bri writes.
pub const PAX_NAME: &str = "././@PaxHeader";

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MemberKind {
    /// A regular file with content.
    File,
    /// A hard link to an earlier regular member of the same archive (no content of its own).
    Link { target: String },
    /// A directory (no content).
    Dir,
}

/// The metadata of one tar member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHeader {
    pub path: String,
    pub kind: MemberKind,
    pub size: u64,
    pub mode: u32,
    pub mtime: u64,
}

/// Check a member path: relative, `/`-separated, no empty, `.` or `..` components, no NUL,
/// valid UTF-8, at most [`MAX_PATH`] bytes. Returns the path unchanged when it is safe.
pub fn check_path(path: &str) -> Result<&str> {
    let refuse = |why: &str| Err(Error::unsafe_member(path, why));
    if path.is_empty() {
        return refuse("empty path");
    }
    if path.len() > MAX_PATH {
        return refuse("path longer than 4096 bytes");
    }
    if path.starts_with('/') {
        return refuse("absolute path");
    }
    if path.contains('\0') {
        return refuse("NUL byte in path");
    }
    if path.contains('\n') || path.contains('\r') {
        return refuse("line break in path (breaks checksums.sha256)");
    }
    if path.contains('\\') {
        return refuse("backslash in path (ambiguous on Windows)");
    }
    // Windows drive prefixes such as `C:` in the first component.
    let first = path.split('/').next().unwrap_or("");
    if first.len() >= 2 && first.as_bytes()[1] == b':' {
        return refuse("drive-letter path");
    }
    for comp in path.split('/') {
        match comp {
            "" => return refuse("empty path component (`//` or trailing `/`)"),
            "." => return refuse("`.` path component"),
            ".." => return refuse("`..` path component (path traversal)"),
            _ => {}
        }
    }
    Ok(path)
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    // "<len> <key>=<value>\n", where <len> counts the whole record including its own digits.
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

fn base_header(name: &[u8], kind: &MemberKind, size: u64, mode: u32, mtime: u64) -> Header {
    let mut h = Header::new_ustar();
    let raw = h.as_old_mut();
    let n = name.len().min(100);
    raw.name[..n].copy_from_slice(&name[..n]);
    h.set_mode(mode & 0o7777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size.min(OCTAL11_MAX));
    h.set_mtime(mtime.min(OCTAL11_MAX));
    match kind {
        MemberKind::File => h.set_entry_type(EntryType::Regular),
        MemberKind::Dir => h.set_entry_type(EntryType::Directory),
        MemberKind::Link { target } => {
            h.set_entry_type(EntryType::Link);
            let raw = h.as_old_mut();
            let t = target.as_bytes();
            let n = t.len().min(100);
            raw.linkname[..n].copy_from_slice(&t[..n]);
        }
    }
    h.set_cksum();
    h
}

/// Truncate to at most `max` bytes at a UTF-8 boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Encode the header block(s) of a member: an optional pax `x` entry (header + padded
/// records) and the ustar header. The content and its padding follow, written by the caller.
pub fn encode_header(m: &MemberHeader) -> Result<Vec<u8>> {
    check_path(&m.path)?;
    let dir_path;
    let path = if m.kind == MemberKind::Dir {
        dir_path = format!("{}/", m.path);
        dir_path.as_str()
    } else {
        m.path.as_str()
    };
    let mut pax = Vec::new();
    if path.len() > 100 {
        pax_record(&mut pax, "path", path);
    }
    if let MemberKind::Link { target } = &m.kind {
        check_path(target)?;
        if target.len() > 100 {
            pax_record(&mut pax, "linkpath", target);
        }
    }
    if m.size > OCTAL11_MAX {
        pax_record(&mut pax, "size", &m.size.to_string());
    }
    if m.mtime > OCTAL11_MAX {
        pax_record(&mut pax, "mtime", &m.mtime.to_string());
    }
    let mut out = Vec::with_capacity(BLOCK * 3 + pax.len());
    if !pax.is_empty() {
        let mut x = base_header(
            PAX_NAME.as_bytes(),
            &MemberKind::File,
            pax.len() as u64,
            0o644,
            0,
        );
        x.set_entry_type(EntryType::XHeader);
        x.set_cksum();
        out.extend_from_slice(x.as_bytes());
        out.extend_from_slice(&pax);
        out.resize(out.len() + padding(pax.len() as u64), 0);
    }
    let name = truncate_utf8(path, 100);
    let h = base_header(name.as_bytes(), &m.kind, m.size, m.mode, m.mtime);
    out.extend_from_slice(h.as_bytes());
    Ok(out)
}

/// Zero bytes needed after `len` content bytes to reach a block boundary.
pub fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// Overrides collected from a pax extended header.
#[derive(Debug, Default, Clone)]
pub struct PaxOverrides {
    pub path: Option<String>,
    pub linkpath: Option<String>,
    pub size: Option<u64>,
    pub mtime: Option<u64>,
}

/// Parse pax records (`"<len> <key>=<value>\n"...`). Unknown keys are ignored.
pub fn parse_pax(data: &[u8]) -> Result<PaxOverrides> {
    let bad = |why: &str| Error::corrupted(format!("pax extended header: {why}"));
    let mut o = PaxOverrides::default();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record without length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("record length is not a number"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad("record length does not match its content"));
        }
        let rec =
            std::str::from_utf8(&rest[sp + 1..len - 1]).map_err(|_| bad("record is not UTF-8"))?;
        let (k, v) = rec
            .split_once('=')
            .ok_or_else(|| bad("record without `=`"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| bad("number field is not a number"))
        };
        match k {
            "path" => o.path = Some(v.to_string()),
            "linkpath" => o.linkpath = Some(v.to_string()),
            "size" => o.size = Some(num(v)?),
            // Fractional seconds are allowed by pax; keep the integer part.
            "mtime" => o.mtime = Some(num(v.split('.').next().unwrap_or(v))?),
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(o)
}

/// What one 512-byte header block is.
#[derive(Debug)]
pub enum Block {
    /// An all-zero block (end-of-archive marker when two follow each other).
    Zero,
    /// A pax extended header for the next member, with its payload length.
    Pax { len: u64 },
    /// A member header (pax overrides already applied).
    Member(MemberHeader),
}

/// Parse one header block, applying `pax` (from a preceding `x` entry) if any.
pub fn parse_block(block: &[u8], pax: Option<&PaxOverrides>) -> Result<Block> {
    if block.len() != BLOCK {
        return Err(Error::invalid("tar header block must be 512 bytes"));
    }
    if block.iter().all(|&b| b == 0) {
        return Ok(Block::Zero);
    }
    let h = Header::from_byte_slice(block);
    let bad = |why: String| Error::corrupted(format!("tar header: {why}"));
    let magic = &block[257..263];
    if magic != b"ustar\0" && magic != b"ustar " {
        return Err(bad(
            "not a ustar header (bad magic); the data is not a tar stream".into(),
        ));
    }
    let stored = h
        .cksum()
        .map_err(|e| bad(format!("checksum field unreadable: {e}")))?;
    let unsigned: u32 = block[..148]
        .iter()
        .chain([b' '; 8].iter())
        .chain(block[156..].iter())
        .map(|&b| u32::from(b))
        .sum();
    if stored != unsigned {
        return Err(bad(format!(
            "header checksum {stored} does not match its bytes ({unsigned})"
        )));
    }
    let raw_path = String::from_utf8(h.path_bytes().into_owned())
        .map_err(|_| bad("member path is not UTF-8".into()))?;
    let size_field = h
        .size()
        .map_err(|e| bad(format!("size field unreadable: {e}")))?;
    let ty = h.entry_type();
    if ty == EntryType::XHeader {
        if size_field > MAX_PAX {
            return Err(Error::limit("a pax extended header", size_field, MAX_PAX));
        }
        return Ok(Block::Pax { len: size_field });
    }
    let path = pax.and_then(|p| p.path.clone()).unwrap_or(raw_path);
    let refuse = |why: &str| Err(Error::unsafe_member(path.clone(), why));
    let kind = match ty {
        EntryType::Regular | EntryType::Continuous => MemberKind::File,
        EntryType::Directory => MemberKind::Dir,
        EntryType::Link => {
            let target = match pax.and_then(|p| p.linkpath.clone()) {
                Some(t) => t,
                None => String::from_utf8(
                    h.link_name_bytes()
                        .map(|c| c.into_owned())
                        .unwrap_or_default(),
                )
                .map_err(|_| bad("link target is not UTF-8".into()))?,
            };
            MemberKind::Link { target }
        }
        EntryType::Symlink => return refuse("symbolic links are not extracted"),
        EntryType::Char | EntryType::Block => return refuse("device files are not extracted"),
        EntryType::Fifo => return refuse("FIFOs are not extracted"),
        EntryType::XGlobalHeader => return refuse("global pax headers are not supported"),
        EntryType::GNULongName | EntryType::GNULongLink => {
            return refuse("GNU long-name entries are not supported (bri writes pax)")
        }
        other => {
            return Err(Error::unsafe_member(
                path.clone(),
                format!("unsupported tar entry type {:?}", other.as_byte() as char),
            ))
        }
    };
    let size = pax.and_then(|p| p.size).unwrap_or(size_field);
    let mtime = match pax.and_then(|p| p.mtime) {
        Some(t) => t,
        None => h
            .mtime()
            .map_err(|e| bad(format!("mtime field unreadable: {e}")))?,
    };
    let mode = h
        .mode()
        .map_err(|e| bad(format!("mode field unreadable: {e}")))?
        & 0o7777;
    let path = match kind {
        MemberKind::Dir => path.strip_suffix('/').unwrap_or(&path).to_string(),
        _ => path,
    };
    check_path(&path)?;
    if let MemberKind::Link { target } = &kind {
        check_path(target)?;
    }
    if kind != MemberKind::File && size != 0 {
        return Err(bad(format!(
            "{path}: link or directory with a size of {size}"
        )));
    }
    Ok(Block::Member(MemberHeader {
        path,
        kind,
        size,
        mode,
        mtime,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> MemberHeader {
        MemberHeader {
            path: path.into(),
            kind: MemberKind::File,
            size,
            mode: 0o644,
            mtime: 1_700_000_000,
        }
    }

    #[test]
    fn short_path_is_one_block_and_round_trips() {
        let m = file("wal/000001.wal", 1234);
        let b = encode_header(&m).unwrap();
        assert_eq!(b.len(), 512);
        match parse_block(&b, None).unwrap() {
            Block::Member(p) => assert_eq!(p, m),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_path_uses_pax() {
        let long = format!("{}/f.txt", "d".repeat(150));
        let m = file(&long, 5);
        let b = encode_header(&m).unwrap();
        assert_eq!(b.len(), 512 * 3);
        let len = match parse_block(&b[..512], None).unwrap() {
            Block::Pax { len } => len,
            other => panic!("{other:?}"),
        };
        let pax = parse_pax(&b[512..512 + len as usize]).unwrap();
        match parse_block(&b[1024..], Some(&pax)).unwrap() {
            Block::Member(p) => assert_eq!(p, m),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let mut v = Vec::new();
        pax_record(&mut v, "path", &"x".repeat(95));
        let s = String::from_utf8(v).unwrap();
        let n: usize = s.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, s.len());
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in [
            "",
            "/etc/x",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/",
            "C:/x",
            "a\\b",
            "a\0b",
        ] {
            assert!(check_path(p).is_err(), "{p:?} accepted");
        }
        for p in ["a", "a/b.c", "wal/000001.wal", ".hidden", "..x", "x.."] {
            assert!(check_path(p).is_ok(), "{p:?} refused");
        }
    }

    #[test]
    fn symlinks_and_devices_are_refused() {
        for ty in [
            EntryType::Symlink,
            EntryType::Char,
            EntryType::Block,
            EntryType::Fifo,
        ] {
            let mut h = Header::new_ustar();
            h.set_path("x").unwrap();
            h.set_entry_type(ty);
            h.set_size(0);
            h.set_cksum();
            let e = parse_block(h.as_bytes(), None).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidInput, "{ty:?}");
        }
    }

    #[test]
    fn bad_checksum_is_corruption() {
        let mut b = encode_header(&file("a", 1)).unwrap();
        b[0] = b'b';
        assert_eq!(
            parse_block(&b, None).unwrap_err().code(),
            crate::ErrorCode::ArchiveCorrupted
        );
    }
}
