// Bundles the abupdate CLI (src/cli/main.ts and everything it imports) into one ESM file for the guest, with esbuild.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { REPO_ROOT } from './cache.js';
import { runTool } from './run-tool.js';

/**
 * Packages with a native addon, left out of the bundle and copied as files: fs-ext (flock for the run lock) and
 * zstd-napi (format 2 bundles' per-chunk zstd; src/verify/zstd.ts requires its binding at first use).
 */
const EXTERNAL_PACKAGES: Record<string, string[]> = {
  'fs-ext': ['package.json', 'fs-ext.js', 'build/Release/fs_ext.node'],
  'zstd-napi': ['package.json', 'binding.js', 'build/Release/binding.node'],
};

/** The files of the external packages, guest path -> host path, to put beside the bundle (built by npm ci here). */
export function externalPackageFiles(): { guestPath: string; hostPath: string }[] {
  return Object.entries(EXTERNAL_PACKAGES).flatMap(([name, files]) =>
    files.map((file) => ({
      guestPath: `/usr/lib/abupdate/node_modules/${name}/${file}`,
      hostPath: path.join(REPO_ROOT, 'node_modules', name, file),
    })),
  );
}

/**
 * The guest runs the CLI as `node /usr/lib/abupdate/src/cli/main.js`, next to /usr/lib/abupdate/package.json
 * (main.ts reads its version from ../../package.json). esbuild is a devDependency (the
 * version tsx uses). The banner gives bundled CommonJS packages a `require`.
 */
export async function bundleAbupdateCli(): Promise<Buffer> {
  const esbuild = path.join(REPO_ROOT, 'node_modules', '.bin', 'esbuild');
  if (!existsSync(esbuild)) {
    throw new UpdaterError('ERR_TOOL_FAILED', `Cannot bundle abupdate for the guest: "${esbuild}" does not exist`, {
      hint: 'Run "npm ci" (esbuild comes with tsx).',
    });
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-bundle-'));
  try {
    const out = path.join(dir, 'main.js');
    await runTool(
      esbuild,
      [
        path.join(REPO_ROOT, 'src', 'cli', 'main.ts'),
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--target=node20',
        '--log-level=error',
        // A native addon cannot be bundled: the guest gets its files under /usr/lib/abupdate/node_modules.
        ...Object.keys(EXTERNAL_PACKAGES).map((name) => `--external:${name}`),
        // @particle/dbus-next requires the optional 'x11' package only to find a session bus through an X11 window
        // selection, which the system-bus service never does: left unresolved (the guest has no X11).
        '--external:x11',
        `--outfile=${out}`,
        "--banner:js=import { createRequire as __abupdateCreateRequire } from 'node:module'; const require = __abupdateCreateRequire(import.meta.url);",
      ],
      { cwd: REPO_ROOT },
    );
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
