// Tests of the grubenv block and backend against the real grub-editenv, both ways.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { makeSlotDisk } from '../fixtures/disk.js';
import { formatGrubEnv, newGrubEnv, parseGrubEnv, readGrubEnv, setGrubVar, unsetGrubVar, writeGrubEnv, type GrubEnv } from './grubenv.js';
import { openGrubenvBootControl } from './grubenv-boot-control.js';
import { openGptprioBootControl } from './gptprio.js';
import { simulateBoot } from './boot-control.js';
import { isUpdaterError } from '../common/errors.js';

async function editenv(file: string, ...args: string[]): Promise<string> {
  return (await execa('grub-editenv', [file, ...args])).stdout;
}

async function listed(file: string): Promise<Record<string, string>> {
  const out = await editenv(file, 'list');
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

test('formatGrubEnv() writes the same 1024 bytes as grub-editenv for the same variables, escapes included', async (t) => {
  const dir = await makeTempDir(t);
  const theirs = `${dir}/theirs`;
  await editenv(theirs, 'create');
  assert.deepEqual(await readFile(theirs), formatGrubEnv(newGrubEnv()));
  const vars: [string, string][] = [['ORDER', 'B A'], ['A_OK', '1'], ['weird', 'back\\slash and\nnewline'], ['B_TRY', '3'], ['utf', 'héllo']];
  await editenv(theirs, 'set', ...vars.map(([n, v]) => `${n}=${v}`));
  let ours: GrubEnv = newGrubEnv();
  for (const [n, v] of vars) ours = setGrubVar(ours, n, v);
  assert.deepEqual(formatGrubEnv(ours), await readFile(theirs));
  // replace in place, unset, append: same order rules as grub-editenv
  await editenv(theirs, 'set', 'A_OK=0', 'NEW=x');
  await editenv(theirs, 'unset', 'weird');
  ours = unsetGrubVar(setGrubVar(setGrubVar(ours, 'A_OK', '0'), 'NEW', 'x'), 'weird');
  assert.deepEqual(formatGrubEnv(ours), await readFile(theirs));
});

test('parseGrubEnv() reads what grub-editenv wrote, and grub-editenv list reads what writeGrubEnv() wrote', async (t) => {
  const dir = await makeTempDir(t);
  const theirs = `${dir}/theirs`;
  await editenv(theirs, 'create');
  await editenv(theirs, 'set', 'ORDER=A B', 'x=a\\b', 'y=line1\nline2', 'saved_entry=0');
  assert.deepEqual((await readGrubEnv(theirs)).slice(1), [['ORDER', 'A B'], ['x', 'a\\b'], ['y', 'line1\nline2'], ['saved_entry', '0']]);
  const ours = `${dir}/ours`;
  await writeGrubEnv(ours, [...newGrubEnv(), ['ORDER', 'B A'], ['A_OK', '1'], ['B_TRY', '2'], ['z', 'p\\q']]);
  assert.equal((await readFile(ours)).length, 1024);
  assert.deepEqual(await listed(ours), { ORDER: 'B A', A_OK: '1', B_TRY: '2', z: 'p\\q' });
});

test('parseGrubEnv() refuses a block of the wrong size or without the header with ERR_GRUBENV', async (t) => {
  const dir = await makeTempDir(t);
  await writeFile(`${dir}/short`, '# GRUB Environment Block\nA=1\n');
  await assert.rejects(readGrubEnv(`${dir}/short`), (e: unknown) => isUpdaterError(e, 'ERR_GRUBENV'));
  await assert.rejects(readGrubEnv(`${dir}/missing`), (e: unknown) => isUpdaterError(e, 'ERR_GRUBENV') && /grub-editenv/.test(e.hint ?? ''));
  assert.throws(() => parseGrubEnv(Buffer.alloc(1024, '#')), (e: unknown) => isUpdaterError(e, 'ERR_GRUBENV'));
  assert.throws(() => formatGrubEnv([['big', 'x'.repeat(1100)]]), (e: unknown) => isUpdaterError(e, 'ERR_GRUBENV'));
});

test('grubenv backend: operations give ORDER/X_OK/X_TRY as grub-editenv lists them, and boots fall back', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const { slots } = await openGptprioBootControl(d.path);
  const env = d.grubenvPath!;
  await editenv(env, 'set', 'saved_entry=keep-me');
  const control = openGrubenvBootControl(env, slots);
  assert.deepEqual((await control.status()).map((s) => s.state), ['good', 'empty']);
  await control.markActive('B', 2);
  assert.deepEqual(await listed(env), { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '2', saved_entry: 'keep-me' });
  assert.deepEqual((await control.status()).map((s) => [s.name, s.priority, s.tries, s.successful, s.state]), [
    ['A', 1, 0, true, 'good'],
    ['B', 2, 2, false, 'trying'],
  ]);
  const boots = [];
  for (let i = 0; i < 3; i++) boots.push((await simulateBoot(control)).slot);
  assert.deepEqual(boots, ['B', 'B', 'A']);
  assert.equal((await listed(env)).B_TRY, '0');
  await control.markGood('A');
  assert.deepEqual(await listed(env), { ORDER: 'A B', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0', saved_entry: 'keep-me' });
  await control.markBad('B');
  assert.equal((await listed(env)).ORDER, 'A');
  assert.deepEqual((await control.status()).map((s) => s.state), ['good', 'bad']);
  await control.markActive('B', 1);
  assert.equal((await simulateBoot(control)).slot, 'B');
  await control.markGood('B');
  assert.deepEqual(await listed(env), { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '1', B_TRY: '0', saved_entry: 'keep-me' });
});

test('grubenv backend reads flags set by grub-editenv and refuses invariant breaks without touching the file', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const { slots } = await openGptprioBootControl(d.path);
  const env = d.grubenvPath!;
  await editenv(env, 'set', 'ORDER=B A', 'A_OK=1', 'A_TRY=0', 'B_OK=0', 'B_TRY=3');
  const control = openGrubenvBootControl(env, slots);
  assert.deepEqual((await control.status()).map((s) => [s.priority, s.tries, s.successful, s.state]), [
    [1, 0, true, 'good'],
    [2, 3, false, 'trying'],
  ]);
  const before = await readFile(env);
  await assert.rejects(control.markBad('A'), (e: unknown) => isUpdaterError(e, 'ERR_GOOD_SLOT_DEMOTED'));
  await assert.rejects(control.markActive('A', 4), (e: unknown) => isUpdaterError(e, 'ERR_USAGE'));
  await editenv(env, 'set', 'B_TRY=0');
  const noTries = await readFile(env);
  await assert.rejects(control.markBad('A'), (e: unknown) => isUpdaterError(e, 'ERR_NO_BOOTABLE_SLOT'));
  assert.deepEqual(await readFile(env), noTries);
  assert.notDeepEqual(before, noTries);
  // a try count the snippet does not understand reads as no tries
  await editenv(env, 'set', 'B_TRY=7');
  assert.equal((await control.status())[1]!.tries, 0);
});

test('writeGrubEnv() overwrites the block in place (same inode, as GRUB does) and refuses to overwrite a file of the wrong size', async (t) => {
  const dir = await makeTempDir(t);
  const file = `${dir}/grubenv`;
  await editenv(file, 'create');
  const before = await stat(file);
  await writeGrubEnv(file, setGrubVar(await readGrubEnv(file), 'ORDER', 'B A'));
  const after = await stat(file);
  assert.equal(after.ino, before.ino, 'a rename would change the inode; GRUB and FAT need the block rewritten in place');
  assert.equal(after.size, 1024);
  assert.deepEqual(await listed(file), { ORDER: 'B A' });
  const odd = `${dir}/odd`;
  await writeFile(odd, 'x'.repeat(2000));
  await assert.rejects(writeGrubEnv(odd, newGrubEnv()), (e: unknown) => isUpdaterError(e, 'ERR_GRUBENV'));
  assert.equal((await readFile(odd, 'utf8')), 'x'.repeat(2000));
});

test('grubenv backend: a variable set twice reads as its last value, as GRUB load_env does, and a write leaves no older copy GRUB could read', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const { slots } = await openGptprioBootControl(d.path);
  const env = d.grubenvPath!;
  // Written by hand (or by a tool that appends): ORDER and B_TRY twice; GRUB's load_env sets them in file order.
  const body = '# GRUB Environment Block\nORDER=A B\nA_OK=1\nA_TRY=0\nB_OK=0\nB_TRY=0\nORDER=B A\nB_TRY=1\n';
  await writeFile(env, Buffer.concat([Buffer.from(body), Buffer.alloc(1024 - body.length, '#')]));
  const lines = (await editenv(env, 'list')).split('\n');
  assert.deepEqual(lines.filter((l) => l.startsWith('ORDER=')), ['ORDER=A B', 'ORDER=B A'], 'grub-editenv lists both, in file order');
  assert.deepEqual(await listed(env), { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '1' });
  const control = openGrubenvBootControl(env, slots);
  assert.deepEqual((await control.status()).map((s) => [s.name, s.priority, s.tries, s.successful, s.state]), [
    ['A', 1, 0, true, 'good'],
    ['B', 2, 1, false, 'trying'],
  ]);
  await control.markBad('B');
  const after = (await editenv(env, 'list')).split('\n').filter(Boolean);
  for (const name of ['ORDER', 'B_TRY', 'B_OK']) {
    const values = new Set(after.filter((l) => l.startsWith(`${name}=`)));
    assert.equal(values.size, 1, `${name}: ${[...values].join(', ')}`);
  }
  assert.deepEqual(await listed(env), { ORDER: 'A', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' });
});
