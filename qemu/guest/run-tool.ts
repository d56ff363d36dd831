// Runs the host tools the guest builder and harness need (sgdisk, mksquashfs, mtools, ...) with clear errors.

import { execa } from 'execa';
import { UpdaterError } from '../../common/errors.js';

export interface ToolOptions {
  cwd?: string;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
}

/** Debian package that provides each tool, for the hint when it is missing. */
const PACKAGE_OF: Record<string, string> = {
  sgdisk: 'gdisk',
  cgpt: 'cgpt',
  mksquashfs: 'squashfs-tools',
  'mke2fs': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  mdir: 'mtools',
  'grub-mkstandalone': 'grub-efi-amd64-bin grub-common',
  'grub-editenv': 'grub-common',
  'qemu-system-x86_64': 'qemu-system-x86',
  'apt-get': 'apt',
  dpkg: 'dpkg',
};

/** Runs FILE ARGS without a shell; returns stdout; throws ERR_TOOL_FAILED with the tool's stderr. */
export async function runTool(file: string, args: readonly string[], options: ToolOptions = {}): Promise<string> {
  const result = await runToolRaw(file, args, options);
  return result.toString('utf8');
}

/** Like runTool(), but stdout as bytes. */
export async function runToolRaw(file: string, args: readonly string[], options: ToolOptions = {}): Promise<Buffer> {
  try {
    const result = await execa(file, args, {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.env === undefined ? {} : { env: options.env }),
      encoding: 'buffer',
      stripFinalNewline: false,
      maxBuffer: 512 * 1024 * 1024,
    });
    return Buffer.from(result.stdout);
  } catch (error) {
    const failure = error as { code?: string; stderr?: Uint8Array; exitCode?: number; shortMessage?: string };
    if (failure.code === 'ENOENT') {
      const pkg = PACKAGE_OF[file];
      throw new UpdaterError('ERR_TOOL_FAILED', `Cannot run "${file}": it is not installed`, {
        cause: error,
        data: { tool: file },
        ...(pkg === undefined ? {} : { hint: `Install it: apt-get install -y ${pkg}` }),
      });
    }
    const stderr = failure.stderr === undefined ? '' : Buffer.from(failure.stderr).toString('utf8').trim();
    throw new UpdaterError('ERR_TOOL_FAILED', `Cannot run "${file} ${args.join(' ')}": exit code ${String(failure.exitCode)}: ${stderr.slice(-2000)}`, {
      cause: error,
      data: { tool: file, args: [...args], exitCode: failure.exitCode, stderr },
    });
  }
}
