// Copies this machine's dynamically linked binaries (node, cgpt) into a guest: the libraries `ldd` names + ld-linux.

import { realpath } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import { runTool } from './run-tool.js';

/** A file the guest needs: where it goes in the guest, and the host file with its bytes. */
export interface GuestFile {
  guestPath: string;
  hostPath: string;
  mode: number;
}

/**
 * The shared libraries BINARY links (as `ldd` resolves them here) and the dynamic loader, at the paths
 * the binary asks for (e.g. /lib/x86_64-linux-gnu/libc.so.6, /lib64/ld-linux-x86-64.so.2), each with
 * the real file behind any symlink.
 */
export async function sharedLibraries(binary: string): Promise<GuestFile[]> {
  const out = await runTool('ldd', [binary]);
  const files: GuestFile[] = [];
  for (const line of out.split('\n')) {
    const arrow = /^\s*\S+\s+=>\s+(\/\S+)\s+\(/.exec(line);
    const loader = /^\s*(\/\S+)\s+\(/.exec(line);
    const guestPath = arrow?.[1] ?? loader?.[1];
    if (guestPath === undefined) {
      if (/not found/.test(line)) {
        throw new UpdaterError('ERR_IO', `Cannot copy "${binary}" into the guest: ${line.trim()}`);
      }
      continue;
    }
    files.push({ guestPath, hostPath: await realpath(guestPath), mode: 0o755 });
  }
  if (!files.some((f) => f.guestPath.includes('ld-linux'))) {
    throw new UpdaterError('ERR_IO', `Cannot copy "${binary}" into the guest: ldd names no dynamic loader`, {
      hint: 'Is it a static binary? Then copy it alone.',
    });
  }
  return files;
}

/** BINARY at GUEST_PATH plus its libraries. */
export async function binaryWithLibraries(binary: string, guestPath: string): Promise<GuestFile[]> {
  return [{ guestPath, hostPath: await realpath(binary), mode: 0o755 }, ...(await sharedLibraries(binary))];
}
