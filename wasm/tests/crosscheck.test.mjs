// Cross-check: the wasm module (loaded in Node) and the native `bri` CLI give identical
// inspect / verify / state results on the same archives; dbState matches the fixtures' oracle.
// Run: node --test wasm/tests/crosscheck.test.mjs (after `npm run build:wasm`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, PKG, bri, briBin, corruptCopy, expected, makeArchive, pitrTimes, tmpDir } from './helpers.mjs';

const wasm = await import(path.join(PKG, 'bri_wasm.js'));
wasm.initSync({ module: fs.readFileSync(path.join(PKG, 'bri_wasm_bg.wasm')) });

const SCENARIOS = ['basic', 'multiseg', 'softdelete-sets', 'crashed-tail'];
const work = tmpDir('crosscheck');
const archives = Object.fromEntries(SCENARIOS.map((s) => [s, makeArchive(s, work)]));

function withoutFile(v) {
  const { file, ...rest } = v;
  return rest;
}

// How a damaged frame fails differs between libzstd (native) and ruzstd (wasm): a decode error,
// or a content checksum mismatch. Everything else (which frame, which bytes, which member) must
// be identical.
function sameDecoderText(v) {
  if (typeof v === 'string') return v.replace(/(frame \d+ \(bytes \d+\.\.\d+\)):? .*$/s, '$1 <decoder message>');
  if (Array.isArray(v)) return v.map(sameDecoderText);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sameDecoderText(x)]));
  return v;
}

function codeOf(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Error, 'thrown value is an Error');
    return e.code;
  }
  assert.fail('expected an error');
}

for (const s of SCENARIOS) {
  test(`${s}: inspect equals bri archive inspect --json`, () => {
    const bytes = fs.readFileSync(archives[s]);
    const native = bri('archive', 'inspect', archives[s]);
    assert.equal(native.code, 0);
    const mine = wasm.inspect(bytes);
    assert.deepEqual(mine, withoutFile(native.json));
    assert.equal(mine.manifest.name, s);
    assert.ok(mine.manifest.members.some((m) => m.path.startsWith('wal/')));
  });

  test(`${s}: inspect from the tail and the manifest frame only (range-request path)`, () => {
    const bytes = fs.readFileSync(archives[s]);
    const len = bytes.length;
    let want = Math.min(wasm.tailHint(), len);
    let r = wasm.openTail(len, bytes.subarray(len - want));
    if (r.need) {
      want = r.need;
      r = wasm.openTail(len, bytes.subarray(len - want));
    }
    assert.equal(typeof r.manifestStart, 'number');
    const v = wasm.inspectTail(len, bytes.subarray(len - want), bytes.subarray(r.manifestStart, r.manifestEnd));
    assert.deepEqual(v, wasm.inspect(bytes));
  });

  test(`${s}: verify equals bri archive verify --json (intact)`, () => {
    const bytes = fs.readFileSync(archives[s]);
    const native = bri('archive', 'verify', archives[s]);
    assert.equal(native.code, 0);
    const calls = [];
    const mine = wasm.verify(bytes, (phase, done, total) => calls.push([phase, done, total]));
    assert.deepEqual(mine, withoutFile(native.json));
    assert.equal(mine.ok, true);
    assert.equal(mine.state, 'intact');
    assert.ok(calls.some((c) => c[0] === 'content'), 'progress callback called for content');
    const last = calls[calls.length - 1];
    assert.equal(last[1], last[2], 'progress ends at 100%');
  });

  test(`${s}: dbState at every fixture pitr time and at the end equals the oracle and bri db state`, () => {
    const bytes = fs.readFileSync(archives[s]);
    const dir = tmpDir(`extract-${s}`);
    const x = bri('archive', 'extract', archives[s], '--to', dir);
    assert.equal(x.code, 0, JSON.stringify(x.json));
    const times = pitrTimes(s);
    assert.ok(times.length > 0 || s === 'crashed-tail');
    for (const t of times) {
      const mine = wasm.dbState(bytes, t);
      assert.deepEqual(mine.state, expected(s, `pitr/${t}.json`), `${s} at ${t}`);
      const native = bri('db', 'state', '--data-dir', dir, '--at', String(t));
      assert.equal(native.code, 0);
      assert.deepEqual(mine.state, native.json, `${s} at ${t} vs CLI`);
      // The same instant as an RFC 3339 string.
      assert.deepEqual(wasm.dbState(bytes, new Date(t).toISOString()).state, mine.state);
    }
    // At the end: what the CLI computes for the extracted directory (final.json is BRI's own
    // recovery from its lossy v2 snapshot, not a replay, so it is not the oracle here).
    const end = wasm.dbState(bytes);
    assert.deepEqual(end.state, bri('db', 'state', '--data-dir', dir).json);
    const meta = expected(s, 'meta.json');
    for (const p of meta.pitr || []) {
      if (p.kind === 'last-entry') assert.deepEqual(end.state, expected(s, `pitr/${p.T}.json`));
    }
    assert.equal(end.documentCount, Object.keys(end.state.documents).length);
  });

  test(`${s}: timeline counts every readable WAL entry`, () => {
    const bytes = fs.readFileSync(archives[s]);
    const stats = expected(s, 'wal-stats.json');
    const t = wasm.timeline(bytes);
    const sum = t.buckets.reduce((a, b) => a + b.count, 0);
    assert.equal(sum, t.entries);
    assert.equal(t.entries, stats.totalEntries);
    assert.equal(t.firstTimestamp, stats.firstTimestamp);
    assert.equal(t.lastTimestamp, stats.lastTimestamp);
    const actions = {};
    for (const b of t.buckets) for (const [k, v] of Object.entries(b.actions)) actions[k] = (actions[k] || 0) + v;
    assert.deepEqual(actions, stats.actions);
    const daily = wasm.timeline(bytes, 86400000);
    assert.equal(daily.bucketMs, 86400000);
    assert.equal(daily.buckets.reduce((a, b) => a + b.count, 0), t.entries);
  });
}

