// What an Omaha request says about the host: machine id, boot id, OEM, board, read from the usual files.

import { readFile } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';

export interface HostIdentity {
  /** /etc/machine-id: 32 lowercase hex digits, no braces (as update_engine sends it). */
  machineId: string;
  /** /proc/sys/kernel/random/boot_id wrapped in braces, as update_engine sends it. */
  bootId: string;
  /** ID and VERSION_ID of /etc/oem-release (empty when there is none). */
  oem: string;
  oemVersion: string;
  /** Nebraska reads the architecture from this: amd64-usr or arm64-usr. */
  board: string;
}

export interface HostIdentityPaths {
  machineIdPath?: string;
  bootIdPath?: string;
  oemReleasePaths?: string[];
}

/** The boards Nebraska serves (backend/pkg/api/internal/types/arch.go); it answers anything else with amd64's image. */
export const NEBRASKA_BOARDS = ['amd64-usr', 'arm64-usr'] as const;

/**
 * Refuses a board Nebraska does not serve: it would silently fall back to amd64 and offer another architecture's
 * image (omaha.go getArch), which the host would download in full before the bundle's compatible check refused it.
 */
export function assertNebraskaBoard(board: string): void {
  if ((NEBRASKA_BOARDS as readonly string[]).includes(board)) return;
  throw new UpdaterError('ERR_OMAHA_ARCH', `Cannot ask the Omaha server for updates: architecture "${board}" is not one it serves (${NEBRASKA_BOARDS.join(', ')})`, {
    data: { board, supported: [...NEBRASKA_BOARDS] },
    hint: 'Nebraska would answer with the amd64 image. Use PROTOCOL=static with a channel built for this architecture.',
  });
}

export function boardForArch(arch: string = process.arch): string {
  if (arch === 'x64') return 'amd64-usr';
  if (arch === 'arm64') return 'arm64-usr';
  return `${arch}-usr`;
}

/** Reads a KEY=VALUE release file (os-release syntax) into a map; missing file → undefined. */
async function readReleaseFile(file: string): Promise<Map<string, string> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, raw] = match;
    if (key === undefined || raw === undefined) continue;
    values.set(key, raw.trim().replace(/^(["'])(.*)\1$/, '$2'));
  }
  return values;
}

export async function readMachineId(machineIdPath = '/etc/machine-id'): Promise<string> {
  let text: string;
  try {
    text = await readFile(machineIdPath, 'utf8');
  } catch (error) {
    throw new UpdaterError('ERR_IO', `Cannot read the machine id from ${machineIdPath}: ${(error as Error).message}`, {
      cause: error,
      data: { path: machineIdPath },
      hint: 'Run "systemd-machine-id-setup", or point MACHINE_ID_PATH at the right file.',
    });
  }
  const id = text.trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id)) {
    throw new UpdaterError('ERR_IO', `Cannot use the machine id in ${machineIdPath}: "${id.slice(0, 64)}" is not 32 hex digits`, {
      data: { path: machineIdPath },
      hint: 'Run "systemd-machine-id-setup", or point MACHINE_ID_PATH at the right file.',
    });
  }
  return id;
}

export async function readBootId(bootIdPath = '/proc/sys/kernel/random/boot_id'): Promise<string> {
  try {
    const id = (await readFile(bootIdPath, 'utf8')).trim();
    return id === '' ? '' : `{${id}}`;
  } catch {
    return '';
  }
}

export async function readHostIdentity(paths: HostIdentityPaths = {}): Promise<HostIdentity> {
  const machineId = await readMachineId(paths.machineIdPath);
  const bootId = await readBootId(paths.bootIdPath);
  let oem = '';
  let oemVersion = '';
  for (const file of paths.oemReleasePaths ?? ['/etc/oem-release', '/usr/share/oem/oem-release']) {
    const values = await readReleaseFile(file);
    if (values === undefined) continue;
    oem = values.get('ID') ?? '';
    oemVersion = values.get('VERSION_ID') ?? '';
    break;
  }
  return { machineId, bootId, oem, oemVersion, board: boardForArch() };
}
