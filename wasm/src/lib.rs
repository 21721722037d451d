//! wasm-bindgen bindings of `bri-core` for the in-browser archive inspector (issue 8).
//!
//! Thin: argument conversion and error mapping only; the work is in [`ops`] (plain Rust,
//! tested natively) and in core. Results are plain JS objects (built by `JSON.parse` of the
//! serde_json value, so their shape is exactly the CLI's `--json` output); errors are thrown as
//! JS `Error`s whose `.code` is the stable code of `bri_core::ErrorCode::as_str`.
//!
//! The crate depends on `bri-core` without default features (pure-Rust `ruzstd` codec, no C),
//! so building it for `wasm32-unknown-unknown` also proves that core stays sans-IO.

pub mod ops;

use ops::{OpError, OpResult};
use wasm_bindgen::prelude::*;

/// Version of the core library this wrapper was built with.
pub fn core_version() -> &'static str {
    bri_core::VERSION
}

fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&e, &JsValue::from_str("code"), &JsValue::from_str(code));
    e.into()
}

fn to_js(e: OpError) -> JsValue {
    js_error(e.code, &e.message)
}

fn value_to_js(v: &serde_json::Value) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(v).map_err(|e| js_error("INVALID_INPUT", &e.to_string()))?;
    js_sys::JSON::parse(&text)
}

fn out(r: OpResult<serde_json::Value>) -> Result<JsValue, JsValue> {
    value_to_js(&r.map_err(to_js)?)
}

fn invalid(message: &str) -> JsValue {
    js_error("INVALID_INPUT", message)
}

/// A time given as epoch milliseconds (number, bigint or digit string) or a date string
/// (`Date.parse`: RFC 3339 / ISO 8601). `undefined`/`null`: none.
fn time_arg(v: Option<JsValue>, what: &str) -> Result<Option<u64>, JsValue> {
    let Some(v) = v.filter(|v| !v.is_undefined() && !v.is_null()) else {
        return Ok(None);
    };
    let ms = if let Some(n) = v.as_f64() {
        n
    } else if v.is_bigint() {
        let s: String = js_sys::BigInt::from(v.clone())
            .to_string(10)
            .map(String::from)
            .unwrap_or_default();
        s.parse::<f64>().unwrap_or(f64::NAN)
    } else if let Some(s) = v.as_string() {
        let s = s.trim().to_string();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<f64>().unwrap_or(f64::NAN)
        } else {
            js_sys::Date::parse(&s)
        }
    } else {
        f64::NAN
    };
    if !ms.is_finite() || ms < 0.0 || ms.fract() != 0.0 || ms > 9.007_199_254_740_991e15 {
        return Err(invalid(&format!(
            "invalid input: {what} must be epoch milliseconds or an RFC 3339 time such as 2024-02-05T13:05:18.946Z"
        )));
    }
    Ok(Some(ms as u64))
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Errors thrown by every function: a JS Error with the stable code of the bri CLI and Node module. */
export interface BriError extends Error {
  code: "ARCHIVE_NOT_FOUND" | "ARCHIVE_CORRUPTED" | "REPAIR_IMPOSSIBLE" | "RESTORE_ERROR" | "TIMESTAMP_NOT_FOUND"
    | "WAL_CHAIN_BROKEN" | "INVALID_INPUT" | "REMOTE_ERROR" | "CONFIG_ERROR" | "ENCRYPTION_KEY_REQUIRED" | "IO_ERROR";
}
/** `bri --json archive inspect` without `file`; `manifest` is manifest.json (FORMAT.md). */
export interface InspectResult {
  fileBytes: number; frames: number; dataRegionBytes: number; tarBytes: number;
  manifest: { archiveId: string; name?: string; kind: string; createdAt: string; members: Array<{ path: string; size: number; compressedSize: number; firstFrame: number; frameCount: number; sha256: string; [k: string]: unknown }>; [k: string]: unknown };
}
export type OpenTailResult = { need: number } | { manifestStart: number; manifestEnd: number; frames: number };
/** `bri --json archive verify` without `file`. */
export interface VerifyResult {
  archiveId: string | null; ok: boolean; state: "intact" | "repairable" | "beyondRepair";
  parity: null | { state: string; stripes: Array<{ stripe: number; state: "intact" | "repairable" | "beyondRepair"; damagedData: number[]; damagedParity: number[]; headerDamaged: boolean; lost: unknown[] }>; [k: string]: unknown };
  parityMessage: string | null; lostMembers: string[];
  content: { ok: boolean; members?: Array<{ path: string; ok: boolean; problem?: string }>; problems: string[]; [k: string]: unknown };
}
/** `state` is the canonical form of `bri --json db state` (the fixtures' expected/*.json). */
export interface DbStateResult {
  at: number | null; source: "walReplay" | "snapshot"; appliedEntries: number; lastAppliedLine: number;
  documentCount: number; collectionCount: number;
  state: { documents: Record<string, unknown>; collections: Record<string, string[]> }; [k: string]: unknown;
}
export interface TimelineResult {
  bucketMs: number; firstTimestamp: number | null; lastTimestamp: number | null; entries: number; corruptLines: number;
  buckets: Array<{ start: number; count: number; actions: Record<string, number> }>;
}
"#;

