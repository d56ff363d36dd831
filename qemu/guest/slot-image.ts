// Builds a slot root image (squashfs, zstd) for one version: busybox, node + libs, the bundled abupdate, /sbin/init.

import { chmod, copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cachedBuild, hashInputs, type HashInput } from './cache.js';
import { externalPackageFiles } from './abupdate-bundle.js';
import { binaryWithLibraries } from './host-binaries.js';
import { runTool } from './run-tool.js';

const FILES_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'files');
export const SLOT_INIT = path.join(FILES_DIR, 'slot-init.sh');
export const SLOT_REBOOT = path.join(FILES_DIR, 'reboot.sh');
/** The Node flags installed hosts run abupdate with (scripts/install.sh reads the same file). */
const NODE_FLAGS_FILE = path.join(FILES_DIR, '../../../scripts/node-flags');

/** Extra content of a slot: guest path -> text, bytes (executable when it starts with #! or ends in .sh), or a host file to copy. */
export type SlotFiles = Record<string, string | Buffer | { hostPath: string; mode?: number }>;

export interface SlotImageInputs {
  /** The OS version this image is, e.g. "1.0.0": /etc/abupdate-version and /etc/os-release VERSION_ID. */
  version: string;
  /** busybox-static's /bin/busybox. */
  busybox: string;
  /** The node binary to copy (default this machine's process.execPath). */
  node?: string;
  /** The bundled CLI (bundleAbupdateCli()); omit for a slot without abupdate. */
  abupdate?: Buffer;
  /** package.json next to the bundle (its version is what `abupdate --version` prints). */
  packageJson?: Buffer;
  /** More files, e.g. /etc/abupdate/boot.sh (this version's behaviour at boot), update.conf, keys. */
  files?: SlotFiles;
}

/** Applets linked in the slot; init and reboot are our own scripts. */
async function busyboxApplets(busybox: string): Promise<string[]> {
  const list = await runTool(busybox, ['--list-full']);
  return list
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'sbin/init' && l !== 'sbin/reboot' && l !== 'bin/busybox' && l !== 'linuxrc');
}

async function put(root: string, guestPath: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const file = path.join(root, guestPath);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await chmod(file, mode);
}

/** The bundled CLI's native packages (left out of the bundle), as slot files. */
function nativeFiles(): SlotFiles {
  return Object.fromEntries(externalPackageFiles().map((f) => [f.guestPath, { hostPath: f.hostPath, mode: 0o644 }]));
}

/** Builds (or finds in the cache) the squashfs image; returns its path. */
export async function buildSlotImage(inputs: SlotImageInputs): Promise<string> {
  const node = inputs.node ?? process.execPath;
  const nodeFiles = await binaryWithLibraries(node, '/usr/bin/node');
  const extra = Object.entries({ ...(inputs.abupdate === undefined ? {} : nativeFiles()), ...inputs.files }).sort(([a], [b]) => a.localeCompare(b));
  const extraHash = extra.flatMap(([p, c]): HashInput[] =>
    typeof c === 'string' || Buffer.isBuffer(c) ? [p, c] : [p, String(c.mode ?? 0o644), { file: c.hostPath }],
  );
  const key = await hashInputs([
    'slot-v2',
    inputs.version,
    { file: SLOT_INIT },
    { file: SLOT_REBOOT },
    { file: NODE_FLAGS_FILE },
    { file: inputs.busybox },
    ...nodeFiles.flatMap((f) => [f.guestPath, { file: f.hostPath }]),
    inputs.abupdate ?? 'no-abupdate',
    inputs.packageJson ?? 'no-package-json',
    ...extraHash,
  ]);
  const dir = await cachedBuild(`slot-${inputs.version}`, key, async (tmp) => {
    const root = path.join(tmp, 'root');
    for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'var', 'boot', 'root', 'etc/abupdate', 'usr/local/bin']) {
      await mkdir(path.join(root, d), { recursive: true });
    }
    await put(root, '/bin/busybox', await readFile(inputs.busybox), 0o755);
    for (const applet of await busyboxApplets(inputs.busybox)) {
      const link = path.join(root, applet);
      await mkdir(path.dirname(link), { recursive: true });
      await symlink('/bin/busybox', link).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
    await put(root, '/sbin/init', await readFile(SLOT_INIT), 0o755);
    await put(root, '/sbin/reboot', await readFile(SLOT_REBOOT), 0o755);
    for (const f of nodeFiles) {
      await mkdir(path.dirname(path.join(root, f.guestPath)), { recursive: true });
      await copyFile(f.hostPath, path.join(root, f.guestPath));
      await chmod(path.join(root, f.guestPath), f.mode);
    }
    if (inputs.abupdate !== undefined) {
      await put(root, '/usr/lib/abupdate/src/cli/main.js', inputs.abupdate, 0o755);
      if (inputs.packageJson !== undefined) await put(root, '/usr/lib/abupdate/package.json', inputs.packageJson);
      const flags = (await readFile(NODE_FLAGS_FILE, 'utf8')).trim();
      await put(root, '/usr/bin/abupdate', `#!/bin/sh\nexec /usr/bin/node ${flags} /usr/lib/abupdate/src/cli/main.js "$@"\n`, 0o755);
    }
    await put(root, '/etc/abupdate-version', `${inputs.version}\n`);
    await put(root, '/etc/os-release', `NAME="abupdate QEMU guest"\nID=abupdate-guest\nVERSION_ID=${inputs.version}\n`);
    await put(root, '/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
    await put(root, '/etc/group', 'root:x:0:\n');
    for (const [guestPath, content] of extra) {
      if (typeof content === 'string' || Buffer.isBuffer(content)) {
        const executable = guestPath.endsWith('.sh') || Buffer.from(content).subarray(0, 2).toString() === '#!';
        await put(root, guestPath, content, executable ? 0o755 : 0o644);
      }
      else await put(root, guestPath, await readFile(content.hostPath), content.mode ?? 0o644);
    }
    await runTool('mksquashfs', [
      root,
      path.join(tmp, 'root.squashfs'),
      '-noappend',
      '-quiet',
      '-no-progress',
      '-comp', 'zstd',
      '-Xcompression-level', '3', // level 15 (the default) is 30x slower for 3% less
      '-b', '1M',
      '-all-root',
      '-no-xattrs',
      '-mkfs-time', '0',
      '-all-time', '0',
    ]);
    await rm(root, { recursive: true, force: true });
  });
  return path.join(dir, 'root.squashfs');
}
