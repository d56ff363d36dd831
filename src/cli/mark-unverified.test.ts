// Issue 11 item 2: no command makes an unverified slot bootable. mark-good and mark-active of a slot whose content the
// engine has not verified (an install into it interrupted or discarded, or never recorded) are refused with
// ERR_SLOT_UNVERIFIED saying why, the flags unchanged as cgpt / grub-editenv read them; --force overrides and says
// what it risks. A slot the engine wrote and read back, the booted slot and a committed slot are accepted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { copyFile, readdir, readFile, stat, truncate } from 'node:fs/promises';
import { isUpdaterError } from '../../common/errors.js';
import { installBundle } from '../engine/install.js';
import path from 'node:path';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { cgptFlags, makeSlotDisk } from '../../fixtures/disk.js';
import { engineInstallOptions, hashRange, makeInstallEnv, type InstallEnv } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';

/** An empty update.conf so the host's stays out; state and run dirs inside DIR. */
function envOf(env: { dir: string }): NodeJS.ProcessEnv {
  writeFileSync(path.join(env.dir, 'none.conf'), '');
  return {
    ABUPDATE_CONFIG: path.join(env.dir, 'none.conf'),
    ABUPDATE_VENDOR_CONFIG: path.join(env.dir, 'none-vendor.conf'),
    ABUPDATE_RUN_DIR: path.join(env.dir, 'run'),
    ABUPDATE_STATE_DIR: path.join(env.dir, 'state'),
  };
}

async function flagsOf(env: InstallEnv): Promise<unknown> {
  return { A: await cgptFlags(env.disk.path, env.disk.slots.A.partition), B: await cgptFlags(env.disk.path, env.disk.slots.B.partition) };
}

/** An install that stops half way (the bundle is cut after a third of its image): B is written in part. */
async function interruptedInstall(env: InstallEnv): Promise<void> {
  const cut = path.join(env.dir, 'cut.tar');
  await copyFile(env.bundle.path, cut);
  await truncate(cut, Math.floor(env.bundle.layout.imageOffset + env.bundle.manifest.image.size / 3));
  const r = await runCli(['install', env.serve('cut.tar', cut), ...env.options, '--stall-timeout', '1', '--retries', '0'], { env: envOf(env) });
  assert.equal(r.code, 1, r.stdout);
}

async function expectUnverified(env: InstallEnv, args: string[], why: RegExp): Promise<{ message: string; data: Record<string, unknown> }> {
  const before = await flagsOf(env);
  const r = await runCli([...args, '--disk', env.disk.path, '--booted', 'A', '--json'], { env: envOf(env) });
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
  const error = r.json().error;
  assert.equal(error.code, 'ERR_SLOT_UNVERIFIED', error.message);
  assert.match(error.message, why);
  assert.match(error.hint, /--force/);
  assert.deepEqual(await flagsOf(env), before, `${args.join(' ')}: flags as cgpt reads them unchanged`);
  return error;
}

test('mark-good and mark-active of a slot an install left half-written are refused with ERR_SLOT_UNVERIFIED; flags unchanged', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  await interruptedInstall(env);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 0, tries: 0, successful: false });
  await expectUnverified(env, ['mark-good', 'B'], /slot B: .*an install of 2\.0\.0 into it did not finish/);
  await expectUnverified(env, ['mark-active', 'B'], /an install of 2\.0\.0 into it did not finish/);
  await expectUnverified(env, ['mark-active', 'other', '--tries', '3'], /did not finish/);
});

test('mark-good --force of an unverified slot does it and says what it risks', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  await interruptedInstall(env);
  const r = await runCli(['mark-good', 'B', '--force', '--disk', env.disk.path, '--booted', 'A', '--json'], { env: envOf(env) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.json().forced, /slot B is committed although .*did not finish/);
  assert.match(r.json().forced, /no fallback/);
  assert.match(r.stderr, /warning: --force/);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 2, tries: 0, successful: true });
});

