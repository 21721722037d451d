//! Behaviour of the BRI WAL generator: valid pointer chains, parseable lines with BRI's entry
//! shapes, segment rotation as BRI's writer does it, determinism, and a compression ratio close
//! to the WAL that BRI itself wrote. (No timing here: performance lives in the benchmarks.)

use bri_benches::realism::{
    default_fixture_dir, fixture_corpus, generate_bytes, segments, zstd_ratio,
};
use bri_benches::walgen::{
    parse_line, pointer, verify_chain, write_data_dir, GenOptions, SegmentWriter, WalGenerator,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bri-benches-{}-{}", name, std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn read_all_segments(dir: &std::path::Path) -> (Vec<PathBuf>, String) {
    let segs = segments(&dir.join("wal")).unwrap();
    let mut text = String::new();
    for s in &segs {
        text.push_str(&fs::read_to_string(s).unwrap());
    }
    (segs, text)
}

#[test]
fn pointer_function_matches_the_chain_bri_wrote() {
    // The fixtures were written by BRI itself: our pointer function must reproduce them.
    let dir = default_fixture_dir();
    for s in ["multiseg", "softdelete-sets", "txn"] {
        let mut text = String::new();
        for seg in segments(&dir.join(s)).unwrap() {
            text.push_str(&fs::read_to_string(seg).unwrap());
        }
        let (n, _) = verify_chain(&text, "").unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(n > 400, "{s}: only {n} lines");
    }
    // And a broken chain is detected.
    let mut text = String::new();
    for seg in segments(&dir.join("txn")).unwrap() {
        text.push_str(&fs::read_to_string(seg).unwrap());
    }
    let tampered = text.replacen("José Tanaka", "Jose Tanaka", 1);
    assert!(tampered != text, "tampering changed nothing");
    assert!(verify_chain(&tampered, "").is_err());
}

#[test]
fn generated_data_dir_has_a_valid_chain_and_rotated_segments() {
    let dir = tmpdir("chain");
    let mut opts = GenOptions::new(3_000_000, 7);
    opts.segment_bytes = 256 * 1024;
    let summary = write_data_dir(&dir, &opts).unwrap();
    let (segs, text) = read_all_segments(&dir);
    assert_eq!(segs, summary.segments);
    assert!(
        segs.len() >= 11,
        "expected rotation, got {} segments",
        segs.len()
    );
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(
            s.file_name().unwrap().to_str().unwrap(),
            format!("{:06}.wal", i)
        );
        let len = fs::metadata(s).unwrap().len();
        assert!(
            len <= opts.segment_bytes,
            "{} is {} bytes",
            s.display(),
            len
        );
        let body = fs::read_to_string(s).unwrap();
        assert!(
            body.ends_with('\n'),
            "segment {} ends mid-line",
            s.display()
        );
        if i + 1 < segs.len() {
            // Rotated only because the next line would not fit.
            let next = fs::read_to_string(&segs[i + 1]).unwrap();
            let first_next = next.split_inclusive('\n').next().unwrap();
            assert!(len + first_next.len() as u64 > opts.segment_bytes);
        }
    }
    let total = text.len() as u64;
    assert_eq!(total, summary.stats.bytes);
    assert!(total <= 3_000_000 && total > 2_900_000, "{total}");
    let (n, last) = verify_chain(&text, "").unwrap();
    assert_eq!(n, summary.stats.lines);
    assert_eq!(last, summary.stats.last_pointer);
    assert_eq!(n, text.matches('\n').count() as u64);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn entries_have_bri_shapes() {
    let text = String::from_utf8(generate_bytes(3, 2_000_000)).unwrap();
    let mut actions: BTreeMap<String, u64> = BTreeMap::new();
    let mut prefixes: BTreeMap<String, u64> = BTreeMap::new();
    let mut tags = 0;
    let mut txn = 0;
    let mut last_ts = 0;
    let mut ties = 0;
    let mut nights = 0;
    for line in text.lines() {
        let p = parse_line(line).expect("line parses");
        if p.timestamp == last_ts {
            ties += 1;
        }
        if last_ts != 0 && p.timestamp - last_ts > 6 * 3_600_000 {
            nights += 1;
        }
        last_ts = p.timestamp;
        let e: serde_json::Value = serde_json::from_str(p.entry).expect("entry is JSON");
        let action = e["action"].as_str().unwrap().to_string();
        let target = e["target"].as_str().unwrap();
        if e.get("txn").is_some() {
            txn += 1;
            assert!(e["txn"]["txnId"].as_str().unwrap().starts_with("txn_"));
        }
        match action.as_str() {
            "SET" => {
                let doc: serde_json::Value =
                    serde_json::from_str(e["value"].as_str().unwrap()).expect("doc is JSON");
                assert_eq!(doc["$ID"].as_str().unwrap(), target);
                assert!(doc["createdAt<!D>"].is_i64());
                assert!(doc["updatedAt<!D>"].as_i64().unwrap() <= p.timestamp);
                let (prefix, id) = target.split_once('_').unwrap();
                assert_eq!(id.len(), 7);
                *prefixes.entry(prefix.to_string()).or_default() += 1;
                if doc.as_object().unwrap().keys().any(|k| k.contains("<![")) {
                    tags += 1;
                }
            }
            "SADD" | "SREM" => assert!(e["member"].is_string()),
            "RENAME" => {
                let old = e["oldKey"].as_str().unwrap();
                assert!(target == format!("X:{old}:X") || old == format!("X:{target}:X"));
            }
            "DELETE" => {}
            other => panic!("unexpected action {other}"),
        }
        *actions.entry(action).or_default() += 1;
    }
    let lines: u64 = actions.values().sum();
    let share = |a: &str| *actions.get(a).unwrap_or(&0) as f64 / lines as f64;
    // The mix of the BRI-written fixtures: SET ~66%, SADD ~23%, SREM ~5%, RENAME ~5%.
    assert!((0.55..0.78).contains(&share("SET")), "{actions:?}");
    assert!((0.12..0.32).contains(&share("SADD")), "{actions:?}");
    assert!((0.02..0.10).contains(&share("SREM")), "{actions:?}");
    assert!((0.02..0.10).contains(&share("RENAME")), "{actions:?}");
    assert!(share("DELETE") > 0.0, "{actions:?}");
    for p in ["USER", "POST", "CONT", "PROD"] {
        assert!(prefixes.get(p).copied().unwrap_or(0) > 50, "{prefixes:?}");
    }
    assert!(
        tags > 100 && txn > 10 && nights > 3,
        "tags {tags} txn {txn} nights {nights}"
    );
    // Ties: all lines of one call, plus ~5% of calls on the previous call's millisecond.
    assert!(ties as f64 > 0.2 * lines as f64, "{ties}");
}

