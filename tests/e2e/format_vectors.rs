//! FORMAT.md test vectors: small archives committed under `tests/vectors/`, rebuilt here from
//! their recipe and compared byte for byte, then read back member by member with both codecs.
//!
//! Set `BRI_REGENERATE_VECTORS=1` to rewrite the files after an intended format change (and
//! say why in the commit).

use bri_core::codec::{Codec, NativeZstd, PureZstd};
use bri_core::reader::{open_bytes, read_member};
use bri_core::seek;
use bri_core::verify::verify_bytes;
use bri_core::writer::{archive_to_vec, MemberMeta, WriterOptions, MIN_FRAME_SIZE};
use std::path::PathBuf;

struct Vector {
    file: &'static str,
    codec: &'static dyn Codec,
    level: i32,
    redundancy: u8,
    members: Vec<(MemberMeta, Vec<u8>)>,
}

fn split_content() -> Vec<u8> {
    // 100 KiB of deterministic, moderately compressible bytes: crosses a 64 KiB frame.
    (0..100 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8 & 0x3f | 0x40)
        .collect()
}

fn vectors() -> Vec<Vector> {
    let t = 1_707_138_318; // 2024-02-05T13:05:18Z
    vec![
        Vector {
            file: "v1-basic.bri.zst",
            codec: &NativeZstd,
            level: 3,
            redundancy: 0,
            members: vec![
                (
                    MemberMeta::file("hello.txt", 6, 0o644, t),
                    b"hello\n".to_vec(),
                ),
                (
                    MemberMeta::file("data/numbers.txt", 10, 0o600, t + 1),
                    b"1\n2\n3\n4\n5\n".to_vec(),
                ),
            ],
        },
        Vector {
            file: "v1-split-link-pax.bri.zst",
            codec: &NativeZstd,
            level: 1,
            redundancy: 10,
            members: vec![
                (
                    MemberMeta::file("big.bin", 100 * 1024, 0o644, t),
                    split_content(),
                ),
                (
                    MemberMeta::link("copy-of-big.bin", "big.bin", 0o644, t),
                    Vec::new(),
                ),
                (
                    MemberMeta::file(
                        &format!("{}/long-name.txt", "nested-directory".repeat(7)),
                        4,
                        0o644,
                        t,
                    ),
                    b"pax\n".to_vec(),
                ),
                (MemberMeta::file("empty", 0, 0o644, t), Vec::new()),
            ],
        },
        Vector {
            file: "v1-ruzstd.bri.zst",
            codec: &PureZstd,
            level: 1,
            redundancy: 0,
            members: vec![(
                MemberMeta::file("wal/000000.wal", 42, 0o644, t),
                b"1707138318946|1a2b3c4d|{\"action\":\"SET\"}\n\n\n".to_vec(),
            )],
        },
    ]
}