test('mark-active of a slot the engine never recorded (fresh disk, or after a refused install) is refused with ERR_SLOT_UNVERIFIED', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  await expectUnverified(env, ['mark-active', 'B'], /the engine has no record of what slot B holds/);
  // a refused install (not for this hardware) changes nothing about that
  const r = await runCli(['install', env.url, ...env.options.map((o) => (o === 'abupdate-test-x86_64' ? 'other-hardware' : o))], { env: envOf(env) });
  assert.match(r.stderr, /ERR_INCOMPATIBLE/);
  await expectUnverified(env, ['mark-good', 'B'], /no record/);
});

// The three ways a slot has no verified content, each said apart (content: refused / discarded / unknown).
test('mark-good of a slot whose last install was refused (it did not verify) says refused: ERR_SLOT_UNVERIFIED, content "refused"', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const r = await runCli(['install', env.url, ...env.options.map((o) => (o === 'abupdate-test-x86_64' ? 'other-hardware' : o))], { env: envOf(env) });
  assert.match(r.stderr, /ERR_INCOMPATIBLE/);
  const error = await expectUnverified(env, ['mark-good', 'B'], /slot B: .*an install of 2\.0\.0 aimed at it was refused \(ERR_INCOMPATIBLE\): the bundle did not pass verification/);
  assert.equal(error.data.content, 'refused');
  await expectUnverified(env, ['mark-active', 'B'], /was refused \(ERR_INCOMPATIBLE\)/);
});

test('mark-good of a slot whose install was discarded (whole bundle wrong, first chunk zeroed) says discarded: content "discarded"', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const { size } = await stat(env.bundle.path);
  const sha256 = createHash('sha256').update(await readFile(env.bundle.path)).digest('hex');
  await assert.rejects(
    installBundle(await engineInstallOptions(env, { expectedBundle: { size, sha256: 'ee'.repeat(32), mismatchCode: 'ERR_CHANNEL' } })),
    (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL'),
  );
  assert.notEqual(sha256, 'ee'.repeat(32));
  const bytesB = await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size);
  const error = await expectUnverified(env, ['mark-good', 'B'], /slot B: .*an install of 2\.0\.0 into it was discarded \(ERR_CHANNEL\): its first chunk was zeroed/);
  assert.equal(error.data.content, 'discarded');
  await expectUnverified(env, ['mark-active', 'B', '--tries', '2'], /was discarded/);
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.disk.slots.B.size), bytesB, 'slot B not written by the refusals');
});

test('mark-good of a slot the engine never wrote says unknown: content "unknown", no record', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const error = await expectUnverified(env, ['mark-good', 'B'], /the engine has no record of what slot B holds/);
  assert.equal(error.data.content, 'unknown');
  assert.deepEqual(await readdir(env.stateDir).catch(() => []), [], 'nothing written to the state dir');
});

test('mark-active and mark-good of a slot the engine wrote and read back are accepted; the booted slot is always accepted', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const installed = await runCli(['install', env.url, ...env.options], { env: envOf(env) });
  assert.equal(installed.code, 0, installed.stderr);
  const active = await runCli(['mark-active', 'B', '--tries', '2', '--disk', env.disk.path, '--booted', 'A', '--json'], { env: envOf(env) });
  assert.equal(active.code, 0, active.stderr);
  assert.equal(active.json().forced, undefined);
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), { priority: 2, tries: 2, successful: false });
  const good = await runCli(['mark-good', 'booted', '--disk', env.disk.path, '--booted', 'A', '--json'], { env: envOf(env) });
  assert.equal(good.code, 0, good.stderr);
});

test('mark-active of an unrecorded slot on grubenv is refused too: grub-editenv list unchanged', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const list = async () => (await execa('grub-editenv', [d.grubenvPath!, 'list'])).stdout;
  const before = await list();
  const r = await runCli(['mark-active', 'B', '--disk', d.path, '--bootloader', 'grubenv', '--grubenv', d.grubenvPath!, '--booted', 'A', '--json'], { env: envOf({ dir }) });
  assert.equal(r.code, 1);
  assert.equal(r.json().error.code, 'ERR_SLOT_UNVERIFIED');
  assert.equal(await list(), before);
});
