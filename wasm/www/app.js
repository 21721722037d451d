// The inspector page: UI only. Every archive operation runs in worker.js (WebAssembly).
const $ = (sel) => document.querySelector(sel);

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map();

worker.onmessage = (ev) => {
  const { id, result, error, progress } = ev.data;
  const p = pending.get(id);
  if (!p) return;
  if (progress) {
    showProgress(progress);
    return;
  }
  pending.delete(id);
  if (error) {
    const e = new Error(error.message);
    e.code = error.code;
    p.reject(e);
  } else p.resolve(result);
};

/** Run `op` in the worker; the progress bar shows while it runs. */
function call(op, args, label, transfer = []) {
  const id = nextId++;
  busy(label || op);
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args }, transfer);
  }).finally(() => {
    if (pending.size === 0) idle();
  });
}

let busyLabel = '';
function busy(label) {
  busyLabel = label;
  $('#progress-wrap').hidden = false;
  $('#progress').removeAttribute('value');
  $('#progress-label').textContent = `${label}…`;
  document.body.dataset.busy = '1';
}
function idle() {
  $('#progress-wrap').hidden = true;
  delete document.body.dataset.busy;
}
function showProgress({ phase, done, total }) {
  const bar = $('#progress');
  bar.max = total || 1;
  bar.value = Math.min(done, total);
  const pct = total ? Math.round((100 * done) / total) : 0;
  $('#progress-label').textContent = `${busyLabel}: ${phase} ${pct}%`;
}

function showError(e) {
  const el = $('#error');
  el.hidden = false;
  el.textContent = e.code ? `${e.code}: ${e.message}` : String(e.message || e);
  el.dataset.code = e.code || '';
}
function clearError() {
  $('#error').hidden = true;
  $('#error').textContent = '';
}

