//! End-to-end tests of the parity layer on synthetic files: a data region of arbitrary bytes
//! cut into "frames", the parity frames, both index copies and the seek table.
//!
//! The campaigns compare every verdict with a ground truth computed from the byte-wise diff
//! between the original and the damaged file, so a report that locates damage wrongly, a
//! repair that should have worked, or an output that differs from the original all fail.

use super::format::{IndexHeader, END_MARKER_LEN, PARITY_FRAME_HEADER_LEN};
use super::*;
use crate::seek::SeekEntry;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Built {
    file: Vec<u8>,
    index: ParityIndex,
    data_frames: Vec<SeekEntry>,
}

/// Cut `data` into frames of random sizes and build the whole file, feeding the encoder in
/// random chunks and polling frames as a streaming writer would.
fn build_with(data: &[u8], layout: ParityLayout, rng: &mut StdRng) -> Built {
    let mut data_frames = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let n = rng
            .gen_range(1..=data.len() - at)
            .min(rng.gen_range(1..3000));
        data_frames.push(SeekEntry {
            compressed: n as u32,
            decompressed: 3 * n as u32,
            checksum: rng.gen(),
        });
        at += n;
    }
    let mut enc = ParityEncoder::new(layout).unwrap();
    let mut spill = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let n = rng.gen_range(1..=(data.len() - at).min(5000));
        enc.feed(&data[at..at + n]);
        at += n;
        if rng.gen_bool(0.5) {
            while let Some(f) = enc.poll_frame() {
                spill.extend_from_slice(&f);
            }
        }
    }
    let tail = enc.finish(&data_frames).unwrap();
    let mut file = data.to_vec();
    file.extend_from_slice(&tail.head);
    file.extend_from_slice(&spill);
    file.extend_from_slice(&tail.tail);
    assert_eq!(file.len() as u64, tail.index.file_len());
    assert_eq!(tail.seek_entries, tail.index.seek_entries());
    Built {
        file,
        index: tail.index,
        data_frames,
    }
}

fn random_layout(rng: &mut StdRng) -> ParityLayout {
    let k = rng.gen_range(1..=24u16);
    let m = rng.gen_range(1..=6u16);
    let s = [64u32, 100, 128, 333, 512, 1024][rng.gen_range(0..6)];
    ParityLayout::new(k, m, s).unwrap()
}

fn random_data(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    // Some runs of zeros, as real archives have.
    if len > 100 && rng.gen_bool(0.3) {
        let a = rng.gen_range(0..len - 50);
        let b = rng.gen_range(a..len.min(a + 2000));
        v[a..b].fill(0);
    }
    v
}

/// What the damage really is, from the byte diff.
#[derive(Debug)]
struct Truth {
    index_usable: bool,
    /// Per stripe: damaged data shards, damaged parity shards, header damaged.
    stripes: Vec<(Vec<u32>, Vec<u32>, bool)>,
    lost: Vec<std::ops::Range<u64>>,
    repairable: bool,
}

fn index_header(index: &ParityIndex) -> IndexHeader {
    let frame = index.index_frame();
    IndexHeader::decode(&frame[8..64], frame.len() as u64, u64::MAX).unwrap()
}

/// Rewrite the header (and its hash) at frame offset 8 and, if `replica`, the one before the
/// end marker, after `edit` changed bytes 8..48.
fn rehash_header(g: &mut [u8], h: &IndexHeader, replica: bool) {
    let sum = xxhash_rust::xxh64::xxh64(&g[8..56], 0);
    g[56..64].copy_from_slice(&sum.to_le_bytes());
    if replica {
        let head = g[8..64].to_vec();
        g[h.replica_range()].copy_from_slice(&head);
    }
}

fn truth(orig: &[u8], damaged: &[u8], index: &ParityIndex) -> Truth {
    // Shards: the host zero-fills a truncated file, so compare with zero padding.
    let byte = |i: u64| damaged.get(i as usize).copied().unwrap_or(0);
    let differs = |r: std::ops::Range<u64>| r.clone().any(|i| orig[i as usize] != byte(i));
    // Index copies: a truncated copy is missing, whatever the bytes were.
    let intact = |r: std::ops::Range<u64>| {
        r.end as usize <= damaged.len()
            && orig[r.start as usize..r.end as usize] == damaged[r.start as usize..r.end as usize]
    };
    let l = index.layout();
    let s = u64::from(l.shard_size);
    let mut stripes = Vec::new();
    let mut lost = Vec::new();
    let mut repairable = true;
    for st in 0..index.stripe_count() {
        let plan = index.stripe_plan(st).unwrap();
        let mut dd = Vec::new();
        for i in 0..plan.data_shards as u64 {
            let a = plan.data.start + i * s;
            let r = a..(a + s).min(plan.data.end);
            if differs(r.clone()) {
                dd.push(i as u32);
            }
        }
        let mut dp = Vec::new();
        for j in 0..plan.parity_shards as u64 {
            let a = plan.parity.start + PARITY_FRAME_HEADER_LEN as u64 + j * s;
            if differs(a..a + s) {
                dp.push(j as u32);
            }
        }
        let hd = differs(plan.parity.start..plan.parity.start + PARITY_FRAME_HEADER_LEN as u64);
        if dd.len() + dp.len() > plan.parity_shards {
            repairable = false;
            for &i in &dd {
                let a = plan.data.start + u64::from(i) * s;
                lost.push(a..(a + s).min(plan.data.end));
            }
        }
        stripes.push((dd, dp, hd));
    }
    let h = index_header(index);
    let mut header_ok = [false; 2];
    let mut end_ok = [false; 2];
    let mut blocks_ok = vec![false; h.blocks()];
    for c in 0..2u8 {
        let r = index.index_copy_range(c);
        let rep = h.replica_range();
        header_ok[c as usize] = intact(r.start + 8..r.start + 64)
            || intact(r.start + rep.start as u64..r.start + rep.end as u64);
        end_ok[c as usize] = intact(r.end - END_MARKER_LEN as u64..r.end);
        for (b, ok) in blocks_ok.iter_mut().enumerate() {
            let br = h.block_range(b);
            // The block and the hash after it.
            if intact(r.start + br.start as u64..r.start + br.end as u64 + 8) {
                *ok = true;
            }
        }
    }
    // A copy is found through its own end marker, or through any intact parity frame header
    // (start of the parity region) plus the index length from any intact end marker.
    let parity_anchor = (0..index.stripe_count()).any(|st| {
        let p = index.stripe_plan(st).unwrap().parity;
        intact(p.start..p.start + PARITY_FRAME_HEADER_LEN as u64)
    });
    let findable =
        (0..2).any(|c| header_ok[c] && (end_ok[c] || (parity_anchor && (end_ok[0] || end_ok[1]))));
    let index_usable = findable && blocks_ok.iter().all(|&b| b);
    Truth {
        index_usable,
        stripes,
        lost: merge_ranges(lost),
        repairable: repairable && index_usable,
    }
}

