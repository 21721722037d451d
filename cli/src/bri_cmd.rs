//! `bri archive create|list` for a BRI data directory, and `bri restore ...`.

use crate::args::{
    BriCreateArgs, DeleteArgs, IdArgs, RestoreArgs, RestoreCommand, RestoreListArgs, StoreArgs,
};
use crate::bri_archive::{self, BriCreateOptions, Point, RestoreOptions, Store};
use crate::config::Config;
use crate::db::parse_time;
use crate::error::{CliError, CmdResult};
use crate::files::CreateOptions;
use crate::output::{human_bytes, Output};
use bri_core::bri::replay::iso_ms;
use bri_core::manifest::Retention;
use serde_json::json;
use std::path::{Path, PathBuf};

fn retention(s: Option<&str>) -> Result<Retention, CliError> {
    match s {
        None => Ok(Retention::default()),
        Some("permanent") => Ok(Retention {
            permanent: true,
            days: None,
        }),
        Some(d) => d
            .parse::<u32>()
            .map(|days| Retention {
                permanent: false,
                days: Some(days),
            })
            .map_err(|_| {
                CliError::Usage(format!(
                    "--retention {d:?}: give `permanent` or a number of days"
                ))
            }),
    }
}

pub fn create(a: BriCreateArgs, cfg: &Config, out: &Output) -> CmdResult {
    let level = a.level.unwrap_or(cfg.archive.compression.level);
    bri_core::codec::check_level(level)?;
    let redundancy = a
        .redundancy
        .unwrap_or(if cfg.archive.error_correction.enabled {
            cfg.archive.error_correction.redundancy
        } else {
            0
        });
    let (data_dir, store) = a.store.resolve(cfg);
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = BriCreateOptions {
        data_dir,
        store,
        retention: retention(a.retention.as_deref())?,
        write: CreateOptions {
            level,
            frame_size: bri_core::writer::default_frame_size(level),
            threads: threads.max(1),
            name: a.name,
            overwrite: false,
            verify: !a.no_verify,
            redundancy,
        },
    };
    let bar = out.bytes_bar(0, "archiving");
    let s = bri_archive::create(&opts, &bar)?;
    bar.finish_and_clear();
    out.emit(&serde_json::to_value(&s).unwrap_or_default(), || {
        match (&s.archive, &s.bri) {
            (Some(p), Some(b)) => format!(
                "created {}\n  lines {}..{} ({} entries), {} .. {}\n  {} -> {} in {:.2}s\n",
                p.display(),
                b.start_line + 1,
                b.end_line,
                b.entries,
                b.first_timestamp.map(iso_ms).unwrap_or_default(),
                b.last_timestamp.map(iso_ms).unwrap_or_default(),
                human_bytes(s.input_bytes),
                human_bytes(s.archive_bytes),
                s.seconds
            ),
            _ => "nothing new to archive: every complete WAL line is already in an archive\n"
                .to_string(),
        }
    });
    Ok(0)
}

fn listing(
    store: &StoreArgs,
    cfg: &Config,
    after: Option<u64>,
    before: Option<u64>,
    out: &Output,
) -> CmdResult {
    let (_, store_dir) = store.resolve(cfg);
    let st = Store::new(&store_dir);
    let inst = st.instance()?;
    let all = st.list()?;
    let rows: Vec<_> = all
        .iter()
        .filter(|a| after.is_none_or(|t| a.bri.last_timestamp.is_some_and(|l| l >= t)))
        .filter(|a| before.is_none_or(|t| a.bri.first_timestamp.is_some_and(|f| f <= t)))
        .collect();
    let v: Vec<_> = rows
        .iter()
        .map(|a| {
            json!({
                "archiveId": a.manifest.archive_id,
                "path": a.path,
                "bytes": a.bytes,
                "createdAt": a.manifest.created_at,
                "name": a.manifest.name,
                "current": a.bri.instance_id == inst.instance_id && a.bri.timeline == inst.timeline,
                "bri": a.bri,
            })
        })
        .collect();
    out.emit(&json!({"store": store_dir, "instanceId": inst.instance_id, "timeline": inst.timeline, "archives": v}), || {
        let mut s = format!("{:<34} {:>4} {:>17} {:<24} {:<24} {:>10}\n", "archive", "tl", "lines", "from", "to", "size");
        for a in &rows {
            s += &format!(
                "{:<34} {:>4} {:>17} {:<24} {:<24} {:>10}\n",
                a.manifest.archive_id,
                a.bri.timeline,
                format!("{}..{}", a.bri.start_line + 1, a.bri.end_line),
                a.bri.first_timestamp.map(iso_ms).unwrap_or_default(),
                a.bri.last_timestamp.map(iso_ms).unwrap_or_default(),
                human_bytes(a.bytes)
            );
        }
        s
    });
    Ok(0)
}

