// bench:delta's install part: real format 1 and format 2 bundles of v2, installed by the engine over HTTP on 127.0.0.1
// (the project's node:http test server, which counts the bytes it sends) into a sparse two-slot disk image: a full
// install of each format, and the delta install from a slot A holding v1. Wall times and bytes served, side by side,
// on loopback (the CPU decides) and over a paced 100 Mbit/s link (the server sends 64 KiB every 5.24 ms).

import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeKeys } from '../fixtures/bundle.js';
import { makeSlotDisk } from '../fixtures/disk.js';
import { startHttpServer } from '../fixtures/http-server.js';
import { installBundle } from '../src/engine/install.js';
import { openGptprioBootControl } from '../partition/gptprio.js';
import { createBundle } from '../verify/bundle-writer.js';
import { loadKeyring } from '../verify/keyring.js';

const MiB = 1024 * 1024;

export interface InstallRun {
  label: string;
  seconds: number;
  served: number;
  reused: number;
}

export interface InstallMeasure {
  format1Bytes: number;
  format2Bytes: number;
  /** Seconds to write each bundle (format 2: chunk, zstd -19 per chunk, index). */
  createSeconds: { format1: number; format2: number };
  runs: InstallRun[];
}

/** Installs V2 three ways; V1 is what slot A holds for the delta install. */
export async function measureInstalls(name: string, v1: string, v2: string, work: string): Promise<InstallMeasure> {
  const dir = path.join(work, `installs-${name}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    const keys = await makeKeys(dir, 'bench', 'bench-delta');
    const keyring = await loadKeyring([keys.keyringDir]);
    const common = { imagePath: v2, version: '2.0.0', compatible: 'bench', privateKey: keys.privateKey };
    process.stdout.write(`[${name}] format 1 and format 2 bundles of v2 ...\n`);
    let at = performance.now();
    const f1 = await createBundle({ ...common, out: path.join(dir, 'v2-f1.tar') });
    const format1 = (performance.now() - at) / 1000;
    at = performance.now();
    const f2 = await createBundle({ ...common, out: path.join(dir, 'v2-f2.tar'), format: 2 });
    const format2 = (performance.now() - at) / 1000;
    const server = await startHttpServer({ 'f1.tar': f1.path, 'f2.tar': f2.path });
    const imageSize = (await stat(v2)).size;
    const slotMiB = Math.ceil(Math.max(imageSize, (await stat(v1)).size) / MiB) + 8;
    const runs: InstallRun[] = [];
    try {
      const run = async (label: string, file: string, slotA: string | undefined, paced = false): Promise<void> => {
        const scene = path.join(dir, label.replace(/\W+/g, '-'));
        await mkdir(scene, { recursive: true });
        const disk = await makeSlotDisk(scene, { sizeMiB: 2 * slotMiB + 16, slotSizeMiB: slotMiB, fresh: true });
        if (slotA !== undefined) {
          const bytes = await readFile(slotA);
          const handle = await open(disk.path, 'r+');
          await handle.write(bytes, 0, bytes.length, disk.slots.A.offset);
          await handle.close();
        }
        const { control, slots } = await openGptprioBootControl(disk.path);
        const before = server.totalBytes();
        if (paced) server.faults.throttle = { bytes: 64 * 1024, ms: ((64 * 1024 * 8) / 100e6) * 1000 };
        else delete server.faults.throttle;
        process.stdout.write(`[${name}] install: ${label} ...\n`);
        const start = performance.now();
        const result = await installBundle({
          source: server.url(file),
          diskPath: disk.path,
          control,
          slots,
          booted: 'A',
          keyring,
          compatible: 'bench',
          stateDir: path.join(scene, 'state'),
          runDir: path.join(scene, 'run'),
        });
        runs.push({ label, seconds: (performance.now() - start) / 1000, served: server.totalBytes() - before, reused: result.reused.bytes });
        await rm(scene, { recursive: true, force: true });
      };
      await run('full install, format 1 (slots empty)', 'f1.tar', undefined);
      await run('full install, format 2 (slots empty: both chunked, nothing found)', 'f2.tar', undefined);
      await run('delta install, format 2 (slot A holds v1, chunked read-only)', 'f2.tar', v1);
      await run('100 Mbit/s: full install, format 1', 'f1.tar', undefined, true);
      await run('100 Mbit/s: full install, format 2', 'f2.tar', undefined, true);
      await run('100 Mbit/s: delta install, format 2', 'f2.tar', v1, true);
    } finally {
      await server.close();
    }
    return { format1Bytes: f1.layout.totalSize, format2Bytes: f2.layout.totalSize, createSeconds: { format1, format2 }, runs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
