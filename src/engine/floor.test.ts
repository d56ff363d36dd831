// Issue 11 item 3: the anti-rollback floor fails closed. An unreadable state.json is an error naming the file and what
// to do (never moved aside and replaced by an empty state), a state from a newer abupdate is refused clearly, the floor
// survives the loss of either state.json or its second copy floor.json, and a fresh host's floor is the version it runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../../common/errors.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { bootedSnapshot, engineInstallOptions, hashRange, makeInstallEnv } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { installBundle } from './install.js';
import { applyEngineEvent } from './lifecycle.js';
import { seedEngineState } from '../../fixtures/engine-state.js';
import { emptyEngineState, loadEngineState, STATE_FILE } from './state-store.js';
import { FLOOR_FILE } from './floor-copy.js';
import { recordingFs } from '../../soak/crash/recording-fs.js';
import { runCli } from '../../fixtures/cli.js';

test('loadEngineState() of a truncated, corrupt or malformed state.json throws ERR_STATE_UNREADABLE naming the file; the file stays as it was', async (t) => {
  const dir = await makeTempDir(t);
  for (const body of ['{"schema":1,"state":"DOWNLO', '[]', '{"schema":1,"state":"NAPPING","slots":{},"badVersions":[]}', '']) {
    await writeFile(path.join(dir, STATE_FILE), body);
    await assert.rejects(loadEngineState(dir), (e: unknown) => {
      assert.ok(isUpdaterError(e, 'ERR_STATE_UNREADABLE'), `${JSON.stringify(body)}: ${String(e)}`);
      assert.match(e.message, new RegExp(`Cannot read the engine state ".*${STATE_FILE}"`));
      assert.match(e.hint ?? '', /Nothing was changed.*move it aside/);
      return true;
    });
    assert.equal(await readFile(path.join(dir, STATE_FILE), 'utf8'), body, 'not moved aside or replaced');
    assert.deepEqual((await readdir(dir)).sort(), [STATE_FILE]);
  }
});

test('loadEngineState() of a state written by a newer abupdate (schema 2) throws ERR_STATE_NEWER and leaves it alone', async (t) => {
  const dir = await makeTempDir(t);
  const body = JSON.stringify({ schema: 2, state: 'IDLE', floorVersion: '3.0.0', slots: {}, badVersions: [] });
  await writeFile(path.join(dir, STATE_FILE), body);
  await assert.rejects(loadEngineState(dir), (e: unknown) => {
    assert.ok(isUpdaterError(e, 'ERR_STATE_NEWER'), String(e));
    assert.match(e.message, /written by a newer abupdate \(schema 2; this one reads schema 1\)/);
    return true;
  });
  // applying an event refuses too: nothing overwrites the newer state
  await assert.rejects(applyEngineEvent(dir, 'bad-versions-cleared', { badVersions: [] }), (e: unknown) => isUpdaterError(e, 'ERR_STATE_NEWER'));
  assert.equal(await readFile(path.join(dir, STATE_FILE), 'utf8'), body);
});

test('the floor survives the loss of state.json or of floor.json, and the higher of the two wins', async (t) => {
  const dir = await makeTempDir(t);
  await seedEngineState(dir, { committedVersion: '2.0.0', floorVersion: '2.0.0' });
  assert.deepEqual((await readdir(dir)).sort(), ['floor.json', STATE_FILE]);
  await rm(path.join(dir, STATE_FILE));
  assert.equal((await loadEngineState(dir)).floorVersion, '2.0.0', 'state.json lost: floor.json keeps the floor');
  await seedEngineState(dir, { floorVersion: '2.0.0' });
  await rm(path.join(dir, 'floor.json'));
  assert.equal((await loadEngineState(dir)).floorVersion, '2.0.0', 'floor.json lost: state.json keeps the floor');
  // state.json restored from an old backup (floor 1.0.0) while floor.json says 2.0.0: 2.0.0 holds
  await seedEngineState(dir, { floorVersion: '2.0.0' });
  await writeFile(path.join(dir, STATE_FILE), JSON.stringify({ ...emptyEngineState(), floorVersion: '1.0.0' }));
  assert.equal((await loadEngineState(dir)).floorVersion, '2.0.0');
  // and a write never lowers the copy
  await seedEngineState(dir, { floorVersion: '1.0.0' });
  assert.equal(JSON.parse(await readFile(path.join(dir, 'floor.json'), 'utf8')).floorVersion, '2.0.0');
});

test('installBundle() below a floor only floor.json still holds (state.json lost) is refused with ERR_BELOW_FLOOR; nothing written', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t), { version: '1.5.0' });
  await seedEngineState(env.stateDir, { committedVersion: '2.0.0', floorVersion: '2.0.0' });
  await rm(path.join(env.stateDir, STATE_FILE));
  const before = { booted: await bootedSnapshot(env), flagsB: await cgptFlags(env.disk.path, env.disk.slots.B.partition), bytesB: await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size) };
  await assert.rejects(installBundle(await engineInstallOptions(env, { allowDowngrade: true })), (e: unknown) => isUpdaterError(e, 'ERR_BELOW_FLOOR'));
  assert.deepEqual(
    { booted: await bootedSnapshot(env), flagsB: await cgptFlags(env.disk.path, env.disk.slots.B.partition), bytesB: await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size) },
    before,
  );
});