pub fn list(a: StoreArgs, cfg: &Config, out: &Output) -> CmdResult {
    listing(&a, cfg, None, None, out)
}

pub fn restore(cmd: RestoreCommand, cfg: &Config, out: &Output) -> CmdResult {
    let (point, args) = match cmd {
        RestoreCommand::List(RestoreListArgs {
            store,
            after,
            before,
        }) => {
            let after = after.as_deref().map(parse_time).transpose()?;
            let before = before.as_deref().map(parse_time).transpose()?;
            return listing(&store, cfg, after, before, out);
        }
        RestoreCommand::Info(a) => return info(a, cfg, out),
        RestoreCommand::Verify(a) => return verify_for_restore(a, cfg, out),
        RestoreCommand::Clone {
            id,
            target,
            instance_id,
            store,
        } => return clone(id, target, instance_id, store, cfg, out),
        RestoreCommand::Latest(a) => (Point::Latest, a),
        RestoreCommand::From { id, args } => (Point::Archive(id), args),
        RestoreCommand::ToTimestamp { time, args } => (Point::Time(parse_time(&time)?), args),
    };
    let RestoreArgs {
        store,
        target,
        dry_run,
        clean,
        hook,
    } = args;
    let (data_dir, store_dir) = store.resolve(cfg);
    let opts = RestoreOptions {
        store: store_dir,
        target: target.unwrap_or_else(|| data_dir.clone()),
        data_dir,
        point,
        clean,
        dry_run,
    };
    let bar = out.bytes_bar(0, "restoring");
    let mut run_hook = |ev: &bri_archive::RestoreEvent| -> Result<(), CliError> {
        let Some(cmd) = &hook else { return Ok(()) };
        let (phase, id, target) = match ev {
            bri_archive::RestoreEvent::Before { archive_id, target } => {
                ("before", archive_id, target)
            }
            bri_archive::RestoreEvent::AfterSnapshot {
                archive_id, target, ..
            } => ("afterSnapshot", archive_id, target),
            bri_archive::RestoreEvent::After {
                archive_id, target, ..
            } => ("after", archive_id, target),
        };
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("BRI_HOOK_PHASE", phase)
            .env("BRI_ARCHIVE_ID", id)
            .env("BRI_TARGET", target)
            .status()
            .map_err(|e| CliError::io(format!("running hook {cmd:?}"), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(CliError::Restore(format!(
                "the {phase} hook {cmd:?} exited with {status}{}",
                if phase == "before" {
                    "; nothing was restored"
                } else {
                    ""
                }
            )))
        }
    };
    let s = bri_archive::restore_with(&opts, &bar, &mut run_hook)?;
    bar.finish_and_clear();
    out.emit(&serde_json::to_value(&s).unwrap_or_default(), || {
        let reached = match s.timestamp {
            Some(t) => format!("line {} ({})", s.line, iso_ms(t)),
            None => format!("line {}", s.line),
        };
        if s.dry_run {
            format!(
                "would restore {} from {} up to {reached}: {} documents, {} collections{}\n",
                s.target.display(),
                s.archive_id,
                s.documents,
                s.collections,
                if s.txn_logs > 0 { format!(", {} open transactions", s.txn_logs) } else { String::new() }
            )
        } else {
            format!(
                "restored {} from {} up to {reached}: {} documents, {} collections{}\n  timeline {}{}\n",
                s.target.display(),
                s.archive_id,
                s.documents,
                s.collections,
                if s.txn_logs > 0 { format!(", {} open transactions", s.txn_logs) } else { String::new() },
                s.timeline,
                match &s.backup {
                    Some(b) => format!("; the previous directory is kept as {}", b.display()),
                    None => String::new(),
                }
            )
        }
    });
    Ok(0)
}

/// `bri config`: the effective configuration.
pub fn show_config(cfg: &Config, out: &Output) -> CmdResult {
    let v = crate::config::effective_json(cfg);
    out.emit(&v, || serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}

/// An archive path from an id (looked up in the store) or a path.
pub fn resolve_archive(id: &str, store: &Path) -> Result<PathBuf, CliError> {
    let p = Path::new(id);
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    let candidate = store.join(format!("{id}.bri.zst"));
    if !id.contains('/') && candidate.is_file() {
        return Ok(candidate);
    }
    Err(CliError::NotFound(format!(
        "no archive {id:?}: not a file, and not an archive id in {}",
        store.display()
    )))
}

fn find(a: &IdArgs, cfg: &Config) -> Result<bri_archive::Listed, CliError> {
    let (_, store) = a.store.resolve(cfg);
    let path = resolve_archive(&a.id, &store)?;
    let o = crate::files::open_archive(&path)?;
    let manifest = o.manifest?;
    let bri = manifest
        .bri
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} is not an archive of a BRI database (it is a file-set archive)",
                path.display()
            ))
        })?;
    Ok(bri_archive::Listed {
        path,
        bytes: o.len,
        manifest,
        bri,
    })
}

