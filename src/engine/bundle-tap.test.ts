// Tests of the whole-bundle SHA-256 check of installBundle() (expectedBundle) over a real HTTP server: a right
// hash installs, a wrong one is refused before the flip, and a resumed install still hashes the whole bundle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isUpdaterError } from '../../common/errors.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { bootedSnapshot, hashRange, engineInstallOptions, makeInstallEnv, type InstallEnv } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import type { ExpectedBundle } from './bundle-tap.js';
import { installBundle } from './install.js';
import type { ProgressReporter } from './progress.js';
import { loadEngineState } from './state-store.js';

async function stated(env: InstallEnv): Promise<ExpectedBundle> {
  const bytes = await readFile(env.bundle.path);
  return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), mismatchCode: 'ERR_OMAHA_HASH', version: '2.0.0' };
}

test('installBundle() with the stated whole-bundle SHA-256 and size installs and flips slot B', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const expected = await stated(env);
  const result = await installBundle(await engineInstallOptions(env, { expectedBundle: { ...expected, sha256: Buffer.from(expected.sha256 as string, 'hex') } }));
  assert.equal(result.slot, 'B');
  const { size, sha256 } = env.bundle.manifest.image;
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, size), sha256);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false });
  assert.equal((await loadEngineState(env.stateDir)).state, 'UPDATED_NEED_REBOOT');
  // The bundle went through once: the hash needed no second download.
  assert.equal(env.server.totalBytes(), expected.size);
});

test('installBundle() refuses a bundle whose whole-file SHA-256 differs from the stated one, before the flip', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const before = await bootedSnapshot(env);
  const flagsB = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  const expected = { ...(await stated(env)), sha256: 'ee'.repeat(32), mismatchCode: 'ERR_CHANNEL' as const };
  await assert.rejects(
    installBundle(await engineInstallOptions(env, { expectedBundle: expected })),
    (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL') && /its SHA-256 is [0-9a-f]{64}, the update server stated e{64}/.test(e.message),
  );
  // Signature and chunks were fine, so the image was streamed; but nothing became bootable and slot A is untouched.
  assert.deepEqual(await bootedSnapshot(env), before);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), flagsB);
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, 65536), createHash('sha256').update(Buffer.alloc(65536)).digest('hex'), 'first chunk zeroed');
  const state = await loadEngineState(env.stateDir);
  assert.equal(state.state, 'IDLE');
  assert.equal(state.install, null, 'the partial install is discarded: a retry starts clean');
  assert.equal(state.lastError?.code, 'ERR_CHANNEL');

  // The retry with the right hash starts from scratch (reuses no chunk) and completes.
  const served = env.server.totalBytes();
  const result = await installBundle(await engineInstallOptions(env, { expectedBundle: await stated(env) }));
  assert.deepEqual([result.chunks.reused, result.chunks.written], [0, result.chunks.total]);
  assert.equal(env.server.totalBytes() - served, expected.size);
});

test('installBundle() refuses a stated size no bundle with this image can have before writing slot B', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const slotB = await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size);
  const expected = await stated(env);
  await assert.rejects(
    installBundle(await engineInstallOptions(env, { expectedBundle: { ...expected, size: expected.size + 16 } })),
    (e: unknown) => isUpdaterError(e, 'ERR_OMAHA_HASH') && /stated \d+ bytes, a bundle with this image has \d+/.test(e.message),
  );
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size), slotB);
  assert.equal((await loadEngineState(env.stateDir)).install, null);
});

test('installBundle() resumed after a dropped connection and after an abort still checks the whole-bundle SHA-256', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const expected = await stated(env);
  const imageSize = env.bundle.manifest.image.size;
  // First run: the connection drops twice mid-image (resumed with Range inside the run), then the run is aborted.
  env.server.faults.destroyAfter = { bytes: 20 * 1024, times: 4 };
  const controller = new AbortController();
  const stopHalfway: ProgressReporter = {
    phase() {},
    update(done) {
      if (done > imageSize / 2) controller.abort();
    },
    message() {},
    finish() {},
  };
  await assert.rejects(
    installBundle(await engineInstallOptions(env, { expectedBundle: expected, signal: controller.signal, progress: stopHalfway, checkpointBytes: 256 * 1024 })),
    (e: unknown) => isUpdaterError(e, 'ERR_ABORTED'),
  );
  // The head in 4 and 8 KiB windows, then the first image-sized window (256 KiB) dropped twice, 20 KiB in each time:
  // resumed from byte 32768, then 53248 (inside the image).
  assert.ok(env.bundle.layout.imageOffset < 12288);
  assert.deepEqual(env.server.requests.slice(0, 5).map((r) => r.range), ['bytes=0-4095', 'bytes=4096-12287', 'bytes=12288-274431', 'bytes=32768-274431', 'bytes=53248-274431']);
  const partial = await loadEngineState(env.stateDir);
  assert.equal(partial.install?.manifestSha256 !== undefined && partial.lastError?.code, 'ERR_ABORTED', 'the resume state is kept');

  // Second run: the head again from byte 0, then only the missing chunks; the whole-bundle hash matches.
  const firstRun = env.server.requests.length;
  const result = await installBundle(await engineInstallOptions(env, { expectedBundle: expected }));
  assert.ok(result.chunks.reused > 0, `reused ${result.chunks.reused} chunks`);
  const later = env.server.requests.slice(firstRun).map((r) => Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1]));
  assert.ok(later.some((start) => start > env.bundle.layout.imageOffset + 65536), `resumed inside the image: ${later.join(', ')}`);
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, imageSize), env.bundle.manifest.image.sha256);
  assert.equal((await loadEngineState(env.stateDir)).state, 'UPDATED_NEED_REBOOT');

  // And the same resume with a wrong stated hash is refused.
  const env2 = await makeInstallEnv(t, await makeTempDir(t));
  const controller2 = new AbortController();
  await assert.rejects(
    installBundle(await engineInstallOptions(env2, { signal: controller2.signal, progress: { ...stopHalfway, update: (done) => done > imageSize / 2 && controller2.abort() }, checkpointBytes: 256 * 1024 })),
    (e: unknown) => isUpdaterError(e, 'ERR_ABORTED'),
  );
  const wrong = { ...(await stated(env2)), sha256: createHash('sha256').update('another bundle').digest() };
  await assert.rejects(installBundle(await engineInstallOptions(env2, { expectedBundle: wrong })), (e: unknown) => isUpdaterError(e, 'ERR_OMAHA_HASH'));
  assert.equal((await loadEngineState(env2.stateDir)).install, null);
});
