// Builds the guest's EFI system partition (FAT, no mount): GRUB EFI, grub.cfg + the A/B snippet, grubenv, kernel, initrd.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { REPO_ROOT, cachedBuild, hashInputs } from './cache.js';
import { runTool } from './run-tool.js';

const FILES_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'files');
export const EMBED_CFG = path.join(FILES_DIR, 'embed.cfg');
export const ESP_GRUB_CFG = path.join(FILES_DIR, 'grub.cfg');
/** The project's A/B snippet, what the grubenv boot path boots with. */
export const AB_SNIPPET = path.join(REPO_ROOT, 'partition', 'grub', 'abupdate-ab.cfg');

export const GRUB_MODULES = ['part_gpt', 'fat', 'search', 'search_label', 'configfile', 'loadenv', 'test', 'linux', 'echo', 'normal', 'halt'];

/** The initial grubenv: A committed and first, B empty. */
export const INITIAL_GRUBENV: Record<string, string> = { ORDER: 'A B', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' };

/** BOOTX64.EFI from grub-mkstandalone, with embed.cfg as its memdisk grub.cfg; cached. */
export async function buildGrubEfi(): Promise<string> {
  const version = await runTool('grub-mkstandalone', ['--version']);
  const key = await hashInputs(['grub-efi-v1', version, { file: EMBED_CFG }, GRUB_MODULES.join(' ')]);
  const dir = await cachedBuild('grub-efi', key, async (tmp) => {
    await runTool('grub-mkstandalone', [
      '-O', 'x86_64-efi',
      '-o', path.join(tmp, 'BOOTX64.EFI'),
      `--modules=${GRUB_MODULES.join(' ')}`,
      '--locales=',
      '--themes=',
      '--fonts=',
      `boot/grub/grub.cfg=${EMBED_CFG}`,
    ]);
  });
  return path.join(dir, 'BOOTX64.EFI');
}

export interface EspInputs {
  grubEfi: string;
  kernel: string;
  initrd: string;
  sizeBytes: number;
  /** Override the snippet (e.g. to test a modified one); default partition/grub/abupdate-ab.cfg. */
  snippet?: string;
}

/** Writes a grubenv file with grub-editenv: create, then set each variable. */
export async function writeGrubenvFile(file: string, vars: Record<string, string>): Promise<void> {
  await runTool('grub-editenv', [file, 'create']);
  const pairs = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  if (pairs.length > 0) await runTool('grub-editenv', [file, 'set', ...pairs]);
}

/** Builds (or finds in the cache) the ESP image; returns its path. */
export async function buildEsp(inputs: EspInputs): Promise<string> {
  const snippet = inputs.snippet ?? AB_SNIPPET;
  const key = await hashInputs([
    'esp-v1',
    String(inputs.sizeBytes),
    { file: inputs.grubEfi },
    { file: inputs.kernel },
    { file: inputs.initrd },
    { file: ESP_GRUB_CFG },
    { file: snippet },
    JSON.stringify(INITIAL_GRUBENV),
  ]).catch((error: unknown) => {
    throw new UpdaterError('ERR_IO', `Cannot build the guest ESP: cannot read its inputs (is "${snippet}" there?)`, { cause: error });
  });
  const dir = await cachedBuild('esp', key, async (tmp) => {
    const img = path.join(tmp, 'esp.img');
    const grubenv = path.join(tmp, 'grubenv');
    await writeGrubenvFile(grubenv, INITIAL_GRUBENV);
    await writeFile(img, Buffer.alloc(0));
    await runTool('truncate', ['-s', String(inputs.sizeBytes), img]);
    await runTool('mkfs.vfat', ['-n', 'ESP', img]);
    const m = ['-i', img];
    await runTool('mmd', [...m, '::/EFI', '::/EFI/BOOT', '::/grub', '::/abupdate']);
    const copies: [string, string][] = [
      [inputs.grubEfi, '::/EFI/BOOT/BOOTX64.EFI'],
      [ESP_GRUB_CFG, '::/grub/grub.cfg'],
      [snippet, '::/grub/abupdate-ab.cfg'],
      [grubenv, '::/grub/grubenv'],
      [inputs.kernel, '::/abupdate/vmlinuz-a'],
      [inputs.kernel, '::/abupdate/vmlinuz-b'],
      [inputs.initrd, '::/abupdate/initrd-a'],
      [inputs.initrd, '::/abupdate/initrd-b'],
    ];
    for (const [from, to] of copies) await runTool('mcopy', [...m, from, to]);
  });
  return path.join(dir, 'esp.img');
}