/// Verify and repair `damaged`, and check both against the ground truth.
/// Returns whether the file was repaired.
fn check_against_truth(orig: &[u8], damaged: &[u8], index: &ParityIndex, what: &str) -> bool {
    let t = truth(orig, damaged, index);
    let report = verify(damaged);
    if !t.index_usable {
        assert_eq!(report.state, OverallState::IndexLost, "{what}: {report:?}");
    } else {
        assert_ne!(
            report.state,
            OverallState::IndexLost,
            "{what}: {:?}",
            report.message
        );
        assert_eq!(report.stripes.len(), t.stripes.len(), "{what}");
        for (r, (dd, dp, hd)) in report.stripes.iter().zip(&t.stripes) {
            assert_eq!(&r.damaged_data, dd, "{what}: stripe {}", r.stripe);
            assert_eq!(&r.damaged_parity, dp, "{what}: stripe {}", r.stripe);
            assert_eq!(r.header_damaged, *hd, "{what}: stripe {}", r.stripe);
        }
        assert_eq!(report.lost, t.lost, "{what}");
        let want = if !t.repairable {
            OverallState::BeyondRepair
        } else if damaged == orig {
            OverallState::Intact
        } else {
            OverallState::Repairable
        };
        assert_eq!(report.state, want, "{what}");
    }
    match repair(damaged) {
        Ok(out) => {
            assert!(t.repairable, "{what}: repaired although beyond repair");
            assert!(
                out == orig,
                "{what}: repair output differs from the original"
            );
            true
        }
        Err(e) => {
            assert!(!t.repairable, "{what}: repair failed: {e}");
            assert_eq!(e.code(), crate::ErrorCode::RepairImpossible, "{what}: {e}");
            if t.index_usable {
                match e {
                    crate::Error::Parity(ParityError::BeyondRepair { lost, .. }) => {
                        assert_eq!(lost, t.lost, "{what}")
                    }
                    other => panic!("{what}: unexpected error {other}"),
                }
            }
            false
        }
    }
}

#[test]
fn intact_file_verifies_and_zstd_layout_adds_up() {
    let mut rng = StdRng::seed_from_u64(1);
    let data = random_data(&mut rng, 20_000);
    let layout = ParityLayout::choose(20_000, 10).unwrap().unwrap();
    let b = build_with(&data, layout, &mut rng);
    let r = verify(&b.file);
    assert_eq!(r.state, OverallState::Intact, "{r:?}");
    assert_eq!(r.data_len, Some(20_000));
    assert_eq!(r.index_copies, vec![CopyState::Intact, CopyState::Intact]);
    assert_eq!(r.seek_table, Some(CopyState::Intact));
    assert_eq!(repair(&b.file).unwrap(), b.file);
    // The seek table is a valid zstd seekable-format table listing every frame.
    let footer =
        crate::seek::parse_footer(&b.file[b.file.len() - 9..], b.file.len() as u64).unwrap();
    let table = &b.file[b.file.len() - footer.table_len as usize..];
    let entries = crate::seek::parse(table, footer).unwrap();
    let sum: u64 = entries.iter().map(|e| u64::from(e.compressed)).sum();
    assert_eq!(sum + footer.table_len, b.file.len() as u64);
    assert_eq!(&entries[..b.data_frames.len()], &b.data_frames[..]);
    // Every frame after the data region is a skippable frame of the announced length.
    let mut at = 20_000usize;
    for e in &entries[b.data_frames.len()..] {
        let magic = u32::from_le_bytes(b.file[at..at + 4].try_into().unwrap());
        assert!(magic == PARITY_MAGIC || magic == INDEX_MAGIC);
        let len = u32::from_le_bytes(b.file[at + 4..at + 8].try_into().unwrap());
        assert_eq!(len as usize + 8, e.compressed as usize);
        assert_eq!(e.decompressed, 0);
        at += e.compressed as usize;
    }
}

#[test]
fn chunking_of_feed_does_not_change_the_bytes() {
    let mut rng = StdRng::seed_from_u64(2);
    let data = random_data(&mut rng, 7_777);
    let layout = ParityLayout::new(5, 2, 128).unwrap();
    let a = build_with(&data, layout, &mut StdRng::seed_from_u64(10));
    // Same frames, fed one byte at a time.
    let mut enc = ParityEncoder::new(layout).unwrap();
    let mut spill = Vec::new();
    for b in &data {
        enc.feed(std::slice::from_ref(b));
        while let Some(f) = enc.poll_frame() {
            spill.extend_from_slice(&f);
        }
    }
    assert_eq!(enc.data_len(), 7_777);
    let t = enc.finish(&a.data_frames).unwrap();
    let mut file = data.clone();
    file.extend_from_slice(&t.head);
    file.extend_from_slice(&spill);
    file.extend_from_slice(&t.tail);
    assert!(file == a.file);
}