fn build(v: &Vector) -> Vec<u8> {
    let mut opts = WriterOptions::files("arc_20240205T130518Z-00000001", 1_707_138_318_946);
    opts.level = v.level;
    opts.frame_size = MIN_FRAME_SIZE;
    opts.codec = v.codec.name().to_string();
    opts.redundancy_percent = v.redundancy;
    let members: Vec<(MemberMeta, &[u8])> = v
        .members
        .iter()
        .map(|(m, c)| (m.clone(), c.as_slice()))
        .collect();
    archive_to_vec(opts, &members, v.codec).unwrap().0
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

#[test]
fn vectors_are_byte_identical_to_the_writer_output() {
    for v in vectors() {
        let built = build(&v);
        let path = dir().join(v.file);
        if std::env::var_os("BRI_REGENERATE_VECTORS").is_some() {
            std::fs::write(&path, &built).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(built.len(), committed.len(), "{}: length differs", v.file);
        assert!(
            built == committed,
            "{}: bytes differ from the committed vector",
            v.file
        );
    }
}

#[test]
fn vectors_read_back_with_both_codecs() {
    for v in vectors() {
        let file = std::fs::read(dir().join(v.file)).unwrap();
        for codec in [&NativeZstd as &dyn Codec, &PureZstd] {
            let (index, manifest) = open_bytes(&file, codec).unwrap();
            assert_eq!(manifest.archive_id, "arc_20240205T130518Z-00000001");
            assert_eq!(manifest.created_at, "2024-02-05T13:05:18.946Z");
            assert_eq!(manifest.compression.codec, v.codec.name());
            for (m, content) in &v.members {
                let want = match &m.kind {
                    bri_core::ustar::MemberKind::Link { target } => v
                        .members
                        .iter()
                        .find(|(x, _)| &x.path == target)
                        .unwrap()
                        .1
                        .clone(),
                    _ => content.clone(),
                };
                assert_eq!(
                    read_member(&file, &index, &manifest, &m.path, codec).unwrap(),
                    want,
                    "{} {}",
                    v.file,
                    m.path
                );
            }
            assert!(verify_bytes(&file, codec).unwrap().ok);
        }
        let parity = bri_core::parity::verify(&file);
        if v.redundancy > 0 {
            assert_eq!(
                parity.state,
                bri_core::parity::OverallState::Intact,
                "{}",
                v.file
            );
            // One damaged byte in the data region is located and repaired byte-identical.
            let mut bad = file.clone();
            bad[100] ^= 0x01;
            assert_eq!(
                bri_core::parity::verify(&bad).state,
                bri_core::parity::OverallState::Repairable
            );
            assert!(
                bri_core::parity::repair(&bad).unwrap() == file,
                "{}",
                v.file
            );
        } else {
            assert_eq!(
                parity.state,
                bri_core::parity::OverallState::IndexLost,
                "{}",
                v.file
            );
        }
    }
}

#[test]
fn byte_layout_matches_format_md() {
    let file = std::fs::read(dir().join("v1-basic.bri.zst")).unwrap();
    // The file starts with a zstd frame (magic FD2FB528, little-endian).
    assert_eq!(&file[..4], &[0x28, 0xB5, 0x2F, 0xFD]);
    // It ends with the seekable footer: frame count, descriptor 0x80, magic 8F92EAB1.
    let n = file.len();
    assert_eq!(&file[n - 4..], &[0xB1, 0xEA, 0x92, 0x8F]);
    assert_eq!(file[n - 5], 0x80);
    let frames = u32::from_le_bytes(file[n - 9..n - 5].try_into().unwrap());
    // hello.txt, data/numbers.txt, checksums.sha256, manifest.json: one frame each.
    assert_eq!(frames, 4);
    let table_len = 8 + 12 * frames as usize + 9;
    let t = &file[n - table_len..];
    assert_eq!(&t[..4], &seek::SEEK_TABLE_MAGIC.to_le_bytes());
    assert_eq!(
        u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
        table_len - 8
    );
    // Entry 0: hello.txt's frame decodes to one 512-byte header + 512 bytes (6 bytes padded).
    assert_eq!(u32::from_le_bytes(t[12..16].try_into().unwrap()), 1024);
    let c0 = u32::from_le_bytes(t[8..12].try_into().unwrap()) as usize;
    let tar0 = NativeZstd.decompress(&file[..c0], 1024).unwrap();
    assert_eq!(&tar0[..9], b"hello.txt");
    assert_eq!(&tar0[257..263], b"ustar\0");
    assert_eq!(&tar0[512..518], b"hello\n");
    assert_eq!(
        u32::from_le_bytes(t[16..20].try_into().unwrap()),
        seek::frame_checksum(&tar0)
    );
}

#[test]
fn native_and_pure_encoders_are_read_by_either_decoder() {
    let content = split_content();
    for enc in [&NativeZstd as &dyn Codec, &PureZstd] {
        let v = Vector {
            file: "",
            codec: enc,
            level: 3,
            redundancy: 10,
            members: vec![(
                MemberMeta::file("x", content.len() as u64, 0o644, 1),
                content.clone(),
            )],
        };
        let file = build(&v);
        for dec in [&NativeZstd as &dyn Codec, &PureZstd] {
            let (index, manifest) = open_bytes(&file, dec).unwrap();
            assert_eq!(
                read_member(&file, &index, &manifest, "x", dec).unwrap(),
                content
            );
            assert!(
                verify_bytes(&file, dec).unwrap().ok,
                "{} -> {}",
                enc.name(),
                dec.name()
            );
        }
    }
}
