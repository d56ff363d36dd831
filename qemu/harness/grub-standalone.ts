// Stock GRUB (grub-mkstandalone, x86_64-efi) run in QEMU under OVMF with no kernel: a grub.cfg is sourced on a FAT
// ESP with a grubenv next to it, GRUB prints RESULT lines and halts, and the grubenv it left is read back.
// Used to run boot scripts (abupdate's snippet, RAUC's documented script) against grubenv states.

import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const EMBED_CFG = 'search --no-floppy --label ABESP --set=root\nset prefix=($root)/grub\nconfigfile ($root)/grub/grub.cfg\n';

export type GrubEnvVars = Record<string, string>;

/** Builds BOOTX64.EFI in DIR: finds the ESP by label, prefix ($root)/grub, then its grub.cfg. */
export async function buildStandaloneGrub(dir: string): Promise<string> {
  await writeFile(path.join(dir, 'embed.cfg'), EMBED_CFG);
  const efi = path.join(dir, 'BOOTX64.EFI');
  await execa('grub-mkstandalone', [
    '-O', 'x86_64-efi', '-o', efi,
    '--modules=part_gpt part_msdos fat search search_label configfile loadenv test echo normal halt linux',
    `boot/grub/grub.cfg=${path.join(dir, 'embed.cfg')}`,
  ]);
  return efi;
}

/** grub-editenv's view of FILE. */
export async function listGrubenv(file: string): Promise<GrubEnvVars> {
  const out = (await execa('grub-editenv', [file, 'list'])).stdout;
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** A grubenv FILE made by grub-editenv holding ENV. */
export async function grubenvFile(file: string, env: GrubEnvVars): Promise<void> {
  await execa('grub-editenv', [file, 'create']);
  await execa('grub-editenv', [file, 'set', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]);
}

export interface GrubRun {
  console: string;
  /** The grubenv file as GRUB left it (copied out of the ESP). */
  grubenvAfter: string;
}

/**
 * One GRUB boot in DIR: an ESP with EFI as BOOTX64.EFI, GRUB_CFG as /grub/grub.cfg, the grubenv file GRUBENV as
 * /grub/grubenv and EXTRA files ([host path, ESP path]). Fails unless the console shows a line matching DONE.
 */
export async function runStandaloneGrub(options: { dir: string; efi: string; grubCfg: string; grubenv: string; extra?: Array<[string, string]>; done: RegExp }): Promise<GrubRun> {
  const { dir } = options;
  const esp = path.join(dir, 'esp.img');
  await execa('rm', ['-f', esp]);
  await execa('truncate', ['-s', '16M', esp]);
  await execa('mkfs.vfat', ['-n', 'ABESP', esp]);
  await execa('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT', '::/grub']);
  await writeFile(path.join(dir, 'grub.cfg'), options.grubCfg);
  const files: Array<[string, string]> = [[options.efi, '::/EFI/BOOT/BOOTX64.EFI'], [path.join(dir, 'grub.cfg'), '::/grub/grub.cfg'], [options.grubenv, '::/grub/grubenv'], ...(options.extra ?? [])];
  for (const [from, to] of files) await execa('mcopy', ['-i', esp, from, to]);
  const vars = path.join(dir, 'vars.fd');
  await copyFile(OVMF_VARS, vars);
  const run = await execa('qemu-system-x86_64', [
    '-machine', 'q35', '-m', '256', '-nographic', '-no-reboot', '-net', 'none', '-display', 'none', '-serial', 'mon:stdio',
    '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
    '-drive', `if=pflash,format=raw,file=${vars}`,
    '-drive', `file=${esp},format=raw,if=virtio`,
  ], { timeout: 240_000, reject: false, stdin: 'ignore' });
  const console = run.stdout.replace(/\r/g, '');
  assert.match(console, options.done, `GRUB did not reach the end of grub.cfg:\n${console.slice(-2000)}`);
  const grubenvAfter = path.join(dir, 'after.env');
  await execa('mcopy', ['-n', '-o', '-i', esp, '::/grub/grubenv', grubenvAfter]);
  assert.equal((await readFile(grubenvAfter)).length, 1024, 'the grubenv is still one 1024-byte block');
  return { console, grubenvAfter };
}
