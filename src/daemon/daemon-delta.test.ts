// The daemon installs a format 2 bundle offered by Omaha as a delta: only the chunks the running slot lacks are
// fetched from the offer's URL (the full bundle), and event 14 says how many bytes that was.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, stat } from 'node:fs/promises';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, startDaemon } from '../../fixtures/daemon-env.js';
import { bootedSnapshot, hashRange } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { loadEngineState } from '../engine/state-store.js';

test('daemon with Omaha and a format 2 bundle: a delta from slot A, only the missing chunks fetched, event 14 with downloaded and total', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t), { bundle: { format: 2, zstdLevel: 3 } });
  // Slot A ("v1") holds the first 2 MiB of the new image: what a host shares with its next version.
  const image = await readFile(env.image);
  const shared = 2 * 1024 * 1024;
  const handle = await open(env.disk.path, 'r+');
  await handle.write(image, 0, shared, env.disk.slots.A.offset);
  await handle.close();
  const before = await bootedSnapshot(env);
  await startDaemon(t, env);
  env.omaha.setPackage(omahaPackageFor(env));
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  assert.equal(update.json().outcome, 'installed');

  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, image.length), await hashRange(env.image, 0, image.length), 'slot B holds the new image');
  assert.deepEqual(await bootedSnapshot(env), before, 'slot A and its flags unchanged');
  const served = env.server.requests.filter((r) => r.path === 'bundle.tar').reduce((sum, r) => sum + r.bytes, 0);
  const bundleSize = (await stat(env.bundle.path)).size;
  assert.ok(served < bundleSize / 2, `a delta: ${served} of ${bundleSize} bytes fetched from the offer's URL`);
  const state = await loadEngineState(env.stateDir);
  assert.ok((state.install?.bytesReused ?? 0) >= shared - 64 * 1024, `reused ${state.install?.bytesReused} bytes of slot A`);
  const finished = env.omaha.events.find((e) => e.type === 14);
  assert.deepEqual([finished?.downloaded, finished?.total], [served, bundleSize], 'event 14 says what was downloaded, of how much');
});
