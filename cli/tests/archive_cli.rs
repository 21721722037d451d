//! The `bri archive` commands, run as a user runs them: the real binary, real files, and the
//! real `zstd`, `tar` and `sha256sum` programs to prove the format is standard.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bri(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bri"))
        .args(args)
        .output()
        .expect("run bri")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bri-cli-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn require_tool(name: &str) {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{name}` is needed by this test (.ci/run installs it with apt-get)"
    );
}

/// A tree with nested dirs, an empty file, binary data, a file larger than a frame, a path
/// longer than 100 bytes (pax) and a non-ASCII name.
fn make_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let long_dir = format!("deep/{}", "sub-directory-".repeat(8));
    let mut big = Vec::new();
    for i in 0..60_000u32 {
        big.extend_from_slice(
            format!(
                "{}|{:08x}|{{\"action\":\"SET\",\"target\":\"USER_{}\"}}\n",
                1_707_000_000_000u64 + i as u64,
                i.wrapping_mul(2654435761),
                i % 977
            )
            .as_bytes(),
        );
    }
    let files = vec![
        ("a.txt".to_string(), b"hello\n".to_vec()),
        ("empty".to_string(), Vec::new()),
        (
            "bin/random.bin".to_string(),
            (0..70_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        ("wal/000000.wal".to_string(), big),
        (
            format!("{long_dir}/file-with-a-long-path.txt"),
            b"pax path\n".to_vec(),
        ),
        (
            "ünïcødé/naïve.md".to_string(),
            "# héllo\n".as_bytes().to_vec(),
        ),
    ];
    for (p, c) in &files {
        let f = root.join(p);
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(f, c).unwrap();
    }
    files
}

fn create(src: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "archive",
        "create-files",
        src.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--frame-size",
        "65536",
    ];
    args.extend_from_slice(extra);
    let o = bri(&args);
    assert!(
        o.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn standard_tools_read_the_archive() {
    for t in ["zstd", "tar", "sha256sum"] {
        require_tool(t);
    }
    let d = tmp("std");
    let src = d.join("src");
    let files = make_tree(&src);
    let arc = d.join("a.bri.zst");
    create(&src, &arc, &["--level", "5"]);
    let x = d.join("x");
    fs::create_dir_all(&x).unwrap();
    let sh = format!(
        "zstd -dc '{}' | tar -xf - -C '{}'",
        arc.display(),
        x.display()
    );
    let o = Command::new("sh").arg("-c").arg(&sh).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (p, c) in &files {
        assert_eq!(&fs::read(x.join(p)).unwrap(), c, "{p}");
    }
    let o = Command::new("sha256sum")
        .arg("-c")
        .arg("checksums.sha256")
        .current_dir(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).matches(": OK").count(),
        files.len()
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(x.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "bri-archive");
    // zstd's own integrity test passes (frame checksums) and ignores the skippable seek table.
    assert!(Command::new("zstd")
        .arg("-tq")
        .arg(&arc)
        .status()
        .unwrap()
        .success());
}

#[test]
fn inspect_verify_extract_round_trip() {
    let d = tmp("rt");
    let src = d.join("src");
    let files = make_tree(&src);
    let arc = d.join("a.bri.zst");
    let o = create(&src, &arc, &["--json", "--name", "demo"]);
    let created = json(&o);
    assert_eq!(created["members"], files.len() as u64 + 1);
    assert_eq!(created["verified"], true);

    let o = bri(&["archive", "inspect", arc.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let v = json(&o);
    let m = &v["manifest"];
    assert_eq!(m["name"], "demo");
    assert_eq!(m["kind"], "files");
    let members = m["members"].as_array().unwrap();
    let wal = members
        .iter()
        .find(|e| e["path"] == "wal/000000.wal")
        .unwrap();
    assert_eq!(wal["size"], files[3].1.len() as u64);
    assert!(
        wal["frameCount"].as_u64().unwrap() > 1,
        "large member split into frames"
    );
    assert!(wal["compressedSize"].as_u64().unwrap() < wal["size"].as_u64().unwrap() / 3);
    assert_eq!(members.last().unwrap()["path"], "checksums.sha256");
    let text = bri(&["archive", "inspect", arc.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("wal/000000.wal"));

    let o = bri(&["archive", "verify", arc.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&o)["ok"], true);

    let x = d.join("x");
    let o = bri(&[
        "archive",
        "extract",
        arc.to_str().unwrap(),
        "--to",
        x.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (p, c) in &files {
        assert_eq!(&fs::read(x.join(p)).unwrap(), c, "{p}");
        let want = fs::metadata(src.join(p)).unwrap().modified().unwrap();
        let got = fs::metadata(x.join(p)).unwrap().modified().unwrap();
        assert_eq!(
            want.duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            got.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            "mtime of {p}"
        );
    }
    // A non-empty target is refused; one member can be extracted alone.
    let o = bri(&[
        "archive",
        "extract",
        arc.to_str().unwrap(),
        "--to",
        x.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let y = d.join("y");
    let o = bri(&[
        "archive",
        "extract",
        arc.to_str().unwrap(),
        "--to",
        y.to_str().unwrap(),
        "--member",
        "a.txt",
        "--json",
    ]);
    assert!(o.status.success());
    assert_eq!(json(&o)["files"], 1);
    assert_eq!(fs::read(y.join("a.txt")).unwrap(), b"hello\n");
    assert!(!y.join("empty").exists());
    // Refuses to overwrite an archive without --force.
    let o = bri(&[
        "archive",
        "create-files",
        src.to_str().unwrap(),
        "-o",
        arc.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
}

/// Byte range of a member's frames in the file, from `inspect --json`.
fn member_range(arc: &Path, path: &str) -> (u64, u64) {
    let v = json(&bri(&[
        "archive",
        "inspect",
        arc.to_str().unwrap(),
        "--json",
    ]));
    let members = v["manifest"]["members"].as_array().unwrap().clone();
    let before: u64 = members
        .iter()
        .take_while(|e| e["path"] != path)
        .map(|e| e["compressedSize"].as_u64().unwrap())
        .sum();
    let e = members.iter().find(|e| e["path"] == path).unwrap();
    (before, before + e["compressedSize"].as_u64().unwrap())
}

#[test]
fn verify_names_the_damaged_member_and_repair_restores_it() {
    let d = tmp("dmg");
    let src = d.join("src");
    make_tree(&src);
    let arc = d.join("a.bri.zst");
    create(&src, &arc, &[]);
    let original = fs::read(&arc).unwrap();
    let (start, end) = member_range(&arc, "wal/000000.wal");
    let mut bytes = original.clone();
    bytes[((start + end) / 2) as usize] ^= 0xff;
    let bad = d.join("bad.bri.zst");
    fs::write(&bad, &bytes).unwrap();
    let o = bri(&["archive", "verify", bad.to_str().unwrap(), "--json"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "damaged but repairable archives exit 3"
    );
    let r = json(&o);
    assert_eq!(r["ok"], false);
    assert_eq!(r["state"], "repairable");
    let damaged: Vec<&str> = r["content"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["ok"] == false)
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(damaged, ["wal/000000.wal"]);
    let stripes = r["parity"]["stripes"].as_array().unwrap();
    assert_eq!(
        stripes
            .iter()
            .filter(|s| s["state"] == "repairable")
            .count(),
        1
    );
    let human = bri(&["archive", "verify", bad.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("repairable"));
    // --quick checks every byte against the parity shard hashes without decompressing.
    let q = bri(&[
        "archive",
        "verify",
        "--quick",
        bad.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(q.status.code(), Some(3));
    let qv = json(&q);
    assert_eq!(qv["quick"], true);
    assert_eq!(qv["content"]["bytesDecoded"], 0);
    assert_eq!(
        bri(&["archive", "verify", "--quick", arc.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    // Extraction of damaged data stops with ARCHIVE_CORRUPTED, and writes no damaged file.
    let x = d.join("x");
    let o = bri(&[
        "archive",
        "extract",
        bad.to_str().unwrap(),
        "--to",
        x.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(json(&o)["error"]["code"], "ARCHIVE_CORRUPTED");
    assert!(!x.join("wal/000000.wal").exists());
    // Repair to another file, then in place: both byte-identical to the original.
    let fixed = d.join("fixed.bri.zst");
    let o = bri(&[
        "archive",
        "repair",
        bad.to_str().unwrap(),
        "-o",
        fixed.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["shardsRebuilt"], 1);
    assert!(fs::read(&fixed).unwrap() == original);
    assert!(
        fs::read(&bad).unwrap() == bytes,
        "-o leaves the damaged input untouched"
    );
    let o = bri(&["archive", "repair", bad.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(fs::read(&bad).unwrap() == original);
    assert_eq!(
        bri(&["archive", "verify", bad.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let o = bri(&["archive", "repair", bad.to_str().unwrap(), "--json"]);
    assert_eq!(json(&o)["alreadyIntact"], true);
}

#[test]
fn parity_tail_and_truncation_damage_is_repaired() {
    let d = tmp("tail");
    let src = d.join("src");
    make_tree(&src);
    let arc = d.join("a.bri.zst");
    create(&src, &arc, &["--redundancy", "20"]);
    let original = fs::read(&arc).unwrap();
    let n = original.len();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("seek table", {
            let mut b = original.clone();
            for x in &mut b[n - 30..n - 10] {
                *x = 0;
            }
            b
        }),
        ("last parity bytes", {
            let mut b = original.clone();
            b[n - 200] ^= 0x40;
            b
        }),
        ("truncated by 64 bytes", original[..n - 64].to_vec()),
        ("appended garbage", {
            let mut b = original.clone();
            b.extend_from_slice(b"garbage");
            b
        }),
    ];
    for (name, bytes) in cases {
        let bad = d.join("bad.bri.zst");
        fs::write(&bad, &bytes).unwrap();
        let o = bri(&["archive", "verify", bad.to_str().unwrap(), "--json"]);
        assert_eq!(
            o.status.code(),
            Some(3),
            "{name}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let o = bri(&["archive", "repair", bad.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            fs::read(&bad).unwrap() == original,
            "{name}: not byte-identical"
        );
    }
}

#[test]
fn damage_beyond_redundancy_is_reported_never_guessed() {
    let d = tmp("beyond");
    let src = d.join("src");
    make_tree(&src);
    // No parity at all: any damage is beyond repair, and says which member.
    let arc = d.join("noparity.bri.zst");
    create(&src, &arc, &["--redundancy", "0"]);
    let (start, end) = member_range(&arc, "bin/random.bin");
    let mut bytes = fs::read(&arc).unwrap();
    bytes[((start + end) / 2) as usize] ^= 1;
    fs::write(&arc, &bytes).unwrap();
    let o = bri(&["archive", "verify", arc.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(4));
    let r = json(&o);
    assert_eq!(r["state"], "beyondRepair");
    let o = bri(&["archive", "repair", arc.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(json(&o)["error"]["code"], "REPAIR_IMPOSSIBLE");
    assert!(
        fs::read(&arc).unwrap() == bytes,
        "a failed repair changes nothing"
    );
    // With parity, zeroing far more than the redundancy: beyond repair, lost ranges named.
    let arc = d.join("p.bri.zst");
    create(&src, &arc, &[]);
    let mut bytes = fs::read(&arc).unwrap();
    let third = bytes.len() / 3;
    for x in &mut bytes[..third] {
        *x = 0;
    }
    fs::write(&arc, &bytes).unwrap();
    let o = bri(&["archive", "verify", arc.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(4));
    let r = json(&o);
    assert!(!r["parity"]["lost"].as_array().unwrap().is_empty());
    assert!(!r["lostMembers"].as_array().unwrap().is_empty());
    let o = bri(&["archive", "repair", arc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    assert!(fs::read(&arc).unwrap() == bytes);
}

#[test]
fn bad_input_gets_a_stable_code() {
    let d = tmp("bad");
    let not = d.join("not.bri.zst");
    fs::write(&not, b"this is not an archive at all, just text").unwrap();
    let o = bri(&["archive", "inspect", not.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(json(&o)["error"]["code"], "INVALID_INPUT");
    let o = bri(&[
        "archive",
        "verify",
        d.join("missing.bri.zst").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(json(&o)["error"]["code"], "ARCHIVE_NOT_FOUND");
    let empty = d.join("empty.bri.zst");
    fs::write(&empty, b"").unwrap();
    assert_eq!(
        bri(&["archive", "inspect", empty.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    let o = bri(&[
        "archive",
        "create-files",
        d.to_str().unwrap(),
        "-o",
        d.join("o.bri.zst").to_str().unwrap(),
        "--level",
        "23",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("INVALID_INPUT"));
    // Truncated archives: every cut gives an error code, never a crash.
    let src = d.join("src");
    make_tree(&src);
    let arc = d.join("a.bri.zst");
    create(&src, &arc, &[]);
    let bytes = fs::read(&arc).unwrap();
    for cut in [1usize, 9, 100, bytes.len() / 2, bytes.len() - 1] {
        let t = d.join("t.bri.zst");
        fs::write(&t, &bytes[..bytes.len() - cut]).unwrap();
        let o = bri(&["archive", "verify", t.to_str().unwrap()]);
        let code = o.status.code().expect("exited, not killed by a signal");
        assert!(
            (2..=4).contains(&code),
            "cut {cut}: exit {code}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

// ---- hostile archives, crafted byte by byte (independently of bri's own writer) ----

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}", v, w = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
}

fn raw_header(name: &str, typeflag: u8, size: u64, link: &str) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

/// An archive whose only member has the given header, and whose manifest lists it as
/// `listed` (so the manifest itself passes, and the tar header is what must be refused).
fn hostile(header: Vec<u8>, content: &[u8], listed: &str) -> Vec<u8> {
    use bri_core::codec::{Codec, NativeZstd};
    use bri_core::seek::{encode, frame_checksum, SeekEntry};
    let mut member = header;
    member.extend_from_slice(content);
    member.resize(member.len().div_ceil(512) * 512, 0);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content));
    let manifest = serde_json::json!({
        "format": "bri-archive", "formatVersion": 1, "archiveId": "arc_hostile", "kind": "files",
        "createdAt": "2024-01-01T00:00:00.000Z", "createdAtMs": 0, "writer": "test",
        "compression": {"algorithm": "zstd", "level": 3, "frameSize": 65536, "codec": "zstd"},
        "integrity": {"algorithm": "sha256", "frameChecksum": "xxh64-low32"},
        "members": [{"path": listed, "type": "file", "size": content.len(), "mode": 420, "mtime": 1, "sha256": sha,
                     "tarOffset": 0, "firstFrame": 0, "frameCount": 1, "compressedSize": 0}],
        "totals": {"members": 1, "contentBytes": content.len(), "compressedBytes": 0, "frames": 1}
    });
    let json = serde_json::to_vec(&manifest).unwrap();
    let mut mframe = raw_header("manifest.json", b'0', json.len() as u64, "");
    mframe.extend_from_slice(&json);
    mframe.resize(mframe.len().div_ceil(512) * 512 + 1024, 0);
    let mut file = Vec::new();
    let mut entries = Vec::new();
    for raw in [member, mframe] {
        let c = NativeZstd.compress(&raw, 3).unwrap();
        entries.push(SeekEntry {
            compressed: c.len() as u32,
            decompressed: raw.len() as u32,
            checksum: frame_checksum(&raw),
        });
        file.extend_from_slice(&c);
    }
    file.extend_from_slice(&encode(&entries));
    file
}

#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    let d = tmp("hostile");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "traversal",
            hostile(raw_header("../escaped", b'0', 4, ""), b"evil", "escaped"),
        ),
        (
            "absolute",
            hostile(
                raw_header("/tmp/escaped-abs", b'0', 4, ""),
                b"evil",
                "escaped-abs",
            ),
        ),
        (
            "symlink",
            hostile(raw_header("link", b'2', 0, "/etc/passwd"), b"", "link"),
        ),
        (
            "device",
            hostile(raw_header("dev", b'3', 0, ""), b"", "dev"),
        ),
        (
            "hardlink-out",
            hostile(raw_header("hl", b'1', 0, "../../etc/passwd"), b"", "hl"),
        ),
        (
            "hardlink-unknown",
            hostile(raw_header("hl", b'1', 0, "nothing"), b"", "hl"),
        ),
        (
            "manifest-traversal",
            hostile(raw_header("ok", b'0', 4, ""), b"evil", "../ok"),
        ),
    ];
    for (name, bytes) in cases {
        let arc = d.join(format!("{name}.bri.zst"));
        fs::write(&arc, &bytes).unwrap();
        let to = d.join(format!("out-{name}"));
        let o = bri(&[
            "archive",
            "extract",
            arc.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(json(&o)["error"]["code"], "INVALID_INPUT", "{name}");
        let v = bri(&["archive", "verify", arc.to_str().unwrap()]);
        assert_ne!(v.status.code(), Some(0), "{name} verified as intact");
        // Nothing was written outside the target, and nothing but empty dirs inside it.
        assert!(!d.join("escaped").exists() && !Path::new("/tmp/escaped-abs").exists());
        let inside: Vec<_> = walk(&to);
        assert!(inside.is_empty(), "{name}: wrote {inside:?}");
    }
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
