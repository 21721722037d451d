//! Fuzz the JSS reader and the snapshot reader (v1, v2 with de-inlining, encrypted), and the
//! canonical form. Nothing may panic; a snapshot that reads must survive a v1 round trip.
#![no_main]

use bri_core::bri::jss::{canonical_document, JVal};
use bri_core::bri::snapshot::{read_snapshot, write_snapshot_v1};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(v) = JVal::parse(text) {
            let again = JVal::parse(&v.to_json_string()).expect("own output parses");
            assert_eq!(again.to_json_string(), v.to_json_string());
        }
        let _ = canonical_document(text);
    }
    if let Ok(snap) = read_snapshot(data, None) {
        let _ = snap.state.to_canonical_json();
        let bytes = write_snapshot_v1(&snap.state, snap.wal_line, 0);
        let back = read_snapshot(&bytes, None).expect("core's own v1 snapshot reads back");
        assert_eq!(back.state, snap.state);
        assert_eq!(back.wal_line, snap.wal_line);
    }
});
