//! Kill `bri` with SIGKILL at random points of archive create and in-place restore (seeded,
//! many trials), then check: no partial archive is ever listed, every listed archive verifies,
//! the data directory holds either the old or the new state (never a mix, never nothing), and
//! the next run succeeds.

mod common;
use common::*;

use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bri"))
        .args(args)
        .env_remove("BRI_ENCRYPTION_KEY")
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Start `bri` and kill it after `delay`. Returns true when it was killed before finishing.
fn run_and_kill(args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bri"))
        .args(args)
        .env_remove("BRI_ENCRYPTION_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let killed = matches!(child.try_wait(), Ok(None));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    killed
}

fn state(dir: &Path) -> Value {
    json(&["db", "state", "--data-dir", dir.to_str().unwrap(), "--json"])
}

#[test]
fn sigkill_during_create_and_restore_never_loses_or_lists_partial_data() {
    let d = std::env::temp_dir().join(format!("bri-crash-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    let data = d.join("data");
    let store = d.join("store");
    copy_dir(&fixtures().join("multiseg/data"), &data);
    let (data_s, store_s) = (
        data.to_str().unwrap().to_string(),
        store.to_str().unwrap().to_string(),
    );
    let original = state(&data);
    let wal_before: Vec<Vec<u8>> = {
        let mut v: Vec<_> = fs::read_dir(data.join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v.iter().map(|p| fs::read(p).unwrap()).collect()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED);
    let mut killed = 0;
    // Create, killed at random points (level 19 keeps it busy for a while).
    for _ in 0..25 {
        let delay = Duration::from_micros(rng.gen_range(0..120_000));
        if run_and_kill(
            &[
                "archive",
                "create",
                "--data-dir",
                &data_s,
                "--local-dir",
                &store_s,
                "--level",
                "19",
            ],
            delay,
        ) {
            killed += 1;
        }
        let list = json(&[
            "archive",
            "list",
            "--data-dir",
            &data_s,
            "--local-dir",
            &store_s,
            "--json",
        ]);
        for a in list["archives"].as_array().unwrap() {
            let o = run(&["archive", "verify", a["path"].as_str().unwrap()]);
            assert_eq!(o.status.code(), Some(0), "a listed archive does not verify");
        }
        // Only finished archives and no temporaries are visible as archives.
        assert!(list["archives"].as_array().unwrap().len() <= 1);
        // The data directory is untouched.
        let mut v: Vec<_> = fs::read_dir(data.join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        assert_eq!(
            v.iter().map(|p| fs::read(p).unwrap()).collect::<Vec<_>>(),
            wal_before
        );
    }
    // The next run completes (or finds the archive already made).
    json(&[
        "archive",
        "create",
        "--data-dir",
        &data_s,
        "--local-dir",
        &store_s,
        "--level",
        "3",
        "--json",
    ]);
    // In-place restores, killed at random points: the directory is always either the original
    // (untouched) or the fully restored one; the state is the same in both cases here.
    for _ in 0..25 {
        let delay = Duration::from_micros(rng.gen_range(0..40_000));
        if run_and_kill(
            &[
                "restore",
                "latest",
                "--data-dir",
                &data_s,
                "--local-dir",
                &store_s,
                "--clean",
            ],
            delay,
        ) {
            killed += 1;
        }
        assert!(data.exists(), "the data directory vanished");
        assert_eq!(state(&data), original, "the data directory changed state");
    }
    json(&[
        "restore",
        "latest",
        "--data-dir",
        &data_s,
        "--local-dir",
        &store_s,
        "--json",
    ]);
    assert_eq!(state(&data), original);
    // The successful runs swept what the killed ones left: no temporary archives in the
    // store, no staging directories beside the data directory.
    json(&[
        "archive",
        "create",
        "--data-dir",
        &data_s,
        "--local-dir",
        &store_s,
        "--json",
    ]);
    let leftovers = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    };
    assert_eq!(leftovers(&store), Vec::<String>::new());
    assert_eq!(leftovers(&d), Vec::<String>::new());
    assert!(
        killed > 5,
        "only {killed} runs were actually interrupted; the harness is not testing anything"
    );
    let _ = fs::remove_dir_all(&d);
}
