//! File-system helpers every writer in the host uses: temporary names, fsync, atomic rename,
//! and safe joins under a target directory.

use crate::error::CliError;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A temporary sibling of `path` (same directory, so the final rename is atomic).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce: u32 = rand::random();
    path.with_file_name(format!(".{name}.tmp-{}-{nonce:08x}", std::process::id()))
}

/// Create a new file that must not exist yet.
pub fn create_new(path: &Path) -> Result<File, CliError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| CliError::io(format!("creating {}", path.display()), e))
}

/// fsync a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), CliError> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| CliError::io(format!("syncing directory {}", d.display()), e))
}

/// Move a finished, fsynced temporary file into place. Without `overwrite`, an existing
/// `dest` is never replaced (hard link + unlink, which fails if `dest` exists).
pub fn publish(tmp: &Path, dest: &Path, overwrite: bool) -> Result<(), CliError> {
    if overwrite {
        fs::rename(tmp, dest)
            .map_err(|e| CliError::io(format!("renaming to {}", dest.display()), e))?;
    } else {
        match fs::hard_link(tmp, dest) {
            Ok(()) => {
                let _ = fs::remove_file(tmp);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(tmp);
                return Err(CliError::Usage(format!(
                    "{} already exists; pass --force to replace it",
                    dest.display()
                )));
            }
            Err(e) => return Err(CliError::io(format!("linking {}", dest.display()), e)),
        }
    }
    sync_dir(dest.parent().unwrap_or(Path::new(".")))
}

/// Removes a temporary file when dropped, unless disarmed.
pub struct TempGuard(pub Option<PathBuf>);

impl TempGuard {
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Join an archive member path (already checked by core: relative, no `..`) under `root`,
/// creating parent directories, and refusing any existing component that is not a real
/// directory (a symlink planted in the target could otherwise lead outside it).
pub fn safe_join(root: &Path, member: &str) -> Result<PathBuf, CliError> {
    bri_core::ustar::check_path(member)?;
    let mut cur = root.to_path_buf();
    let comps: Vec<&str> = member.split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        let last = i == comps.len() - 1;
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(CliError::Usage(format!(
                    "{} is a symbolic link; refusing to extract {member:?} through it",
                    cur.display()
                )))
            }
            Ok(m) if !last && !m.is_dir() => {
                return Err(CliError::Usage(format!(
                    "{} exists and is not a directory; cannot extract {member:?}",
                    cur.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !last {
                    fs::create_dir(&cur).map_err(|e| {
                        CliError::io(format!("creating directory {}", cur.display()), e)
                    })?;
                }
            }
            Err(e) => return Err(CliError::io(format!("checking {}", cur.display()), e)),
        }
    }
    Ok(cur)
}

/// Remove what killed runs left beside `path`: temporary siblings (`.<name>.tmp-<pid>-<nonce>`,
/// see [`temp_sibling`]) whose process no longer exists. Returns how many were removed. Only
/// names this program generates are touched.
pub fn sweep_stale_temps(path: &Path) -> usize {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return 0;
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(rd) = fs::read_dir(&dir) else { return 0 };
    let mut removed = 0;
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = n.strip_prefix(&prefix) else {
            continue;
        };
        let Some((pid, nonce)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(pid), true) = (
            pid.parse::<u32>(),
            nonce.len() == 8 && nonce.bytes().all(|b| b.is_ascii_hexdigit()),
        ) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let ok = match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&p).is_ok(),
            Ok(_) => fs::remove_file(&p).is_ok(),
            Err(_) => false,
        };
        removed += usize::from(ok);
    }
    removed
}
