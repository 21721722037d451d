//! `bri archive create-files | inspect | verify | extract`.

use crate::args::{ArchiveCommand, CreateFilesArgs, ExtractArgs, FileArg, RepairArgs, VerifyArgs};
use crate::error::{CliError, CmdResult, EXIT_BEYOND_REPAIR, EXIT_DAMAGED};
use crate::files::{self, CreateOptions};
use crate::heal;
use crate::output::{human_bytes, Output};
use serde_json::json;

pub fn run(cmd: ArchiveCommand, out: &Output) -> CmdResult {
    match cmd {
        ArchiveCommand::CreateFiles(a) => create_files(a, out),
        ArchiveCommand::Inspect(a) => inspect(a, out),
        ArchiveCommand::Verify(a) => verify(a, out),
        ArchiveCommand::Extract(a) => extract(a, out),
        ArchiveCommand::Repair(a) => repair(a, out),
        ArchiveCommand::Create(_)
        | ArchiveCommand::List(_)
        | ArchiveCommand::Info(_)
        | ArchiveCommand::Delete(_)
        | ArchiveCommand::Stats(_) => Err(CliError::Usage(
            "internal: store commands are dispatched with the configuration".into(),
        )),
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
        frame_size: a
            .frame_size
            .unwrap_or_else(|| bri_core::writer::default_frame_size(a.level)),
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

fn verify(a: VerifyArgs, out: &Output) -> CmdResult {
    use bri_core::parity::OverallState;
    let len = std::fs::metadata(&a.file).map(|m| m.len()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::NotFound(format!("archive {} does not exist", a.file.display()))
        } else {
            CliError::io(format!("reading {}", a.file.display()), e)
        }
    })?;
    let bar = out.bytes_bar(len * 2, "verifying");
    // 1. Parity: every stripe's shard hashes, the index copies and the seek table.
    let parity = heal::scan(&a.file, &bar)?;
    // 2. Content: every frame, tar header and member checksum. When the seek table is
    //    damaged but parity knows the right one, use that.
    let seek = match (&parity.state, parity.seek_table) {
        (OverallState::Repairable | OverallState::BeyondRepair, Some(st))
            if st != bri_core::parity::CopyState::Intact =>
        {
            let mut f = std::fs::File::open(&a.file).map_err(|e| CliError::io("opening", e))?;
            heal::locate(&mut f, len)?
                .ok()
                .map(|i| (i.seek_entries(), i.file_len()))
        }
        _ => None,
    };
    // --quick: the shard hashes already cover every byte; only the manifest is read (for the
    // members that lost bytes), nothing is decompressed.
    let quick = a.quick && parity.state != OverallState::IndexLost;
    let content = if quick {
        files::open_archive_with(&a.file, seek.as_ref().map(|(e, l)| (e.as_slice(), *l)))
            .and_then(|o| o.manifest.map_err(CliError::from))
            .map(|m| (m, None))
    } else {
        files::verify_file_with(
            &a.file,
            seek.as_ref().map(|(e, l)| (e.as_slice(), *l)),
            &bar,
        )
        .map(|(m, r)| (m, Some(r)))
    };
    bar.finish_and_clear();
    let (manifest, content) = match content {
        Ok((m, r)) => (Some(m), Ok(r)),
        Err(CliError::Core(e)) => (None, Err(e.to_string())),
        Err(CliError::Io { context, source }) => (None, Err(format!("{context}: {source}"))),
        Err(e) => return Err(e),
    };
    let content: Result<bri_core::verify::VerifyReport, String> = match content {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Ok(bri_core::verify::VerifyReport {
            ok: true,
            frames_checked: 0,
            bytes_decoded: 0,
            members: Vec::new(),
            damaged_frames: Vec::new(),
            problems: Vec::new(),
        }),
        Err(e) if quick => Ok(bri_core::verify::VerifyReport {
            ok: true,
            frames_checked: 0,
            bytes_decoded: 0,
            members: Vec::new(),
            damaged_frames: Vec::new(),
            problems: vec![format!("manifest not readable before repair: {e}")],
        }),
        Err(e) => Err(e),
    };
    let content_ok = matches!(&content, Ok(r) if r.ok);
    let has_parity = parity.state != OverallState::IndexLost;
    let parity_expected = manifest
        .as_ref()
        .map(|m| m.error_correction.is_some())
        .unwrap_or(true);
    // The verdict: intact only when both agree; repairable only when parity can rebuild it.
    let state = bri_core::verify::Verdict::of(&parity, content_ok, parity_expected).as_str();
    let exit = match state {
        "intact" => 0,
        "repairable" => EXIT_DAMAGED,
        _ => EXIT_BEYOND_REPAIR,
    };
    // Members touched by lost bytes.
    let lost_members: Vec<String> = manifest
        .as_ref()
        .map(|m| bri_core::verify::members_in_frames(m, &parity.lost_frames))
        .unwrap_or_default();
    let v = json!({
        "file": a.file,
        "archiveId": manifest.as_ref().map(|m| m.archive_id.clone()),
        "ok": exit == 0,
        "state": state,
        "parity": if has_parity { serde_json::to_value(&parity).unwrap_or_default() } else { json!(null) },
        "parityMessage": parity.message,
        "lostMembers": lost_members,
        "quick": quick,
        "content": match &content { Ok(r) => serde_json::to_value(r).unwrap_or_default(), Err(e) => json!({"ok": false, "problems": [e]}) },
    });
    out.emit(&v, || {
        let mut s = match state {
            "intact" => format!("OK {}: intact\n", a.file.display()),
            "repairable" => format!("DAMAGED {}: repairable with `bri archive repair`\n", a.file.display()),
            _ => format!("DAMAGED {}: beyond repair\n", a.file.display()),
        };
        if has_parity {
            let l = parity.layout.expect("layout with index");
            s += &format!(
                "  parity: {} stripes of {}+{} shards of {}, {}% redundancy\n",
                parity.stripes.len(),
                l.k,
                l.m,
                human_bytes(u64::from(l.shard_size)),
                l.redundancy_percent
            );
            for st in parity.stripes.iter().filter(|st| st.state != bri_core::parity::StripeState::Intact) {
                s += &format!(
                    "  stripe {}: {} ({} data + {} parity shards damaged{})\n",
                    st.stripe,
                    if st.state == bri_core::parity::StripeState::Repairable { "repairable" } else { "BEYOND REPAIR" },
                    st.damaged_data.len(),
                    st.damaged_parity.len(),
                    if st.header_damaged { ", header damaged" } else { "" }
                );
            }
            for (i, c) in parity.index_copies.iter().enumerate() {
                if *c != bri_core::parity::CopyState::Intact {
                    s += &format!("  parity index copy {}: {c:?}\n", i + 1);
                }
            }
            if let Some(c) = parity.seek_table.filter(|c| *c != bri_core::parity::CopyState::Intact) {
                s += &format!("  seek table: {c:?}\n");
            }
            if parity.missing_tail > 0 {
                s += &format!("  file is truncated: {} bytes missing at the end\n", parity.missing_tail);
            }
            for r in &parity.lost {
                s += &format!("  LOST data-region bytes {}..{}\n", r.start, r.end);
            }
            for m in &lost_members {
                s += &format!("  LOST member {m}\n");
            }
        } else if let Some(msg) = &parity.message {
            if parity_expected {
                s += &format!("  parity: {msg}\n");
            } else {
                s += "  parity: none (archive written with --redundancy 0)\n";
            }
        }
        match &content {
            Ok(_) if quick => s += "  content: not decompressed (--quick); every byte checked against its parity shard hash\n",
            Ok(r) if r.ok => s += &format!("  content: {} members, {} frames, {} checked\n", r.members.len(), r.frames_checked, human_bytes(r.bytes_decoded)),
            Ok(r) if state == "repairable" => {
                s += &format!(
                    "  content: {} of {} members unreadable until repaired (see --json for details)\n",
                    r.members.iter().filter(|m| !m.ok).count(),
                    r.members.len()
                );
            }
            Ok(r) => {
                for m in r.members.iter().filter(|m| !m.ok) {
                    s += &format!("  member {}: {}\n", m.path, m.problem.as_deref().unwrap_or("damaged"));
                }
                for f in &r.damaged_frames {
                    s += &format!("  {}\n", f.problem);
                }
                for p in &r.problems {
                    s += &format!("  {p}\n");
                }
            }
            Err(e) => s += &format!("  content: {e}\n"),
        }
        s
    });
    Ok(exit)
}

fn repair(a: RepairArgs, out: &Output) -> CmdResult {
    let len = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    let bar = out.bytes_bar(len, "repairing");
    let s = heal::repair(&a.file, a.output.as_deref(), a.force, &bar)?;
    bar.finish_and_clear();
    let v = serde_json::to_value(&s).unwrap_or_default();
    out.emit(&v, || {
        if s.already_intact {
            format!("{} is intact; nothing to repair\n", a.file.display())
        } else {
            format!(
                "repaired {}: {} stripes, {} shards rebuilt{}; verified byte-identical to the original\n",
                s.output.display(),
                s.stripes_repaired,
                s.shards_rebuilt,
                if s.metadata_rewritten { ", index and seek table rewritten" } else { "" }
            )
        }
    });
    Ok(0)
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
