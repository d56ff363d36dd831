// Tests of `abupdate install` and `abupdate status` on disk image files with a real HTTP server on 127.0.0.1:
// the full install, and every bad input refused with its code while the booted slot and the flags stay as they were.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, open, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../fixtures/cli.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { makeBundle, makeImage, makeKeys } from '../../fixtures/bundle.js';
import { bootedSnapshot, hashRange, makeInstallEnv, TEST_COMPATIBLE, type InstallEnv } from '../../fixtures/install-env.js';
import { holdRunLock } from '../../fixtures/lock-holder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { seedEngineState } from '../../fixtures/engine-state.js';
import { loadEngineState } from '../engine/state-store.js';

const FAST = ['--stall-timeout', '1', '--retries', '1'];

/** A copy of the scene's bundle with MUTATE applied, served as /NAME. */
async function variant(env: InstallEnv, name: string, mutate: (file: string) => Promise<void>): Promise<string> {
  const file = path.join(env.dir, name);
  await copyFile(env.bundle.path, file);
  await mutate(file);
  return env.serve(name, file);
}

async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, offset);
  byte[0] = (byte[0] ?? 0) ^ 0xff;
  await handle.write(byte, 0, 1, offset);
  await handle.close();
}

/** Runs the install and checks the refusal: exit 1, CODE, booted slot + all flags unchanged, and (when
 * `untouched`) not one byte of the target slot written either. */
async function expectRefused(env: InstallEnv, args: string[], code: string, untouched: boolean): Promise<void> {
  const booted = await bootedSnapshot(env);
  const flagsB = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  const slotB = await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size);
  const result = await runCli(['install', ...args, '--json']);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.json().error?.code, code, result.stdout);
  assert.match(result.stderr, new RegExp(`Cannot .*\\[${code}\\]`));
  assert.deepEqual(await bootedSnapshot(env), booted);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), flagsB);
  if (untouched) assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size), slotB);
  assert.equal((await loadEngineState(env.stateDir)).lastError?.code, code);
}

test('abupdate install over HTTP writes slot B, keeps slot A, and cgpt shows B next with one try', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const before = await bootedSnapshot(env);
  const result = await runCli(['install', env.url, ...env.options, '--json']);
  assert.equal(result.code, 0, result.stderr);
  const events = result.jsonLines();
  assert.ok(events.some((e) => e.event === 'phase' && e.phase === 'download'));
  assert.ok(events.some((e) => e.event === 'phase' && e.phase === 'readback'));
  const done = result.json();
  assert.equal(done.event, 'installed');
  assert.equal(done.slot, 'B');
  assert.equal(done.version, '2.0.0');
  const { size, sha256 } = env.bundle.manifest.image;
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, size), sha256);
  assert.deepEqual(await bootedSnapshot(env), before);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false });

  const status = await runCli(['status', ...env.options.filter((o, i, a) => o !== '--keyring' && a[i - 1] !== '--keyring' && o !== '--compatible' && a[i - 1] !== '--compatible'), '--json']);
  assert.equal(status.code, 0, status.stderr);
  const s = status.json();
  assert.equal(s.state, 'UPDATED_NEED_REBOOT');
  assert.equal(s.pendingReboot, true);
  assert.equal(s.booted, 'A');
  assert.deepEqual(
    s.slots.map((r: { name: string; state: string; version: string | null; next: boolean }) => [r.name, r.state, r.version, r.next]),
    [['A', 'good', null, false], ['B', 'trying', '2.0.0', true]],
  );
  assert.equal(s.install.percent, 100);
  const again = await runCli(['install', env.url, ...env.options]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already installed in slot B/);
});

test('abupdate install refuses a bad signature, an unknown key and a revoked key before touching slot B', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const badSig = await variant(env, 'bad-sig.tar', (f) => flipByte(f, env.bundle.layout.signatureOffset + 3));
  await expectRefused(env, [badSig, ...env.options], 'ERR_SIGNATURE', true);
  const otherDir = path.join(env.dir, 'other-keys');
  await mkdir(otherDir);
  await makeKeys(otherDir, 'other', 'someone-else');
  const withOther = env.options.map((o) => (o === env.keys.keyringDir ? otherDir : o));
  await expectRefused(env, [env.url, ...withOther], 'ERR_KEY_UNKNOWN', true);
  await writeFile(path.join(env.keys.keyringDir, 'revoked.list'), `${env.keys.keyId}\n`);
  await expectRefused(env, [env.url, ...env.options], 'ERR_KEY_REVOKED', true);
});

test('abupdate install refuses a tampered chunk, a truncated bundle and extra bytes before the flip', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const chunk = env.bundle.layout.chunks[20];
  assert.ok(chunk);
  const tampered = await variant(env, 'tampered.tar', (f) => flipByte(f, chunk.bundleOffset + 100));
  await expectRefused(env, [tampered, ...env.options], 'ERR_CHUNK_HASH', false);
  const truncated = await variant(env, 'truncated.tar', (f) => truncate(f, env.bundle.layout.imageOffset + 40 * 65536 + 7));
  await expectRefused(env, [truncated, ...env.options, ...FAST], 'ERR_BUNDLE_TRUNCATED', false);
  const extra = await variant(env, 'extra.tar', (f) => appendFile(f, Buffer.from('appended data')));
  await expectRefused(env, [extra, ...env.options], 'ERR_BUNDLE_TRAILING', false);
  // The slot never became bootable, and its first chunk (written last) was never written.
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 0, tries: 0, successful: false });
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, 65536), await hashZeros(65536));
});