test('damaged copy: verify equals the CLI (repairable, damaged stripe named) and repair is byte-identical', () => {
  const src = archives.multiseg;
  const original = fs.readFileSync(src);
  const info = wasm.inspect(original);
  const m = info.manifest.members.find((e) => e.path.startsWith('wal/') && e.compressedSize > 200);
  // Damage the middle of the data region (inside some member's frames).
  const at = Math.floor(info.dataRegionBytes / 2);
  const bad = path.join(work, 'damaged.bri.zst');
  const damaged = corruptCopy(src, bad, at, 100);
  const native = bri('archive', 'verify', bad);
  assert.equal(native.code, 3, 'CLI: damaged but repairable');
  const mine = wasm.verify(damaged);
  assert.deepEqual(sameDecoderText(mine), sameDecoderText(withoutFile(native.json)));
  assert.equal(mine.state, 'repairable');
  assert.equal(mine.ok, false);
  assert.ok(mine.parity.stripes.some((st) => st.state === 'repairable'));
  assert.ok(mine.content.members.some((x) => !x.ok), 'content check names a damaged member');
  assert.ok(m);
  const fixed = wasm.repair(damaged);
  assert.ok(fixed instanceof Uint8Array);
  assert.ok(Buffer.from(fixed).equals(original), 'repaired bytes are the original');
  assert.equal(wasm.verify(fixed).state, 'intact');
  // And the CLI agrees on the repaired file.
  const out = path.join(work, 'repaired.bri.zst');
  fs.writeFileSync(out, fixed);
  assert.equal(bri('archive', 'verify', out).code, 0);
});

test('damaged seek table (file tail): inspect still opens through the parity index; verify equals the CLI', () => {
  const src = archives.basic;
  const original = fs.readFileSync(src);
  const bad = path.join(work, 'tail-damaged.bri.zst');
  const damaged = corruptCopy(src, bad, original.length - 40, 30);
  const native = bri('archive', 'verify', bad);
  const mine = wasm.verify(damaged);
  assert.deepEqual(sameDecoderText(mine), sameDecoderText(withoutFile(native.json)));
  assert.equal(mine.state, 'repairable');
  assert.equal(wasm.inspect(damaged).manifest.archiveId, wasm.inspect(original).manifest.archiveId);
  assert.ok(Buffer.from(wasm.repair(damaged)).equals(original));
});

test('extract returns the member bytes (sha256-checked)', () => {
  const bytes = fs.readFileSync(archives.basic);
  const seg = wasm.extract(bytes, 'wal/000000.wal');
  const onDisk = fs.readFileSync(path.join(FIXTURES, 'basic', 'data', 'wal', '000000.wal'));
  assert.ok(Buffer.from(seg).equals(onDisk));
});

