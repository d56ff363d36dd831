// Tests of the pipelined write (issue 17): a chunk is written in the background while the next one arrives. A write
// that fails there stops the install with its error, nothing is written after the install returns, and the chunk
// bitmap claims only chunks whose write returned before an fsync began.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/tmp.js';
import { bootedSnapshot, hashRange, engineInstallOptions, makeInstallEnv } from '../../fixtures/install-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { nodeFileSystem, type FileSystem } from '../../common/file-system.js';
import { ChunkBitmap } from './chunk-bitmap.js';
import { installBundle } from './install.js';
import { loadEngineState } from './state-store.js';

/** A FileSystem whose writes into DISK are slow, and the one at byte FAIL_AT fails with EIO; it logs every write. */
function slowDisk(disk: string, failAt: number, log: Array<{ offset: number; length: number; started: number; ended?: number }>): FileSystem {
  return {
    ...nodeFileSystem,
    open: (async (file: string, flags?: string, mode?: number) => {
      const handle = await nodeFileSystem.open(file, flags, mode);
      if (path.resolve(file) !== path.resolve(disk)) return handle;
      return new Proxy(handle, {
        get(target, key) {
          if (key === 'write') {
            return async (data: Uint8Array, offset: number, length: number, position: number) => {
              const entry: { offset: number; length: number; started: number; ended?: number } = { offset: position, length, started: performance.now() };
              log.push(entry);
              await new Promise((resolve) => setTimeout(resolve, 5));
              try {
                if (position === failAt) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
                return await target.write(data, offset, length, position);
              } finally {
                entry.ended = performance.now();
              }
            };
          }
          const value = Reflect.get(target, key, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }) as FileHandle;
    }) as FileSystem['open'],
  };
}

test('installBundle(): a chunk write failing in the background stops the install with its error; no write outlives it; a rerun completes', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t), { imageSize: 40 * 65536 + 100, chunkSize: 65536 });
  const before = await bootedSnapshot(env);
  const slotB = env.disk.slots.B.offset;
  const failing = 23;
  const log: Array<{ offset: number; length: number; started: number; ended?: number }> = [];
  const fs = slowDisk(env.disk.path, slotB + failing * 65536, log);
  await assert.rejects(installBundle(await engineInstallOptions(env, { fs, checkpointBytes: 4 * 65536 })), (error: { code?: string; message?: string }) => {
    assert.match(String(error.code ?? error.message), /EIO|ERR_IO/);
    return true;
  });
  const returned = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const slotWrites = log.filter((w) => w.offset >= slotB);
  assert.ok(slotWrites.some((w) => w.offset === slotB + failing * 65536), 'the failing write was made');
  // Writes overlapped (the pipeline ran), and every one had ended when installBundle returned.
  assert.ok(slotWrites.some((w, i) => i > 0 && w.started < (slotWrites[i - 1]?.ended ?? 0)), 'some write began before the one before it ended');
  for (const w of slotWrites) assert.ok(w.ended !== undefined && w.ended <= returned, `the write at ${w.offset - slotB} ended before the install returned`);
  // The bitmap holds no chunk from the failed one on, and slot B is not bootable; slot A is untouched.
  const state = await loadEngineState(env.stateDir);
  const bitmap = ChunkBitmap.fromBase64(41, state.install?.chunksDone ?? '');
  const claimed = [...Array(41).keys()].filter((i) => bitmap.has(i));
  assert.ok(!claimed.includes(failing), `chunk ${failing} is not claimed (claimed: ${claimed.join(',')})`);
  assert.ok(!claimed.includes(0), 'the first chunk is never claimed before the rest');
  assert.deepEqual(await bootedSnapshot(env), before);
  assert.equal((await cgptFlags(env.disk.path, env.disk.slots.B.partition)).priority, 0);
  // A run on a healthy disk resumes and writes exactly the image.
  const result = await installBundle(await engineInstallOptions(env));
  assert.equal(result.slot, 'B');
  assert.ok(result.chunks.reused > 0, 'the rerun kept chunks synced before the failure');
  assert.equal(await hashRange(env.disk.path, slotB, env.bundle.manifest.image.size), env.bundle.manifest.image.sha256);
});
