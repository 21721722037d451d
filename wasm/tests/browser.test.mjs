// The inspector page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// open fixture archives, check what the page shows against the native CLI and the fixtures'
// oracle, repair a damaged copy, open by URL with Range requests, take a screenshot.
// Run: node --test wasm/tests/browser.test.mjs (after `npm run build:wasm`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../serve.mjs';
import { FIXTURES, WASM_DIR, bri, corruptCopy, expected, makeArchive, pitrTimes, tmpDir } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(WASM_DIR, 'test-output');
fs.mkdirSync(OUT, { recursive: true });

const work = tmpDir('browser');
const files = path.join(work, 'files');
fs.mkdirSync(files);
const multiseg = makeArchive('multiseg', files);
const basic = makeArchive('basic', files);
const damaged = path.join(files, 'multiseg-damaged.bri.zst');
{
  const info = bri('archive', 'inspect', multiseg).json;
  corruptCopy(multiseg, damaged, Math.floor(info.dataRegionBytes / 3), 200);
}
const encrypted = makeArchive('encrypted', files);
const garbage = path.join(files, 'garbage.bri.zst');
fs.writeFileSync(garbage, Buffer.alloc(5000, 0x41));

let server;
let base;
let context;
let page;
const requests = [];

before(async () => {
  ({ server, url: base } = await startServer({
    files,
    onRequest: (req) => requests.push({ url: req.url, range: req.headers.range || null, method: req.method }),
  }));
  context = await chromium.launchPersistentContext(tmpDir('profile'), {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1200, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(base);
  await page.waitForSelector('#file', { state: 'attached' });
});

after(async () => {
  await context?.close();
  server?.close();
});

async function openLocal(file) {
  await page.setInputFiles('#file', file);
}

async function waitIdle() {
  await page.waitForFunction(() => !document.body.dataset.busy);
}

test('local archive: manifest, members with sizes and ratios, verification passes', async () => {
  const native = bri('archive', 'inspect', multiseg).json;
  await openLocal(multiseg);
  await page.waitForSelector('#verify-state.intact', { timeout: 60000 });
  assert.equal(await page.textContent('dd[data-field="archive id"]'), native.manifest.archiveId);
  assert.equal(await page.textContent('dd[data-field="name"]'), 'multiseg');
  assert.equal(await page.textContent('dd[data-field="members"]'), String(native.manifest.members.length));
  const rows = await page.$$eval('#members tbody tr', (trs) =>
    trs.map((tr) => ({ path: tr.dataset.path, cells: [...tr.querySelectorAll('td')].map((td) => td.textContent) })),
  );
  assert.deepEqual(
    rows.map((r) => r.path),
    native.manifest.members.map((m) => m.path),
  );
  for (const [i, m] of native.manifest.members.entries()) {
    assert.equal(rows[i].cells[1], String(m.size));
    assert.equal(rows[i].cells[2], String(m.compressedSize));
    if (m.compressedSize > 0) assert.equal(rows[i].cells[3], (m.size / m.compressedSize).toFixed(2));
    assert.equal(rows[i].cells[5], 'ok', `${m.path} verified`);
  }
  const stripes = await page.$$eval('#stripes .stripe', (s) => s.map((x) => x.dataset.state));
  const nativeVerify = bri('archive', 'verify', multiseg).json;
  assert.equal(stripes.length, nativeVerify.parity.stripes.length);
  assert.ok(stripes.every((s) => s === 'intact'));
  assert.equal(await page.isDisabled('#repair'), true);
});

test('timeline chart covers every WAL entry', async () => {
  await page.waitForSelector('#timeline svg rect.bar');
  const stats = expected('multiseg', 'wal-stats.json');
  assert.equal(await page.getAttribute('#timeline-range', 'data-entries'), String(stats.totalEntries));
  const sum = await page.$$eval('#timeline rect.bar', (rs) => rs.reduce((a, r) => a + Number(r.dataset.count), 0));
  assert.equal(sum, stats.totalEntries);
});

test('document browser at each fixture pitr time shows the expected documents; key search filters', async () => {
  for (const t of pitrTimes('multiseg')) {
    const want = expected('multiseg', `pitr/${t}.json`);
    await page.fill('#search', '');
    await page.fill('#at', String(t));
    await page.click('#show-state');
    await waitIdle();
    await page.waitForFunction((n) => document.querySelector('#doc-count').dataset.count === String(n), Object.keys(want.documents).length);
    const keys = await page.$$eval('#documents tbody tr', (trs) => trs.map((tr) => tr.dataset.key));
    const wantKeys = Object.keys(want.documents);
    assert.deepEqual(keys, wantKeys.slice(0, 500), `documents at ${t}`);
    const cols = await page.$$eval('#collections li', (lis) => lis.map((l) => l.dataset.collection));
    assert.deepEqual(cols, Object.keys(want.collections));
    // The first shown document's text is the expected document.
    const firstDoc = await page.textContent('#documents tbody tr td.doc');
    const full = JSON.stringify(want.documents[wantKeys[0]]);
    assert.equal(firstDoc, full.length > 300 ? `${full.slice(0, 300)}…` : full);
    // Search by part of a key.
    const needle = wantKeys[Math.floor(wantKeys.length / 2)].slice(-5);
    await page.fill('#search', needle);
    const found = await page.$$eval('#documents tbody tr', (trs) => trs.map((tr) => tr.dataset.key));
    assert.deepEqual(found, wantKeys.filter((k) => k.toLowerCase().includes(needle.toLowerCase())).slice(0, 500));
    assert.ok(found.length >= 1);
  }
  await page.fill('#search', '');
  await page.screenshot({ path: path.join(OUT, 'inspector.png'), fullPage: true });
});

test('damaged copy: the damaged stripe is shown, repair downloads the original bytes', async () => {
  const native = bri('archive', 'verify', damaged).json;
  assert.equal(native.state, 'repairable');
  const badStripes = native.parity.stripes.filter((s) => s.state !== 'intact').map((s) => String(s.stripe));
  assert.ok(badStripes.length >= 1);
  await openLocal(damaged);
  await page.waitForSelector('#verify-state.repairable', { timeout: 60000 });
  const shown = await page.$$eval('#stripes .stripe:not(.intact)', (s) => s.map((x) => x.dataset.stripe));
  assert.deepEqual(shown, badStripes);
  const damagedRows = await page.$$eval('#members tbody tr', (trs) =>
    trs.filter((tr) => tr.querySelector('td.verified').classList.contains('bad')).map((tr) => tr.dataset.path),
  );
  assert.deepEqual(
    damagedRows,
    native.content.members.filter((m) => !m.ok).map((m) => m.path),
  );
  assert.ok(damagedRows.length >= 1);
  await page.screenshot({ path: path.join(OUT, 'inspector-damaged.png'), fullPage: false });
  assert.equal(await page.isDisabled('#repair'), false);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#repair')]);
  assert.equal(dl.suggestedFilename(), 'multiseg-damaged.repaired.bri.zst');
  const saved = path.join(work, 'repaired.bri.zst');
  await dl.saveAs(saved);
  assert.ok(fs.readFileSync(saved).equals(fs.readFileSync(multiseg)), 'repaired download is byte-identical to the original');
});

test('open by URL: manifest from the tail, documents and timeline from the needed frames, all with Range requests; verify then downloads', async () => {
  requests.length = 0;
  const size = fs.statSync(multiseg).size;
  await page.fill('#url', `${base}files/${path.basename(multiseg)}`);
  await page.click('#open-url');
  await page.waitForFunction((id) => document.body.dataset.archive === id, bri('archive', 'inspect', multiseg).json.manifest.archiveId);
  await waitIdle();
  const hits = requests.filter((r) => r.url.startsWith('/files/'));
  assert.ok(hits.length >= 1 && hits.length <= 3, `few requests: ${JSON.stringify(hits)}`);
  assert.ok(hits.every((r) => r.range), 'every archive request was a Range request');
  const fetched = await page.textContent('dd[data-field="read from URL"]');
  assert.match(fetched, /Range requests/);
  assert.ok(size > 65536 * 2, 'archive larger than the tail read');
  assert.equal(await page.textContent('#verify-state'), 'not verified');
  // The documents at a time: only the BRI members' frames are fetched, with Range requests.
  const t = pitrTimes('multiseg')[1];
  const want = expected('multiseg', `pitr/${t}.json`);
  await page.fill('#search', '');
  await page.fill('#key', '');
  await page.fill('#at', String(t));
  await page.click('#show-state');
  await page.waitForFunction((n) => document.querySelector('#doc-count').dataset.count === String(n), Object.keys(want.documents).length);
  const keys = await page.$$eval('#documents tbody tr', (trs) => trs.map((tr) => tr.dataset.key));
  assert.deepEqual(keys, Object.keys(want.documents).slice(0, 500));
  await page.click('#load-timeline');
  await page.waitForFunction((n) => document.querySelector('#timeline-range').dataset.entries === String(n), expected('multiseg', 'wal-stats.json').totalEntries);
  const after = requests.filter((r) => r.url.startsWith('/files/'));
  assert.ok(after.every((r) => r.range), `only Range requests before verify: ${JSON.stringify(after)}`);
  await page.click('#verify');
  await page.waitForSelector('#verify-state.intact', { timeout: 60000 });
});

test('a file that is not an archive shows the error code', async () => {
  await openLocal(garbage);
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.getAttribute('#error', 'data-code'), 'INVALID_INPUT');
  // The page still works afterwards.
  await openLocal(basic);
  await page.waitForSelector('#verify-state.intact', { timeout: 60000 });
  assert.equal(await page.isHidden('#error'), true);
});

test('encrypted database: the documents need the key; with it they are the expected ones', async () => {
  await openLocal(encrypted);
  await page.waitForSelector('#verify-state.intact', { timeout: 60000 });
  await waitIdle();
  const t = pitrTimes('encrypted').at(-1);
  const want = expected('encrypted', `pitr/${t}.json`);
  await page.fill('#key', '');
  await page.fill('#at', String(t));
  await page.click('#show-state');
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.getAttribute('#error', 'data-code'), 'ENCRYPTION_KEY_REQUIRED');
  await page.fill('#key', fs.readFileSync(path.join(FIXTURES, 'encrypted', 'key.hex'), 'utf8').trim());
  await page.click('#show-state');
  await page.waitForFunction((n) => document.querySelector('#doc-count').dataset.count === String(n), Object.keys(want.documents).length);
  const keys = await page.$$eval('#documents tbody tr', (trs) => trs.map((tr) => tr.dataset.key));
  assert.deepEqual(keys, Object.keys(want.documents).slice(0, 500));
  assert.equal(await page.isHidden('#error'), true);
});
