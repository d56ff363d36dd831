// `npm run demo`: a guided tour of one full A/B update on a disk image file in a temp dir (no real disk touched).

import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { simulateBoot } from '../../partition/boot-control.js';
import { openBootControl } from '../../partition/open-boot-control.js';
import { main } from '../cli/main.js';
import { applyEngineEvent } from '../engine/lifecycle.js';
import { startBundleServer } from './bundle-server.js';
import { writeSlotDiskImage } from './slot-disk-image.js';

const MiB = 1024 * 1024;
const COMPATIBLE = 'demo-board-x86_64';
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

let stepNo = 0;
function step(title: string, ...lines: string[]): void {
  stepNo += 1;
  process.stdout.write(`\n${bold(`${stepNo}. ${title}`)}\n`);
  for (const line of lines) process.stdout.write(`   ${dim(line)}\n`);
}

function shown(argv: string[]): void {
  process.stdout.write(`\n$ ${argv.map((a) => (/[\s"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
}

/** Runs `abupdate ARGS` as a user would, output straight to this terminal. */
async function abupdate(...args: string[]): Promise<void> {
  shown(['abupdate', ...args]);
  const code = await main(args, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: new AbortController().signal });
  if (code !== 0) throw new Error(`abupdate ${args[0]} exited with ${code}`);
}

async function run(tool: string, ...args: string[]): Promise<void> {
  shown([tool, ...args]);
  await execa(tool, args);
}

/** Whether TOOL is on PATH (the demo uses sgdisk, cgpt and mksquashfs when present, and says so when not). */
async function have(tool: string): Promise<boolean> {
  return (await execa('sh', ['-c', `command -v ${tool}`], { reject: false })).exitCode === 0;
}

/** Runs TOOL ARGS and shows what it printed (an independent tool's view of the disk). */
async function showTool(tool: string, ...args: string[]): Promise<void> {
  if (!(await have(tool))) {
    process.stdout.write(dim(`\n   (${tool} is not installed here; "apt-get install ${tool === 'sgdisk' ? 'gdisk' : tool}" to see its view)\n`));
    return;
  }
  shown([tool, ...args]);
  const { stdout } = await execa(tool, args);
  process.stdout.write(`${stdout}\n`);
}

/** A small root filesystem image (squashfs) whose os-release names VERSION; PAYLOAD stands in for the OS's files. */
async function makeRootImage(dir: string, version: string, payload: Buffer): Promise<string> {
  const root = path.join(dir, `root-${version}`);
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await mkdir(path.join(root, 'usr/lib'), { recursive: true });
  await writeFile(path.join(root, 'etc/os-release'), `NAME="Demo OS"\nVERSION_ID=${version}\n`);
  await writeFile(path.join(root, 'usr/lib/payload.bin'), payload);
  if (await have('mksquashfs')) {
    const image = `demo-os-${version}.squashfs`;
    await run('mksquashfs', `root-${version}`, image, '-noappend', '-quiet', '-no-progress');
    return path.join(dir, image);
  }
  // Without squashfs-tools the image is the raw bytes of the tree's two files: abupdate treats an image
  // as opaque bytes either way.
  const image = path.join(dir, `demo-os-${version}.img`);
  process.stdout.write(dim(`\n   (mksquashfs is not installed here: ${path.basename(image)} is a raw image instead of a squashfs)\n`));
  await writeFile(image, Buffer.concat([await readFile(path.join(root, 'etc/os-release')), await readFile(path.join(root, 'usr/lib/payload.bin'))]));
  return image;
}

async function main_(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-demo-'));
  process.chdir(dir);
  process.stdout.write(`${bold('abupdate demo')}: one complete A/B update, on a disk image in ${dir}\n`);
  process.stdout.write(dim('Nothing here touches a real disk: the "disk" is a sparse file, the "server" listens on 127.0.0.1.\n'));

  step('A disk with two slots', 'A GPT disk image: an EFI partition, USR-A and USR-B (the two OS slots), and STATE.', 'USR-A gets the flags of a freshly installed host: priority 1, successful.');
  // ESP, USR-A and USR-B (CoreOS usr type), STATE, written by abupdate's own GPT layer (no sgdisk needed);
  // USR-A starts with the flags of a freshly installed host: priority 1, successful.
  await writeSlotDiskImage(path.join(dir, 'disk.img'), { sizeMiB: 256, espSizeMiB: 16, slotSizeMiB: 96, sectorSize: 512, labels: ['USR-A', 'USR-B'] });
  await showTool('sgdisk', '-p', 'disk.img');
  const disk = ['--disk', 'disk.img'];
  const engine = ['--state-dir', 'state', '--run-dir', 'run'];

  step('Version 1.0.0 is running from slot A', 'The factory image goes into USR-A; the engine records what it holds.');
  const v1Payload = randomBytes(24 * MiB);
  const v1 = await makeRootImage(dir, '1.0.0', v1Payload);
  const { control, slots } = await openBootControl({ diskPath: 'disk.img' });
  const image = await open(v1, 'r');
  const target = await open('disk.img', 'r+');
  const buffer = Buffer.alloc((await stat(v1)).size);
  await image.read(buffer, 0, buffer.length, 0);
  await target.write(buffer, 0, buffer.length, slots.A.offset);
  await image.close();
  await target.close();
  await applyEngineEvent('state', 'slot-recorded', {
    committedVersion: '1.0.0',
    slots: { A: { version: '1.0.0', manifestSha256: '', installedAt: new Date().toISOString() } },
  });
  await abupdate('slots', ...disk, '--booted', 'A');

  step(
    'The vendor signs version 2.0.0',
    'A key pair; hosts trust the public half (keys.d). The bundle is a tar: manifest, signature, chunk index, image.',
    'Format 2 cuts the image into content-defined chunks named by their SHA-256 in the signed index, so a host',
    'fetches only the chunks it does not have. Version 2.0.0 keeps 1.0.0\'s files and adds 24 MiB of new ones.',
  );
  await mkdir('keys.d');
  await abupdate('keygen', '--out', 'release');
  await copyFile('release.pub', 'keys.d/release.pub');
  const v2 = await makeRootImage(dir, '2.0.0', Buffer.concat([v1Payload, randomBytes(24 * MiB)]));
  await abupdate('bundle', 'create', '--image', path.basename(v2), '--version', '2.0.0', '--compatible', COMPATIBLE, '--key', 'release.key', '--out', 'demo-os-2.0.0.bundle', '--format', '2', '--zstd-level', '3');
  await abupdate('bundle', 'diff', '--from', path.basename(v1), 'demo-os-2.0.0.bundle', '--keyring', 'keys.d');

  step('An update server', 'Any static HTTP server will do: the engine fetches the bundle with Range requests, so it can resume.');
  const server = await startBundleServer({ 'demo-os-2.0.0.bundle': path.join(dir, 'demo-os-2.0.0.bundle') });
  const url = server.url('demo-os-2.0.0.bundle');
  process.stdout.write(`\n   serving ${url}\n`);

  step(
    'Install into the other slot',
    'Signature and policy are checked before a byte is written. The chunks slot A already has are copied (each hashed',
    'again as it is read); only the rest is downloaded, each verified as it arrives. The slot is read back, and only',
    'then does B become the next boot, with one try.',
  );
  try {
    await abupdate('install', url, ...disk, '--booted', 'A', '--keyring', 'keys.d', '--compatible', COMPATIBLE, ...engine);
  } finally {
    await server.close();
  }
  await abupdate('status', ...disk, '--booted', 'A', ...engine);

  step('Reboot', 'At power-on the bootloader (GRUB gptprio.next) picks the highest-priority slot that is good or', 'has tries left, and spends one try before booting it. Simulated here on the disk image:');
  const boot = await simulateBoot(control);
  process.stdout.write(`\n   bootloader chose slot ${boot.slot}${boot.spentTry ? ' and spent its one try' : ''}\n`);
  await abupdate('slots', ...disk, '--booted', 'B');
  process.stdout.write(dim('   B has no tries left and is not committed yet: if this boot were to fail, the next one lands on A.\n'));

  step('Health check and commit', 'On every boot, abupdate post-boot runs the health checks (executables in health.d). All pass:', 'B is committed (good, stays first) and 2.0.0 becomes the anti-rollback floor. One fails: B is', 'marked bad and the host reboots into A.');
  await mkdir('health.d');
  await writeFile('health.d/10-booted', '#!/bin/sh\n# a real check would probe the services this host runs\nexit 0\n', { mode: 0o755 });
  process.env.ABUPDATE_HEALTH_DIR = path.join(dir, 'health.d');
  process.env.ABUPDATE_REBOOT_STRATEGY = 'off';
  await abupdate('post-boot', ...disk, '--booted', 'B', ...engine);
  await abupdate('status', ...disk, '--booted', 'B', ...engine);

  process.stdout.write(`\n${bold('Done.')} Slot B runs 2.0.0, slot A keeps 1.0.0 as the fallback.\n`);
  process.stdout.write(dim(`The demo files are in ${dir} (removed now; set ABUPDATE_DEMO_KEEP=1 to keep them).\n`));
  process.chdir(tmpdir());
  if (!process.env.ABUPDATE_DEMO_KEEP) await rm(dir, { recursive: true, force: true });
}

main_().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