#[test]
fn finish_refuses_frames_that_do_not_add_up() {
    let mut enc = ParityEncoder::new(ParityLayout::new(4, 2, 64).unwrap()).unwrap();
    enc.feed(&[1u8; 100]);
    let e = enc
        .finish(&[SeekEntry {
            compressed: 99,
            decompressed: 1,
            checksum: 0,
        }])
        .unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::InvalidInput);
}

#[test]
fn empty_data_region() {
    let mut rng = StdRng::seed_from_u64(3);
    let b = build_with(&[], ParityLayout::new(4, 2, 64).unwrap(), &mut rng);
    assert_eq!(b.index.stripe_count(), 0);
    assert_eq!(verify(&b.file).state, OverallState::Intact);
    let mut d = b.file.clone();
    d.truncate(d.len() - 5);
    assert!(check_against_truth(
        &b.file,
        &d,
        &b.index,
        "empty, truncated"
    ));
}

/// Every single byte of a small file flipped, every shard-sized window overwritten, every
/// truncation that keeps index copy 1: all repaired byte-identical.
#[test]
fn exhaustive_single_damage_on_a_small_file() {
    let mut rng = StdRng::seed_from_u64(4);
    let data = random_data(&mut rng, 1_300);
    let layout = ParityLayout::new(4, 2, 64).unwrap();
    let b = build_with(&data, layout, &mut rng);
    let orig = &b.file;
    for i in 0..orig.len() {
        let mut d = orig.clone();
        d[i] ^= 1 << (i % 8);
        assert!(check_against_truth(
            orig,
            &d,
            &b.index,
            &format!("flip at {i}")
        ));
    }
    // Windows of one shard length (64) at every offset: at most 2 shards of one stripe, or
    // one shard plus a header / index copy / seek table.
    for i in 0..orig.len() {
        let mut d = orig.clone();
        let end = (i + 64).min(d.len());
        d[i..end].iter_mut().for_each(|x| *x = !*x);
        assert!(check_against_truth(
            orig,
            &d,
            &b.index,
            &format!("window at {i}")
        ));
    }
    let keep = b.index.index_copy_range(0).end as usize;
    for cut in keep..orig.len() {
        let d = orig[..cut].to_vec();
        assert!(check_against_truth(
            orig,
            &d,
            &b.index,
            &format!("cut at {cut}")
        ));
    }
}

/// Every whole shard and every metadata structure destroyed on its own, on files of several
/// layouts.
#[test]
fn exhaustive_each_shard_and_structure() {
    let mut rng = StdRng::seed_from_u64(5);
    for (len, k, m, s) in [
        (5_000usize, 6u16, 2u16, 256u32),
        (3_001, 3, 1, 64),
        (9_000, 24, 3, 100),
    ] {
        let data = random_data(&mut rng, len);
        let b = build_with(&data, ParityLayout::new(k, m, s).unwrap(), &mut rng);
        let orig = &b.file;
        let mut regions: Vec<std::ops::Range<u64>> = Vec::new();
        for (region, r) in b.index.regions() {
            match region {
                FileRegion::Data => {
                    let mut a = r.start;
                    while a < r.end {
                        regions.push(a..(a + u64::from(s)).min(r.end));
                        a += u64::from(s);
                    }
                }
                FileRegion::Parity { .. } => {
                    regions.push(r.start..r.start + PARITY_FRAME_HEADER_LEN as u64);
                    let mut a = r.start + PARITY_FRAME_HEADER_LEN as u64;
                    while a < r.end {
                        regions.push(a..a + u64::from(s));
                        a += u64::from(s);
                    }
                }
                _ => regions.push(r),
            }
        }
        for r in regions {
            for fill in [0u8, 0xFF] {
                let mut d = orig.clone();
                d[r.start as usize..r.end as usize].fill(fill);
                let what = format!("{k}+{m}x{s}: {r:?} := {fill}");
                assert!(check_against_truth(orig, &d, &b.index, &what), "{what}");
            }
        }
    }
}

fn campaign(
    seed: u64,
    trials: usize,
    default_layout_share: f64,
    damage: impl FnMut(&mut StdRng, &Built) -> Vec<u8>,
) -> (usize, usize) {
    campaign_sized(seed, trials, default_layout_share, 0..40_000, damage)
}

fn campaign_sized(
    seed: u64,
    trials: usize,
    default_layout_share: f64,
    sizes: std::ops::Range<usize>,
    mut damage: impl FnMut(&mut StdRng, &Built) -> Vec<u8>,
) -> (usize, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut repaired = 0;
    let mut beyond = 0;
    let mut built: Option<Built> = None;
    for t in 0..trials {
        if t % 20 == 0 {
            let len = rng.gen_range(sizes.clone());
            let data = random_data(&mut rng, len);
            // The default layout (k = 200, m = 20) often, small random layouts otherwise.
            let layout = if rng.gen_bool(default_layout_share) {
                ParityLayout::choose(len as u64, DEFAULT_REDUNDANCY_PERCENT)
                    .unwrap()
                    .unwrap()
            } else {
                random_layout(&mut rng)
            };
            built = Some(build_with(&data, layout, &mut rng));
        }
        let b = built.as_ref().unwrap();
        let d = damage(&mut rng, b);
        if check_against_truth(&b.file, &d, &b.index, &format!("seed {seed} trial {t}")) {
            repaired += 1;
        } else {
            beyond += 1;
        }
    }
    (repaired, beyond)
}

#[test]
fn campaign_random_bit_flips() {
    let (ok, _) = campaign(100, 2_000, 0.3, |rng, b| {
        let mut d = b.file.clone();
        for _ in 0..rng.gen_range(1..=6) {
            let i = rng.gen_range(0..d.len());
            d[i] ^= 1 << rng.gen_range(0..8);
        }
        d
    });
    assert!(ok > 1_000, "{ok}");
}