pub fn info(a: IdArgs, cfg: &Config, out: &Output) -> CmdResult {
    let l = find(&a, cfg)?;
    let v = json!({"archiveId": l.manifest.archive_id, "path": l.path, "bytes": l.bytes, "createdAt": l.manifest.created_at,
                   "name": l.manifest.name, "retention": l.manifest.retention, "compression": l.manifest.compression,
                   "errorCorrection": l.manifest.error_correction, "bri": l.bri});
    out.emit(&v, || {
        let b = &l.bri;
        format!(
            "archive   {}\nfile      {} ({})\ninstance  {} timeline {}\nlines     {}..{} ({} entries)\ntime      {} .. {}\nsnapshot  {} documents, {} collections at line {}\nsegments  {}\nchain     anchor {} head {}\n",
            l.manifest.archive_id,
            l.path.display(),
            human_bytes(l.bytes),
            b.instance_id,
            b.timeline,
            b.start_line + 1,
            b.end_line,
            b.entries,
            b.first_timestamp.map(iso_ms).unwrap_or_default(),
            b.last_timestamp.map(iso_ms).unwrap_or_default(),
            b.snapshot_documents,
            b.snapshot_collections,
            b.start_line,
            b.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            b.anchor.as_deref().unwrap_or("?"),
            b.head.as_deref().unwrap_or("?")
        )
    });
    Ok(0)
}

fn verify_for_restore(a: IdArgs, cfg: &Config, out: &Output) -> CmdResult {
    let l = find(&a, cfg)?;
    let parity = crate::heal::scan(&l.path, &indicatif::ProgressBar::hidden())?;
    let (_, content) = crate::files::verify_file(&l.path, &indicatif::ProgressBar::hidden())?;
    let key = crate::db::key_from_env()?;
    let replay = bri_archive::archive_state(&l, key.as_ref(), None);
    let (ok, detail) = match &replay {
        Ok((state, line, _)) => (
            content.ok
                && parity.state != bri_core::parity::OverallState::BeyondRepair
                && *line == l.bri.end_line,
            json!({"line": line, "documents": state.documents.len(), "collections": state.collections.len()}),
        ),
        Err(e) => (
            false,
            json!({"error": {"code": e.code().as_str(), "message": e.to_string()}}),
        ),
    };
    let intact = ok && parity.state == bri_core::parity::OverallState::Intact
        || (ok
            && parity.state == bri_core::parity::OverallState::IndexLost
            && l.manifest.error_correction.is_none());
    let v = json!({"archiveId": l.manifest.archive_id, "ok": intact, "content": content, "parityState": parity.state, "replay": detail});
    out.emit(&v, || {
        if intact {
            format!(
                "OK {}: intact, snapshot loads, WAL replays to line {} with an unbroken chain\n",
                l.manifest.archive_id, l.bri.end_line
            )
        } else {
            format!(
                "PROBLEM {}: parity {:?}, content {}, replay {}\n",
                l.manifest.archive_id,
                parity.state,
                if content.ok { "ok" } else { "damaged" },
                detail
            )
        }
    });
    Ok(if intact {
        0
    } else {
        crate::error::EXIT_DAMAGED
    })
}

