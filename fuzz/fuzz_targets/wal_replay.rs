//! Fuzz the WAL line splitter, line/entry parser, chain check, decryption and replay.
//!
//! Input layout: byte 0 picks the chunk size and options, byte 1 a segment split point; the
//! rest is WAL bytes (seeded with fixture segments). Nothing may panic; every reported line
//! number must lie within the lines seen.
#![no_main]

use bri_core::bri::crypto::Key;
use bri_core::bri::replay::{ReplayOptions, WalEngine};
use bri_core::bri::snapshot::{read_snapshot, write_snapshot_v1};
use bri_core::bri::state::State;
use libfuzzer_sys::fuzz_target;

// The key of the `encrypted` fixture, so that encrypted seeds reach the decoder.
const KEY_HEX: &[u8] = b"abe666fc294ea5d4725a28e41a066c069390efb22d91bb06409cd496b91c0d8b";

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (ctl, split, wal) = (data[0], data[1] as usize, &data[2..]);
    let chunk = 1 + (ctl as usize & 0x3f) * 37;
    let key = if ctl & 0x40 != 0 {
        Key::from_hex(KEY_HEX).ok()
    } else {
        None
    };
    let opts = ReplayOptions {
        max_line_bytes: 1 << 16,
        apply: ctl & 0x80 == 0 || key.is_some(),
        until_time: (ctl & 0x10 != 0).then_some(1_700_000_000_000),
        until_line: (ctl & 0x20 != 0).then_some(split as u64),
        ..Default::default()
    };
    let mut engine = WalEngine::new(State::new(), opts, key);
    let cut = (split * wal.len() / 256).min(wal.len());
    let mut failed = false;
    for (i, seg) in [&wal[..cut], &wal[cut..]].iter().enumerate() {
        if engine.begin_segment(&format!("{i:06}.wal")).is_err() {
            failed = true;
            break;
        }
        for c in seg.chunks(chunk) {
            if engine.feed(c).is_err() {
                failed = true;
                break;
            }
        }
        if failed || engine.end_segment().is_err() {
            failed = true;
            break;
        }
    }
    if failed {
        return;
    }
    let Ok(out) = engine.finish() else { return };
    let total = out.stats.total_physical_lines;
    for c in &out.stats.corrupt_lines {
        assert!(c.line >= 1 && c.line <= total);
    }
    assert!(out.last_applied_line <= total);
    if let Some(b) = out.chain.broken.first() {
        assert!(b.line >= 1 && b.line <= total);
    }
    // Whatever the state, a v1 snapshot of it reads back identically.
    let snap = write_snapshot_v1(&out.state, total, 1);
    let back = read_snapshot(&snap, None).expect("core's own v1 snapshot reads back");
    assert_eq!(back.state, out.state);
});
