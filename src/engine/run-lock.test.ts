// Tests of the run lock: exclusive, names its holder, taken over from a dead process, released.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from '../../fixtures/tmp.js';
import { isUpdaterError } from '../../common/errors.js';
import { acquireRunLock, LOCK_FILE, processStartTime } from './run-lock.js';

test('acquireRunLock() refuses a second holder with ERR_LOCKED naming pid, command and since', async (t) => {
  const dir = await makeTempDir(t);
  const lock = await acquireRunLock(dir, 'install http://x/b');
  await assert.rejects(acquireRunLock(dir, 'install other'), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_LOCKED'));
    assert.match(error.message, new RegExp(`pid ${process.pid} \\("install http://x/b"\\) since \\d{4}-`));
    assert.equal(error.data?.pid, process.pid);
    return true;
  });
  await lock.release();
  await assert.rejects(access(path.join(dir, LOCK_FILE)));
  const again = await acquireRunLock(dir, 'install other');
  assert.equal(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')).command, 'install other');
  await again.release();
});

test('acquireRunLock() takes over a lock whose process is dead', async (t) => {
  const dir = await makeTempDir(t);
  const child = await execa(process.execPath, ['-e', 'console.log(process.pid)']);
  const deadPid = Number(child.stdout);
  await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, processStart: '1', command: 'install', since: '2026-01-01T00:00:00Z' }));
  const lock = await acquireRunLock(dir, 'install new');
  assert.equal(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  await lock.release();
});

test('acquireRunLock() takes over a lock whose pid now belongs to another process (start time differs)', async (t) => {
  const dir = await makeTempDir(t);
  const start = processStartTime(process.pid);
  assert.notEqual(start, null);
  await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, processStart: `${start}999`, command: 'install', since: 'x' }));
  const lock = await acquireRunLock(dir, 'install new');
  assert.equal(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')).command, 'install new');
  await lock.release();
});

test('acquireRunLock() takes over an unreadable lock file', async (t) => {
  const dir = await makeTempDir(t);
  await writeFile(path.join(dir, LOCK_FILE), '{"pi');
  const lock = await acquireRunLock(dir, 'install');
  assert.equal(lock.holder.pid, process.pid);
  await lock.release();
});

test('acquireRunLock() with waitMs waits for a live holder to let go, and fails with ERR_LOCKED once waitMs has passed', async (t) => {
  const dir = await makeTempDir(t);
  const held = await acquireRunLock(dir, 'install a');
  const started = Date.now();
  await assert.rejects(acquireRunLock(dir, 'mark-good', { waitMs: 300 }), (error: unknown) => isUpdaterError(error, 'ERR_LOCKED'));
  assert.ok(Date.now() - started >= 300, 'it waited');
  const waiting = acquireRunLock(dir, 'mark-good', { waitMs: 10_000 });
  setTimeout(() => void held.release(), 200);
  const lock = await waiting;
  assert.equal(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')).command, 'mark-good');
  await lock.release();
});
