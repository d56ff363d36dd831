// Tests of `abupdate slots` and `mark-good` / `mark-bad` / `mark-active` on sgdisk disks, checked with cgpt.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from '../../fixtures/tmp.js';
import { cgptFlags, makeSlotDisk, sgdiskVerify } from '../../fixtures/disk.js';
import { CLI_ARGV, runCli } from '../../fixtures/cli.js';

const flags = (priority: number, tries: number, successful: boolean) => ({ priority, tries, successful });
/** Keep the host's update.conf out of these tests: an empty one replaces /etc/abupdate/update.conf. */
const CONFIG_DIR = mkdtempSync(path.join(tmpdir(), 'abupdate-slots-cli-'));
writeFileSync(path.join(CONFIG_DIR, 'update.conf'), '');
process.once('exit', () => rmSync(CONFIG_DIR, { recursive: true, force: true }));
const ENV = {
  ABUPDATE_CONFIG: path.join(CONFIG_DIR, 'update.conf'),
  ABUPDATE_VENDOR_CONFIG: path.join(CONFIG_DIR, 'vendor.conf'),
  // mark-* take the run lock: keep it out of the host's /run/abupdate.
  ABUPDATE_RUN_DIR: path.join(CONFIG_DIR, 'run'),
  // ... and the engine state out of the host's /var/lib/abupdate (mark-good/-active read what it verified).
  ABUPDATE_STATE_DIR: path.join(CONFIG_DIR, 'state'),
};

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

test('abupdate slots --json prints the documented shape for a fresh disk', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const r = await runCli(['slots', '--disk', d.path, '--booted', 'A', '--json'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json(), {
    disk: d.path,
    bootloader: 'gptprio',
    booted: 'A',
    slots: [
      { name: 'A', partition: 2, label: 'USR-A', uuid: d.slots.A.uuid, priority: 1, tries: 0, successful: true, state: 'good' },
      { name: 'B', partition: 3, label: 'USR-B', uuid: d.slots.B.uuid, priority: 0, tries: 0, successful: false, state: 'bad' },
    ],
    next: 'A',
  });
});

test('abupdate slots reads flags set by cgpt add (JSON and the human table)', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  await execa('cgpt', ['add', '-i', '3', '-P', '2', '-T', '1', '-S', '0', d.path]);
  const r = await runCli(['slots', '--disk', d.path, '--json'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const json = r.json();
  assert.equal(json.booted, null);
  assert.equal(json.next, 'B');
  assert.deepEqual(json.slots.map((s: { priority: number; tries: number; successful: boolean; state: string }) => [s.priority, s.tries, s.successful, s.state]), [
    [1, 0, true, 'good'],
    [2, 1, false, 'trying'],
  ]);
  const human = await runCli(['slots', '--disk', d.path, '--booted', 'A'], { env: ENV });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /booted: A; next boot: B/);
  assert.match(human.stdout, /^A\s+2\s+USR-A\s+\S+\s+1\s+0\s+yes\s+good\s+booted$/m);
  assert.match(human.stdout, /^B\s+3\s+USR-B\s+\S+\s+2\s+1\s+no\s+trying\s+boots next$/m);
});

test('abupdate mark-active other / mark-good booted / mark-bad: flags as cgpt reads them, sgdisk -v clean', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const run = async (...args: string[]) => {
    const r = await runCli([...args, '--disk', d.path, '--json'], { env: ENV });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.json();
  };
  // B was never installed by the engine (a bare disk): activating it takes --force (mark-unverified.test.ts).
  const active = await run('mark-active', 'other', '--booted', 'A', '--tries', '2', '--force');
  assert.equal(active.operation, 'mark-active');
  assert.equal(active.slot, 'B');
  assert.equal(active.next, 'B');
  assert.deepEqual(await cgptFlags(d.path, 3), flags(2, 2, false));
  assert.deepEqual(await cgptFlags(d.path, 2), flags(1, 0, true));
  await run('mark-good', '--booted', 'B');
  assert.deepEqual(await cgptFlags(d.path, 3), flags(2, 0, true));
  await run('mark-bad', 'A');
  assert.deepEqual(await cgptFlags(d.path, 2), flags(0, 0, false));
  const v = await sgdiskVerify(d.path);
  assert.ok(v.ok, v.output);
});

test('abupdate mark-bad refuses to leave no bootable slot: exit 1, [ERR_NO_BOOTABLE_SLOT], disk unchanged', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { sizeMiB: 8, slotSizeMiB: 2, espSizeMiB: 1 });
  const before = await sha256(d.path);
  const r = await runCli(['mark-bad', 'A', '--disk', d.path], { env: ENV });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Cannot mark-bad slot A: .*\[ERR_NO_BOOTABLE_SLOT\]/);
  assert.equal(await sha256(d.path), before);
});

test('abupdate mark-good without --booted on a disk image exits 1 with ERR_BOOTED_UNKNOWN and a --booted hint', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const r = await runCli(['mark-good', '--disk', d.path, '--json'], { env: ENV });
  assert.equal(r.code, 1);
  assert.equal(r.json().error.code, 'ERR_BOOTED_UNKNOWN');
  assert.match(r.stderr, /--booted/);
});

test('abupdate slot commands refuse bad arguments with exit 2 or typed errors', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const noSlot = await runCli(['mark-active', '--disk', d.path], { env: ENV });
  assert.equal(noSlot.code, 2);
  assert.match(noSlot.stderr, /ERR_USAGE/);
  const badTries = await runCli(['mark-active', 'B', '--tries', '16', '--disk', d.path], { env: ENV });
  assert.equal(badTries.code, 2);
  const badSlot = await runCli(['mark-good', 'C', '--disk', d.path], { env: ENV });
  assert.equal(badSlot.code, 1);
  assert.match(badSlot.stderr, /ERR_SLOT_UNKNOWN/);
  const notGpt = await runCli(['slots', '--disk', `${dir}/nope.img`], { env: ENV });
  assert.equal(notGpt.code, 1);
  assert.match(notGpt.stderr, /ERR_DISK_NOT_FOUND/);
  const help = await runCli(['mark-active', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: abupdate mark-active SLOT \[--tries N\]/);
});

test('abupdate slots and mark-active with --bootloader grubenv: grub-editenv list shows the change', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const common = ['--disk', d.path, '--bootloader', 'grubenv', '--grubenv', d.grubenvPath!, '--json'];
  const r = await runCli(['mark-active', 'B', '--tries', '3', '--force', ...common], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json().bootloader, 'grubenv');
  const list = (await execa('grub-editenv', [d.grubenvPath!, 'list'])).stdout.split('\n').sort();
  assert.deepEqual(list, ['A_OK=1', 'A_TRY=0', 'B_OK=0', 'B_TRY=3', 'ORDER=B A']);
  const slots = await runCli(['slots', ...common], { env: ENV });
  assert.deepEqual(slots.json().slots.map((s: { state: string }) => s.state), ['good', 'trying']);
  assert.equal(slots.json().next, 'B');
});

test('abupdate slots as a child process: exit code and error line for a file that is not GPT', async (t) => {
  const dir = await makeTempDir(t);
  await execa('truncate', ['-s', '1M', `${dir}/blank.img`]);
  const r = await execa(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), 'slots', '--disk', `${dir}/blank.img`], { reject: false, env: ENV });
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /^abupdate: Cannot read the GPT of ".*blank\.img": .* \[ERR_NOT_GPT\]$/m);
});
