// The guest build cache: <repo>/.cache/qemu/<kind>-<hash of inputs>/, built once, reused until an input changes.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Root of the cache; ABUPDATE_QEMU_CACHE overrides it (e.g. a CI cache volume). */
export function cacheRoot(): string {
  return process.env['ABUPDATE_QEMU_CACHE'] ?? path.join(REPO_ROOT, '.cache', 'qemu');
}

/** A stable hash of build inputs: strings, buffers, and { file } (content) or { tree } (every file below, by path). */
export type HashInput = string | Buffer | { file: string } | { tree: string };

export async function hashInputs(inputs: readonly HashInput[]): Promise<string> {
  const hash = createHash('sha256');
  for (const input of inputs) {
    if (typeof input === 'string' || Buffer.isBuffer(input)) {
      hash.update(`${input.length}:`).update(input);
    } else if ('file' in input) {
      const bytes = await readFile(input.file);
      hash.update(`file:${input.file}:${bytes.length}:`).update(bytes);
    } else {
      for (const file of await listTree(input.tree)) {
        const bytes = await readFile(path.join(input.tree, file));
        hash.update(`tree:${file}:${bytes.length}:`).update(bytes);
      }
    }
  }
  return hash.digest('hex').slice(0, 16);
}

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/**
 * Returns the directory `<cache>/<kind>-<key>`, running build(tmpDir) into a temp directory first when
 * it does not exist yet. A build that fails or is interrupted leaves nothing that looks complete.
 */
export async function cachedBuild(kind: string, key: string, build: (dir: string) => Promise<void>): Promise<string> {
  const root = cacheRoot();
  const dir = path.join(root, `${kind}-${key}`);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  await mkdir(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${kind}-${key}-${process.pid}-${Date.now()}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await build(tmp);
    await writeFile(path.join(tmp, '.complete'), `${new Date().toISOString()}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return dir;
}

/** Size of a file in bytes (apparent size). */
export async function fileSize(file: string): Promise<number> {
  return (await stat(file)).size;
}
