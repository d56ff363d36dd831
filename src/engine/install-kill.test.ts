// Fault injection: `abupdate install` as a child process SIGKILLed at 50+ exact points of the pipeline. After each
// kill the booted slot and its flags are intact and nothing bootable is half-written; an in-process rerun completes
// the install, and the server serves less than twice the bundle for the whole scenario.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { fastKillCliArgv } from '../../fixtures/cli-bundle.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { bootedSnapshot, hashRange, makeInstallEnv, type InstallEnv } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { loadEngineState } from './state-store.js';
import type { InstallPoint } from './install-points.js';

const CHUNKS = 49; // 3 MiB + 4 KiB in 64 KiB chunks: chunk 0 written last, 48 others before it
const CHECKPOINTS = 12; // 256 KiB apart (the engine's floor) over 3 MiB

function killSpecs(): string[] {
  const specs: string[] = [];
  const add = (point: InstallPoint, counts: number[]) => counts.forEach((n) => specs.push(`${point}:${n}`));
  add('head-verified', [1]);
  add('slot-disarmed', [1]);
  add('chunk-written', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 20, 22, 24, 25, 28, 30, 31, 34, 37, 40, 43, 45, 46, 47, 48]);
  add('synced', [1, 2, 3, 5, 7, 9, 11, CHECKPOINTS]);
  add('progress-saved', [1, 2, 4, 6, 8, 10, CHECKPOINTS, CHECKPOINTS + 1]);
  add('first-chunk-written', [1]);
  add('readback-done', [1]);
  add('flipping', [1]);
  add('flipped', [1]);
  return specs;
}

interface Scenario {
  spec: string;
  options: string[];
  url: string;
  name: string;
}

async function scenario(env: InstallEnv, pristineDisk: string, index: number, spec: string): Promise<Scenario> {
  const dir = path.join(env.dir, `s${index}`);
  await mkdir(dir);
  const disk = path.join(dir, 'disk.img');
  await copyFile(pristineDisk, disk);
  const name = `s${index}.tar`;
  const url = env.serve(name, env.bundle.path);
  const options = ['--disk', disk, '--booted', 'A', '--keyring', env.keys.keyringDir, '--state-dir', path.join(dir, 'state'), '--run-dir', path.join(dir, 'run'), '--compatible', 'abupdate-test-x86_64'];
  return { spec, options, url, name };
}

async function runKilledThenRerun(env: InstallEnv, s: Scenario, before: { bytes: string; flags: unknown }): Promise<void> {
  const disk = s.options[1] as string;
  const diskEnv = { ...env, disk: { ...env.disk, path: disk } };
  const argv = await fastKillCliArgv();
  const killed = await execa(argv[0] as string, [...argv.slice(1), s.spec, 'install', s.url, ...s.options], { reject: false });
  assert.equal(killed.signal, 'SIGKILL', `${s.spec}: the kill point was not reached (exit ${killed.exitCode}): ${killed.stderr}`);

  // Right after the kill: the booted slot and its flags are intact, and B is bootable only if it is complete.
  assert.deepEqual(await bootedSnapshot(diskEnv), before, `${s.spec}: booted slot changed`);
  const flagsB = await cgptFlags(disk, env.disk.slots.B.partition);
  const { size, sha256 } = env.bundle.manifest.image;
  if (flagsB.priority > 0) {
    assert.equal(await hashRange(disk, env.disk.slots.B.offset, size), sha256, `${s.spec}: slot B bootable but incomplete`);
  }

  const rerun = await runCli(['install', s.url, ...s.options, '--json']);
  assert.equal(rerun.code, 0, `${s.spec}: rerun failed: ${rerun.stderr}`);
  assert.equal(await hashRange(disk, env.disk.slots.B.offset, size), sha256, `${s.spec}: slot B differs after the rerun`);
  assert.deepEqual(await cgptFlags(disk, env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false }, s.spec);
  assert.deepEqual(await bootedSnapshot(diskEnv), before, `${s.spec}: booted slot changed by the rerun`);
  assert.equal((await loadEngineState(s.options[7] as string)).state, 'UPDATED_NEED_REBOOT', s.spec);
  const served = env.server.requests.filter((r) => r.path === s.name).reduce((sum, r) => sum + r.bytes, 0);
  assert.ok(served < 2 * env.bundle.layout.totalSize, `${s.spec}: served ${served} bytes for a ${env.bundle.layout.totalSize}-byte bundle`);
}

test('abupdate install killed with SIGKILL at 50+ points keeps slot A and its flags, and a rerun completes', { timeout: 600_000 }, async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  assert.equal(env.bundle.manifest.image.chunks.length, CHUNKS);
  const pristine = path.join(env.dir, 'pristine.img');
  await copyFile(env.disk.path, pristine);
  const before = await bootedSnapshot(env);
  const specs = killSpecs();
  assert.ok(specs.length >= 50, `only ${specs.length} kill points`);
  const scenarios = await Promise.all(specs.map((spec, i) => scenario(env, pristine, i, spec)));
  // Two at a time: the machine has two cores.
  for (let i = 0; i < scenarios.length; i += 2) {
    await Promise.all(scenarios.slice(i, i + 2).map((s) => runKilledThenRerun(env, s, before)));
  }
});

test('the engine reads no environment variable: fault injection enters through the checkpoint option, not a switch in the product', async () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const readers: string[] = [];
  for (const dir of ['src/engine', 'verify', 'partition', 'common']) {
    for (const entry of await readdir(path.join(root, dir), { recursive: true })) {
      const file = path.join(dir, entry);
      if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
      if (/process\.env\b/.test(await readFile(path.join(root, file), 'utf8'))) readers.push(file);
    }
  }
  assert.deepEqual(readers, []);
});
