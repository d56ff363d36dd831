// Benchmark: streaming verification of a 1 GiB bundle vs `openssl dgst -sha256` of the same file, and peak RSS.
// Run: node --import tsx bench/verify-throughput.ts [--size-mib 1024] [--chunk-size 1048576] [--rounds 3]
// Targets: ratio (openssl time / our streaming time) >= 0.9; peak RSS of the verifying process < 100 MiB.
// The verifier runs as plain node on an esbuild bundle of bench/verify-throughput-child.ts, so the tsx loader's
// own memory (~35 MiB) is not counted; its peak RSS is read from `/usr/bin/time -v` and process.resourceUsage().

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { execa } from 'execa';
import { makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import type { ChildResult } from './verify-throughput-child.js';

const MiB = 1024 * 1024;
const HERE = path.dirname(fileURLToPath(import.meta.url));

type Measured = ChildResult & { timeMaxRssMiB: number };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function timeOpenssl(file: string): Promise<number> {
  const start = process.hrtime.bigint();
  await execa('openssl', ['dgst', '-sha256', file]);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function runChild(script: string, bundle: string, keyringDir: string, flag?: '--image-hash' | '--no-reuse'): Promise<Measured> {
  const run = await execa('/usr/bin/time', ['-v', process.execPath, script, bundle, keyringDir, ...(flag ? [flag] : [])]);
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as ChildResult;
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)?.[1];
  return { ...result, timeMaxRssMiB: kb === undefined ? Number.NaN : Number(kb) / 1024 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string' }, 'chunk-size': { type: 'string' }, rounds: { type: 'string' } } });
  const sizeMiB = Number(values['size-mib'] ?? 1024);
  const chunkSize = Number(values['chunk-size'] ?? MiB);
  const rounds = Number(values.rounds ?? 3);
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-bench-'));
  try {
    const script = path.join(dir, 'verify-child.mjs');
    await build({ entryPoints: [path.join(HERE, 'verify-throughput-child.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: script, logLevel: 'warning',
      // tweetnacl is CommonJS and require()s node:crypto: give the ESM bundle a require.
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });
    const keys = await makeKeys(dir, 'bench', 'bench');
    process.stdout.write(`making a ${sizeMiB} MiB pseudo-random image and its bundle (chunk size ${chunkSize}) in ${dir} ...\n`);
    const image = await makeImage(path.join(dir, 'image.raw'), sizeMiB * MiB, 'bench');
    const bundle = await makeBundle(dir, { image, version: '1.0.0', compatible: 'bench', key: keys, chunkSize });
    await rm(image);
    await timeOpenssl(bundle.path); // warm the page cache: both then read from memory
    const openssl: number[] = [];
    const ours: Measured[] = [];
    for (let round = 0; round < rounds; round++) {
      openssl.push(await timeOpenssl(bundle.path));
      ours.push(await runChild(script, bundle.path, keys.keyringDir));
    }
    const full = await runChild(script, bundle.path, keys.keyringDir, '--image-hash');
    const fresh = await runChild(script, bundle.path, keys.keyringDir, '--no-reuse');
    const best = Math.min(...openssl);
    const stream = Math.min(...ours.map((r) => r.chunksSeconds));
    const total = Math.min(...ours.map((r) => r.headSeconds + r.chunksSeconds));
    const head = Math.min(...ours.map((r) => r.headSeconds));
    const rate = (seconds: number): string => `${(bundle.layout.totalSize / MiB / seconds).toFixed(0)} MiB/s`;
    const rss = Math.max(...[...ours, full].map((r) => Math.max(r.maxRssMiB, r.timeMaxRssMiB)));
    const ratio = best / stream;
    const list = (xs: number[]): string => xs.map((s) => s.toFixed(3)).join(', ');
    process.stdout.write(
      [
        `bundle: ${(bundle.layout.totalSize / MiB).toFixed(1)} MiB, ${bundle.manifest.image.chunks.length} chunks, manifest ${bundle.manifestBytes.length} bytes`,
        `openssl dgst -sha256 (whole file):      ${best.toFixed(3)} s  ${rate(best)}  (runs: ${list(openssl)})`,
        `verifyChunks (streaming, engine path):  ${stream.toFixed(3)} s  ${rate(stream)}  (runs: ${list(ours.map((r) => r.chunksSeconds))})`,
        `readBundleHead (signature, tweetnacl):  ${head.toFixed(3)} s  (one-time, independent of image size)`,
        `head + chunks:                          ${total.toFixed(3)} s  ${rate(total)}  ratio ${(best / total).toFixed(3)}`,
        `with whole-image SHA-256 (bundle info): ${(full.headSeconds + full.chunksSeconds).toFixed(3)} s`,
        `without reuseBuffer (new buffer/chunk): ${fresh.chunksSeconds.toFixed(3)} s  ${rate(fresh.chunksSeconds)}  ratio ${(best / fresh.chunksSeconds).toFixed(3)}, peak RSS ${Math.max(fresh.maxRssMiB, fresh.timeMaxRssMiB).toFixed(1)} MiB`,
        `ratio (openssl time / streaming time):  ${ratio.toFixed(3)} best-of-${rounds}, ${(median(openssl) / median(ours.map((r) => r.chunksSeconds))).toFixed(3)} by medians  target >= 0.9  ${ratio >= 0.9 ? 'OK' : 'BELOW TARGET'}`,
        `peak RSS of the verifier (reuseBuffer): ${rss.toFixed(1)} MiB  target < 100 MiB  ${rss < 100 ? 'OK' : 'ABOVE TARGET'}`,
      ].join('\n') + '\n',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
