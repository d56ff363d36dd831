// Finds the guest's kernel modules in an unpacked Debian kernel and orders them so each loads after its dependencies.

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';

/**
 * The modules the guest's initramfs loads: virtio disk and network, the slot (squashfs), state (ext4)
 * and ESP (vfat) filesystems, and fw_cfg (how the harness hands each boot its command).
 * Softdeps are not followed, so crc32c (ext4's `softdep pre: crypto-crc32c`) is named here.
 */
export const GUEST_MODULES = [
  'virtio_pci',
  'virtio_blk',
  'virtio_net',
  'squashfs',
  'crc32c_generic',
  'ext4',
  'vfat',
  'nls_cp437',
  'nls_ascii',
  'qemu_fw_cfg',
] as const;

export interface KernelModule {
  name: string;
  /** Path of the .ko file. */
  file: string;
  depends: string[];
}

/** The kernel version directory in an unpacked linux-image package: lib/modules/<version>. */
export async function findKernelVersion(packageRoot: string): Promise<string> {
  const versions = await readdir(path.join(packageRoot, 'lib', 'modules'));
  const version = versions.find((v) => /^\d+\.\d+/.test(v));
  if (version === undefined) {
    throw new UpdaterError('ERR_IO', `Cannot find the kernel version in "${packageRoot}/lib/modules": no version directory`);
  }
  return version;
}

/** Reads `depends=` from a module's .modinfo strings (what depmod would put into modules.dep). */
export function readModuleDepends(bytes: Buffer): string[] {
  const marker = Buffer.from('\0depends=');
  const at = bytes.indexOf(marker);
  if (at < 0) return [];
  const start = at + marker.length;
  const end = bytes.indexOf(0, start);
  const text = bytes.subarray(start, end < 0 ? bytes.length : end).toString('utf8');
  return text.split(',').filter((name) => name !== '');
}

/** Every module's file by name (module names use `_`; file names may use `-`). */
async function indexModules(moduleDir: string): Promise<Map<string, string>> {
  const entries = await readdir(moduleDir, { recursive: true, withFileTypes: true });
  const index = new Map<string, string>();
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith('.ko')) {
      index.set(entry.name.slice(0, -3).replaceAll('-', '_'), path.join(entry.parentPath, entry.name));
    }
  }
  return index;
}

/** The named modules and their dependencies, dependencies first (busybox insmod does not resolve them). */
export async function resolveModules(moduleDir: string, names: readonly string[]): Promise<KernelModule[]> {
  const index = await indexModules(moduleDir);
  const ordered: KernelModule[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = async (name: string, chain: string[]): Promise<void> => {
    if (done.has(name)) return;
    if (visiting.has(name)) {
      throw new UpdaterError('ERR_INTERNAL', `Cannot order kernel modules: dependency cycle ${[...chain, name].join(' -> ')}`);
    }
    const file = index.get(name);
    if (file === undefined) {
      throw new UpdaterError('ERR_IO', `Cannot find kernel module "${name}" in "${moduleDir}"`, {
        data: { name, neededBy: chain },
        hint: 'The module may be built into this kernel; remove it from GUEST_MODULES.',
      });
    }
    visiting.add(name);
    const depends = readModuleDepends(await readFile(file));
    for (const dep of depends) await visit(dep, [...chain, name]);
    visiting.delete(name);
    done.add(name);
    ordered.push({ name, file, depends });
  };
  for (const name of names) await visit(name, []);
  return ordered;
}
