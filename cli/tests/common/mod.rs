//! Helpers shared by the CLI integration tests: the BRI fixtures, running the real `bri`
//! binary, scratch directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every fixture scenario (tests/fixtures/bri: data written by BRI itself).
pub const SCENARIOS: [&str; 6] = [
    "basic",
    "multiseg",
    "softdelete-sets",
    "encrypted",
    "crashed-tail",
    "txn",
];

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/bri")
}

/// The scenario's test key (encrypted scenario only).
pub fn key(name: &str) -> Option<String> {
    std::fs::read_to_string(fixtures().join(name).join("key.hex"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Run `bri` with `BRI_ENCRYPTION_KEY` set to `key`, or unset.
pub fn bri(args: &[&str], key: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bri"));
    c.args(args).env_remove("BRI_ENCRYPTION_KEY");
    if let Some(k) = key {
        c.env("BRI_ENCRYPTION_KEY", k);
    }
    c.output().expect("run bri")
}

/// A fresh scratch directory for this test binary and `tag` (no tempfile dependency).
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "bri-{}-{}-{tag}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Copy a directory tree; copies are writable even when the fixtures are read-only.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (p, t) = (e.path(), to.join(e.file_name()));
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
            let mut perm = std::fs::metadata(&t).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&t, perm).unwrap();
        }
    }
}
