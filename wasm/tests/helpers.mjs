// Shared by the Node and Chromium tests: paths, the native CLI, fixture archives.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WASM_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(WASM_DIR, '..');
export const FIXTURES = path.join(ROOT, 'tests', 'fixtures', 'bri');
export const PKG = path.join(WASM_DIR, 'www', 'pkg');

/** The native `bri` binary: $BRI_BIN, else target/debug/bri (wasm/test.sh builds it). */
export function briBin() {
  const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  const p = process.env.BRI_BIN || path.join(target, 'debug', 'bri');
  if (!fs.existsSync(p)) throw new Error(`native bri binary not found at ${p}; run wasm/test.sh or set BRI_BIN`);
  return p;
}

/** Run `bri --json ...`; returns { code, json }. Exit codes 3/4 (damaged) still print JSON. */
export function bri(...args) {
  const r = spawnSync(briBin(), ['--json', '--quiet', ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`bri ${args.join(' ')} exited ${r.status} without JSON: ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.status, json };
}

export function tmpDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bri-wasm-${name}-`));
}

/** Archive the data directory of a fixture scenario with the native CLI. */
export function makeArchive(scenario, dir) {
  const out = path.join(dir, `${scenario}.bri.zst`);
  const r = bri('archive', 'create-files', path.join(FIXTURES, scenario, 'data'), '-o', out, '--name', scenario);
  if (r.code !== 0) throw new Error(`create-files failed: ${JSON.stringify(r.json)}`);
  return out;
}

/** Point-in-time times of a scenario (expected/pitr/<T>.json), sorted. */
export function pitrTimes(scenario) {
  const d = path.join(FIXTURES, scenario, 'expected', 'pitr');
  if (!fs.existsSync(d)) return [];
  return fs
    .readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .map((f) => Number(f.slice(0, -5)))
    .sort((a, b) => a - b);
}

export function expected(scenario, rel) {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, scenario, 'expected', rel), 'utf8'));
}

/**
 * Damage a copy of an archive inside its data region: overwrite `len` bytes at the middle of
 * the first member's frames (a real, repairable hit within one parity stripe).
 */
export function corruptCopy(src, dst, at, len = 64) {
  const b = Buffer.from(fs.readFileSync(src));
  for (let i = 0; i < len; i++) b[at + i] ^= 0x5a;
  fs.writeFileSync(dst, b);
  return b;
}

export function sh(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}
