// Tests of the install pipeline on disk image files with a real HTTP server: the happy path and resume.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir } from '../../fixtures/tmp.js';
import { bootedSnapshot, hashRange, engineInstallOptions, makeInstallEnv } from '../../fixtures/install-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { isUpdaterError } from '../../common/errors.js';
import { installBundle } from './install.js';
import type { ProgressReporter } from './progress.js';
import { loadEngineState } from './state-store.js';

test('installBundle() over HTTP writes the image into slot B, leaves slot A alone and makes B next with one try', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const before = await bootedSnapshot(env);
  const result = await installBundle(await engineInstallOptions(env));
  assert.equal(result.slot, 'B');
  assert.equal(result.alreadyInstalled, false);
  const { size, sha256 } = env.bundle.manifest.image;
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, size), sha256);
  assert.deepEqual(await bootedSnapshot(env), before);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false });
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.A.partition), { priority: 1, tries: 0, successful: true });
  const state = await loadEngineState(env.stateDir);
  assert.equal(state.state, 'UPDATED_NEED_REBOOT');
  assert.equal(state.slots.B?.version, '2.0.0');
  assert.equal(state.install?.manifestSha256, result.manifestSha256);
  // Consecutive Range windows, each starting where the last one ended: no byte fetched twice.
  let next = 0;
  for (const r of env.server.requests) {
    // A window that ended exactly at the file's end is followed by one empty ask from the end (416, nothing sent).
    if (r.status === 416 && r.bytes === 0 && next === env.bundle.layout.totalSize) continue;
    assert.equal(r.status, 206);
    assert.equal(Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1]), next);
    next += r.bytes;
  }
  assert.equal(env.server.totalBytes(), env.bundle.layout.totalSize);
});

test('installBundle() reports its phases with bytes: a resumed run rechecks the chunks already written before it downloads the rest', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const imageSize = env.bundle.manifest.image.size;
  const controller = new AbortController();
  const halfway: ProgressReporter = { phase() {}, update: (done) => void (done > imageSize / 2 && controller.abort()), message() {}, finish() {} };
  await assert.rejects(installBundle(await engineInstallOptions(env, { signal: controller.signal, progress: halfway, checkpointBytes: 256 * 1024 })), (e: unknown) =>
    isUpdaterError(e, 'ERR_ABORTED'),
  );
  const events: string[] = [];
  let phase = '';
  const totals: Record<string, number> = {};
  const last: Record<string, number> = {};
  const recorder: ProgressReporter = {
    phase(p, total) {
      phase = p;
      totals[p] = total;
      events.push(p);
    },
    update(done) {
      last[phase] = done;
    },
    message() {},
    finish() {},
  };
  const result = await installBundle(await engineInstallOptions(env, { progress: recorder }));
  assert.deepEqual(events, ['check', 'recheck', 'download', 'readback', 'flip']);
  // Every chunk the first run recorded was intact, so each was reused; all of them are full 64 KiB chunks.
  assert.ok(result.chunks.reused > 0);
  assert.equal(totals['recheck'], result.chunks.reused * 65536);
  assert.equal(last['recheck'], totals['recheck'], 'the recheck counts up to its total');
  assert.equal(last['readback'], imageSize);
});
