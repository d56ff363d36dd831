// Fetches Debian packages for the guest with `apt-get download` and unpacks them with `dpkg -x` (no root, no install).

import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { cacheRoot, cachedBuild } from './cache.js';
import { runTool } from './run-tool.js';

export interface UnpackedPackage {
  name: string;
  version: string;
  /** The package's files, as `dpkg -x` laid them out. */
  root: string;
}

/**
 * apt-cache answers are remembered in <cache>/apt-answers.json while the package lists stay the same
 * (apt-cache takes seconds per call on a busy machine; the cached build should take about one).
 */
async function aptCache(args: string[]): Promise<string> {
  const file = path.join(cacheRoot(), 'apt-answers.json');
  const lists = await stat('/var/lib/apt/lists').then((s) => String(s.mtimeMs)).catch(() => 'none');
  let answers: { lists: string; answers: Record<string, string> } = { lists, answers: {} };
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as typeof answers;
    if (saved.lists === lists) answers = saved;
  } catch {
    // no answers yet
  }
  const key = args.join(' ');
  const known = answers.answers[key];
  if (known !== undefined) return known;
  const answer = await runTool('apt-cache', args);
  answers.answers[key] = answer;
  await mkdir(cacheRoot(), { recursive: true });
  await writeFile(`${file}.${process.pid}`, JSON.stringify(answers));
  await rename(`${file}.${process.pid}`, file);
  return answer;
}

/** The candidate version apt would install, from the local package lists. */
export async function candidateVersion(name: string): Promise<string> {
  const policy = await aptCache(['policy', name]);
  const match = /Candidate:\s*(\S+)/.exec(policy);
  if (!match?.[1] || match[1] === '(none)') {
    throw new UpdaterError('ERR_CONFIG', `Cannot find Debian package "${name}": apt has no candidate version`, {
      data: { name },
      hint: 'Run "apt-get update" so the package lists are present, then build again.',
    });
  }
  return match[1];
}

/** The versioned kernel package `linux-image-amd64` depends on, e.g. "linux-image-6.1.0-56-amd64". */
export async function resolveKernelPackage(): Promise<string> {
  const depends = await aptCache(['depends', 'linux-image-amd64']);
  const match = /Depends:\s*(linux-image-[0-9][^\s]*-amd64)/.exec(depends);
  if (!match?.[1]) {
    throw new UpdaterError('ERR_CONFIG', 'Cannot find the Debian kernel package: "linux-image-amd64" names no linux-image-*-amd64', {
      hint: 'Run "apt-get update" so the package lists are present, then build again.',
    });
  }
  return match[1];
}

/** Downloads NAME (the candidate version) and unpacks it into the cache; cached by name and version. */
export async function fetchDebianPackage(name: string): Promise<UnpackedPackage> {
  const version = await candidateVersion(name);
  const key = `${name}_${version}`.replace(/[^A-Za-z0-9._+-]/g, '_');
  const dir = await cachedBuild('deb', key, async (tmp) => {
    await runTool('apt-get', ['download', '-q', `${name}=${version}`], { cwd: tmp });
    const debs = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
    const deb = debs[0];
    if (deb === undefined || debs.length !== 1) {
      throw new UpdaterError('ERR_TOOL_FAILED', `Cannot download Debian package "${name}": apt-get left ${debs.length} .deb files`, {
        data: { name, debs },
      });
    }
    await runTool('dpkg', ['-x', path.join(tmp, deb), path.join(tmp, 'root')]);
    await rm(path.join(tmp, deb));
  });
  return { name, version, root: path.join(dir, 'root') };
}
