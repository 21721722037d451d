//! Self-healing on real archives written by the archive writer (issue 3's "must hold"):
//! every single damaged shard anywhere in the file is repaired byte-identical; seeded random
//! campaigns of flips, zeroed 4 KiB blocks and truncated tails within the redundancy are
//! repaired byte-identical; beyond it, the damage is reported and repair refuses.

use bri_core::codec::NativeZstd;
use bri_core::parity::{self, OverallState};
use bri_core::verify::verify_bytes;
use bri_core::writer::{archive_to_vec, MemberMeta, WriterOptions, MIN_FRAME_SIZE};
use rand::{Rng, SeedableRng};

fn wal_like(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = Vec::new();
    let mut t = 1_707_138_318_946u64;
    while v.len() < n {
        t += rng.gen_range(0..5000);
        v.extend_from_slice(
            format!(
                "{t}|{:08x}|{{\"action\":\"SET\",\"target\":\"USER_{}\",\"value\":\"{{\\\"name\\\":\\\"u{}\\\",\\\"score\\\":{}}}\"}}\n",
                rng.gen::<u32>(),
                rng.gen_range(0..500),
                rng.gen_range(0..500),
                rng.gen_range(0..100_000)
            )
            .as_bytes(),
        );
    }
    v.truncate(n);
    v
}

fn archive(redundancy: u8, size: usize) -> Vec<u8> {
    let a = wal_like(size, 1);
    let b = wal_like(size / 3, 2);
    let mut opts = WriterOptions::files("arc_parity_test", 1_707_138_318_946);
    opts.frame_size = MIN_FRAME_SIZE;
    opts.redundancy_percent = redundancy;
    opts.size_hint = size as u64 / 3;
    let members = vec![
        (
            MemberMeta::file("wal/000000.wal", a.len() as u64, 0o644, 1),
            &a[..],
        ),
        (
            MemberMeta::file("wal/000001.wal", b.len() as u64, 0o644, 2),
            &b[..],
        ),
        (MemberMeta::file("snapshot.jss", 2, 0o644, 3), &b"{}"[..]),
    ];
    archive_to_vec(opts, &members, &NativeZstd).unwrap().0
}

fn assert_heals(original: &[u8], damaged: &[u8], what: &str) {
    let report = parity::verify(damaged);
    assert_eq!(report.state, OverallState::Repairable, "{what}: {report:?}");
    let fixed = parity::repair(damaged).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(fixed == original, "{what}: repair is not byte-identical");
}

#[test]
fn every_single_damaged_shard_anywhere_is_repaired() {
    let original = archive(10, 48 * 1024);
    assert!(verify_bytes(&original, &NativeZstd).unwrap().ok);
    assert_eq!(parity::verify(&original).state, OverallState::Intact);
    let index = parity::locate(&original).unwrap();
    let shard = index.layout().shard_size as usize;
    // Walk the whole file (data, index copies, parity frames, seek table, manifest) in
    // shard-sized windows and destroy each window in turn.
    let mut windows = 0;
    let mut at = 0;
    while at < original.len() {
        let end = (at + shard).min(original.len());
        let mut bad = original.to_vec();
        for x in &mut bad[at..end] {
            *x = !*x;
        }
        assert_heals(&original, &bad, &format!("window {at}..{end}"));
        windows += 1;
        at += shard;
    }
    assert!(windows > 20, "the walk covered {windows} windows");
}

#[test]
fn seeded_random_campaign_within_redundancy() {
    let original = archive(10, 160 * 1024);
    let len = original.len();
    let index = parity::locate(&original).unwrap();
    let shard = index.layout().shard_size as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xB41);
    for trial in 0..300 {
        let mut bad = original.clone();
        let kind = trial % 4;
        match kind {
            // A few random bit flips (each hits at most one shard).
            0 => {
                for _ in 0..rng.gen_range(1..=3) {
                    let p = rng.gen_range(0..len);
                    bad[p] ^= 1 << rng.gen_range(0..8);
                }
            }
            // One zeroed 4 KiB-aligned block, as a bad disk sector would leave.
            1 => {
                let start = rng.gen_range(0..len / 4096) * 4096;
                for x in &mut bad[start..(start + 4096).min(len)] {
                    *x = 0;
                }
            }
            // An overwritten run of up to one shard.
            2 => {
                let start = rng.gen_range(0..len - 1);
                let n = rng.gen_range(1..=shard).min(len - start);
                for x in &mut bad[start..start + n] {
                    *x = rng.gen();
                }
            }
            // A truncated tail (a cut-off upload) of up to 200 bytes.
            _ => bad.truncate(len - rng.gen_range(1..=200)),
        }
        if bad == original {
            continue;
        }
        assert_heals(&original, &bad, &format!("trial {trial} kind {kind}"));
    }
}

#[test]
fn beyond_redundancy_is_reported_never_silently_wrong() {
    let original = archive(10, 160 * 1024);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for trial in 0..40 {
        let mut bad = original.clone();
        // Destroy a third of the data region at a random place: far more than 10%.
        let n = original.len() / 3;
        let start = rng.gen_range(0..original.len() / 2);
        for x in &mut bad[start..start + n] {
            *x = rng.gen();
        }
        let report = parity::verify(&bad);
        match report.state {
            OverallState::BeyondRepair => {
                assert!(!report.lost.is_empty(), "trial {trial}: lost ranges named");
                assert!(
                    parity::repair(&bad).is_err(),
                    "trial {trial}: repair must refuse"
                );
            }
            OverallState::IndexLost => assert!(parity::repair(&bad).is_err()),
            other => panic!("trial {trial}: {other:?} for a third of the file destroyed"),
        }
    }
}

#[test]
fn zstd_ignores_the_parity_frames() {
    let file = archive(10, 48 * 1024);
    // libzstd's streaming decoder (what `zstd -d` uses) skips the parity, index and seek
    // table frames and yields exactly the tar stream of the data frames.
    let mut d = zstd::stream::Decoder::new(&file[..]).unwrap();
    let mut streamed = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut streamed).unwrap();
    let (index, _) = bri_core::reader::open_bytes(&file, &NativeZstd).unwrap();
    let mut tar = Vec::new();
    for (i, f) in index.data_frames().iter().enumerate() {
        let r = f.range();
        tar.extend(
            index
                .decode_frame(i, &file[r.start as usize..r.end as usize], &NativeZstd)
                .unwrap(),
        );
    }
    assert!(
        index.frames.len() > index.data_frames().len() + 2,
        "parity frames present"
    );
    assert!(streamed == tar);
}
