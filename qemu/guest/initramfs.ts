// Builds the guest's initramfs (cpio newc, gzip): busybox, the kernel modules in load order, cgpt, and /init.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cachedBuild, hashInputs } from './cache.js';
import { writeCpioGzip, type CpioEntry } from './cpio.js';
import { binaryWithLibraries, type GuestFile } from './host-binaries.js';
import { GUEST_MODULES, resolveModules } from './kernel-modules.js';

export const INITRAMFS_INIT = path.join(path.dirname(new URL(import.meta.url).pathname), 'files', 'initramfs-init.sh');

export interface InitramfsInputs {
  /** Unpacked linux-image package. */
  kernelRoot: string;
  kernelVersion: string;
  /** busybox-static's /bin/busybox. */
  busybox: string;
  /** Debian's cgpt on this machine. */
  cgpt: string;
}

/** Every parent directory of the given guest paths, parents first. */
function parentDirs(paths: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/').filter((x) => x !== '');
    for (let i = 1; i < parts.length; i++) dirs.add(`/${parts.slice(0, i).join('/')}`);
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

/** Builds (or finds in the cache) the initramfs; returns the path of the .img (gzip cpio). */
export async function buildInitramfs(inputs: InitramfsInputs): Promise<string> {
  const moduleDir = path.join(inputs.kernelRoot, 'lib', 'modules', inputs.kernelVersion);
  const modules = await resolveModules(moduleDir, GUEST_MODULES);
  const cgptFiles = await binaryWithLibraries(inputs.cgpt, '/usr/bin/cgpt');
  const key = await hashInputs([
    'initramfs-v1',
    inputs.kernelVersion,
    { file: INITRAMFS_INIT },
    { file: inputs.busybox },
    ...modules.map((m) => ({ file: m.file })),
    ...cgptFiles.flatMap((f) => [f.guestPath, { file: f.hostPath }]),
  ]);
  const dir = await cachedBuild('initramfs', key, async (tmp) => {
    const files: GuestFile[] = [
      { guestPath: '/init', hostPath: INITRAMFS_INIT, mode: 0o755 },
      { guestPath: '/bin/busybox', hostPath: inputs.busybox, mode: 0o755 },
      ...modules.map((m) => ({ guestPath: `/lib/modules/${m.name}.ko`, hostPath: m.file, mode: 0o644 })),
      ...cgptFiles,
    ];
    const loadOrder = Buffer.from(modules.map((m) => `${m.name}\n`).join(''));
    const dirs = parentDirs([...files.map((f) => f.guestPath), '/dev/x', '/proc/x', '/sys/x', '/run/x', '/newroot/x', '/tmp/x']);
    const entries: CpioEntry[] = [
      ...dirs.map((d): CpioEntry => ({ type: 'dir', path: d })),
      { type: 'chardev', path: '/dev/console', major: 5, minor: 1 },
      { type: 'chardev', path: '/dev/null', major: 1, minor: 3, mode: 0o666 },
      { type: 'file', path: '/lib/modules/load-order', data: loadOrder },
    ];
    for (const f of files) entries.push({ type: 'file', path: f.guestPath, data: await readFile(f.hostPath), mode: f.mode });
    await writeFile(path.join(tmp, 'initrd.img'), writeCpioGzip(entries));
    await writeFile(path.join(tmp, 'modules.txt'), loadOrder);
  });
  return path.join(dir, 'initrd.img');
}
