// Tests of the persistent engine state: round trip, atomic replace, corrupt files, chunk bitmaps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/tmp.js';
import { UpdaterError } from '../../common/errors.js';
import { ChunkBitmap } from './chunk-bitmap.js';
import { applyEngineEvent } from './lifecycle.js';
import { emptyEngineState, loadEngineState, saveEngineState, STATE_FILE } from './state-store.js';

test('loadEngineState() returns the empty IDLE state when there is no file', async (t) => {
  const dir = await makeTempDir(t);
  const state = await loadEngineState(path.join(dir, 'missing'));
  assert.equal(state.state, 'IDLE');
  assert.equal(state.install, null);
  assert.deepEqual(state.badVersions, []);
});

test('saveEngineState() writes a state that loadEngineState() reads back, leaving no temp file', async (t) => {
  const dir = await makeTempDir(t);
  const bitmap = new ChunkBitmap(20);
  bitmap.set(0);
  bitmap.set(19);
  const error = new UpdaterError('ERR_NETWORK', 'Cannot download "x": reset', { hint: 'retry' });
  const state = {
    ...emptyEngineState(),
    state: 'DOWNLOADING' as const,
    install: {
      targetSlot: 'B' as const,
      version: '2.0.0',
      source: 'http://127.0.0.1/b',
      manifestSha256: 'ab'.repeat(32),
      keyId: 'k1',
      imageSize: 20 * 65536,
      chunkCount: 20,
      chunksDone: bitmap.toBase64(),
      attempts: 2,
      bytesDownloaded: 12345,
      startedAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:01.000Z',
    },
    lastError: error.toJSON(),
    slots: { A: { version: '1.0.0', manifestSha256: 'cd'.repeat(32), installedAt: '2026-01-01T00:00:00.000Z' } },
    committedVersion: '1.0.0',
    floorVersion: '1.0.0',
    badVersions: ['1.5.0'],
  };
  await saveEngineState(dir, state);
  const loaded = await loadEngineState(dir);
  assert.equal(loaded.state, 'DOWNLOADING');
  assert.deepEqual(loaded.install, state.install);
  assert.equal(loaded.lastError?.code, 'ERR_NETWORK');
  assert.equal(loaded.lastError?.hint, 'retry');
  assert.deepEqual(loaded.slots, state.slots);
  assert.deepEqual(loaded.badVersions, ['1.5.0']);
  assert.equal(typeof loaded.updatedAt, 'string');
  const back = ChunkBitmap.fromBase64(20, loaded.install?.chunksDone ?? '');
  assert.deepEqual([back.has(0), back.has(1), back.has(19), back.size(), back.firstMissing()], [true, false, true, 2, 1]);
  // state.json and the floor's second copy (floor.json, issue 11 item 3), no temp file
  assert.deepEqual((await readdir(dir)).sort(), ['floor.json', STATE_FILE]);
});

test('loadEngineState() refuses a corrupt file (ERR_STATE_UNREADABLE) or a newer schema (ERR_STATE_NEWER) and leaves it where it is', async (t) => {
  // Before issue 11 item 3 such a file was moved aside and replaced by an empty state: the floor went with it.
  const dir = await makeTempDir(t);
  for (const [body, code] of [['{"schema":1,"state":"DOWNLO', 'ERR_STATE_UNREADABLE'], ['[]', 'ERR_STATE_UNREADABLE'], ['{"schema":7,"state":"IDLE"}', 'ERR_STATE_NEWER'], ['{"schema":1,"state":"NAPPING","slots":{},"badVersions":[]}', 'ERR_STATE_UNREADABLE']] as const) {
    await writeFile(path.join(dir, STATE_FILE), body);
    await assert.rejects(loadEngineState(dir), (e: unknown) => e instanceof UpdaterError && e.code === code && e.message.includes(path.join(dir, STATE_FILE)));
    assert.equal(await readFile(path.join(dir, STATE_FILE), 'utf8'), body, body);
    assert.deepEqual(await readdir(dir), [STATE_FILE], body);
  }
});

test('applyEngineEvent() (which replaced updateEngineState()) changes the state and keeps the rest', async (t) => {
  const dir = await makeTempDir(t);
  await saveEngineState(dir, { ...emptyEngineState(), state: 'FINALIZING', committedVersion: '1.0.0', badVersions: ['0.9.0'] });
  await applyEngineEvent(dir, 'slot-flipped');
  const loaded = JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8'));
  assert.equal(loaded.state, 'UPDATED_NEED_REBOOT');
  assert.equal(loaded.committedVersion, '1.0.0');
  assert.deepEqual(loaded.badVersions, ['0.9.0']);
});

test('ChunkBitmap ignores bits past its count and finds the first missing chunk', () => {
  const bitmap = ChunkBitmap.fromBase64(10, Buffer.from([0xff, 0xff]).toString('base64'));
  assert.equal(bitmap.size(), 10);
  assert.equal(bitmap.firstMissing(), 10);
  bitmap.set(3, false);
  assert.equal(bitmap.firstMissing(), 3);
  assert.equal(bitmap.firstMissing(4), 10);
  assert.equal(bitmap.has(12), false);
  assert.throws(() => bitmap.set(10), RangeError);
});