test('installBundle() on a fresh host refuses a bundle older than the version it runs (its floor) with ERR_BELOW_FLOOR, even with allowDowngrade', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t), { version: '1.5.0' });
  const flagsB = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  await assert.rejects(installBundle(await engineInstallOptions(env, { allowDowngrade: true, currentVersion: '2.0.0' })), (e: unknown) => {
    assert.ok(isUpdaterError(e, 'ERR_BELOW_FLOOR'), String(e));
    assert.match(e.message, /below the anti-rollback floor 2\.0\.0/);
    return true;
  });
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), flagsB);
  // the same bundle on a fresh host running 1.0.0 installs
  const ok = await installBundle(await engineInstallOptions(env, { currentVersion: '1.0.0' }));
  assert.equal(ok.version, '1.5.0');
});

test('an unreadable state.json stops an install with ERR_STATE_UNREADABLE before anything is written', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  await seedEngineState(env.stateDir, { floorVersion: '1.0.0' });
  await writeFile(path.join(env.stateDir, STATE_FILE), '{"schema":1,"sta');
  const flagsB = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  const bytesB = await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size);
  await assert.rejects(installBundle(await engineInstallOptions(env)), (e: unknown) => isUpdaterError(e, 'ERR_STATE_UNREADABLE'));
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), flagsB);
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size), bytesB);
  assert.equal(await readFile(path.join(env.stateDir, STATE_FILE), 'utf8'), '{"schema":1,"sta');
});

test('floor.json is written through the injectable file system (the crash explorer sees it), after state.json is durable', async (t) => {
  const dir = await makeTempDir(t);
  const fs = recordingFs(dir);
  await applyEngineEvent(dir, 'bad-versions-cleared', { committedVersion: '2.0.0', floorVersion: '2.0.0' }, { fs });
  const renames = fs.trace.flatMap((op, i) => (op.op === 'rename' ? [{ i, to: op.to }] : []));
  assert.deepEqual(renames.map((r) => r.to), [STATE_FILE, FLOOR_FILE], 'both renames recorded, state.json first');
  const floorRename = renames[1]!.i;
  const stateDirSync = fs.trace.findIndex((op, i) => i > renames[0]!.i && op.op === 'fsync' && op.path === '');
  assert.ok(stateDirSync > renames[0]!.i && stateDirSync < floorRename, 'state.json dir fsync before floor.json is touched');
  const floorWrite = fs.trace.findIndex((op) => op.op === 'write' && op.path.includes(FLOOR_FILE));
  const floorSync = fs.trace.findIndex((op, i) => i > floorWrite && op.op === 'fsync' && op.path.includes(FLOOR_FILE));
  assert.ok(floorWrite > stateDirSync && floorSync > floorWrite && floorSync < floorRename, 'floor.json: write, fsync, rename');
  assert.equal(fs.trace.at(-1)?.op, 'fsync', 'the dir is fsynced after the rename');
  assert.equal(JSON.parse(await readFile(path.join(dir, FLOOR_FILE), 'utf8')).floorVersion, '2.0.0');
});

test('abupdate install on a fresh host takes its floor from the running system (FLATCAR_RELEASE_VERSION): an older bundle is ERR_BELOW_FLOOR, nothing written', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t), { version: '1.5.0' });
  const release = path.join(env.dir, 'release');
  await writeFile(release, 'FLATCAR_RELEASE_VERSION=2.0.0\nFLATCAR_RELEASE_BOARD=amd64-usr\n');
  await writeFile(path.join(env.dir, 'none.conf'), '');
  const cliEnv = { ABUPDATE_CONFIG: path.join(env.dir, 'none.conf'), ABUPDATE_VENDOR_CONFIG: path.join(env.dir, 'none-vendor.conf'), ABUPDATE_FLATCAR_RELEASE: release };
  const before = await bootedSnapshot(env);
  const flagsB = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  const bytesB = await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size);
  const refused = await runCli(['install', env.url, ...env.options, '--allow-downgrade', '--json'], { env: cliEnv });
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(refused.stderr, /ERR_BELOW_FLOOR/);
  assert.match(refused.stderr, /below the anti-rollback floor 2\.0\.0/);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), flagsB, 'flags as cgpt reads them unchanged');
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size), bytesB, 'slot B not written');
  assert.deepEqual(await bootedSnapshot(env), before);
  // --current-version says otherwise (an operator who knows the host runs 1.0.0): the same bundle installs.
  const ok = await runCli(['install', env.url, ...env.options, '--current-version', '1.0.0', '--json'], { env: cliEnv });
  assert.equal(ok.code, 0, ok.stderr);
});