const fmtBytes = (n) => {
  if (n == null) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${u[i]}`;
};
const iso = (ms) => (ms == null ? '' : new Date(Number(ms)).toISOString());

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k === 'text') e.textContent = v;
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

let current = null; // {name, inspect, remote}

// ---- opening -------------------------------------------------------------------------

async function openFile(file) {
  clearError();
  try {
    const buf = await file.arrayBuffer();
    const r = await call('openFile', buf, `reading ${file.name}`, [buf]);
    current = { name: file.name, inspect: r.inspect, remote: null };
    renderArchive();
    await runVerify();
    await loadTimeline();
  } catch (e) {
    showError(e);
  }
}

async function openUrl(url) {
  clearError();
  try {
    const r = await call('openUrl', url, 'reading the archive tail');
    const name = decodeURIComponent(new URL(url, location.href).pathname.split('/').pop() || 'archive.bri.zst');
    current = { name, inspect: r.inspect, remote: r.remote };
    renderArchive();
  } catch (e) {
    showError(e);
  }
}

$('#file').addEventListener('change', (ev) => {
  const f = ev.target.files[0];
  if (f) openFile(f);
});
const drop = $('#drop');
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const f = ev.dataTransfer.files[0];
  if (f) openFile(f);
});
$('#url-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const u = $('#url').value.trim();
  if (u) openUrl(u);
});

// ---- archive and members ---------------------------------------------------------------

function renderArchive() {
  const { inspect, remote } = current;
  const m = inspect.manifest;
  $('#main').hidden = false;
  const dl = $('#summary');
  dl.replaceChildren();
  const bri = m.bri || {};
  const rows = [
    ['file', current.name],
    ['archive id', m.archiveId],
    ['name', m.name || ''],
    ['kind', m.kind],
    ['created', m.createdAt],
    ['writer', m.writer],
    ['compression', `${m.compression.algorithm} level ${m.compression.level}, frames of up to ${fmtBytes(m.compression.frameSize)}`],
    ['size', `${fmtBytes(m.totals.contentBytes)} in ${fmtBytes(inspect.fileBytes)} (ratio ${(m.totals.contentBytes / Math.max(1, inspect.fileBytes)).toFixed(2)})`],
    ['members', String(m.totals.members)],
    ['frames', String(inspect.frames)],
    ['error correction', m.errorCorrection ? JSON.stringify(m.errorCorrection) : 'none'],
  ];
  if (bri.timeRange || bri.firstTimestamp) rows.push(['WAL time range', JSON.stringify(bri.timeRange || [bri.firstTimestamp, bri.lastTimestamp])]);
  if (remote) rows.push(['read from URL', `${remote.requests} request(s), ${fmtBytes(remote.bytesFetched)} of ${fmtBytes(remote.len)}${remote.rangeSupported ? ' (Range requests)' : ' (server ignores Range)'}`]);
  for (const [k, v] of rows) dl.append(el('dt', { text: k }), el('dd', { text: v, 'data-field': k }));
  $('#manifest-json').textContent = JSON.stringify(m, null, 2);

  const tb = $('#members tbody');
  tb.replaceChildren();
  for (const e of m.members) {
    const ratio = e.compressedSize > 0 ? (e.size / e.compressedSize).toFixed(2) : '';
    const kind = typeof e.kind === 'object' ? Object.keys(e.kind)[0] : e.kind;
    const tr = el(
      'tr',
      { 'data-path': e.path },
      el('td', { class: 'path', text: e.path + (kind && kind !== 'file' ? ` (${kind})` : '') }),
      el('td', { class: 'num', text: String(e.size) }),
      el('td', { class: 'num', text: String(e.compressedSize) }),
      el('td', { class: 'num', text: ratio }),
      el('td', { text: `${e.firstFrame}+${e.frameCount}` }),
      el('td', { class: 'verified', text: '' }),
      el('td', {}, el('button', { class: 'link', text: 'download', onclick: () => downloadMember(e.path) })),
    );
    tb.append(tr);
  }
  $('#verify-state').textContent = 'not verified';
  $('#verify-state').className = 'state';
  $('#verify-detail').textContent = remote ? 'Verify downloads the whole file.' : '';
  $('#stripes').replaceChildren();
  $('#verify-problems').replaceChildren();
  $('#repair').disabled = true;
  $('#timeline').replaceChildren();
  $('#timeline-range').textContent = '';
  $('#collections').replaceChildren();
  $('#documents tbody').replaceChildren();
  $('#doc-count').textContent = '';
  delete $('#doc-count').dataset.count;
  delete $('#timeline-range').dataset.entries;
  shownState = null;
  $('#state-summary').textContent = '';
  document.body.dataset.archive = m.archiveId;
}

function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function downloadMember(path) {
  try {
    const r = await call('extract', path, `extracting ${path}`);
    download(r.bytes, path.split('/').pop());
  } catch (e) {
    showError(e);
  }
}

// ---- verify and repair -----------------------------------------------------------------

async function runVerify() {
  clearError();
  try {
    const v = await call('verify', null, 'verifying');
    renderVerify(v);
  } catch (e) {
    showError(e);
  }
}

function renderVerify(v) {
  const s = $('#verify-state');
  s.textContent = v.state;
  s.className = `state ${v.state}`;
  const c = v.content || {};
  const p = v.parity;
  $('#verify-detail').textContent = [
    p && p.layout ? `parity: ${p.stripes.length} stripe(s) of ${p.layout.k}+${p.layout.m} shards of ${fmtBytes(p.layout.shardSize)}, ${p.layout.redundancyPercent}% redundancy` : `parity: ${v.parityMessage || 'none'}`,
    c.framesChecked != null ? `content: ${c.framesChecked} frames, ${fmtBytes(c.bytesDecoded)} decoded` : '',
    v.lostMembers && v.lostMembers.length ? `LOST members: ${v.lostMembers.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const byPath = new Map((c.members || []).map((m) => [m.path, m]));
  for (const tr of document.querySelectorAll('#members tbody tr')) {
    const r = byPath.get(tr.dataset.path);
    const td = tr.querySelector('td.verified');
    if (!r) td.textContent = '?';
    else if (r.ok) {
      td.textContent = 'ok';
      td.className = 'verified ok';
    } else {
      td.textContent = v.state === 'repairable' ? 'damaged (repairable)' : `damaged: ${r.problem || ''}`;
      td.className = 'verified bad';
      td.title = r.problem || '';
    }
  }
  const st = $('#stripes');
  st.replaceChildren();
  for (const x of (p && p.stripes) || []) {
    const dmg = x.damagedData.length + x.damagedParity.length;
    st.append(
      el('span', {
        class: `stripe ${x.state}`,
        'data-stripe': String(x.stripe),
        'data-state': x.state,
        text: `#${x.stripe} ${x.state === 'intact' ? 'ok' : `${dmg} shard${dmg === 1 ? '' : 's'}${x.headerDamaged ? ' +hdr' : ''}`}`,
        title: `stripe ${x.stripe}: ${x.state}; damaged data shards [${x.damagedData}], parity shards [${x.damagedParity}]`,
      }),
    );
  }
  const pr = $('#verify-problems');
  pr.replaceChildren();
  const problems = [...(c.problems || []), ...((c.damagedFrames || []).map((f) => f.problem))];
  if (p) {
    p.indexCopies.forEach((cs, i) => cs !== 'intact' && problems.push(`parity index copy ${i + 1}: ${cs}`));
    if (p.seekTable && p.seekTable !== 'intact') problems.push(`seek table: ${p.seekTable}`);
    if (p.missingTail) problems.push(`file is truncated: ${p.missingTail} bytes missing`);
  }
  for (const t of problems.slice(0, 50)) pr.append(el('li', { text: t }));
  $('#repair').disabled = v.state !== 'repairable';
}

$('#verify').addEventListener('click', runVerify);
$('#repair').addEventListener('click', async () => {
  clearError();
  try {
    const r = await call('repair', null, 'repairing');
    const name = current.name.replace(/(\.bri\.zst|\.zst)?$/, '.repaired.bri.zst');
    download(r.bytes, name);
    $('#verify-detail').textContent = `repaired: ${name} (${fmtBytes(r.bytes.length)}) downloaded`;
  } catch (e) {
    showError(e);
  }
});

// ---- timeline --------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

async function loadTimeline() {
  try {
    const b = $('#bucket').value;
    const t = await call('timeline', b ? Number(b) : null, 'timeline');
    renderTimeline(t);
    if (!$('#at').value && t.lastTimestamp != null) $('#at').value = iso(t.lastTimestamp);
  } catch (e) {
    $('#timeline-range').textContent = e.code === 'INVALID_INPUT' ? `no BRI WAL in this archive (${e.message})` : `${e.code}: ${e.message}`;
  }
}

function renderTimeline(t) {
  const box = $('#timeline');
  box.replaceChildren();
  if (t.firstTimestamp == null) {
    $('#timeline-range').textContent = 'The WAL holds no entries.';
    return;
  }
  const unit = t.bucketMs === 3600000 ? 'hour' : t.bucketMs === 86400000 ? 'day' : `${t.bucketMs} ms`;
  $('#timeline-range').textContent = `${iso(t.firstTimestamp)} → ${iso(t.lastTimestamp)} · ${t.entries} entries · per ${unit}`;
  $('#timeline-range').dataset.entries = String(t.entries);
  const W = 1000;
  const H = 180;
  const pad = 24;
  const n = t.buckets.length;
  const max = Math.max(1, ...t.buckets.map((b) => b.count));
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'WAL entries per time bucket' });
  const bw = (W - 2 * pad) / n;
  t.buckets.forEach((b, i) => {
    if (!b.count) return;
    const h = ((H - 2 * pad) * b.count) / max;
    const r = svg('rect', { class: 'bar', x: pad + i * bw, y: H - pad - h, width: Math.max(1, bw - 1), height: h, 'data-start': b.start, 'data-count': b.count });
    const title = svg('title', {});
    title.textContent = `${iso(b.start)}: ${b.count} entries ${JSON.stringify(b.actions)}`;
    r.append(title);
    r.addEventListener('click', () => {
      $('#at').value = iso(Math.min(b.start + t.bucketMs - 1, t.lastTimestamp));
      showState();
    });
    s.append(r);
  });
  s.append(svg('line', { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: '#999' }));
  const lab = (x, text, anchor) => {
    const e = svg('text', { x, y: H - 6, 'text-anchor': anchor });
    e.textContent = text;
    s.append(e);
  };
  lab(pad, iso(t.buckets[0].start).slice(0, 16).replace('T', ' '), 'start');
  lab(W - pad, iso(t.buckets[n - 1].start).slice(0, 16).replace('T', ' '), 'end');
  const top = svg('text', { x: pad, y: 14, 'text-anchor': 'start' });
  top.textContent = `max ${max} / ${unit}`;
  s.append(top);
  box.append(s);
}
$('#bucket').addEventListener('change', loadTimeline);
$('#load-timeline').addEventListener('click', loadTimeline);

