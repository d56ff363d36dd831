// Benchmark: `abupdate install` of a bundle over HTTP (127.0.0.1) into an image-file slot, read-back included,
// against `curl URL | tee >(openssl dgst -sha256) | dd of=SLOT conv=fsync` + `openssl dgst -sha256` of the slot.
// Run: node --import tsx bench/install.ts [--size-mib 1024] [--rss-size-mib 4096] [--rounds 3] [--chunk-size 1048576]
// Targets: install time / baseline time <= 1.25 (size-mib); peak RSS of the install < 100 MiB (size-mib and rss-size-mib).
// The install runs as plain node on an esbuild bundle of the CLI (the tsx loader's own memory is not counted), with
// the Node flags installed hosts use (scripts/node-flags), under `/usr/bin/time -v` for its peak RSS. Both sides read the bundle from the same node:http test server.

import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { execa } from 'execa';
import { makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import { startHttpServer } from '../fixtures/http-server.js';

const MiB = 1024 * 1024;
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** What scripts/install.sh puts in front of the CLI on a host. */
const NODE_FLAGS = (await readFile(path.join(HERE, '../scripts/node-flags'), 'utf8')).split(/\s+/).filter(Boolean);
const USR_TYPE = '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A sparse GPT disk with USR-A (good) and USR-B of SLOT_MIB each; returns B's byte offset and size. */
async function makeDisk(file: string, slotMiB: number): Promise<{ offset: number; size: number }> {
  const handle = await open(file, 'w');
  await handle.truncate((2 * slotMiB + 8) * MiB);
  await handle.close();
  await execa('sgdisk', ['-o', '-n', `1:2048:+${slotMiB}M`, '-c', '1:USR-A', '-t', `1:${USR_TYPE}`, '-A', '1:=:0x0101000000000000', '-n', `2:0:+${slotMiB}M`, '-c', '2:USR-B', '-t', `2:${USR_TYPE}`, file]);
  const first = Number(/First sector: (\d+)/.exec((await execa('sgdisk', ['-i', '2', file])).stdout)?.[1]);
  return { offset: first * 512, size: slotMiB * MiB };
}

interface Scene {
  dir: string;
  cli: string;
  disk: string;
  slotB: { offset: number; size: number };
  keyringDir: string;
  bundlePath: string;
  bundleSize: number;
  imageSize: number;
}

async function makeScene(parent: string, cli: string, sizeMiB: number, chunkSize: number): Promise<Scene> {
  const dir = path.join(parent, `scene-${sizeMiB}`);
  await mkdir(dir);
  const keys = await makeKeys(dir, 'bench', 'bench');
  process.stdout.write(`making a ${sizeMiB} MiB image, its bundle and a disk with two ${sizeMiB + 16} MiB slots in ${dir} ...\n`);
  const image = await makeImage(path.join(dir, `image-${sizeMiB}.raw`), sizeMiB * MiB, 'bench');
  const bundle = await makeBundle(dir, { image, version: '2.0.0', compatible: 'bench', key: keys, chunkSize, name: `bundle-${sizeMiB}.tar` });
  await rm(image);
  const disk = path.join(dir, `disk-${sizeMiB}.img`);
  const slotB = await makeDisk(disk, sizeMiB + 16);
  return { dir, cli, disk, slotB, keyringDir: dir, bundlePath: bundle.path, bundleSize: bundle.layout.totalSize, imageSize: bundle.manifest.image.size };
}

/** One install in a child process with a fresh state dir: wall seconds and peak RSS (MiB). */
async function runInstall(scene: Scene, url: string, round: number): Promise<{ seconds: number; rssMiB: number }> {
  const state = path.join(scene.dir, `state-${round}-${Date.now()}`);
  await mkdir(state);
  let stderr = '';
  const wall = await seconds(async () => {
    const run = await execa('/usr/bin/time', ['-v', process.execPath, ...NODE_FLAGS, scene.cli, 'install', url, '--disk', scene.disk, '--booted', 'A', '--keyring', scene.keyringDir, '--compatible', 'bench', '--state-dir', state, '--run-dir', path.join(state, 'run')]);
    stderr = run.stderr;
  });
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
  return { seconds: wall, rssMiB: kb === undefined ? Number.NaN : Number(kb) / 1024 };
}

/** The baseline pipeline, written into the same slot range, then the slot range hashed. */
async function runBaseline(scene: Scene, url: string): Promise<number> {
  const { offset } = scene.slotB;
  const write = `curl -sf '${url}' | tee >(openssl dgst -sha256 >/dev/null) | dd of='${scene.disk}' bs=1M seek=${offset} oflag=seek_bytes conv=fsync,notrunc status=none`;
  const hash = `dd if='${scene.disk}' bs=1M skip=${offset} count=${scene.imageSize} iflag=skip_bytes,count_bytes status=none | openssl dgst -sha256 >/dev/null`;
  return seconds(() => execa('bash', ['-o', 'pipefail', '-c', `${write} && ${hash}`]));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string' }, 'rss-size-mib': { type: 'string' }, rounds: { type: 'string' }, 'chunk-size': { type: 'string' } } });
  const sizeMiB = Number(values['size-mib'] ?? 1024);
  const rssSizeMiB = Number(values['rss-size-mib'] ?? 4096);
  const rounds = Number(values.rounds ?? 3);
  const chunkSize = Number(values['chunk-size'] ?? MiB);
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-bench-install-'));
  // Inside the project (gitignored .cache/), so the native addon left out of the bundle (fs-ext: the run lock's
  // flock) resolves from node_modules; x11 is dbus-next's optional X11 session-bus lookup, never used.
  const cliDir = path.join(HERE, '../.cache/bench-cli');
  await mkdir(cliDir, { recursive: true });
  const cli = path.join(cliDir, `abupdate-${process.pid}.mjs`);
  try {
    await build({ entryPoints: [path.join(HERE, '../src/cli/main.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: cli, logLevel: 'warning',
      external: ['fs-ext', 'x11'],
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });

    const scene = await makeScene(dir, cli, sizeMiB, chunkSize);
    const server = await startHttpServer({ 'bundle.tar': scene.bundlePath });
    const url = server.url('bundle.tar');
    try {
      await execa('bash', ['-c', `cat '${scene.bundlePath}' > /dev/null`]); // both read the bundle from the page cache
      const baseline: number[] = [];
      const ours: Array<{ seconds: number; rssMiB: number }> = [];
      for (let round = 0; round < rounds; round++) {
        baseline.push(await runBaseline(scene, url));
        ours.push(await runInstall(scene, url, round));
        process.stdout.write(`round ${round + 1}: baseline ${baseline.at(-1)?.toFixed(2)} s, install ${ours.at(-1)?.seconds.toFixed(2)} s, peak RSS ${ours.at(-1)?.rssMiB.toFixed(1)} MiB\n`);
      }
      const b = median(baseline);
      const o = median(ours.map((r) => r.seconds));
      const rss = Math.max(...ours.map((r) => r.rssMiB));
      process.stdout.write(`\n${sizeMiB} MiB: install ${o.toFixed(2)} s (${(sizeMiB / o).toFixed(0)} MiB/s) vs baseline ${b.toFixed(2)} s (${(sizeMiB / b).toFixed(0)} MiB/s)\n`);
      process.stdout.write(`ratio install/baseline = ${(o / b).toFixed(3)} (target <= 1.25)  peak RSS ${rss.toFixed(1)} MiB (target < 100)\n`);
    } finally {
      await server.close();
      await rm(scene.bundlePath, { force: true });
      await rm(scene.disk, { force: true });
    }

    if (rssSizeMiB > 0) {
      const big = await makeScene(dir, cli, rssSizeMiB, chunkSize);
      const bigServer = await startHttpServer({ 'bundle.tar': big.bundlePath });
      try {
        const r = await runInstall(big, bigServer.url('bundle.tar'), 0);
        process.stdout.write(`${rssSizeMiB} MiB: install ${r.seconds.toFixed(2)} s, peak RSS ${r.rssMiB.toFixed(1)} MiB (target < 100)\n`);
      } finally {
        await bigServer.close();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(cli, { force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
