// Reads and changes the guest's boot flags and state from the host, on the disk image: grubenv (mtools), gptprio (cgpt).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { partitionOf, type DiskLayout } from '../guest/disk.js';
import { runTool, runToolRaw } from '../guest/run-tool.js';

export interface GptprioFlags {
  priority: number;
  tries: number;
  successful: number;
}

/** `mtools` addresses a FAT file system inside a disk image as IMAGE@@OFFSET. */
function espImage(disk: string, layout: DiskLayout): string {
  return `${disk}@@${partitionOf(layout, 'ESP').offset}`;
}

/** Parses a grubenv block into its variables. */
export function parseGrubenv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.includes('=')) continue;
    const eq = line.indexOf('=');
    vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return vars;
}

/** The grubenv on the guest's ESP, as GRUB left it. */
export async function readGrubenv(disk: string, layout: DiskLayout): Promise<Record<string, string>> {
  return parseGrubenv(await runTool('mcopy', ['-n', '-i', espImage(disk, layout), '::/grub/grubenv', '-']));
}

/** Sets grubenv variables on the guest's ESP with grub-editenv (copied out and back with mtools). */
export async function setGrubenv(disk: string, layout: DiskLayout, vars: Record<string, string>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-grubenv-'));
  try {
    const file = path.join(dir, 'grubenv');
    await writeFile(file, await runToolRaw('mcopy', ['-n', '-i', espImage(disk, layout), '::/grub/grubenv', '-']));
    await runTool('grub-editenv', [file, 'set', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);
    await runTool('mcopy', ['-o', '-n', '-i', espImage(disk, layout), file, '::/grub/grubenv']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The gptprio attribute bits of a slot as Debian's cgpt reads them. */
export async function readGptprio(disk: string, layout: DiskLayout, slot: 'A' | 'B'): Promise<GptprioFlags> {
  const index = String(partitionOf(layout, slot === 'A' ? 'USR-A' : 'USR-B').index);
  const read = async (flag: string): Promise<number> => Number((await runTool('cgpt', ['show', '-i', index, flag, disk])).trim());
  return { priority: await read('-P'), tries: await read('-T'), successful: await read('-S') };
}

/** Writes gptprio attribute bits of a slot with Debian's cgpt (only the given ones). */
export async function setGptprio(disk: string, layout: DiskLayout, slot: 'A' | 'B', flags: Partial<GptprioFlags>): Promise<void> {
  const index = String(partitionOf(layout, slot === 'A' ? 'USR-A' : 'USR-B').index);
  const args = ['add', '-i', index];
  if (flags.priority !== undefined) args.push('-P', String(flags.priority));
  if (flags.tries !== undefined) args.push('-T', String(flags.tries));
  if (flags.successful !== undefined) args.push('-S', String(flags.successful));
  await runTool('cgpt', [...args, disk]);
}

/** A file on the guest's state partition (mounted at /var in the guest), read with debugfs; undefined if absent. */
export async function readStateFile(disk: string, layout: DiskLayout, guestPath: string): Promise<Buffer | undefined> {
  const rel = guestPath.replace(/^\/var(?=\/)/, '');
  const image = `${disk}?offset=${partitionOf(layout, 'STATE').offset}`;
  const listing = await runTool('debugfs', ['-R', `stat ${rel}`, image]).catch(() => '');
  if (!/Inode:/.test(listing)) return undefined;
  return runToolRaw('debugfs', ['-R', `cat ${rel}`, image]);
}
