// Tests of what ships for hosts: scripts/install.sh (staged with DESTDIR), systemd/abupdate.service as
// systemd-analyze reads it, and the shipped update.conf files as the config loader reads them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../../fixtures/cli.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { loadConfig } from '../config/load-config.js';

async function stage(t: { after(fn: () => Promise<void>): void }) {
  const dir = await makeTempDir(t);
  const src = path.join(dir, 'src');
  const dest = path.join(dir, 'dest');
  await mkdir(path.join(src, 'dist/src/cli'), { recursive: true });
  await cp(path.join(PROJECT_ROOT, 'scripts'), path.join(src, 'scripts'), { recursive: true });
  await cp(path.join(PROJECT_ROOT, 'systemd'), path.join(src, 'systemd'), { recursive: true });
  await cp(path.join(PROJECT_ROOT, 'docs'), path.join(src, 'docs'), { recursive: true });
  await cp(path.join(PROJECT_ROOT, 'README.md'), path.join(src, 'README.md'));
  await cp(path.join(PROJECT_ROOT, 'package.json'), path.join(src, 'package.json'));
  await writeFile(path.join(src, 'dist/src/cli/main.js'), 'console.log("abupdate");\n');
  const run = () => execa('sh', [path.join(src, 'scripts/install.sh')], { env: { DESTDIR: dest, ABUPDATE_NODE_MODULES: 'skip', NODE: process.execPath }, reject: false });
  return { dir, src, dest, run };
}

