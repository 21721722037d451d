// Benchmark of issue 8: verify throughput of a ~100 MiB archive in Chromium (wasm, ruzstd)
// against the native CLI (libzstd) on the same file in the same run, and the time to open the
// manifest from a local file and from a URL (Range requests: only the tail is read).
//
//   node wasm/bench/bench.mjs [--mib 100] [--runs 3]
//
// Needs `npm run build:wasm`, a release `bri` (cargo build --release -p bri-cli, or BRI_BIN)
// and /usr/bin/chromium. Prints a Markdown table and writes wasm/test-output/bench.json.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../serve.mjs';
import { ROOT, WASM_DIR, tmpDir } from '../tests/helpers.mjs';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const MIB = Number(opt('--mib', 100));
const RUNS = Number(opt('--runs', 3));
const BRI = process.env.BRI_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'release', 'bri');
if (!fs.existsSync(BRI)) throw new Error(`release bri not found at ${BRI}: cargo build --release -p bri-cli`);

// Input: WAL-like lines whose values are random hex (compresses about 2.5x), 2.5 x --mib MiB of
// it, so that the archive is about --mib MiB.
const work = tmpDir('bench');
const input = path.join(work, 'input');
fs.mkdirSync(input);
const fileBytes = 8 << 20;
let ts = 1707000000000;
for (let f = 0; f * fileBytes < 2.5 * (MIB << 20); f++) {
  const parts = [];
  let n = 0;
  while (n < fileBytes) {
    const r = crypto.randomBytes(40).toString('hex');
    ts += 1 + (r.charCodeAt(0) % 7);
    const line = `${ts}|${r.slice(0, 8)}|{"action":"SET","target":"DOC_${r.slice(8, 15)}","value":"${r.slice(15)}"}\n`;
    parts.push(line);
    n += line.length;
  }
  fs.writeFileSync(path.join(input, `${String(f).padStart(6, '0')}.wal`), parts.join(''));
}
const archive = path.join(work, 'big.bri.zst');
const c = spawnSync(BRI, ['--json', '-q', 'archive', 'create-files', input, '-o', archive], { encoding: 'utf8' });
if (c.status !== 0) throw new Error(c.stdout + c.stderr);
const size = fs.statSync(archive).size;

function time(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const nativeVerify = [];
const nativeInspect = [];
for (let i = 0; i < RUNS; i++) {
  nativeVerify.push(time(() => spawnSync(BRI, ['--json', '-q', 'archive', 'verify', archive])));
  nativeInspect.push(time(() => spawnSync(BRI, ['--json', '-q', 'archive', 'inspect', archive])));
}

const { server, url } = await startServer({ files: work });
const ctx = await chromium.launchPersistentContext(tmpDir('bench-profile'), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = ctx.pages()[0] || (await ctx.newPage());
await page.goto(url);
await page.evaluate(() => {
  const i = document.createElement('input');
  i.type = 'file';
  i.id = 'bench-file';
  document.body.append(i);
});
await page.setInputFiles('#bench-file', archive);
const browser = await page.evaluate(
  async ({ fileUrl, runs }) => {
    const m = await import('/pkg/bri_wasm.js');
    await m.default({ module_or_path: '/pkg/bri_wasm_bg.wasm' });
    const openTail = async (len, read) => {
      let tail = await read(Math.max(0, len - m.tailHint()), len);
      let r = m.openTail(len, tail);
      if (r.need) {
        tail = await read(len - r.need, len);
        r = m.openTail(len, tail);
      }
      const manifest = await read(r.manifestStart, r.manifestEnd);
      return m.inspectTail(len, tail, manifest);
    };
    const out = { verifyMs: [], fileManifestMs: [], urlManifestMs: [], urlBytes: 0 };
    const file = document.querySelector('#bench-file').files[0];
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      await openTail(file.size, async (a, b) => new Uint8Array(await file.slice(a, b).arrayBuffer()));
      out.fileManifestMs.push(performance.now() - t);
      let fetched = 0;
      t = performance.now();
      const head = await fetch(fileUrl, { headers: { Range: 'bytes=-1' } });
      const len = Number(head.headers.get('Content-Range').split('/')[1]);
      await head.arrayBuffer();
      await openTail(len, async (a, b) => {
        const r = await fetch(fileUrl, { headers: { Range: `bytes=${a}-${b - 1}` } });
        const u = new Uint8Array(await r.arrayBuffer());
        fetched += u.length;
        return u;
      });
      out.urlManifestMs.push(performance.now() - t);
      out.urlBytes = fetched;
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const v = m.verify(bytes);
      out.verifyMs.push(performance.now() - t);
      if (!v.ok) throw new Error('verify failed in the browser');
    }
    return out;
  },
  { fileUrl: `${url}files/big.bri.zst`, runs: RUNS },
);
await ctx.close();
server.close();

const mibps = (ms) => (size / (1 << 20) / (ms / 1000)).toFixed(1);
const res = {
  archiveBytes: size,
  inputMiB: MIB,
  runs: RUNS,
  cpu: os.cpus()[0]?.model,
  nativeVerifyMs: median(nativeVerify),
  wasmVerifyMs: median(browser.verifyMs),
  nativeInspectProcessMs: median(nativeInspect),
  wasmManifestFromFileMs: median(browser.fileManifestMs),
  wasmManifestFromUrlMs: median(browser.urlManifestMs),
  urlBytesFetched: browser.urlBytes,
};
fs.mkdirSync(path.join(WASM_DIR, 'test-output'), { recursive: true });
fs.writeFileSync(path.join(WASM_DIR, 'test-output', 'bench.json'), JSON.stringify(res, null, 2));
console.log(`archive: ${(size / (1 << 20)).toFixed(1)} MiB (from ${2.5 * MIB} MiB of WAL-like lines), median of ${RUNS} runs, ${res.cpu}`);
console.log('| measurement | time | throughput |');
console.log('|---|---:|---:|');
console.log(`| verify, native CLI (\`bri archive verify\`, libzstd, whole process) | ${res.nativeVerifyMs.toFixed(0)} ms | ${mibps(res.nativeVerifyMs)} MiB/s |`);
console.log(`| verify, Chromium wasm (\`verify(bytes)\`, ruzstd, one thread) | ${res.wasmVerifyMs.toFixed(0)} ms | ${mibps(res.wasmVerifyMs)} MiB/s |`);
console.log(`| manifest, native CLI (\`bri archive inspect\`, whole process) | ${res.nativeInspectProcessMs.toFixed(1)} ms | |`);
console.log(`| manifest, Chromium, local File (tail + manifest slices) | ${res.wasmManifestFromFileMs.toFixed(1)} ms | |`);
console.log(`| manifest, Chromium, URL with Range requests (${(res.urlBytesFetched / 1024).toFixed(0)} KiB fetched) | ${res.wasmManifestFromUrlMs.toFixed(1)} ms | |`);
fs.rmSync(work, { recursive: true, force: true });