// ---- documents at a time ---------------------------------------------------------------

let shownState = null;
const MAX_ROWS = 500;

async function showState() {
  clearError();
  const raw = $('#at').value.trim();
  const at = raw === '' ? null : /^\d+$/.test(raw) ? Number(raw) : raw;
  try {
    const r = await call('dbState', { at, key: $('#key').value.trim() || null }, 'computing the state');
    shownState = r;
    renderState();
  } catch (e) {
    showError(e);
  }
}

function renderState() {
  const r = shownState;
  if (!r) return;
  const q = $('#search').value.trim().toLowerCase();
  $('#state-summary').textContent = `${r.at != null ? `At ${iso(r.at)} (${r.at})` : 'At the end of the WAL'}: ${r.documentCount} documents, ${r.collectionCount} collections, from ${r.source === 'walReplay' ? 'WAL replay' : 'snapshot.jss + WAL'} (${r.appliedEntries} entries applied, up to line ${r.lastAppliedLine})`;
  const cols = $('#collections');
  cols.replaceChildren();
  for (const [name, members] of Object.entries(r.state.collections)) {
    cols.append(el('li', { text: `${name} (${members.length})`, title: members.join(', '), 'data-collection': name }));
  }
  const tb = $('#documents tbody');
  tb.replaceChildren();
  const keys = Object.keys(r.state.documents).filter((k) => !q || k.toLowerCase().includes(q));
  $('#doc-count').textContent = `(${keys.length}${q ? ` of ${r.documentCount}` : ''})`;
  $('#doc-count').dataset.count = String(keys.length);
  for (const k of keys.slice(0, MAX_ROWS)) {
    const text = JSON.stringify(r.state.documents[k]);
    tb.append(el('tr', { 'data-key': k }, el('td', { text: k }), el('td', { class: 'doc', text: text.length > 300 ? `${text.slice(0, 300)}…` : text, title: text.slice(0, 4000) })));
  }
  $('#doc-more').textContent = keys.length > MAX_ROWS ? `${keys.length - MAX_ROWS} more; refine the search` : '';
}

$('#state-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  showState();
});
$('#search').addEventListener('input', renderState);

// Open ?url=... directly.
const qs = new URLSearchParams(location.search);
if (qs.get('url')) {
  $('#url').value = qs.get('url');
  openUrl(qs.get('url'));
}