#[test]
fn campaign_zeroed_4k_blocks() {
    let (ok, bad) = campaign(200, 1_500, 0.3, |rng, b| {
        let mut d = b.file.clone();
        for _ in 0..rng.gen_range(1..=2) {
            let i = if rng.gen_bool(0.5) {
                rng.gen_range(0..d.len()) / 4096 * 4096
            } else {
                rng.gen_range(0..d.len())
            };
            let end = (i + 4096).min(d.len());
            d[i..end].fill(0);
        }
        d
    });
    assert!(ok > 300 && bad > 30, "{ok} {bad}");
}

/// With the default layout (10%), a zeroed 4 KiB block anywhere (archives of any size) and
/// scattered bit flips are always repaired. Two blocks are checked against the ground truth
/// in `campaign_zeroed_4k_blocks` (they can hit both index copies).
#[test]
fn campaign_default_layout_always_repairs_sectors_and_flips() {
    let zero = |rng: &mut StdRng, b: &Built| {
        let mut d = b.file.clone();
        let i = if rng.gen_bool(0.5) {
            rng.gen_range(0..d.len()) / 4096 * 4096
        } else {
            rng.gen_range(0..d.len())
        };
        let end = (i + 4096).min(d.len());
        d[i..end].fill(0);
        d
    };
    let (_, bad) = campaign_sized(600, 400, 1.0, 120_000..600_000, zero);
    assert_eq!(bad, 0);
    // Small archives too: the last stripe keeps enough parity for a 4 KiB burst, and the
    // parity frame keeps the two index copies more than 4 KiB apart.
    let (_, bad) = campaign_sized(650, 600, 1.0, 1..120_000, zero);
    assert_eq!(bad, 0);
    let flip = |rng: &mut StdRng, b: &Built| {
        let mut d = b.file.clone();
        for _ in 0..rng.gen_range(1..=10) {
            let i = rng.gen_range(0..d.len());
            d[i] ^= 1 << rng.gen_range(0..8);
        }
        d
    };
    let (_, bad) = campaign_sized(700, 400, 1.0, 120_000..600_000, flip);
    assert_eq!(bad, 0);
}

/// In every stripe, a run of random bytes covering at most `m_s` shards (of the data, or
/// across data and parity): always repairable.
#[test]
fn campaign_runs_up_to_the_redundancy_in_every_stripe() {
    let (_, bad) = campaign(300, 1_500, 0.2, |rng, b| {
        let mut d = b.file.clone();
        let s = b.index.layout().shard_size as usize;
        for st in 0..b.index.stripe_count() {
            let plan = b.index.stripe_plan(st).unwrap();
            let ms = plan.parity_shards;
            let max = (ms - 1) * s + 1;
            let len = rng.gen_range(1..=max);
            let (a, e) = (plan.data.start as usize, plan.data.end as usize);
            let start = if rng.gen_bool(0.7) || e - a <= len {
                rng.gen_range(a..e)
            } else {
                // Exactly m_s whole shards.
                let first = rng.gen_range(0..=(plan.data_shards.saturating_sub(ms)));
                let st = a + first * s;
                let en = (st + ms * s).min(e);
                rng.fill(&mut d[st..en]);
                continue;
            };
            let end = (start + len).min(e);
            rng.fill(&mut d[start..end]);
        }
        // Plus damage in the metadata of one copy.
        if rng.gen_bool(0.5) {
            let r = b.index.index_copy_range(rng.gen_range(0..2));
            let i = rng.gen_range(r.start..r.end) as usize;
            d[i] ^= 0x80;
        }
        let st = b.index.seek_table_range();
        let i = rng.gen_range(st.start..st.end) as usize;
        d[i] = d[i].wrapping_add(1);
        d
    });
    assert_eq!(bad, 0);
}

#[test]
fn campaign_truncated_tail() {
    let (ok, bad) = campaign(400, 1_200, 0.3, |rng, b| {
        let keep = b.index.index_copy_range(0).end as usize;
        let cut = rng.gen_range(keep..=b.file.len());
        let mut d = b.file[..cut].to_vec();
        // Sometimes some more damage inside what is left (still within the redundancy:
        // a flip in the data region costs at most one shard of one stripe, which is fine
        // when the cut leaves that stripe's parity).
        if rng.gen_bool(0.3) && !d.is_empty() {
            let i = rng.gen_range(0..d.len());
            d[i] ^= 4;
        }
        d
    });
    assert!(ok > 900, "{ok} {bad}");
}

/// Far beyond the redundancy: never a wrong output, and the lost ranges are exact.
#[test]
fn campaign_beyond_redundancy() {
    let (ok, bad) = campaign(500, 1_200, 0.3, |rng, b| {
        let mut d = b.file.clone();
        for _ in 0..rng.gen_range(1..=4) {
            let len = rng.gen_range(1..=d.len() / 3 + 1);
            let a = rng.gen_range(0..d.len());
            let e = (a + len).min(d.len());
            if rng.gen_bool(0.5) {
                d[a..e].fill(0);
            } else {
                rng.fill(&mut d[a..e]);
            }
        }
        if rng.gen_bool(0.2) {
            let cut = rng.gen_range(0..d.len());
            d.truncate(cut);
        }
        d
    });
    assert!(bad > 300, "{ok} {bad}");
}