async function hashZeros(n: number): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(Buffer.alloc(n)).digest('hex');
}

test('abupdate install refuses a wrong compatible, an expired bundle, a downgrade and a bad version before touching slot B', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const wrong = env.options.map((o) => (o === TEST_COMPATIBLE ? 'other-board' : o));
  await expectRefused(env, [env.url, ...wrong], 'ERR_INCOMPATIBLE', true);
  const expired = await makeBundle(env.dir, { image: env.image, version: '2.0.0', compatible: TEST_COMPATIBLE, key: env.keys, chunkSize: 65536, expires: new Date(Date.now() - 60_000), name: 'expired.tar' });
  await expectRefused(env, [env.serve('expired.tar', expired.path), ...env.options], 'ERR_EXPIRED', true);
  await seedEngineState(env.stateDir, { committedVersion: '3.1.0' }, { fresh: true });
  await expectRefused(env, [env.url, ...env.options], 'ERR_DOWNGRADE', true);
  await seedEngineState(env.stateDir, { committedVersion: '1.0.0', badVersions: ['2.0.0'] }, { fresh: true });
  await expectRefused(env, [env.url, ...env.options], 'ERR_KNOWN_BAD_VERSION', true);
});

test('abupdate install refuses an image larger than the slot before touching it', async (t) => {
  const dir = await makeTempDir(t);
  const env = await makeInstallEnv(t, dir);
  const big = await makeImage(path.join(dir, 'big.img'), env.disk.slots.B.size + 4096, 'big');
  const bundle = await makeBundle(dir, { image: big, version: '2.0.0', compatible: TEST_COMPATIBLE, key: env.keys, name: 'big.tar' });
  await expectRefused(env, [env.serve('big.tar', bundle.path), ...env.options], 'ERR_IMAGE_TOO_LARGE', true);
});

test('abupdate install refuses HTTP 404, a failing 500, a stalling server and a reset without retries', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  await expectRefused(env, [env.server.url('missing.tar'), ...env.options, ...FAST], 'ERR_HTTP_STATUS', true);
  env.server.faults = { status: { code: 500 } };
  await expectRefused(env, [env.url, ...env.options, ...FAST], 'ERR_HTTP_STATUS', true);
  env.server.faults = { stallAfter: { bytes: 0 } };
  await expectRefused(env, [env.url, ...env.options, ...FAST], 'ERR_TIMEOUT', true);
  env.server.faults = { stallAfter: { bytes: 100_000 } };
  await expectRefused(env, [env.url, ...env.options, '--stall-timeout', '1', '--retries', '0'], 'ERR_TIMEOUT', false);
  env.server.faults = { destroyAfter: { bytes: 200_000 } };
  await expectRefused(env, [env.url, ...env.options, '--retries', '0'], 'ERR_NETWORK', false);
  // What was written and synced is kept: the rerun fetches only the rest.
  env.server.faults = {};
  const served = env.server.totalBytes();
  const result = await runCli(['install', env.url, ...env.options, '--json']);
  assert.equal(result.code, 0, result.stderr);
  const { reused } = result.json().chunks;
  assert.ok(reused > 0);
  const fetched = env.server.totalBytes() - served;
  assert.ok(fetched < env.bundle.layout.totalSize - (reused - 1) * 65536, `rerun fetched ${fetched} with ${reused} chunks reused`);
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.bundle.manifest.image.size), env.bundle.manifest.image.sha256);
});

test('abupdate install resumes a dropped connection with a Range request, serving under 1.2x the bundle', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  // The head comes in 4 and 8 KiB windows (untouched); the server then cuts the first image window twice, 100,000
  // bytes in each time.
  env.server.faults = { destroyAfter: { bytes: 100_000, times: 4 } };
  const result = await runCli(['install', env.url, ...env.options, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(result.jsonLines().some((e) => e.event === 'message' && /retrying from byte/.test(e.text)));
  // Each retry asks for exactly the bytes the engine has not received: it starts inside the cut request's range, after
  // its start and at most where the server stopped (bytes still in flight when the socket died are asked again).
  const requests = env.server.requests;
  const start = (r: (typeof requests)[number] | undefined) => Number(/^bytes=(\d+)-/.exec(r?.range ?? '')?.[1]);
  assert.equal(start(requests[0]), 0);
  const cut = requests.map((r, i) => ({ r, i })).filter(({ r }) => r.bytes === 100_000);
  assert.equal(cut.length, 2, `two requests cut: ${requests.map((r) => `${r.range}:${r.bytes}`).join(' ')}`);
  for (const { r, i } of cut) {
    const retry = start(requests[i + 1]);
    assert.ok(retry > start(r) && retry <= start(r) + 100_000, `the retry after ${r.range} (cut after 100000 bytes) asks from ${retry}`);
  }
  assert.ok(env.server.totalBytes() < 1.2 * env.bundle.layout.totalSize, `served ${env.server.totalBytes()}`);
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.bundle.manifest.image.size), env.bundle.manifest.image.sha256);
});