/// Manifest and layout of an archive (the shape of `bri --json archive inspect`).
#[wasm_bindgen(unchecked_return_type = "InspectResult")]
pub fn inspect(bytes: &[u8]) -> Result<JsValue, JsValue> {
    out(ops::inspect(bytes))
}

/// First step of reading an archive with range requests: give the file's length and its last
/// bytes (`TAIL_HINT` = 64 KiB is enough for most files); returns `{need}` (fetch that many
/// bytes from the end and call again) or `{manifestStart, manifestEnd, frames}`.
#[wasm_bindgen(js_name = openTail, unchecked_return_type = "OpenTailResult")]
pub fn open_tail(
    #[wasm_bindgen(js_name = fileLen)] file_len: f64,
    tail: &[u8],
) -> Result<JsValue, JsValue> {
    out(ops::open_tail(file_len as u64, tail))
}

/// Second step: the same result as `inspect`, from the tail and the manifest frame's bytes.
#[wasm_bindgen(js_name = inspectTail, unchecked_return_type = "InspectResult")]
pub fn inspect_tail(
    #[wasm_bindgen(js_name = fileLen)] file_len: f64,
    tail: &[u8],
    #[wasm_bindgen(js_name = manifestFrame)] manifest_frame: &[u8],
) -> Result<JsValue, JsValue> {
    out(ops::inspect_tail(file_len as u64, tail, manifest_frame))
}

/// For range reads: `[{path, start, end}]`, the file bytes of each member's frames. A buffer of
/// the file's length holding the tail, the manifest frame and the ranges of some members is
/// enough for `extract`, `dbState` and `timeline` on those members.
#[wasm_bindgen(
    js_name = memberRanges,
    unchecked_return_type = "Array<{ path: string; start: number; end: number }>"
)]
pub fn member_ranges(
    #[wasm_bindgen(js_name = fileLen)] file_len: f64,
    tail: &[u8],
    #[wasm_bindgen(js_name = manifestFrame)] manifest_frame: &[u8],
) -> Result<JsValue, JsValue> {
    out(ops::member_ranges(file_len as u64, tail, manifest_frame))
}

/// How many bytes from the end to read first.
#[wasm_bindgen(js_name = tailHint)]
pub fn tail_hint() -> u32 {
    bri_core::reader::TAIL_HINT as u32
}

/// Verify parity and content (the shape of `bri --json archive verify`). `progress`, if
/// given, is called as `progress(phase, done, total)` with phase `"parity"` or `"content"`.
#[wasm_bindgen(unchecked_return_type = "VerifyResult")]
pub fn verify(bytes: &[u8], progress: Option<js_sys::Function>) -> Result<JsValue, JsValue> {
    let mut cb = |phase: &str, done: f64, total: f64| {
        if let Some(f) = &progress {
            let _ = f.call3(
                &JsValue::NULL,
                &JsValue::from_str(phase),
                &JsValue::from_f64(done),
                &JsValue::from_f64(total),
            );
        }
    };
    value_to_js(&ops::verify(bytes, &mut cb))
}

/// The original file rebuilt from parity (throws `REPAIR_IMPOSSIBLE` beyond the redundancy).
#[wasm_bindgen]
pub fn repair(bytes: &[u8]) -> Result<Vec<u8>, JsValue> {
    ops::repair(bytes).map_err(to_js)
}

/// One member's content (sha256-checked).
#[wasm_bindgen]
pub fn extract(bytes: &[u8], member: &str) -> Result<Vec<u8>, JsValue> {
    ops::extract(bytes, member).map_err(to_js)
}

/// The BRI database state at `atTimestamp` (epoch ms or RFC 3339; the end when omitted) of an
/// archive of a BRI data directory. `.state` is the canonical form of `bri db state --json`.
/// `key`: the 64 hex characters of `BRI_ENCRYPTION_KEY`, for encrypted databases.
#[wasm_bindgen(js_name = dbState, unchecked_return_type = "DbStateResult")]
pub fn db_state(
    bytes: &[u8],
    #[wasm_bindgen(js_name = atTimestamp)] at_timestamp: Option<JsValue>,
    key: Option<String>,
) -> Result<JsValue, JsValue> {
    let at = time_arg(at_timestamp, "atTimestamp")?;
    out(ops::db_state(bytes, at, key.as_deref()))
}

/// WAL entries per time bucket (`bucketMs`; an hour or a day when omitted).
#[wasm_bindgen(unchecked_return_type = "TimelineResult")]
pub fn timeline(
    bytes: &[u8],
    #[wasm_bindgen(js_name = bucketMs)] bucket_ms: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let b = time_arg(bucket_ms, "bucketMs")?;
    out(ops::timeline(bytes, b))
}

/// Version of bri-core inside this module.
#[wasm_bindgen]
pub fn version() -> String {
    core_version().to_string()
}
