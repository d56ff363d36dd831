// The guest build cache: <repo>/.cache/qemu/<kind>-<hash of inputs>/, built once, reused until an input changes.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Root of the cache; ABUPDATE_QEMU_CACHE overrides it (e.g. a CI cache volume). */
export function cacheRoot(): string {
  return process.env['ABUPDATE_QEMU_CACHE'] ?? path.join(REPO_ROOT, '.cache', 'qemu');
}

/**
 * A stable hash of build inputs: strings, buffers, { file } and { tree } (every file below, by path).
 * Files up to 1 MiB count by content; larger ones (node, the kernel, built images) by path, size,
 * mtime and inode: cache entries are never modified in place and an upgraded host binary gets a
 * new mtime, and reading 100s of MB on every run would make the cached build slow.
 */
const LARGE_FILE = 1024 * 1024;

export type HashInput = string | Buffer | { file: string } | { tree: string };

export async function hashInputs(inputs: readonly HashInput[]): Promise<string> {
  const hash = createHash('sha256');
  for (const input of inputs) {
    if (typeof input === 'string' || Buffer.isBuffer(input)) {
      hash.update(`${input.length}:`).update(input);
    } else if ('file' in input) {
      const info = await stat(input.file);
      if (info.size > LARGE_FILE) hash.update(`large:${input.file}:${info.size}:${info.mtimeMs}:${info.ino}`);
      else {
        const bytes = await readFile(input.file);
        hash.update(`file:${input.file}:${bytes.length}:`).update(bytes);
      }
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

/** How many entries of one kind stay in the cache (the most recently used); older ones are removed. */
export const KEEP_PER_KIND = 8;

/**
 * Returns the directory `<cache>/<kind>-<key>`, running build(tmpDir) into a temp directory first when
 * it does not exist yet. A build that fails or is interrupted leaves nothing that looks complete.
 * Inputs change often (the bundled CLI changes with every commit to src/), so each build prunes the
 * least recently used entries of its kind beyond KEEP_PER_KIND.
 */
export async function cachedBuild(kind: string, key: string, build: (dir: string) => Promise<void>): Promise<string> {
  const root = cacheRoot();
  const dir = path.join(root, `${kind}-${key}`);
  if (existsSync(path.join(dir, '.complete'))) {
    const now = new Date();
    await utimes(dir, now, now).catch(() => undefined);
    return dir;
  }
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
  await pruneKind(root, kind, dir);
  return dir;
}

/** Removes all but the KEEP_PER_KIND most recently used complete entries of KIND (never KEEP). */
async function pruneKind(root: string, kind: string, keep: string): Promise<void> {
  const isEntry = (name: string): boolean => name.startsWith(`${kind}-`) && /^[0-9a-f]{16}$/.test(name.slice(kind.length + 1));
  const entries: { dir: string; used: number }[] = [];
  for (const name of await readdir(root)) {
    if (!isEntry(name)) continue;
    const dir = path.join(root, name);
    entries.push({ dir, used: (await stat(dir)).mtimeMs });
  }
  entries.sort((a, b) => b.used - a.used);
  for (const entry of entries.slice(KEEP_PER_KIND)) {
    if (entry.dir !== keep) await rm(entry.dir, { recursive: true, force: true });
  }
}
