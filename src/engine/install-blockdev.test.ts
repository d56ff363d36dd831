// The engine on a real block device: a loop device over the test disk image, with the kernel's partition
// nodes. The slot is written through /dev/loopNpM (not a byte range of the whole disk), and the read-back
// reads the media, not the page cache the writes filled (blockdev --flushbufs).
// Needs root and a free loop device (as CI has); elsewhere these tests are skipped and say why.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { openSync, closeSync, writeSync, fsyncSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { execa } from 'execa';
import { isUpdaterError } from '../../common/errors.js';
import { cgptFlags, loopDeviceSkip } from '../../fixtures/disk.js';
import { attachLoop, type AttachedLoop } from '../../fixtures/loop-device.js';
import { bootedSnapshot, engineInstallOptions, hashRange, makeInstallEnv, type InstallEnv } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { installBundle } from './install.js';
import type { ProgressReporter } from './progress.js';

const SKIP = await loopDeviceSkip();

/** Attaches the scene's disk image to a loop device with the slots' partition nodes. */
function attachSceneLoop(t: { after(fn: () => unknown): void }, env: InstallEnv): Promise<AttachedLoop> {
  return attachLoop(t, env.disk.path, [env.disk.slots.A.partition, env.disk.slots.B.partition]);
}

/** A progress reporter that calls `onDownloadDone` when the download phase finishes (every chunk written and synced). */
function onDownloadFinished(onDownloadDone: () => void): ProgressReporter {
  let phase = '';
  return {
    phase: (p) => void (phase = p),
    update: () => undefined,
    message: () => undefined,
    finish: () => {
      if (phase === 'download') onDownloadDone();
    },
  };
}

test('install onto a loop device writes slot B through its partition node, leaves slot A and its flags alone, and flips B', { skip: SKIP }, async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const before = await bootedSnapshot(env);
  const { loop, partition } = await attachSceneLoop(t, env);
  const { control, slots } = await openGptprioBootControl(loop);
  const result = await installBundle(await engineInstallOptions(env, { diskPath: loop, control, slots }));
  const B = env.disk.slots.B;
  assert.deepEqual(result.target, { path: partition(B.partition), offset: 0, size: B.size, blockDevice: true });
  assert.deepEqual(await cgptFlags(loop, B.partition), { priority: 2, tries: 1, successful: false });
  await execa('losetup', ['-d', loop]);
  // Through the image file, past every cache of the loop device: B holds the image, A is as it was.
  const image = await readFile(env.image);
  assert.equal(await hashRange(env.disk.path, B.offset, image.length), createHash('sha256').update(image).digest('hex'));
  assert.deepEqual(await bootedSnapshot(env), before);
});

test('on a block device the read-back reads the media: a chunk that changed behind the page cache fails the install with ERR_READBACK, and B is not activated', { skip: SKIP }, async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const before = await bootedSnapshot(env);
  const { loop } = await attachSceneLoop(t, env);
  const { control, slots } = await openGptprioBootControl(loop);
  const B = env.disk.slots.B;
  const chunkSize = env.bundle.manifest.image.chunks[0]!.size;
  // Once every chunk is written and synced, chunk 2 rots on the "media" (the image file behind the loop
  // device). The loop device's page cache still holds what the engine wrote: only a read-back that drops
  // it sees the change.
  const progress = onDownloadFinished(() => {
    const fd = openSync(env.disk.path, 'r+');
    try {
      writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, B.offset + 2 * chunkSize + 100);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
  await assert.rejects(installBundle(await engineInstallOptions(env, { diskPath: loop, control, slots, progress })), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_READBACK'), String(error));
    assert.match(error.message, /read back different from what was written \(first: chunk 2\)/);
    assert.deepEqual(error.data?.badChunks, [2]);
    return true;
  });
  assert.deepEqual(await cgptFlags(loop, B.partition), { priority: 0, tries: 0, successful: false }, 'B is not made bootable');
  await execa('losetup', ['-d', loop]);
  assert.deepEqual(await bootedSnapshot(env), before);
});