test('scripts/install.sh stages code, command, unit, vendor config and key dirs, and keeps an edited /etc config', async (t) => {
  const { dest, run } = await stage(t);
  const first = await run();
  assert.equal(first.exitCode, 0, first.stderr);
  for (const file of ['usr/lib/abupdate/dist/src/cli/main.js', 'usr/lib/abupdate/package.json', 'usr/share/abupdate/update.conf', 'etc/abupdate/update.conf']) {
    assert.ok((await stat(path.join(dest, file))).isFile(), file);
  }
  for (const dir of ['etc/abupdate/keys.d', 'etc/abupdate/health.d', 'usr/share/abupdate/keys.d']) assert.ok((await stat(path.join(dest, dir))).isDirectory(), dir);
  const wrapper = await readFile(path.join(dest, 'usr/bin/abupdate'), 'utf8');
  const flags = (await readFile(path.join(PROJECT_ROOT, 'scripts/node-flags'), 'utf8')).trim();
  assert.equal(wrapper, `#!/bin/sh\nexec "${process.execPath}" ${flags} "/usr/lib/abupdate/dist/src/cli/main.js" "$@"\n`);
  assert.equal((await stat(path.join(dest, 'usr/bin/abupdate'))).mode & 0o777, 0o755);
  const client = await readFile(path.join(dest, 'usr/bin/update_engine_client'), 'utf8');
  assert.equal(client, `#!/bin/sh\nABUPDATE_PROGRAM=update_engine_client exec "${process.execPath}" ${flags} "/usr/lib/abupdate/dist/src/cli/main.js" "$@"\n`);
  assert.equal((await stat(path.join(dest, 'usr/bin/update_engine_client'))).mode & 0o777, 0o755);
  const policy = await readFile(path.join(dest, 'usr/share/dbus-1/system.d/com.coreos.update1.conf'), 'utf8');
  assert.match(policy, /<allow own="com\.coreos\.update1" \/>/);
  const unit = await readFile(path.join(dest, 'usr/lib/systemd/system/abupdate.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${process.execPath.replace(/[.]/g, '\\.')} ${flags} /usr/lib/abupdate/dist/src/cli/main\\.js daemon$`, 'm'));
  assert.doesNotMatch(unit, /@NODE@|@NODE_FLAGS@|@LIBDIR@|@DOCDIR@/);
  assert.match(unit, /^BusName=com\.coreos\.update1$/m);
  const postBoot = await readFile(path.join(dest, 'usr/lib/systemd/system/abupdate-post-boot.service'), 'utf8');
  assert.match(postBoot, new RegExp(`^ExecStart=${process.execPath.replace(/[.]/g, '\\.')} ${flags} /usr/lib/abupdate/dist/src/cli/main\\.js post-boot$`, 'm'));
  assert.match(postBoot, /^Before=boot-complete\.target abupdate\.service$/m);
  assert.doesNotMatch(postBoot, /@NODE@|@NODE_FLAGS@|@LIBDIR@|@DOCDIR@/);
  for (const doc of ['service.md', 'lifecycle.md', 'README.md']) assert.ok((await stat(path.join(dest, 'usr/share/doc/abupdate', doc))).isFile(), doc);

  // The shipped files are valid update.conf for our own loader (vendor defaults + the commented /etc example).
  const config = await loadConfig({ vendorFile: path.join(dest, 'usr/share/abupdate/update.conf'), etcFile: path.join(dest, 'etc/abupdate/update.conf'), env: {} });
  assert.equal(config.values.SERVER, null);
  assert.equal(config.origins.CHECK_INTERVAL.source, 'vendor');

  await writeFile(path.join(dest, 'etc/abupdate/update.conf'), 'SERVER=https://mine.example/v1/update/\n');
  const second = await run();
  assert.equal(second.exitCode, 0, second.stderr);
  assert.equal(await readFile(path.join(dest, 'etc/abupdate/update.conf'), 'utf8'), 'SERVER=https://mine.example/v1/update/\n');
});

test("src/cli/main.ts's #! line runs node with scripts/node-flags: package.json's bin gets what the wrapper passes", async () => {
  const flags = (await readFile(path.join(PROJECT_ROOT, 'scripts/node-flags'), 'utf8')).trim();
  const [first] = (await readFile(path.join(PROJECT_ROOT, 'src/cli/main.ts'), 'utf8')).split('\n');
  assert.equal(first, `#!/usr/bin/env -S node ${flags}`);
  const pkg = JSON.parse(await readFile(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.equal(pkg.bin.abupdate, 'dist/src/cli/main.js');
});

test('scripts/install.sh refuses to run without a build (dist/ missing)', async (t) => {
  const { src, run } = await stage(t);
  await execa('rm', ['-rf', path.join(src, 'dist')]);
  const result = await run();
  assert.equal(result.exitCode, 1);
  assert.match(result.stderr, /dist is missing: run "npm run build" first/);
});

test('abupdate-post-boot.service passes systemd-analyze verify', async (t) => {
  const { dest, run } = await stage(t);
  assert.equal((await run()).exitCode, 0);
  const verify = await execa('systemd-analyze', ['verify', path.join(dest, 'usr/lib/systemd/system/abupdate-post-boot.service')], { reject: false });
  assert.equal(verify.exitCode, 0, `${verify.stdout}\n${verify.stderr}`);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
});

test('abupdate.service passes systemd-analyze verify and rates as well hardened by systemd-analyze security', async (t) => {
  const { dest, run } = await stage(t);
  assert.equal((await run()).exitCode, 0);
  const unit = path.join(dest, 'usr/lib/systemd/system/abupdate.service');
  const verify = await execa('systemd-analyze', ['verify', unit], { reject: false });
  assert.equal(verify.exitCode, 0, `${verify.stdout}\n${verify.stderr}`);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
  const security = await execa('systemd-analyze', ['security', '--offline=yes', unit], { reject: false });
  const match = /Overall exposure level for abupdate\.service: (\d+\.\d)/.exec(security.stdout);
  assert.ok(match, security.stdout.slice(-500));
  assert.ok(Number(match[1]) <= 3.5, `exposure ${match[1]}`);
  for (const setting of ['ProtectSystem=', 'PrivateTmp=', 'NoNewPrivileges=', 'ProtectHome=', 'PrivateMounts=', 'ProtectKernelModules=']) {
    const line = security.stdout.split('\n').find((l) => l.includes(setting));
    assert.ok(line?.trim().startsWith('✓'), `${setting}: ${line}`);
  }
});

test('abupdate.service keeps /run/abupdate across its own stops and restarts: the run lock of a CLI install running then survives', async (t) => {
  const { dest, run } = await stage(t);
  assert.equal((await run()).exitCode, 0);
  const unit = path.join(dest, 'usr/lib/systemd/system/abupdate.service');
  const text = await readFile(unit, 'utf8');
  // systemd removes a RuntimeDirectory= when the unit stops unless it is preserved; with it would go the lock file
  // an install holds, and the next abupdate would lock a new file beside the running install.
  assert.deepEqual(text.match(/^RuntimeDirectoryPreserve=.*$/gm), ['RuntimeDirectoryPreserve=yes']);
  assert.match(text, /^RuntimeDirectory=abupdate$/m);
  const verify = await execa('systemd-analyze', ['verify', unit], { reject: false });
  assert.equal(verify.exitCode, 0, `${verify.stdout}\n${verify.stderr}`);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
});
