//! Archive a BRI data directory in several steps (with writes between), then restore the
//! latest state and every fixture point in time into fresh directories: `bri db state` of
//! each restored directory equals what BRI itself recovers (tests/fixtures/bri/*/expected).

mod common;
use common::*;

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ok(o: &Output, what: &str) -> Value {
    assert!(
        o.status.success(),
        "{what}: exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

/// Cut a copy of the data directory's WAL after about half of its lines, in the middle of a
/// segment (BRI "before the writes that came later").
fn truncate_wal_to_half(dir: &Path) {
    let wal = dir.join("wal");
    let mut segs: Vec<PathBuf> = fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let total: usize = segs
        .iter()
        .map(|p| fs::read(p).unwrap().iter().filter(|&&b| b == b'\n').count())
        .sum();
    let mut left = total / 2;
    let mut cut = false;
    for p in segs {
        if cut {
            fs::remove_file(&p).unwrap();
            continue;
        }
        let data = fs::read(&p).unwrap();
        let n = data.iter().filter(|&&b| b == b'\n').count();
        if n < left {
            left -= n;
            continue;
        }
        let end = data
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(left.saturating_sub(1))
            .map(|(i, _)| i + 1)
            .unwrap_or(0);
        fs::write(&p, &data[..end]).unwrap();
        cut = true;
    }
    let _ = fs::remove_dir_all(dir.join("txn"));
    fs::create_dir_all(dir.join("txn")).unwrap();
}

fn pitr_times(name: &str) -> Vec<u64> {
    let mut v: Vec<u64> = fs::read_dir(fixtures().join(name).join("expected/pitr"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .parse()
                .unwrap()
        })
        .collect();
    v.sort();
    v
}

fn expected(name: &str, t: u64) -> Value {
    serde_json::from_str(
        &fs::read_to_string(
            fixtures()
                .join(name)
                .join(format!("expected/pitr/{t}.json")),
        )
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn archive_twice_then_restore_every_point_in_time() {
    for name in SCENARIOS {
        let k = key(name);
        let k = k.as_deref();
        let d = scratch(name);
        let data = d.join("data");
        let store = d.join("store");
        let (data_s, store_s) = (data.to_str().unwrap(), store.to_str().unwrap());
        // First archive: the directory as it was halfway through its history.
        copy_dir(&fixtures().join(name).join("data"), &data);
        truncate_wal_to_half(&data);
        let a1 = ok(
            &bri(
                &[
                    "archive",
                    "create",
                    "--data-dir",
                    data_s,
                    "--local-dir",
                    store_s,
                    "--level",
                    "3",
                    "--json",
                ],
                k,
            ),
            name,
        );
        assert!(a1["archiveId"].is_string(), "{name}: first archive");
        // The writes that came later, then the second archive: it chains from the first.
        fs::remove_dir_all(&data).unwrap();
        copy_dir(&fixtures().join(name).join("data"), &data);
        let a2 = ok(
            &bri(
                &[
                    "archive",
                    "create",
                    "--data-dir",
                    data_s,
                    "--local-dir",
                    store_s,
                    "--level",
                    "3",
                    "--json",
                ],
                k,
            ),
            name,
        );
        assert!(a2["archiveId"].is_string(), "{name}: second archive");
        assert_eq!(
            a2["bri"]["startLine"], a1["bri"]["endLine"],
            "{name}: archives chain without gap or overlap"
        );
        assert_eq!(
            a2["bri"]["anchor"], a1["bri"]["head"],
            "{name}: chain anchor"
        );
        // Nothing new: no third archive.
        let a3 = ok(
            &bri(
                &[
                    "archive",
                    "create",
                    "--data-dir",
                    data_s,
                    "--local-dir",
                    store_s,
                    "--json",
                ],
                k,
            ),
            name,
        );
        assert!(a3["archiveId"].is_null(), "{name}: nothing new to archive");
        let list = ok(
            &bri(
                &[
                    "restore",
                    "list",
                    "--data-dir",
                    data_s,
                    "--local-dir",
                    store_s,
                    "--json",
                ],
                k,
            ),
            name,
        );
        let archives = list["archives"].as_array().unwrap();
        assert_eq!(archives.len(), 2);
        assert_eq!(archives[0]["bri"]["startLine"], 0);
        assert_eq!(
            archives[1]["bri"]["startLine"], archives[0]["bri"]["endLine"],
            "{name}: contiguous"
        );

        // Every fixture point in time, restored into a fresh directory.
        let times = pitr_times(name);
        for &t in &times {
            let target = d.join(format!("at-{t}"));
            let r = ok(
                &bri(
                    &[
                        "restore",
                        "to-timestamp",
                        &t.to_string(),
                        "--data-dir",
                        data_s,
                        "--local-dir",
                        store_s,
                        "--target",
                        target.to_str().unwrap(),
                        "--json",
                    ],
                    k,
                ),
                name,
            );
            assert_eq!(r["backup"], Value::Null);
            assert!(
                !target.join("cold").exists(),
                "{name}: no stale cold/ files"
            );
            let state = ok(
                &bri(
                    &[
                        "db",
                        "state",
                        "--data-dir",
                        target.to_str().unwrap(),
                        "--json",
                    ],
                    k,
                ),
                name,
            );
            assert!(
                state == expected(name, t),
                "{name}: state restored at {t} differs from pitr/{t}.json"
            );
        }
        // Latest = the whole WAL (the last pitr file is the state after the last entry).
        let target = d.join("latest");
        ok(
            &bri(
                &[
                    "restore",
                    "latest",
                    "--data-dir",
                    data_s,
                    "--local-dir",
                    store_s,
                    "--target",
                    target.to_str().unwrap(),
                    "--json",
                ],
                k,
            ),
            name,
        );
        let state = ok(
            &bri(
                &[
                    "db",
                    "state",
                    "--data-dir",
                    target.to_str().unwrap(),
                    "--json",
                ],
                k,
            ),
            name,
        );
        assert!(
            state == expected(name, *times.last().unwrap()),
            "{name}: latest differs"
        );
        let txn_src = fs::read_dir(fixtures().join(name).join("data/txn"))
            .map(|r| r.count())
            .unwrap_or(0);
        let txn_dst = fs::read_dir(target.join("txn"))
            .map(|r| r.count())
            .unwrap_or(0);
        assert_eq!(
            txn_src, txn_dst,
            "{name}: open transactions come back with the latest point only"
        );
        let _ = fs::remove_dir_all(&d);
    }
}

#[test]
fn timestamps_outside_the_archives_name_the_range() {
    let d = scratch("outside");
    let data = d.join("data");
    copy_dir(&fixtures().join("basic/data"), &data);
    let data_s = data.to_str().unwrap();
    ok(
        &bri(
            &[
                "archive",
                "create",
                "--data-dir",
                data_s,
                "--level",
                "3",
                "--json",
            ],
            None,
        ),
        "create",
    );
    for t in ["1000", "2999-01-01T00:00:00Z"] {
        let o = bri(
            &[
                "restore",
                "to-timestamp",
                t,
                "--data-dir",
                data_s,
                "--target",
                d.join("x").to_str().unwrap(),
                "--json",
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(6), "{t}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["error"]["code"], "TIMESTAMP_NOT_FOUND");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("2024-02-05"),
            "names the archived range"
        );
    }
    assert!(!d.join("x").exists(), "nothing written");
}

#[test]
fn restore_in_place_keeps_the_old_directory_and_the_store() {
    let d = scratch("inplace");
    let data = d.join("data");
    copy_dir(&fixtures().join("basic/data"), &data);
    let data_s = data.to_str().unwrap();
    // Default store: <data-dir>/archives, inside the directory being replaced.
    ok(
        &bri(
            &[
                "archive",
                "create",
                "--data-dir",
                data_s,
                "--level",
                "3",
                "--json",
            ],
            None,
        ),
        "create",
    );
    let before: Vec<u8> = fs::read(data.join("wal/000000.wal")).unwrap();
    let plan = ok(
        &bri(
            &[
                "restore",
                "latest",
                "--data-dir",
                data_s,
                "--dry-run",
                "--json",
            ],
            None,
        ),
        "dry run",
    );
    assert_eq!(plan["dryRun"], true);
    assert_eq!(
        fs::read(data.join("wal/000000.wal")).unwrap(),
        before,
        "dry run changes nothing"
    );
    let r = ok(
        &bri(&["restore", "latest", "--data-dir", data_s, "--json"], None),
        "restore",
    );
    let backup = PathBuf::from(r["backup"].as_str().unwrap());
    assert_eq!(
        fs::read(backup.join("wal/000000.wal")).unwrap(),
        before,
        "old directory kept intact"
    );
    // The store moved with the restored directory, and a new timeline begins there.
    let list = ok(
        &bri(&["restore", "list", "--data-dir", data_s, "--json"], None),
        "list",
    );
    assert_eq!(list["archives"].as_array().unwrap().len(), 1);
    assert_eq!(list["timeline"], 2);
    assert_eq!(
        list["archives"][0]["current"], false,
        "the old history is told apart"
    );
    // The restored directory gives the same state as the original.
    let a = ok(
        &bri(&["db", "state", "--data-dir", data_s, "--json"], None),
        "state",
    );
    let b = ok(
        &bri(
            &[
                "db",
                "state",
                "--data-dir",
                backup.to_str().unwrap(),
                "--from-wal",
                "--json",
            ],
            None,
        ),
        "state",
    );
    assert!(a == b);
}

#[test]
fn config_file_and_environment_choose_the_defaults() {
    let d = scratch("config");
    let data = d.join("data");
    copy_dir(&fixtures().join("basic/data"), &data);
    let cfg = d.join("bri.json");
    fs::write(
        &cfg,
        format!(
            r#"{{"dataDir": {:?}, "archive": {{"localDir": {:?}, "compression": {{"level": 4}}, "errorCorrection": {{"redundancy": 20}}}}}}"#,
            data.to_str().unwrap(),
            d.join("store").to_str().unwrap()
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let a = ok(
        &bri(&["archive", "create", "--config", cfg_s, "--json"], None),
        "create",
    );
    let path = a["archive"].as_str().unwrap();
    assert!(
        path.starts_with(d.join("store").to_str().unwrap()),
        "archive.localDir used"
    );
    let m = ok(
        &bri(&["archive", "inspect", path, "--json"], None),
        "inspect",
    );
    assert_eq!(m["manifest"]["compression"]["level"], 4);
    assert_eq!(m["manifest"]["errorCorrection"]["redundancy"], 20);
    // The environment fills in what the file does not say; the file wins where it speaks.
    let shown = Command::new(env!("CARGO_BIN_EXE_bri"))
        .args(["config", "--json"])
        .env("COMPRESSION_LEVEL", "7")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(v["archive"]["compression"]["level"], 7);
    let shown = Command::new(env!("CARGO_BIN_EXE_bri"))
        .args(["config", "--config", cfg_s, "--json"])
        .env("COMPRESSION_LEVEL", "7")
        .env("R2_SECRET_ACCESS_KEY", "hunter2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(!text.contains("hunter2"), "secrets are never printed");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["archive"]["compression"]["level"], 4);
    // Unknown keys and wrong types name the key.
    fs::write(&cfg, r#"{"archive": {"compression": {"levle": 4}}}"#).unwrap();
    let o = bri(&["config", "--config", cfg_s, "--json"], None);
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "CONFIG_ERROR");
    assert!(v["error"]["message"].as_str().unwrap().contains("levle"));
    fs::write(&cfg, r#"{"archive": {"keepLocal": "three"}}"#).unwrap();
    let o = bri(&["config", "--config", cfg_s, "--json"], None);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("archive.keepLocal"));
}

#[test]
fn info_verify_stats_clone_and_delete_by_id() {
    let d = scratch("byid");
    let data = d.join("data");
    copy_dir(&fixtures().join("txn/data"), &data);
    let data_s = data.to_str().unwrap();
    let a = ok(
        &bri(
            &[
                "archive",
                "create",
                "--data-dir",
                data_s,
                "--level",
                "3",
                "--json",
            ],
            None,
        ),
        "create",
    );
    let id = a["archiveId"].as_str().unwrap().to_string();
    let info = ok(
        &bri(
            &["archive", "info", &id, "--data-dir", data_s, "--json"],
            None,
        ),
        "info",
    );
    assert_eq!(info["bri"]["endLine"], a["bri"]["endLine"]);
    let v = ok(
        &bri(
            &["restore", "verify", &id, "--data-dir", data_s, "--json"],
            None,
        ),
        "restore verify",
    );
    assert_eq!(v["ok"], true);
    let s = ok(
        &bri(&["archive", "stats", "--data-dir", data_s, "--json"], None),
        "stats",
    );
    assert_eq!(s["archives"], 1);
    assert_eq!(s["entries"], a["bri"]["entries"]);
    // Clone: a separate database with its own instance and store.
    let clone = d.join("clone");
    let c = ok(
        &bri(
            &[
                "restore",
                "clone",
                &id,
                "--data-dir",
                data_s,
                "--target",
                clone.to_str().unwrap(),
                "--instance-id",
                "inst_clone",
                "--json",
            ],
            None,
        ),
        "clone",
    );
    assert_eq!(c["instanceId"], "inst_clone");
    let a_state = ok(
        &bri(&["db", "state", "--data-dir", data_s, "--json"], None),
        "state",
    );
    let c_state = ok(
        &bri(
            &[
                "db",
                "state",
                "--data-dir",
                clone.to_str().unwrap(),
                "--json",
            ],
            None,
        ),
        "state",
    );
    assert!(a_state == c_state);
    let inst: Value =
        serde_json::from_slice(&fs::read(clone.join("archives/bri-instance.json")).unwrap())
            .unwrap();
    assert_eq!(inst["instanceId"], "inst_clone");
    // Delete refuses the newest archive of the timeline unless --force; dry-run deletes nothing.
    let o = bri(
        &["archive", "delete", &id, "--data-dir", data_s, "--json"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    ok(
        &bri(
            &[
                "archive",
                "delete",
                &id,
                "--data-dir",
                data_s,
                "--force",
                "--dry-run",
                "--json",
            ],
            None,
        ),
        "dry",
    );
    assert_eq!(
        ok(
            &bri(&["archive", "stats", "--data-dir", data_s, "--json"], None),
            "stats"
        )["archives"],
        1
    );
    ok(
        &bri(
            &[
                "archive",
                "delete",
                &id,
                "--data-dir",
                data_s,
                "--force",
                "--json",
            ],
            None,
        ),
        "delete",
    );
    assert_eq!(
        ok(
            &bri(&["archive", "stats", "--data-dir", data_s, "--json"], None),
            "stats"
        )["archives"],
        0
    );
}

#[test]
fn hooks_run_in_order_and_a_failing_before_hook_changes_nothing() {
    let d = scratch("hooks");
    let data = d.join("data");
    copy_dir(&fixtures().join("basic/data"), &data);
    let data_s = data.to_str().unwrap();
    ok(
        &bri(
            &[
                "archive",
                "create",
                "--data-dir",
                data_s,
                "--level",
                "3",
                "--json",
            ],
            None,
        ),
        "create",
    );
    let log = d.join("hooks.log");
    let hook = format!(
        "echo \"$BRI_HOOK_PHASE $BRI_ARCHIVE_ID\" >> {}",
        log.display()
    );
    let target = d.join("r");
    let r = ok(
        &bri(
            &[
                "restore",
                "latest",
                "--data-dir",
                data_s,
                "--target",
                target.to_str().unwrap(),
                "--hook",
                &hook,
                "--json",
            ],
            None,
        ),
        "restore",
    );
    let lines: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let id = r["archiveId"].as_str().unwrap();
    assert_eq!(
        lines,
        [
            format!("before {id}"),
            format!("afterSnapshot {id}"),
            format!("after {id}")
        ]
    );
    let target2 = d.join("r2");
    let o = bri(
        &[
            "restore",
            "latest",
            "--data-dir",
            data_s,
            "--target",
            target2.to_str().unwrap(),
            "--hook",
            "test \"$BRI_HOOK_PHASE\" != before",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(9));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "RESTORE_ERROR");
    assert!(!target2.exists(), "nothing restored");
}
