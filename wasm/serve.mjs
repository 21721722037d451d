// Tiny static file server for the inspector page (wasm/www), with HTTP Range support so that
// the page can open archives by URL reading only the tail and the frames it needs.
//
//   node wasm/serve.mjs [--port 8080] [--host 127.0.0.1] [--root wasm/www] [--files DIR]
//
// `--files DIR` also serves DIR under /files/ (archives to open by URL). Exports `startServer`
// for tests. Only GET and HEAD; paths never leave the roots.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8',
  '.zst': 'application/zstd',
};

/** Resolve a URL path inside `root`, or null when it would escape it. */
function inside(root, urlPath) {
  let rel;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (rel.includes('\0')) return null;
  const p = path.resolve(root, '.' + path.posix.normalize('/' + rel));
  return p === root || p.startsWith(root + path.sep) ? p : null;
}

/** Parse one `bytes=a-b` / `bytes=a-` / `bytes=-n` range for a file of `size` bytes. */
export function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(String(header).trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start;
  let end;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

function handler(mounts, onRequest) {
  return (req, res) => {
    if (onRequest) onRequest(req);
    const url = new URL(req.url, 'http://localhost');
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Range');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let file = null;
    for (const [prefix, root] of mounts) {
      if (url.pathname === prefix.slice(0, -1) || url.pathname.startsWith(prefix)) {
        file = inside(root, url.pathname.slice(prefix.length - 1));
        break;
      }
    }
    if (file && fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    let st;
    try {
      st = file && fs.statSync(file);
    } catch {
      st = null;
    }
    if (!st || !st.isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const type = TYPES[path.extname(file)] || 'application/octet-stream';
    const range = req.headers.range ? parseRange(req.headers.range, st.size) : null;
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${st.size}` }).end();
      return;
    }
    const headers = { 'Content-Type': type };
    let start = 0;
    let end = st.size - 1;
    if (range) {
      ({ start, end } = range);
      headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
    }
    headers['Content-Length'] = st.size === 0 ? 0 : end - start + 1;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || st.size === 0) {
      res.end();
      return;
    }
    fs.createReadStream(file, { start, end }).pipe(res);
  };
}

/**
 * Start the server. `root`: the page (default wasm/www); `files`: optional directory served
 * under /files/; `onRequest(req)` sees every request (tests log them). Resolves to { server, url }.
 */
export function startServer({ port = 0, host = '127.0.0.1', root = path.join(HERE, 'www'), files, onRequest } = {}) {
  const mounts = [];
  if (files) mounts.push(['/files/', path.resolve(files)]);
  mounts.push(['/', path.resolve(root)]);
  const server = http.createServer(handler(mounts, onRequest));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve({ server, url: `http://${host}:${a.port}/` });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const { url } = await startServer({
    port: Number(opt('--port', process.env.PORT || 8080)),
    host: opt('--host', '127.0.0.1'),
    root: opt('--root', path.join(HERE, 'www')),
    files: opt('--files', undefined),
  });
  if (!fs.existsSync(path.join(HERE, 'www', 'pkg', 'bri_wasm.js'))) {
    console.error('warning: wasm/www/pkg is missing; run `npm run build:wasm` first');
  }
  console.log(`bri inspector: ${url}`);
}