fn clone(
    id: String,
    target: PathBuf,
    instance_id: Option<String>,
    store: StoreArgs,
    cfg: &Config,
    out: &Output,
) -> CmdResult {
    if target.exists()
        && std::fs::read_dir(&target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(CliError::Usage(format!(
            "{} exists and is not empty; a clone goes into a new directory",
            target.display()
        )));
    }
    let (data_dir, store_dir) = store.resolve(cfg);
    let opts = RestoreOptions {
        store: store_dir,
        data_dir,
        target: target.clone(),
        point: Point::Archive(id),
        clean: false,
        dry_run: false,
    };
    let s = bri_archive::restore(&opts, &indicatif::ProgressBar::hidden())?;
    let inst = bri_archive::Instance {
        instance_id: instance_id.unwrap_or_else(|| format!("inst_{:016x}", rand::random::<u64>())),
        timeline: 1,
    };
    Store::new(&target.join("archives")).save_instance(&inst)?;
    let mut v = serde_json::to_value(&s).unwrap_or_default();
    v["instanceId"] = json!(inst.instance_id);
    out.emit(&v, || {
        format!(
            "cloned {} into {} as instance {} ({} documents)\n",
            s.archive_id,
            target.display(),
            inst.instance_id,
            s.documents
        )
    });
    Ok(0)
}

pub fn delete(a: DeleteArgs, cfg: &Config, out: &Output) -> CmdResult {
    let (_, store_dir) = a.store.resolve(cfg);
    let path = resolve_archive(&a.id, &store_dir)?;
    let st = Store::new(&store_dir);
    let inst = st.instance()?;
    let chain = st.chain(&inst)?;
    let newest = chain.last().map(|l| l.path == path).unwrap_or(false);
    if newest && !a.force {
        return Err(CliError::Usage(format!(
            "{} is the newest archive of the current timeline: the next archive chains from it, and WAL clean-up may already have removed the lines it holds; pass --force to delete it anyway",
            a.id
        )));
    }
    if !a.dry_run {
        std::fs::remove_file(&path)
            .map_err(|e| CliError::io(format!("deleting {}", path.display()), e))?;
        crate::fsutil::sync_dir(&store_dir)?;
    }
    out.emit(&json!({"deleted": path, "dryRun": a.dry_run}), || {
        format!(
            "{} {}\n",
            if a.dry_run { "would delete" } else { "deleted" },
            path.display()
        )
    });
    Ok(0)
}

pub fn stats(a: StoreArgs, cfg: &Config, out: &Output) -> CmdResult {
    let (_, store_dir) = a.resolve(cfg);
    let st = Store::new(&store_dir);
    let all = st.list()?;
    let bytes: u64 = all.iter().map(|l| l.bytes).sum();
    let content: u64 = all.iter().map(|l| l.manifest.totals.content_bytes).sum();
    let entries: u64 = all.iter().map(|l| l.bri.entries).sum();
    let first = all.iter().filter_map(|l| l.bri.first_timestamp).min();
    let last = all.iter().filter_map(|l| l.bri.last_timestamp).max();
    let v = json!({"store": store_dir, "archives": all.len(), "bytes": bytes, "contentBytes": content,
                   "ratio": if bytes > 0 { content as f64 / bytes as f64 } else { 0.0 }, "entries": entries,
                   "firstTimestamp": first, "lastTimestamp": last});
    out.emit(&v, || {
        format!(
            "{} archives, {} ({} of content, ratio {:.2}), {} WAL entries, {} .. {}\n",
            all.len(),
            human_bytes(bytes),
            human_bytes(content),
            if bytes > 0 {
                content as f64 / bytes as f64
            } else {
                0.0
            },
            entries,
            first.map(iso_ms).unwrap_or_default(),
            last.map(iso_ms).unwrap_or_default()
        )
    });
    Ok(0)
}
