// Measures boot-control operations on a sparse sgdisk image: readGpt, gptprio mark-active/boot/mark-good, grubenv the same.
// Run: node --import tsx bench/boot-control.ts [ROUNDS]

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeSlotDisk } from '../fixtures/disk.js';
import { simulateBoot } from '../partition/boot-control.js';
import { openDisk } from '../partition/disk.js';
import { readGpt } from '../partition/gpt.js';
import { openBootControl } from '../partition/open-boot-control.js';

const rounds = Number(process.argv[2] ?? 100);
const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-bench-'));
try {
  const d = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const time = async (label: string, n: number, fn: () => Promise<unknown>) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    process.stdout.write(`${label.padEnd(44)} ${(ms / n).toFixed(2)} ms/op (${n} ops)\n`);
  };
  await time('readGpt (open + both copies + close)', rounds * 5, async () => {
    const disk = await openDisk(d.path);
    await readGpt(disk);
    await disk.close();
  });
  for (const bootloader of ['gptprio', 'grubenv'] as const) {
    const { control } = await openBootControl({ diskPath: d.path, bootloader, grubenvPath: d.grubenvPath });
    await time(`${bootloader}: mark-active B + boot + mark-good B, A`, rounds, async () => {
      await control.markActive('B', 1);
      await simulateBoot(control);
      await control.markGood('B');
      await control.markGood('A');
    });
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
