// Builds the whole QEMU guest (kernel, initramfs, slot images, ESP, disk), cached; run directly to build and time it.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleAbupdateCli } from './abupdate-bundle.js';
import { REPO_ROOT } from './cache.js';
import { fetchDebianPackage, resolveKernelPackage } from './debian-packages.js';
import { buildDisk, guestDiskLayout, type DiskLayout } from './disk.js';
import { buildEsp, buildGrubEfi } from './esp.js';
import { buildInitramfs } from './initramfs.js';
import { findKernelVersion } from './kernel-modules.js';
import { buildSlotImage, type SlotFiles } from './slot-image.js';

/** What every guest shares: the kernel, initramfs, GRUB EFI and the userspace pieces of a slot. */
export interface GuestBase {
  kernelPackage: string;
  kernelVersion: string;
  /** vmlinuz and initrd.img on the host (the same files are on the ESP). */
  kernel: string;
  initrd: string;
  grubEfi: string;
  busybox: string;
  /** The bundled abupdate CLI, and the package.json that goes next to it. */
  abupdate: Buffer;
  packageJson: Buffer;
}

export interface SlotSpec {
  version: string;
  files?: SlotFiles;
}

export interface GuestOptions {
  /** Slot A's content (default version 1.0.0). */
  slotA?: SlotSpec;
  /** Slot B's content; absent: B is empty, as on a freshly installed host. */
  slotB?: SlotSpec;
}

export interface Guest {
  base: GuestBase;
  layout: DiskLayout;
  esp: string;
  /** The cached disk image: copy it (createMachine does) before booting, never boot it in place. */
  disk: string;
  slotImages: { A: string; B?: string };
}

let basePromise: Promise<GuestBase> | undefined;

/** Builds the shared parts once per process (each is cached on disk as well). */
export function buildGuestBase(): Promise<GuestBase> {
  basePromise ??= (async () => {
    const kernelPackage = await resolveKernelPackage();
    const [kernelPkg, busyboxPkg] = [await fetchDebianPackage(kernelPackage), await fetchDebianPackage('busybox-static')];
    const kernelVersion = await findKernelVersion(kernelPkg.root);
    const busybox = path.join(busyboxPkg.root, 'bin', 'busybox');
    const initrd = await buildInitramfs({ kernelRoot: kernelPkg.root, kernelVersion, busybox, cgpt: '/usr/bin/cgpt' });
    const grubEfi = await buildGrubEfi();
    return {
      kernelPackage: `${kernelPackage} ${kernelPkg.version}`,
      kernelVersion,
      kernel: path.join(kernelPkg.root, 'boot', `vmlinuz-${kernelVersion}`),
      initrd,
      grubEfi,
      busybox,
      abupdate: await bundleAbupdateCli(),
      packageJson: await readFile(path.join(REPO_ROOT, 'package.json')),
    };
  })();
  basePromise.catch(() => {
    basePromise = undefined;
  });
  return basePromise;
}

/** A slot root image (squashfs) of VERSION with the current abupdate: also what an update bundle carries. */
export async function buildVersionImage(spec: SlotSpec): Promise<string> {
  const base = await buildGuestBase();
  return buildSlotImage({
    version: spec.version,
    busybox: base.busybox,
    abupdate: base.abupdate,
    packageJson: base.packageJson,
    ...(spec.files === undefined ? {} : { files: spec.files }),
  });
}

/** Builds (or finds in the cache) a complete guest disk. */
export async function buildGuest(options: GuestOptions = {}): Promise<Guest> {
  const base = await buildGuestBase();
  const layout = guestDiskLayout();
  const esp = await buildEsp({ grubEfi: base.grubEfi, kernel: base.kernel, initrd: base.initrd, sizeBytes: layout.partitions[0]?.size ?? 0 });
  const slotA = await buildVersionImage(options.slotA ?? { version: '1.0.0' });
  const slotB = options.slotB === undefined ? undefined : await buildVersionImage(options.slotB);
  const disk = await buildDisk({ layout, esp, slotA, ...(slotB === undefined ? {} : { slotB }) });
  return { base, layout, esp, disk, slotImages: { A: slotA, ...(slotB === undefined ? {} : { B: slotB }) } };
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  const started = performance.now();
  const guest = await buildGuest({ slotA: { version: '1.0.0' }, slotB: { version: '2.0.0' } });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${JSON.stringify({ seconds: Number(seconds), kernel: guest.base.kernelPackage, disk: guest.disk, slots: guest.slotImages }, null, 2)}\n`);
}