test('abupdate install refuses to write the only good slot and names the lock holder when another install runs', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  // Booted from B, which is only trying; A is the one good slot: it must not be overwritten.
  const { execa } = await import('execa');
  await execa('cgpt', ['add', '-i', String(env.disk.slots.B.partition), '-P', '2', '-T', '1', '-S', '0', env.disk.path]);
  const bootedB = env.options.map((o, i, a) => (a[i - 1] === '--booted' ? 'B' : o));
  const result = await runCli(['install', env.url, ...bootedB, '--json']);
  assert.equal(result.code, 1);
  assert.equal(result.json().error.code, 'ERR_BOOTED_SLOT_TARGET');
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.A.partition), { priority: 1, tries: 0, successful: true });
  const holder = await holdRunLock(env.runDir, 'install elsewhere', '2026-01-01T00:00:00Z');
  t.after(() => holder.kill());
  const locked = await runCli(['install', env.url, ...env.options]);
  assert.equal(locked.code, 1);
  assert.match(locked.stderr, new RegExp(`held by pid ${holder.pid} \\("install elsewhere"\\) since 2026-01-01T00:00:00Z \\[ERR_LOCKED\\]`));
});

test('abupdate install --tries beyond what the backend stores (grubenv: 1..3) is refused before any byte is downloaded; grubenv, slot B and state unchanged', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const { execa } = await import('execa');
  const grubenv = path.join(env.dir, 'grubenv');
  await execa('grub-editenv', [grubenv, 'create']);
  await execa('grub-editenv', [grubenv, 'set', 'ORDER=A', 'A_OK=1', 'A_TRY=0']);
  const listBefore = (await execa('grub-editenv', [grubenv, 'list'])).stdout;
  const slotB = await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size);
  const booted = await bootedSnapshot(env);
  for (const tries of ['4', '0']) {
    const result = await runCli(['install', env.url, ...env.options, '--bootloader', 'grubenv', '--grubenv', grubenv, '--tries', tries, '--json']);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.json().error.code, 'ERR_USAGE', tries);
    if (tries === '4') assert.match(result.json().error.message, /tries must be a whole number from 1 to 3 for grubenv, not 4/);
  }
  assert.equal(env.server.requests.length, 0, 'no request to the server');
  assert.equal((await execa('grub-editenv', [grubenv, 'list'])).stdout, listBefore);
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size), slotB);
  assert.deepEqual(await bootedSnapshot(env), booted);
  assert.equal((await loadEngineState(env.stateDir)).install, null);
  // 3 is what grubenv stores: it installs.
  const ok = await runCli(['install', env.url, ...env.options, '--bootloader', 'grubenv', '--grubenv', grubenv, '--tries', '3', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match((await execa('grub-editenv', [grubenv, 'list'])).stdout, /^B_TRY=3$/m);
});

test('abupdate install from a server that trickles 16 bytes every 200 ms stops with ERR_NETWORK_SLOW, keeps what it wrote, and a rerun resumes and completes', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const booted = await bootedSnapshot(env);
  // Full speed for the head and the first part of the image, then the slow-retrieval attack.
  env.server.faults = { throttle: { bytes: 16, ms: 200, afterBytes: 1024 * 1024 } };
  const slow = await runCli(['install', env.url, ...env.options, '--speed-limit', '4096', '--speed-time', '2s', '--json']);
  assert.equal(slow.code, 1, slow.stderr);
  const error = slow.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error?: { code: string; message: string } }).find((l) => l.error)?.error;
  assert.equal(error?.code, 'ERR_NETWORK_SLOW');
  assert.match(error?.message ?? '', /below the limit of 4096 bytes\/s for 2 s/);
  assert.deepEqual(await bootedSnapshot(env), booted, 'the booted slot and its flags never changed');
  const flagsB = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  assert.ok(flagsB.priority === 0 || (!flagsB.successful && flagsB.tries === 0), `B is not bootable: ${JSON.stringify(flagsB)}`);
  const kept = (await loadEngineState(env.stateDir)).install;
  assert.ok(kept !== null, 'the progress is kept');
  const servedSlow = env.server.totalBytes();

  env.server.faults = {};
  const resumed = await runCli(['install', env.url, ...env.options, '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const result = JSON.parse(resumed.stdout.trim().split('\n').at(-1) ?? '{}') as { chunks?: { reused: number; written: number; total: number } };
  assert.ok((result.chunks?.reused ?? 0) > 0, `chunks ${JSON.stringify(result.chunks)}`);
  assert.ok(env.server.totalBytes() - servedSlow < env.bundle.layout.totalSize, 'the rerun fetched less than the whole bundle');
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false });
  assert.deepEqual(await bootedSnapshot(env), booted);
});
