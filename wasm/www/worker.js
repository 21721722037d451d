// Web Worker: owns the archive bytes and the wasm module; the page only renders.
// Messages in: {id, op, args}; out: {id, result} | {id, error: {message, code}} | {id, progress}.
import init, * as bri from './pkg/bri_wasm.js';

const ready = init({ module_or_path: new URL('./pkg/bri_wasm_bg.wasm', import.meta.url) });

let bytes = null; // Uint8Array of the whole file, once known
let remote = null; // {url, len} when opened from a URL
const stats = { requests: 0, bytesFetched: 0 };

function progressFor(id, phase) {
  let last = 0;
  return (ph, done, total) => {
    const now = Date.now();
    if (now - last > 40 || done >= total) {
      last = now;
      self.postMessage({ id, progress: { phase: ph || phase, done, total } });
    }
  };
}

async function rangeGet(url, range) {
  stats.requests++;
  const res = await fetch(url, { headers: range ? { Range: range } : {} });
  if (!res.ok) {
    const e = new Error(`HTTP ${res.status} fetching ${url}`);
    e.code = res.status === 404 || res.status === 403 ? 'ARCHIVE_NOT_FOUND' : 'REMOTE_ERROR';
    throw e;
  }
  const buf = new Uint8Array(await res.arrayBuffer());
  stats.bytesFetched += buf.length;
  return { res, buf };
}

function totalFrom(res, buf) {
  const cr = res.headers.get('Content-Range');
  const m = cr && /\/(\d+)\s*$/.exec(cr);
  if (res.status === 206 && m) return Number(m[1]);
  return buf.length; // no range support: we got the whole file
}

async function openUrl(url) {
  await ready;
  bytes = null;
  stats.requests = 0;
  stats.bytesFetched = 0;
  const hint = bri.tailHint();
  let { res, buf } = await rangeGet(url, `bytes=-${hint}`);
  const len = totalFrom(res, buf);
  if (res.status !== 206) {
    bytes = buf;
    remote = { url, len };
    return { inspect: bri.inspect(bytes), remote: { url, len, ...stats, rangeSupported: false } };
  }
  let tail = buf;
  let r = bri.openTail(len, tail);
  if (r.need) {
    ({ buf: tail } = await rangeGet(url, `bytes=-${r.need}`));
    r = bri.openTail(len, tail);
  }
  const inTail = len - tail.length;
  let manifest;
  if (r.manifestStart >= inTail) {
    manifest = tail.subarray(r.manifestStart - inTail, r.manifestEnd - inTail);
  } else {
    ({ buf: manifest } = await rangeGet(url, `bytes=${r.manifestStart}-${r.manifestEnd - 1}`));
  }
  remote = { url, len, tail, manifest, ranges: bri.memberRanges(len, tail, manifest), sparse: null, have: new Set() };
  return { inspect: bri.inspectTail(len, tail, manifest), remote: { url, len, ...stats, rangeSupported: true } };
}

const isBriMember = (p) => p === 'snapshot.jss' || p.startsWith('wal/') || p.startsWith('cold/');

/**
 * URL mode without the whole file: a buffer of the file's length holding the tail, the manifest
 * frame and the frames of the members `want(path)` selects, fetched with Range requests
 * (adjacent ranges merged). Enough for dbState, timeline and extract of those members.
 */
async function sparseBytes(id, want) {
  await ready;
  if (bytes) return bytes;
  if (!remote || !remote.ranges) return ensureBytes(id);
  const r = remote;
  if (!r.sparse) {
    r.sparse = new Uint8Array(r.len);
    r.sparse.set(r.tail, r.len - r.tail.length);
  }
  const need = r.ranges.filter((m) => want(m.path) && m.end > m.start && !r.have.has(m.path)).sort((a, b) => a.start - b.start);
  const merged = [];
  for (const m of need) {
    const last = merged[merged.length - 1];
    if (last && m.start <= last.end + 65536) last.end = Math.max(last.end, m.end);
    else merged.push({ start: m.start, end: m.end });
  }
  const total = merged.reduce((a, m) => a + m.end - m.start, 0);
  const report = progressFor(id, 'download');
  let done = 0;
  for (const m of merged) {
    const { buf } = await rangeGet(r.url, `bytes=${m.start}-${m.end - 1}`);
    r.sparse.set(buf.subarray(0, m.end - m.start), m.start);
    done += m.end - m.start;
    report('download', done, total);
  }
  for (const m of need) r.have.add(m.path);
  // The manifest frame last: the tail may not cover it.
  const mr = bri.openTail(r.len, r.tail);
  r.sparse.set(r.manifest, mr.manifestStart);
  return r.sparse;
}

async function ensureBytes(id) {
  await ready;
  if (bytes) return bytes;
  if (!remote) throw Object.assign(new Error('no archive is open'), { code: 'INVALID_INPUT' });
  const res = await fetch(remote.url);
  if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status} fetching ${remote.url}`), { code: 'REMOTE_ERROR' });
  const total = Number(res.headers.get('Content-Length')) || remote.len;
  const out = new Uint8Array(total);
  const reader = res.body.getReader();
  const report = progressFor(id, 'download');
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.set(value, n);
    n += value.length;
    report('download', n, total);
  }
  stats.requests++;
  stats.bytesFetched += n;
  bytes = out.subarray(0, n);
  return bytes;
}

const ops = {
  async openFile(buffer) {
    await ready;
    remote = null;
    bytes = new Uint8Array(buffer);
    return { inspect: bri.inspect(bytes) };
  },
  openUrl,
  async verify(_, id) {
    const b = await ensureBytes(id);
    return bri.verify(b, progressFor(id, 'verify'));
  },
  async repair(_, id) {
    const b = await ensureBytes(id);
    const fixed = bri.repair(b);
    return { bytes: fixed, transfer: [fixed.buffer] };
  },
  async timeline(bucketMs, id) {
    return bri.timeline(await sparseBytes(id, isBriMember), bucketMs ?? undefined);
  },
  async dbState({ at, key }, id) {
    return bri.dbState(await sparseBytes(id, isBriMember), at ?? undefined, key || undefined);
  },
  async extract(member, id) {
    const r = remote && remote.ranges && remote.ranges.find((m) => m.path === member);
    // Links and empty members: their content lives elsewhere; read the whole file.
    const b = r && r.end > r.start ? await sparseBytes(id, (p) => p === member) : await ensureBytes(id);
    const out = bri.extract(b, member);
    return { bytes: out, transfer: [out.buffer] };
  },
  async stats() {
    return { ...stats };
  },
};

self.onmessage = async (ev) => {
  const { id, op, args } = ev.data;
  try {
    if (!ops[op]) throw Object.assign(new Error(`unknown operation ${op}`), { code: 'INVALID_INPUT' });
    const result = await ops[op](args, id);
    const transfer = result && result.transfer ? result.transfer : [];
    if (result && result.transfer) delete result.transfer;
    self.postMessage({ id, result }, transfer);
  } catch (e) {
    self.postMessage({ id, error: { message: String(e && e.message ? e.message : e), code: (e && e.code) || 'INVALID_INPUT' } });
  }
};
