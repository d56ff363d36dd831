// Tests of the run lock: exclusive, names its holder, taken over from a dead process, released.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../../fixtures/cli.js';
import { holdRunLock } from '../../fixtures/lock-holder.js';
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

test('acquireRunLock(): a holder killed with SIGKILL (no release ran) leaves a lock the kernel has already let go of', async (t) => {
  const dir = await makeTempDir(t);
  const holder = await holdRunLock(dir, 'install http://x/b');
  await assert.rejects(acquireRunLock(dir, 'mark-good'), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_LOCKED'));
    assert.match(error.message, new RegExp(`held by pid ${holder.pid} \\("install http://x/b"\\)`));
    return true;
  });
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  holder.kill('SIGKILL');
  await exited;
  assert.equal(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')).pid, holder.pid, 'the dead holder still names itself');
  const lock = await acquireRunLock(dir, 'mark-good');
  assert.equal(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')).command, 'mark-good');
  await lock.release();
});

test('acquireRunLock() is not fooled by a lock file naming a live process that holds no lock (the file is a name, the flock is the lock)', async (t) => {
  const dir = await makeTempDir(t);
  await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, processStart: processStartTime(process.ppid), command: 'install', since: 'x' }));
  const lock = await acquireRunLock(dir, 'install new');
  assert.equal(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')).command, 'install new');
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

test('acquireRunLock() under contention: 4 processes, 200 rounds, a stale lock at the start of each, never two holders', async (t) => {
  const dir = await makeTempDir(t);
  const dead = await execa(process.execPath, ['-e', 'console.log(process.pid)']);
  const stale = JSON.stringify({ pid: Number(dead.stdout), processStart: '1', command: 'install (died)', since: '2026-01-01T00:00:00Z' });
  const worker = path.join(PROJECT_ROOT, 'fixtures/run-lock-worker.ts');
  const workers = Array.from({ length: 4 }, () => fork(worker, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  t.after(() => {
    for (const w of workers) w.kill('SIGKILL');
  });
  const next = (w: ChildProcess) => new Promise<{ round?: number; held?: boolean; overlap?: boolean }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
  await Promise.all(workers.map(next));
  let overlaps = 0;
  let roundsWithHolder = 0;
  for (let round = 0; round < 200; round += 1) {
    await writeFile(path.join(dir, LOCK_FILE), stale);
    const answers = workers.map(next);
    for (const w of workers) w.send({ round, dir });
    const results = await Promise.all(answers);
    overlaps += results.filter((r) => r.overlap).length;
    if (results.some((r) => r.held)) roundsWithHolder += 1;
  }
  assert.equal(overlaps, 0, 'two holders at once');
  assert.equal(roundsWithHolder, 200, 'the stale lock was taken over in every round');
});
