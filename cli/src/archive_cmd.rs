//! `bri archive create-files | inspect | verify | extract`.

use crate::args::{ArchiveCommand, CreateFilesArgs, ExtractArgs, FileArg};
use crate::error::{CliError, CmdResult, EXIT_DAMAGED};
use crate::files::{self, CreateOptions};
use crate::output::{human_bytes, Output};
use serde_json::json;

pub fn run(cmd: ArchiveCommand, out: &Output) -> CmdResult {
    match cmd {
        ArchiveCommand::CreateFiles(a) => create_files(a, out),
        ArchiveCommand::Inspect(a) => inspect(a, out),
        ArchiveCommand::Verify(a) => verify(a, out),
        ArchiveCommand::Extract(a) => extract(a, out),
    }
}

fn create_files(a: CreateFilesArgs, out: &Output) -> CmdResult {
    bri_core::codec::check_level(a.level)?;
    let threads = match a.threads {
        Some(0) => return Err(CliError::Usage("--threads must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let inputs = files::collect_inputs(&a.inputs)?;
    if inputs.files.is_empty() {
        return Err(CliError::Usage(
            "no regular files found in the inputs; nothing to archive".into(),
        ));
    }
    for (p, why) in &inputs.skipped {
        if !out.json {
            eprintln!("skipped {}: {why}", p.display());
        }
    }
    let total: u64 = inputs.files.iter().map(|f| f.size).sum();
    let bar = out.bytes_bar(total, "archiving");
    let opts = CreateOptions {
        level: a.level,
        frame_size: a.frame_size,
        threads,
        name: a.name,
        overwrite: a.force,
        verify: !a.no_verify,
        redundancy: a.redundancy,
    };
    let s = files::create_archive(&inputs.files, &a.output, &opts, &bar)?;
    bar.finish_and_clear();
    let skipped: Vec<_> = inputs
        .skipped
        .iter()
        .map(|(p, why)| json!({"path": p, "reason": why}))
        .collect();
    let mut v = serde_json::to_value(&s).unwrap_or_default();
    v["skipped"] = json!(skipped);
    out.emit(&v, || {
        format!(
            "created {} ({})\n  {} members, {} -> {} (ratio {:.2}) in {:.2}s{}\n",
            s.archive.display(),
            s.archive_id,
            s.members,
            human_bytes(s.input_bytes),
            human_bytes(s.archive_bytes),
            s.ratio,
            s.seconds,
            if s.verified { ", verified" } else { "" }
        )
    });
    Ok(0)
}

fn inspect(a: FileArg, out: &Output) -> CmdResult {
    let o = files::open_archive(&a.file)?;
    let m = o.manifest?;
    let v = json!({
        "file": a.file,
        "fileBytes": o.len,
        "frames": o.index.frames.len(),
        "dataRegionBytes": o.index.data_region_len(),
        "tarBytes": o.index.tar_len(),
        "manifest": m,
    });
    out.emit(&v, || {
        let mut s = String::new();
        s += &format!("archive   {}\n", m.archive_id);
        if let Some(n) = &m.name {
            s += &format!("name      {n}\n");
        }
        s += &format!("kind      {:?}\n", m.kind).to_lowercase();
        s += &format!("created   {}\n", m.created_at);
        s += &format!(
            "codec     {} level {} ({} frames of up to {})\n",
            m.compression.algorithm,
            m.compression.level,
            o.index.frames.len(),
            human_bytes(m.compression.frame_size)
        );
        s += &format!(
            "size      {} in {} ({} members, ratio {:.2})\n",
            human_bytes(m.totals.content_bytes),
            human_bytes(o.len),
            m.totals.members,
            m.totals.content_bytes as f64 / o.len.max(1) as f64
        );
        s += &format!("{:>12} {:>12} {:>7}  path\n", "size", "compressed", "ratio");
        for e in &m.members {
            let ratio = if e.compressed_size > 0 {
                e.size as f64 / e.compressed_size as f64
            } else {
                0.0
            };
            let link = match &e.kind {
                bri_core::ustar::MemberKind::Link { target } => format!(" -> {target}"),
                _ => String::new(),
            };
            s += &format!(
                "{:>12} {:>12} {:>7.2}  {}{}\n",
                e.size, e.compressed_size, ratio, e.path, link
            );
        }
        s
    });
    Ok(0)
}

fn verify(a: FileArg, out: &Output) -> CmdResult {
    let len = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    let bar = out.bytes_bar(len, "verifying");
    let (m, report) = match files::verify_file(&a.file, &bar) {
        Ok(r) => r,
        Err(CliError::Core(e)) if e.code() == bri_core::ErrorCode::ArchiveCorrupted => {
            bar.finish_and_clear();
            let v = json!({"file": a.file, "ok": false, "problems": [e.to_string()], "members": [], "damagedFrames": []});
            out.emit(&v, || format!("DAMAGED {}: {e}\n", a.file.display()));
            return Ok(EXIT_DAMAGED);
        }
        Err(e) => return Err(e),
    };
    bar.finish_and_clear();
    let mut v = serde_json::to_value(&report).unwrap_or_default();
    v["file"] = json!(a.file);
    v["archiveId"] = json!(m.archive_id);
    out.emit(&v, || {
        if report.ok {
            format!(
                "OK {}: {} members, {} frames, {} decoded and checked\n",
                a.file.display(),
                report.members.len(),
                report.frames_checked,
                human_bytes(report.bytes_decoded)
            )
        } else {
            let mut s = format!("DAMAGED {}\n", a.file.display());
            for m in report.members.iter().filter(|m| !m.ok) {
                s += &format!(
                    "  member {}: {}\n",
                    m.path,
                    m.problem.as_deref().unwrap_or("damaged")
                );
            }
            for f in &report.damaged_frames {
                s += &format!(
                    "  frame {} (bytes {}..{}): {}\n",
                    f.frame,
                    f.offset,
                    f.offset + u64::from(f.length),
                    f.problem
                );
            }
            for p in &report.problems {
                s += &format!("  {p}\n");
            }
            s
        }
    });
    Ok(if report.ok { 0 } else { EXIT_DAMAGED })
}

fn extract(a: ExtractArgs, out: &Output) -> CmdResult {
    let len = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    let bar = out.bytes_bar(len, "extracting");
    let s = files::extract(&a.file, &a.to, &a.members, a.force, &bar)?;
    bar.finish_and_clear();
    let mut v = serde_json::to_value(&s).unwrap_or_default();
    v["to"] = json!(a.to);
    out.emit(&v, || {
        format!(
            "extracted {} files ({}), {} links, {} directories into {}\n",
            s.files,
            human_bytes(s.bytes),
            s.links,
            s.dirs,
            a.to.display()
        )
    });
    Ok(0)
}
