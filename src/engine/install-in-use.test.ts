// Issue 11 item 1, independently of any booted-slot parsing: before the first write the engine proves the target is
// not in use. On a real loop device: the target partition mounted, or held exclusively (as device-mapper holds it),
// is refused with ERR_SLOT_IN_USE; a GPT entry the kernel does not see where the table says is ERR_SLOT_KERNEL_MISMATCH.
// Each time: the flags as cgpt reads them, the target's bytes and the booted slot are unchanged, and no install is recorded.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { isUpdaterError, type ErrorCode } from '../../common/errors.js';
import { cgptFlags, loopDeviceSkip } from '../../fixtures/disk.js';
import { bootedSnapshot, engineInstallOptions, hashRange, makeInstallEnv, type InstallEnv } from '../../fixtures/install-env.js';
import { attachLoop, type AttachedLoop } from '../../fixtures/loop-device.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { openDisk } from '../../partition/disk.js';
import { readGpt, writeGpt } from '../../partition/gpt.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { installBundle } from './install.js';
import { STATE_FILE } from './state-store.js';

const SKIP = await loopDeviceSkip();
const DM_SKIP = SKIP || ((await execa('dmsetup', ['version'], { reject: false })).exitCode === 0 ? false : 'needs device-mapper in the kernel (dmsetup version fails here)');

interface Scene {
  env: InstallEnv;
  loop: AttachedLoop;
  /** B's partition node. */
  nodeB: string;
}

async function scene(t: { after(fn: () => unknown): void }): Promise<Scene> {
  const env = await makeInstallEnv(t, await makeTempDir(t as never));
  const loop = await attachLoop(t, env.disk.path, [env.disk.slots.A.partition, env.disk.slots.B.partition]);
  return { env, loop, nodeB: loop.partition(env.disk.slots.B.partition) };
}

/** What must not change when the install is refused: both slots' flags (cgpt, through the loop device) and bytes. */
async function snapshot(s: Scene): Promise<unknown> {
  const { A, B } = s.env.disk.slots;
  await execa('blockdev', ['--flushbufs', s.loop.loop]);
  return {
    flags: { A: await cgptFlags(s.loop.loop, A.partition), B: await cgptFlags(s.loop.loop, B.partition) },
    bytesB: await hashRange(s.env.disk.path, B.offset, B.size),
    booted: await bootedSnapshot(s.env),
  };
}

async function expectRefused(s: Scene, code: ErrorCode, pattern: RegExp): Promise<void> {
  const before = await snapshot(s);
  const { control, slots } = await openGptprioBootControl(s.loop.loop);
  await assert.rejects(installBundle(await engineInstallOptions(s.env, { diskPath: s.loop.loop, control, slots })), (error: unknown) => {
    assert.ok(isUpdaterError(error, code), String(error));
    assert.match(error.message, pattern);
    return true;
  });
  assert.deepEqual(await snapshot(s), before, 'flags and bytes unchanged');
  const state = JSON.parse(await readFile(path.join(s.env.stateDir, STATE_FILE), 'utf8')) as { install: unknown; state: string; lastError: { code: string } };
  assert.deepEqual([state.install, state.state, state.lastError.code], [null, 'IDLE', code], 'no install recorded');
}

test('install onto a loop device whose target partition is mounted is refused with ERR_SLOT_IN_USE; nothing written, flags unchanged', { skip: SKIP }, async (t) => {
  const s = await scene(t);
  await execa('mkfs.ext4', ['-q', '-F', s.nodeB]);
  const mnt = path.join(s.env.dir, 'mnt');
  await mkdir(mnt);
  await execa('mount', ['-o', 'ro', s.nodeB, mnt]);
  try {
    await expectRefused(s, 'ERR_SLOT_IN_USE', /in use \(mounted at /);
  } finally {
    await execa('umount', [mnt]);
  }
});

test('install onto a loop device whose target partition another process holds exclusively is refused with ERR_SLOT_IN_USE', { skip: SKIP }, async (t) => {
  const s = await scene(t);
  // What device-mapper, md and mount do to a partition they use: an exclusive claim (O_EXCL open of the node).
  const holder = spawn(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(s.nodeB)}, require('fs').constants.O_RDONLY | require('fs').constants.O_EXCL); console.log('held'); setInterval(() => {}, 1000);`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await once(holder.stdout, 'data');
    await expectRefused(s, 'ERR_SLOT_IN_USE', /in use/);
  } finally {
    holder.kill('SIGKILL');
    await once(holder, 'exit').catch(() => undefined);
  }
});

test('install onto a loop device whose target partition device-mapper holds (dmsetup linear) is refused with ERR_SLOT_IN_USE', { skip: DM_SKIP }, async (t) => {
  const s = await scene(t);
  const sectors = (await execa('blockdev', ['--getsz', s.nodeB])).stdout.trim();
  const name = `abupdate-test-${process.pid}`;
  await execa('dmsetup', ['create', name, '--table', `0 ${sectors} linear ${s.nodeB} 0`]);
  try {
    await expectRefused(s, 'ERR_SLOT_IN_USE', /held by dm-/);
  } finally {
    await execa('dmsetup', ['remove', name]);
  }
});

test('install onto a loop device whose GPT entry for the target differs from the kernel\'s partition is refused with ERR_SLOT_KERNEL_MISMATCH', { skip: SKIP }, async (t) => {
  const s = await scene(t);
  // The table on the device changes (B one MiB shorter), the kernel is not told (no partx/BLKRRPART).
  const disk = await openDisk(s.loop.loop, { writable: true });
  try {
    const gpt = await readGpt(disk);
    const b = gpt.partitions.find((p) => p.number === s.env.disk.slots.B.partition)!;
    b.lastLba -= BigInt((1024 * 1024) / disk.sectorSize);
    await writeGpt(disk, gpt);
  } finally {
    await disk.close();
  }
  await expectRefused(s, 'ERR_SLOT_KERNEL_MISMATCH', /the kernel's partition \d+ spans 512-byte sectors/);
});
