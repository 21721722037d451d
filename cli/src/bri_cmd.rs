//! `bri archive create|list` for a BRI data directory, and `bri restore ...`.

use crate::args::{BriCreateArgs, RestoreArgs, RestoreCommand, RestoreListArgs, StoreArgs};
use crate::bri_archive::{self, BriCreateOptions, Point, RestoreOptions, Store};
use crate::config::Config;
use crate::db::parse_time;
use crate::error::{CliError, CmdResult};
use crate::files::CreateOptions;
use crate::output::{human_bytes, Output};
use bri_core::bri::replay::iso_ms;
use bri_core::manifest::Retention;
use serde_json::json;

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
        RestoreCommand::Latest(a) => (Point::Latest, a),
        RestoreCommand::From { id, args } => (Point::Archive(id), args),
        RestoreCommand::ToTimestamp { time, args } => (Point::Time(parse_time(&time)?), args),
    };
    let RestoreArgs {
        store,
        target,
        dry_run,
        clean,
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
    let s = bri_archive::restore(&opts, &bar)?;
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
