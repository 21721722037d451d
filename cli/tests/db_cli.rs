//! `bri db state|verify|stats`: the real binary against the BRI fixtures
//! (tests/fixtures/bri: data written by BRI itself and the states it recovers).

mod common;
use common::*;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn data(name: &str) -> PathBuf {
    fixtures().join(name).join("data")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `bri db state --at T` equals expected/pitr/<T>.json for every scenario and every T, with T
/// given as epoch ms and as RFC 3339 (from meta.json's `iso`), human and --json output.
#[test]
fn state_at_every_pitr_time() {
    let mut n = 0;
    for name in SCENARIOS {
        let meta = read_json(&fixtures().join(name).join("expected/meta.json"));
        for (i, p) in meta["pitr"].as_array().unwrap().iter().enumerate() {
            let t = p["T"].as_u64().unwrap().to_string();
            let at = if i % 2 == 0 {
                t.clone()
            } else {
                p["iso"].as_str().unwrap().to_owned()
            };
            let d = data(name);
            let mut args = vec![
                "db",
                "state",
                "--data-dir",
                d.to_str().unwrap(),
                "--at",
                &at,
            ];
            if i % 3 == 1 {
                args.insert(0, "--json");
            }
            let o = bri(&args, key(name).as_deref());
            assert!(o.status.success(), "{name} {at}: {}", stderr(&o));
            let want = read_json(
                &fixtures()
                    .join(name)
                    .join(format!("expected/pitr/{t}.json")),
            );
            assert!(
                stdout_json(&o) == want,
                "{name} at {at} differs from pitr/{t}.json"
            );
            assert!(stderr(&o).contains("from WAL replay"), "{}", stderr(&o));
            n += 1;
        }
    }
    assert_eq!(n, 24);
}

#[test]
fn stats_agree_with_wal_stats_json() {
    for name in SCENARIOS {
        let d = data(name);
        let o = bri(
            &["--json", "db", "stats", "--data-dir", d.to_str().unwrap()],
            key(name).as_deref(),
        );
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let got = stdout_json(&o);
        let want = read_json(&fixtures().join(name).join("expected/wal-stats.json"));
        for f in [
            "segmentCount",
            "totalPhysicalLines",
            "totalEntries",
            "emptyLines",
            "rawU2028U2029Chars",
            "linesAsCountedUnderBun",
            "actions",
            "entriesWithTxnField",
            "firstTimestamp",
            "lastTimestamp",
            "distinctTimestamps",
            "maxEntriesSharingOneTimestamp",
            "chainHead",
            "briGetLineCount",
            "encrypted",
            "txnFiles",
        ] {
            assert_eq!(got[f], want[f], "{name}: {f}");
        }
        assert_eq!(
            got["verifyIntegrity"]["valid"],
            want["verifyIntegrity"]["valid"]
        );
    }
}

#[test]
fn verify_reports_torn_tail_and_broken_chain() {
    let d = data("basic");
    let o = bri(&["db", "verify", "--data-dir", d.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("chain: valid"));

    let d = data("crashed-tail");
    let o = bri(
        &["--json", "db", "verify", "--data-dir", d.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(3));
    let v = stdout_json(&o);
    assert_eq!(v["tornTail"]["line"], 1088);
    assert_eq!(v["chain"]["valid"], true);
    assert_eq!(v["chain"]["entriesChecked"], 1087);

    // Flip one entry byte in a copy: the chain breaks at that line.
    let s = scratch("broken");
    copy_dir(&data("softdelete-sets"), &s);
    let seg = s.join("wal/000003.wal");
    let text = std::fs::read_to_string(&seg).unwrap();
    let first_len = text.find('\n').unwrap();
    let second = text[first_len + 1..].replacen("\"target\":\"", "\"target\":\"Z", 1);
    std::fs::write(&seg, format!("{}\n{}", &text[..first_len], second)).unwrap();
    let stats = read_json(&fixtures().join("softdelete-sets/expected/wal-stats.json"));
    let line = stats["segments"][3]["firstLine"].as_u64().unwrap() + 1;
    let o = bri(
        &["--json", "db", "verify", "--data-dir", s.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout_json(&o)["firstBrokenLine"], line);
    let o = bri(&["db", "verify", "--data-dir", s.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("BROKEN at line {line}")));
    let _ = std::fs::remove_dir_all(&s);
}

#[test]
fn encrypted_needs_the_key_and_says_so() {
    let d = data("encrypted");
    let o = bri(
        &["--json", "db", "state", "--data-dir", d.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(10));
    assert_eq!(stdout_json(&o)["error"]["code"], "ENCRYPTION_KEY_REQUIRED");
    assert!(stderr(&o).contains("BRI_ENCRYPTION_KEY"));
    let o = bri(&["db", "verify", "--data-dir", d.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(10));
    // Statistics that need no key still work.
    let o = bri(
        &["--json", "db", "stats", "--data-dir", d.to_str().unwrap()],
        None,
    );
    assert!(o.status.success());
    let v = stdout_json(&o);
    assert_eq!(v["lastTimestamp"], 1709067800687u64);
    assert_eq!(v["entriesNeedingKey"], 348);
    // A malformed key is refused with the same code.
    let o = bri(
        &["db", "state", "--data-dir", d.to_str().unwrap()],
        Some("abc"),
    );
    assert_eq!(o.status.code(), Some(10));
}

/// `--from-snapshot` recovers as BRI does (snapshot + cold/ + WAL after walLine); the default
/// uses the WAL when it is complete from line 1, and the snapshot when segments are missing.
#[test]
fn source_selection_and_from_snapshot() {
    let d = data("crashed-tail");
    let o = bri(
        &[
            "--json",
            "db",
            "state",
            "--from-snapshot",
            "--data-dir",
            d.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("from snapshot.jss (version 2, walLine 653)"),
        "{}",
        stderr(&o)
    );
    let got = stdout_json(&o);
    let want = read_json(&fixtures().join("crashed-tail/expected/final.json"));
    assert_eq!(got["collections"], want["collections"]);
    let (g, w) = (
        got["documents"].as_object().unwrap(),
        want["documents"].as_object().unwrap(),
    );
    assert_eq!(g.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>());
    // Cold documents BRI registers on start (including the ones bug 4 resurrects) are there.
    for k in ["CONT_cvc0z9m", "POST_kyhnf5h", "USER_yjxnd3f"] {
        assert_eq!(g[k], w[k], "{k}");
    }

    // A snapshot time before --at is refused from the snapshot.
    let o = bri(
        &[
            "db",
            "state",
            "--from-snapshot",
            "--at",
            "1709655158305",
            "--data-dir",
            d.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));

    // Without the first segment the WAL is not complete: the snapshot is used, and says so.
    let s = scratch("missing-seg");
    copy_dir(&data("multiseg"), &s);
    std::fs::remove_file(s.join("wal/000000.wal")).unwrap();
    let o = bri(
        &["--json", "db", "state", "--data-dir", s.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("from snapshot.jss"), "{}", stderr(&o));
    let v = stdout_json(&o);
    let want = read_json(&fixtures().join("multiseg/expected/final.json"));
    assert_eq!(v["collections"], want["collections"]);
    assert_eq!(
        v["documents"].as_object().unwrap().len(),
        want["documents"].as_object().unwrap().len()
    );
    let _ = std::fs::remove_dir_all(&s);
}

#[test]
fn bad_arguments_are_clear_errors() {
    let d = data("basic");
    let o = bri(
        &[
            "db",
            "state",
            "--data-dir",
            d.to_str().unwrap(),
            "--at",
            "yesterday",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("RFC 3339"));
    let o = bri(
        &[
            "db",
            "state",
            "--data-dir",
            d.to_str().unwrap(),
            "--at",
            "1000",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(6));
    assert!(stderr(&o).contains("TIMESTAMP_NOT_FOUND"));
    let o = bri(&["db", "stats", "--data-dir", "/nonexistent/bri"], None);
    assert_eq!(o.status.code(), Some(5));
}

/// `--runtime bun` numbers lines as BRI does under Bun (also breaking at raw U+2028/U+2029).
#[test]
fn bun_runtime_line_numbers() {
    for name in ["basic", "multiseg"] {
        let d = data(name);
        let o = bri(
            &[
                "--json",
                "db",
                "stats",
                "--runtime",
                "bun",
                "--data-dir",
                d.to_str().unwrap(),
            ],
            None,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let v = stdout_json(&o);
        let want = read_json(&fixtures().join(name).join("expected/wal-stats.json"));
        assert_eq!(
            v["totalPhysicalLines"], want["linesAsCountedUnderBun"],
            "{name}"
        );
        assert_eq!(
            v["briGetLineCount"].as_u64().unwrap(),
            want["briGetLineCount"].as_u64().unwrap()
                + want["rawU2028U2029Chars"].as_u64().unwrap()
        );
    }
}
