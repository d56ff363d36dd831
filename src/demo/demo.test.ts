// `npm run demo` on a machine without sgdisk, cgpt or squashfs-tools (the README's fresh-machine quick start).

import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { makeTempDir } from '../../fixtures/tmp.js';

test('demo runs the whole update cycle with only node and sh on PATH, and ends with B committed on 2.0.0', async (t) => {
  const bin = await makeTempDir(t);
  const sh = (await execa('sh', ['-c', 'command -v sh'])).stdout.trim();
  await symlink(process.execPath, path.join(bin, 'node'));
  await symlink(sh, path.join(bin, 'sh'));
  const demo = path.join(import.meta.dirname, 'demo.ts');
  const run = await execa(process.execPath, ['--import', 'tsx', demo], { env: { PATH: bin, HOME: bin }, extendEnv: false, reject: false, cwd: path.join(import.meta.dirname, '../..') });
  assert.equal(run.exitCode, 0, run.stderr);
  assert.match(run.stdout, /sgdisk is not installed here/);
  assert.match(run.stdout, /mksquashfs is not installed here: demo-os-1\.0\.0\.img is a raw image/);
  assert.match(run.stdout, /bootloader chose slot B and spent its one try/);
  // A delta: about half of v2 (v1's 24 MiB of files) comes from slot A, about the other half from the server.
  const delta = /delta: reused ([\d.]+) MiB from slot A, downloaded ([\d.]+) MiB/.exec(run.stdout);
  assert.ok(delta, `the install says what it reused: ${run.stdout}`);
  assert.ok(Number(delta[1]) >= 20 && Number(delta[2]) <= 30, `reused ${delta[1]} MiB, downloaded ${delta[2]} MiB`);
  assert.match(run.stdout, /B\s+3\s+USR-B\s+\S+\s+2\s+0\s+no\s+trying\s+booted/, 'after the simulated boot B is on trial');
  assert.match(run.stdout, /B\s+3\s+USR-B\s+good\s+2\s+0\s+y\s+2\.0\.0 \(booted\) \(boots next\)/, 'the final status shows B committed with 2.0.0');
  assert.match(run.stdout, /Committed version: 2\.0\.0 \(floor 2\.0\.0\)/);
  assert.match(run.stdout, /Done\. Slot B runs 2\.0\.0, slot A keeps 1\.0\.0 as the fallback\./);
});