test('errors are Error objects with the stable codes', () => {
  const bytes = fs.readFileSync(archives.basic);
  assert.equal(codeOf(() => wasm.inspect(new Uint8Array(10))), 'INVALID_INPUT');
  assert.equal(codeOf(() => wasm.inspect(new Uint8Array(100000).fill(7))), 'INVALID_INPUT');
  assert.equal(codeOf(() => wasm.extract(bytes, 'no/such/member')), 'ARCHIVE_NOT_FOUND');
  assert.equal(codeOf(() => wasm.dbState(bytes, 'yesterday-ish')), 'INVALID_INPUT');
  assert.equal(codeOf(() => wasm.dbState(bytes, 1000)), 'TIMESTAMP_NOT_FOUND');
  assert.equal(codeOf(() => wasm.timeline(bytes, 0)), 'INVALID_INPUT');
  // Beyond repair: wipe a large part of the data region.
  const b = Buffer.from(bytes);
  b.fill(0, 0, Math.floor(b.length * 0.6));
  assert.equal(codeOf(() => wasm.repair(b)), 'REPAIR_IMPOSSIBLE');
  const v = wasm.verify(b);
  assert.equal(v.state, 'beyondRepair');
});

test('encrypted database: dbState needs the key, and with it equals the oracle and the CLI', () => {
  const dir = tmpDir('enc');
  const a = makeArchive('encrypted', dir);
  const bytes = fs.readFileSync(a);
  const key = fs.readFileSync(path.join(FIXTURES, 'encrypted', 'key.hex'), 'utf8').trim();
  assert.equal(codeOf(() => wasm.dbState(bytes)), 'ENCRYPTION_KEY_REQUIRED');
  assert.equal(codeOf(() => wasm.dbState(bytes, null, 'abc')), 'ENCRYPTION_KEY_REQUIRED');
  const times = pitrTimes('encrypted');
  assert.ok(times.length > 0);
  const x = path.join(dir, 'x');
  assert.equal(bri('archive', 'extract', a, '--to', x).code, 0);
  for (const t of times) {
    const mine = wasm.dbState(bytes, t, key);
    assert.deepEqual(mine.state, expected('encrypted', `pitr/${t}.json`), `encrypted at ${t}`);
  }
  const r = spawnSync(briBin(), ['--json', '-q', 'db', 'state', '--data-dir', x], {
    encoding: 'utf8',
    env: { ...process.env, BRI_ENCRYPTION_KEY: key },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(wasm.dbState(bytes, null, key).state, JSON.parse(r.stdout));
  // Timestamps are readable without the key: the timeline works.
  assert.equal(wasm.timeline(bytes).entries, expected('encrypted', 'wal-stats.json').totalEntries);
});

test('memberRanges: a buffer with only the tail, the manifest and the BRI members gives the same dbState', () => {
  const bytes = fs.readFileSync(archives.multiseg);
  const len = bytes.length;
  const tail = bytes.subarray(len - Math.min(len, wasm.tailHint()));
  const r = wasm.openTail(len, tail);
  const manifest = bytes.subarray(r.manifestStart, r.manifestEnd);
  const ranges = wasm.memberRanges(len, tail, manifest);
  const info = wasm.inspect(bytes);
  assert.deepEqual(ranges.map((m) => m.path), info.manifest.members.map((m) => m.path));
  const sparse = new Uint8Array(len);
  sparse.set(tail, len - tail.length);
  sparse.set(manifest, r.manifestStart);
  let copied = 0;
  for (const m of ranges) {
    if (m.path.startsWith('wal/') || m.path.startsWith('cold/') || m.path === 'snapshot.jss') {
      sparse.set(bytes.subarray(m.start, m.end), m.start);
      copied += m.end - m.start;
    }
  }
  assert.ok(copied < len);
  const t = pitrTimes('multiseg')[0];
  assert.deepEqual(wasm.dbState(sparse, t).state, wasm.dbState(bytes, t).state);
  assert.deepEqual(wasm.timeline(sparse), wasm.timeline(bytes));
  // A member whose frames are missing is reported, not invented.
  const wal = ranges.find((m) => m.path.startsWith('wal/') && m.end > m.start && m.end < len - tail.length);
  const holed = sparse.slice();
  holed.fill(0, wal.start, wal.end);
  assert.equal(codeOf(() => wasm.extract(holed, wal.path)), 'ARCHIVE_CORRUPTED');
});