#[test]
fn same_seed_same_bytes() {
    assert_eq!(generate_bytes(11, 300_000), generate_bytes(11, 300_000));
    assert_ne!(generate_bytes(11, 300_000), generate_bytes(12, 300_000));
    // A shorter run is a prefix of a longer one.
    let long = generate_bytes(11, 600_000);
    let short = generate_bytes(11, 300_000);
    assert!(long.starts_with(&short));
}

#[test]
fn segment_writer_rotates_like_bri() {
    let dir = tmpdir("rotate");
    let mut w = SegmentWriter::create(&dir, 100).unwrap();
    w.write_line(&[b'a'; 59]).unwrap(); // 000000: 59 bytes
    w.write_line(b"0123456789012345678901234567890123456789\n")
        .unwrap(); // 59+41 = 100 fits
    w.write_line(b"x\n").unwrap(); // 102 > 100: rotate -> 000001
    w.write_line(&[b'b'; 150]).unwrap(); // 2 + 150 > 100: rotate -> 000002 (larger than limit)
    w.write_line(b"y\n").unwrap(); // 150 + 2 > 100: rotate -> 000003
    w.rotate().unwrap(); // snapshot-style rotation -> 000004
    w.write_line(&[b'c'; 120]).unwrap(); // empty but 120 > 100: 000004 stays empty -> 000005
    let segs = w.finish().unwrap();
    let sizes: Vec<u64> = segs
        .iter()
        .map(|s| fs::metadata(s).unwrap().len())
        .collect();
    assert_eq!(sizes, vec![100, 2, 150, 2, 0, 120]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn refuses_a_wal_directory_that_holds_segments() {
    let dir = tmpdir("refuse");
    write_data_dir(&dir, &GenOptions::new(10_000, 1)).unwrap();
    assert!(write_data_dir(&dir, &GenOptions::new(10_000, 1)).is_err());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn generator_continues_a_chain() {
    let mut g = WalGenerator::new(5);
    let mut lines = Vec::new();
    let mut prev = String::new();
    for _ in 0..200 {
        g.next_call(&mut lines);
        for l in &lines {
            let p = parse_line(l.trim_end_matches('\n')).unwrap();
            assert_eq!(p.pointer, pointer(&prev, p.entry));
            prev = p.pointer.to_string();
        }
    }
    assert_eq!(g.last_pointer(), prev);
}

#[test]
fn compression_ratio_is_close_to_bri_written_wal() {
    let fixture = fixture_corpus(&default_fixture_dir()).unwrap();
    assert!(fixture.len() > 1_000_000);
    let generated = generate_bytes(1, fixture.len());
    assert!(generated.len() > fixture.len() - 50_000);
    let f = zstd_ratio(&fixture, 3).unwrap();
    let g = zstd_ratio(&generated, 3).unwrap();
    assert!(
        (g / f - 1.0).abs() < 0.15,
        "zstd -3 ratio: generated {g:.2}, fixtures {f:.2}"
    );
}