/// Damage whose extent is beyond repair yields exactly the damaged shards' ranges.
#[test]
fn beyond_repair_reports_exact_ranges() {
    let mut rng = StdRng::seed_from_u64(6);
    let data = random_data(&mut rng, 10_000);
    let b = build_with(&data, ParityLayout::new(10, 2, 100).unwrap(), &mut rng);
    let mut d = b.file.clone();
    // Stripe 1 covers data 1000..2000: destroy shards 2, 3 and 7 of it.
    for i in [2usize, 3, 7] {
        d[1000 + i * 100 + 5] ^= 0xFF;
    }
    let r = verify(&d);
    assert_eq!(r.state, OverallState::BeyondRepair);
    assert_eq!(r.lost, vec![1200..1400, 1700..1800]);
    let mut starts = vec![0u64];
    for f in &b.data_frames {
        starts.push(starts.last().unwrap() + u64::from(f.compressed));
    }
    let want: Vec<usize> = (0..b.data_frames.len())
        .filter(|&i| {
            let (a, e) = (starts[i], starts[i + 1]);
            (a < 1400 && 1200 < e) || (a < 1800 && 1700 < e)
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(r.lost_frames, want);
    assert_eq!(r.stripes[1].state, StripeState::BeyondRepair);
    assert_eq!(r.stripes[0].state, StripeState::Intact);
    let e = repair(&d).unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::RepairImpossible);
    assert!(e.to_string().contains("1200..1400, 1700..1800"), "{e}");
}

/// Parity damaged beyond m but data intact: the parity is regenerated.
#[test]
fn parity_only_damage_regenerates_parity() {
    let mut rng = StdRng::seed_from_u64(7);
    let data = random_data(&mut rng, 6_000);
    let b = build_with(&data, ParityLayout::new(5, 3, 128).unwrap(), &mut rng);
    let mut d = b.file.clone();
    for st in 0..b.index.stripe_count() {
        let p = b.index.stripe_plan(st).unwrap().parity;
        d[p.start as usize..p.end as usize].fill(0x33);
    }
    assert!(check_against_truth(
        &b.file,
        &d,
        &b.index,
        "all parity frames"
    ));
    // The whole parity region and copy 2 and the seek table cut off.
    let d = b.file[..b.index.index_copy_range(0).end as usize].to_vec();
    assert!(check_against_truth(
        &b.file,
        &d,
        &b.index,
        "only data and copy 1"
    ));
}

/// Both index copies damaged in different blocks are merged.
#[test]
fn index_copies_are_merged_block_by_block() {
    let mut rng = StdRng::seed_from_u64(8);
    // Small shards and many frames: an index body of many blocks.
    let data = random_data(&mut rng, 70_000);
    let b = build_with(&data, ParityLayout::new(8, 2, 64).unwrap(), &mut rng);
    let h = index_header(&b.index);
    assert!(h.blocks() >= 3, "{}", h.blocks());
    let (c1, c2) = (b.index.index_copy_range(0), b.index.index_copy_range(1));
    let mut d = b.file.clone();
    let b0 = h.block_range(0);
    let b1 = h.block_range(1);
    d[c1.start as usize + b0.start + 10] ^= 1;
    d[c2.start as usize + b1.start + 10] ^= 1;
    // And the first header of copy 2 and the replica of copy 1.
    d[c2.start as usize + 9] ^= 1;
    d[c1.start as usize + h.replica_range().start + 3] ^= 1;
    let r = verify(&d);
    assert_eq!(r.state, OverallState::Repairable, "{r:?}");
    assert_eq!(r.index_copies, vec![CopyState::Damaged, CopyState::Damaged]);
    assert_eq!(repair(&d).unwrap(), b.file);
    // The same block damaged in both copies: the index is lost, and it is said so.
    let mut d = b.file.clone();
    d[c1.start as usize + b1.start + 10] ^= 1;
    d[c2.start as usize + b1.start + 10] ^= 1;
    let r = verify(&d);
    assert_eq!(r.state, OverallState::IndexLost);
    assert!(r.message.unwrap().contains("block 1"));
    assert_eq!(
        repair(&d).unwrap_err().code(),
        crate::ErrorCode::RepairImpossible
    );
}

/// A host working stripe by stripe with small reads reaches the same result.
#[test]
fn stripe_wise_host_repair() {
    let mut rng = StdRng::seed_from_u64(9);
    let data = random_data(&mut rng, 30_000);
    let b = build_with(&data, ParityLayout::new(12, 3, 256).unwrap(), &mut rng);
    let mut d = b.file.clone();
    d[100..400].fill(0); // stripe 0: 2 shards
    d[b.index.data_len() as usize + 3] ^= 1; // the header of copy 1
    let last = b
        .index
        .stripe_plan(b.index.stripe_count() - 1)
        .unwrap()
        .parity;
    d[last.end as usize - 1] ^= 1; // a parity shard of the last stripe
                                   // Cut inside the body of copy 2: only its header survives (and copy 1's body).
    let c2 = b.index.index_copy_range(1);
    d.truncate(c2.start as usize + 80);
    let file_len = d.len() as u64;
    let mut loc = IndexLocator::with_chunk_size(file_len, 100);
    let mut reads = 0;
    while let Some(r) = loc.next_request() {
        assert!(r.end <= file_len && r.start < r.end);
        reads += 1;
        loc.supply(r.start, &d[r.start as usize..r.end as usize])
            .unwrap();
    }
    assert!(reads > 2);
    let index = loc.finish().unwrap();
    assert_eq!(index.data_len(), 30_000);
    let read = |r: std::ops::Range<u64>| {
        let mut v = vec![0u8; (r.end - r.start) as usize];
        for (i, x) in v.iter_mut().enumerate() {
            *x = d.get(r.start as usize + i).copied().unwrap_or(0);
        }
        v
    };
    let mut out = Vec::new();
    let mut frames = Vec::new();
    let mut rebuilt = 0;
    for s in 0..index.stripe_count() {
        let plan = index.stripe_plan(s).unwrap();
        let mut data = read(plan.data.clone());
        let mut frame = read(plan.parity.clone());
        let rep = index.check_stripe(s, &data, &frame).unwrap();
        if rep.state != StripeState::Intact {
            let again = index.rebuild_stripe(s, &mut data, &mut frame).unwrap();
            assert_eq!(again, rep);
            assert_eq!(
                index.check_stripe(s, &data, &frame).unwrap().state,
                StripeState::Intact
            );
            rebuilt += 1;
        }
        out.extend_from_slice(&data);
        frames.extend_from_slice(&frame);
    }
    assert_eq!(rebuilt, 2, "stripe 0 and the last stripe");
    out.extend_from_slice(&index.index_frame());
    out.extend_from_slice(&frames);
    out.extend_from_slice(&index.index_frame());
    out.extend_from_slice(&index.seek_table());
    assert!(out == b.file);
    // Wrong buffer sizes and stripe numbers are refused, not panics.
    assert!(index.check_stripe(0, &[0u8; 3], &[]).is_err());
    assert!(index.stripe_plan(index.stripe_count()).is_err());
    // Supplying bytes that were not asked for is refused.
    let mut loc = IndexLocator::new(file_len);
    let r = loc.next_request().unwrap();
    assert!(loc
        .supply(r.start + 1, &d[r.start as usize + 1..r.end as usize])
        .is_err());
    assert!(loc
        .supply(r.start, &d[r.start as usize..r.end as usize])
        .is_ok());
}

#[test]
fn hostile_and_foreign_input_never_panics() {
    let mut rng = StdRng::seed_from_u64(11);
    for len in [0usize, 1, 8, 16, 40, 100, 5000] {
        let mut f = vec![0u8; len];
        rng.fill(&mut f[..]);
        assert_eq!(verify(&f).state, OverallState::IndexLost);
        assert_eq!(
            repair(&f).unwrap_err().code(),
            crate::ErrorCode::RepairImpossible
        );
    }
    // A file of nothing but end markers and parity headers pointing anywhere.
    let mut f = Vec::new();
    for i in 0..200u64 {
        f.extend_from_slice(&format::end_marker(i * 37 % 5000));
        f.extend_from_slice(
            &format::ParityHeader {
                k: 3,
                m: 2,
                ms: 2,
                shard_size: 64,
                ks: 3,
                stripe: i * 7919,
            }
            .encode(),
        );
    }
    assert_eq!(verify(&f).state, OverallState::IndexLost);

    // Index frames with absurd fields and valid hashes.
    let data = random_data(&mut rng, 3_000);
    let b = build_with(&data, ParityLayout::new(4, 2, 64).unwrap(), &mut rng);
    let frame = b.index.index_frame();
    let (c1, c2) = (b.index.index_copy_range(0), b.index.index_copy_range(1));
    let patches: Vec<(usize, Vec<u8>)> = vec![
        (10, 0u16.to_le_bytes().to_vec()),           // k = 0
        (12, 300u16.to_le_bytes().to_vec()),         // m > 256 - k
        (16, 1u32.to_le_bytes().to_vec()),           // tiny shard size
        (16, u32::MAX.to_le_bytes().to_vec()),       // huge shard size
        (24, u64::MAX.to_le_bytes().to_vec()),       // data length
        (24, 2_999u64.to_le_bytes().to_vec()),       // data length off by one
        (32, (u64::MAX / 4).to_le_bytes().to_vec()), // frame count
        (40, u64::MAX.to_le_bytes().to_vec()),       // body length
    ];
    for (at, bytes) in patches {
        let mut g = frame.clone();
        g[at..at + bytes.len()].copy_from_slice(&bytes);
        rehash_header(&mut g, &index_header(&b.index), true);
        let mut d = b.file.clone();
        d[c1.start as usize..c1.end as usize].copy_from_slice(&g);
        d[c2.start as usize..c2.end as usize].copy_from_slice(&g);
        let r = verify(&d);
        assert_eq!(r.state, OverallState::IndexLost, "patch at {at}");
        assert!(repair(&d).is_err());
    }
}

/// An archive stored inside the data region (verbatim, as zstd stores incompressible bytes)
/// is never mistaken for the file's own index.
#[test]
fn embedded_archive_is_not_this_files_index() {
    let mut rng = StdRng::seed_from_u64(12);
    let inner_data = random_data(&mut rng, 4_000);
    let inner = build_with(&inner_data, ParityLayout::new(4, 2, 64).unwrap(), &mut rng);
    let mut outer_data = random_data(&mut rng, 3_000);
    outer_data.extend_from_slice(&inner.file);
    outer_data.extend_from_slice(&random_data(&mut rng, 2_000));
    let outer = build_with(
        &outer_data,
        ParityLayout::new(10, 2, 512).unwrap(),
        &mut rng,
    );
    assert_eq!(
        locate(&outer.file).unwrap().data_len(),
        outer_data.len() as u64
    );
    // Everything after the outer data region gone: the inner index must not be used.
    let d = outer.file[..outer_data.len() + 10].to_vec();
    let r = verify(&d);
    assert_eq!(r.state, OverallState::IndexLost, "{r:?}");
    assert!(repair(&d).is_err());
    // Inner archive alone, cut out of the outer data: its own index is found.
    assert_eq!(verify(&inner.file).state, OverallState::Intact);
}

#[test]
fn trailing_garbage_is_removed_by_repair() {
    let mut rng = StdRng::seed_from_u64(13);
    let data = random_data(&mut rng, 2_000);
    let b = build_with(&data, ParityLayout::new(4, 1, 64).unwrap(), &mut rng);
    let mut d = b.file.clone();
    d.extend_from_slice(b"appended by accident");
    let r = verify(&d);
    assert_eq!(r.state, OverallState::Repairable);
    assert_eq!(r.trailing_bytes, 20);
    assert_eq!(repair(&d).unwrap(), b.file);
}

#[test]
fn report_serializes_for_json_output() {
    let mut rng = StdRng::seed_from_u64(14);
    let data = random_data(&mut rng, 1_000);
    let b = build_with(&data, ParityLayout::new(4, 1, 64).unwrap(), &mut rng);
    let mut d = b.file.clone();
    d[3] ^= 1;
    let j = serde_json::to_value(verify(&d)).unwrap();
    assert_eq!(j["state"], "repairable");
    assert_eq!(j["stripes"][0]["damagedData"][0], 0);
    assert_eq!(j["layout"]["k"], 4);
}

/// Real zstd frames: `zstd -d` of the whole file (parity, index, seek table included) is
/// exactly the concatenated content.
#[cfg(feature = "native-zstd")]
#[test]
fn zstd_decoder_ignores_parity_frames() {
    let mut rng = StdRng::seed_from_u64(15);
    let mut content = Vec::new();
    let mut region = Vec::new();
    let mut frames = Vec::new();
    for i in 0..12 {
        let part: Vec<u8> = (0..rng.gen_range(100..3000))
            .map(|j| b"tar stream bytes "[(i + j) % 17])
            .collect();
        let z = zstd::bulk::compress(&part, 3).unwrap();
        frames.push(SeekEntry {
            compressed: z.len() as u32,
            decompressed: part.len() as u32,
            checksum: crate::seek::frame_checksum(&part),
        });
        region.extend_from_slice(&z);
        content.extend_from_slice(&part);
    }
    let layout = ParityLayout::choose(region.len() as u64, 10)
        .unwrap()
        .unwrap();
    let mut enc = ParityEncoder::new(layout).unwrap();
    enc.feed(&region);
    let mut spill = Vec::new();
    while let Some(f) = enc.poll_frame() {
        spill.extend_from_slice(&f);
    }
    let t = enc.finish(&frames).unwrap();
    let mut file = region.clone();
    file.extend_from_slice(&t.head);
    file.extend_from_slice(&spill);
    file.extend_from_slice(&t.tail);
    let out = zstd::stream::decode_all(&file[..]).unwrap();
    assert!(out == content);
    assert_eq!(verify(&file).state, OverallState::Intact);
}

/// A file without parity (data frames and a seek table only) is recognised from its seek
/// table, without scanning the whole file.
#[test]
fn file_without_parity_is_recognised_from_its_seek_table() {
    let mut rng = StdRng::seed_from_u64(16);
    for frames_n in [3usize, 2_000] {
        let mut file = Vec::new();
        let mut entries = Vec::new();
        for _ in 0..frames_n {
            let n = rng.gen_range(20..200);
            let mut f = vec![0u8; n];
            rng.fill(&mut f[..]);
            entries.push(SeekEntry {
                compressed: n as u32,
                decompressed: 2 * n as u32,
                checksum: 1,
            });
            file.extend_from_slice(&f);
        }
        file.extend_from_slice(&crate::seek::encode(&entries));
        let mut loc = IndexLocator::new(file.len() as u64);
        let mut read = 0u64;
        while let Some(r) = loc.next_request() {
            read += r.end - r.start;
            loc.supply(r.start, &file[r.start as usize..r.end as usize])
                .unwrap();
        }
        let table = 17 + 12 * frames_n as u64;
        assert!(read <= 4096 + table, "{read}");
        let e = loc.finish().unwrap_err();
        assert!(e.to_string().contains("has no parity"), "{e}");
        assert_eq!(verify(&file).state, OverallState::IndexLost);
    }
}

/// Reads a file with nothing but the offsets written in FORMAT.md §8, computes the
/// parity with the documented matrix, and compares: the spec and the bytes agree.
#[test]
fn documented_offsets_match_the_bytes() {
    let u16_ = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as u64;
    let u32_ = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64;
    let u64_ = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let xxh = |b: &[u8]| xxhash_rust::xxh64::xxh64(b, 0);
    let mut rng = StdRng::seed_from_u64(17);
    let data = random_data(&mut rng, 9_001);
    let b = build_with(&data, ParityLayout::new(7, 3, 128).unwrap(), &mut rng);
    let f = &b.file;
    let d = data.len();
    // Index copy 1 at D (section 4).
    let ix = &f[d..];
    assert_eq!(u32_(ix, 0), 0x184D2A5C);
    let i_len = u32_(ix, 4) as usize + 8;
    assert_eq!((u16_(ix, 8), u16_(ix, 10), u16_(ix, 12)), (1, 7, 3));
    assert_eq!(ix[15], 0);
    assert_eq!(
        (u32_(ix, 16), u32_(ix, 20), u64_(ix, 24)),
        (128, 256, d as u64)
    );
    let f_n = u64_(ix, 32) as usize;
    let lb = u64_(ix, 40) as usize;
    assert_eq!(u64_(ix, 48), 0);
    assert_eq!(u64_(ix, 56), xxh(&ix[8..56]));
    let blocks = lb.div_ceil(256);
    assert_eq!(i_len, 136 + 8 * blocks + lb);
    let mut body = Vec::new();
    for bl in 0..blocks {
        let at = 64 + bl * 264;
        let blk = &ix[at..at + (lb - bl * 256).min(256)];
        assert_eq!(u64_(ix, at + blk.len()), xxh(blk));
        body.extend_from_slice(blk);
    }
    assert_eq!(&ix[i_len - 72..i_len - 16], &ix[8..64]);
    let body = &body[..];
    let em = &ix[i_len - 16..i_len];
    assert_eq!(u64_(em, 0) as usize, i_len);
    assert_eq!(u32_(em, 8), xxh(&em[0..8]) & 0xFFFF_FFFF);
    assert_eq!(&em[12..16], b"BRIX");
    // Geometry (section 2).
    let (k, m, s) = (7usize, 3usize, 128usize);
    let n_shards = d.div_ceil(s);
    let stripes = n_shards.div_ceil(k);
    assert_eq!(lb, 12 * f_n + 8 * (n_shards + stripes * m));
    let frames_total: u64 = (0..f_n).map(|i| u32_(body, 12 * i)).sum();
    assert_eq!(frames_total, d as u64);
    let hashes = &body[12 * f_n..];
    let rows = super::gf::parity_rows(k, m);
    let p0 = d + i_len;
    let mut at = p0;
    for st in 0..stripes {
        let ks = k.min(n_shards - st * k);
        // min(m, max(ceil(ks*m/k), ceil(4096/S) + 1)), S = 128: the floor is 33 > m.
        let ms = (ks * m).div_ceil(k).max(4096usize.div_ceil(s) + 1).min(m);
        assert_eq!(ms, m);
        assert_eq!(at, p0 + st * (40 + m * s));
        let pf = &f[at..];
        assert_eq!(u32_(pf, 0), 0x184D2A5B);
        assert_eq!(u32_(pf, 4) as usize, 32 + ms * s);
        assert_eq!(
            (u16_(pf, 8), u16_(pf, 10), u16_(pf, 12), u16_(pf, 14)),
            (1, 7, 3, ms as u64)
        );
        assert_eq!(
            (u32_(pf, 16), u32_(pf, 20), u64_(pf, 24)),
            (128, ks as u64, st as u64)
        );
        assert_eq!(u64_(pf, 32), xxh(&pf[0..32]));
        let shard = |i: usize| {
            let g = st * k + i;
            let mut v = data[(g * s).min(d)..((g + 1) * s).min(d)].to_vec();
            v.resize(s, 0);
            v
        };
        let hb = st * (k + m) * 8;
        for i in 0..ks {
            assert_eq!(u64_(hashes, hb + 8 * i), xxh(&shard(i)));
        }
        for j in 0..ms {
            let mut p = vec![0u8; s];
            for i in 0..ks {
                super::gf::mul_add_scalar(rows[j * k + i], &shard(i), &mut p);
            }
            assert!(
                pf[40 + j * s..40 + (j + 1) * s] == p[..],
                "stripe {st} parity {j}"
            );
            assert_eq!(u64_(hashes, hb + 8 * (ks + j)), xxh(&p));
        }
        at += 40 + ms * s;
    }
    // Copy 2, then the seek table (section 5), then the end.
    assert!(f[at..at + i_len] == f[d..d + i_len]);
    let st_at = at + i_len;
    let entries = f_n + stripes + 2;
    assert_eq!(f.len(), st_at + 17 + 12 * entries);
    let t = &f[st_at..];
    assert_eq!(u32_(t, 0), 0x184D2A5E);
    for e in f_n..entries {
        let (c, dc, ck) = (
            u32_(t, 8 + 12 * e),
            u32_(t, 12 + 12 * e),
            u32_(t, 16 + 12 * e),
        );
        assert_eq!((dc, ck), (0, 0x51D8E999));
        assert!(c as usize == i_len || c as usize <= 40 + m * s);
    }
}

/// Hostile edits that keep every hash valid (header fields, end markers, parity frame
/// headers): no panic, no hang, and whatever repair outputs verifies as intact.
#[test]
fn hostile_edits_with_valid_hashes() {
    let mut rng = StdRng::seed_from_u64(18);
    let xxh = |b: &[u8]| xxhash_rust::xxh64::xxh64(b, 0);
    let data = random_data(&mut rng, 5_000);
    let b = build_with(&data, ParityLayout::new(5, 2, 64).unwrap(), &mut rng);
    let frame = b.index.index_frame();
    let h = index_header(&b.index);
    let copies = [b.index.index_copy_range(0), b.index.index_copy_range(1)];
    for trial in 0..300 {
        let mut d = b.file.clone();
        let mut g = frame.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(8..56);
            g[at] = if rng.gen_bool(0.5) { rng.gen() } else { 0xFF };
        }
        rehash_header(&mut g, &h, rng.gen_bool(0.7));
        if rng.gen_bool(0.3) {
            // A forged body block with a valid hash.
            let r = h.block_range(rng.gen_range(0..h.blocks()));
            g[r.start] ^= 0x40;
            let sum = xxh(&g[r.clone()]);
            g[r.end..r.end + 8].copy_from_slice(&sum.to_le_bytes());
        }
        if rng.gen_bool(0.3) {
            // A forged end marker with another length.
            let len = g.len() - 16;
            let fake = format::end_marker(rng.gen_range(0..(d.len() as u64 * 2)));
            g[len..].copy_from_slice(&fake);
        }
        for c in &copies {
            if rng.gen_bool(0.8) {
                d[c.start as usize..c.end as usize].copy_from_slice(&g);
            }
        }
        // A forged parity frame header.
        if rng.gen_bool(0.5) && b.index.stripe_count() > 0 {
            let p = b.index.stripe_plan(0).unwrap().parity.start as usize;
            let hd = format::ParityHeader {
                k: rng.gen_range(1..300),
                m: rng.gen_range(0..300),
                ms: rng.gen_range(0..4),
                shard_size: [64, 65, 1 << 24, u32::MAX][rng.gen_range(0..4)],
                ks: rng.gen_range(0..6),
                stripe: [0, 1, u64::MAX, 1 << 40][rng.gen_range(0..4)],
            }
            .encode();
            d[p..p + 40].copy_from_slice(&hd);
        }
        let r = verify(&d);
        if let Ok(out) = repair(&d) {
            assert_eq!(
                verify(&out).state,
                OverallState::Intact,
                "trial {trial}: {r:?}"
            );
        }
    }
}

/// Thousands of forged anchors claiming huge index frames cost a few bytes each, not a read
/// of the frame they claim.
#[test]
fn forged_anchors_are_cheap() {
    let mut f = Vec::new();
    for i in 0..4_000u64 {
        // Each marker claims a frame from the start of the file to its own end.
        f.extend_from_slice(&format::end_marker((i + 1) * 16));
    }
    let len = f.len() as u64;
    let mut loc = IndexLocator::new(len);
    let mut read = 0u64;
    let mut requests = 0u64;
    while let Some(r) = loc.next_request() {
        read += r.end - r.start;
        requests += 1;
        loc.supply(r.start, &f[r.start as usize..r.end as usize])
            .unwrap();
    }
    assert!(loc.finish().is_err());
    assert!(requests > 4_000, "{requests}");
    assert!(
        read < 2 * len + 4_000 * 130,
        "{read} bytes read for a file of {len}"
    );
}
