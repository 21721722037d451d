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
  remote = { url, len };
  return { inspect: bri.inspectTail(len, tail, manifest), remote: { url, len, ...stats, rangeSupported: true } };
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
    return bri.timeline(await ensureBytes(id), bucketMs ?? undefined);
  },
  async dbState({ at, key }, id) {
    return bri.dbState(await ensureBytes(id), at ?? undefined, key || undefined);
  },
  async extract(member, id) {
    const out = bri.extract(await ensureBytes(id), member);
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
