// RAUC's documented GRUB script (contrib/grub.conf of the RAUC sources), taken from the Debian source package of the
// rauc installed here: the .dsc and the upstream tarball from the host's Debian mirror, the tarball checked against
// the .dsc's SHA-256, the script extracted and cached under .cache/qemu. Not kept in this repository.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { cacheRoot } from './cache.js';

/** The Debian mirror apt uses here (the first deb.debian.org-style URI of the main archive), else deb.debian.org. */
async function debianMirror(): Promise<string> {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const uri = /(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?(?:\s|$)/m.exec(text)?.[1];
    if (uri) return uri;
  }
  return 'http://deb.debian.org/debian';
}

async function fetchBytes(url: string): Promise<Buffer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/** The text of RAUC's contrib/grub.conf for the installed rauc (Debian's package), and where it came from. */
export async function raucGrubScript(): Promise<{ text: string; source: string }> {
  const version = (await execa('dpkg-query', ['-W', '-f', '${Version}', 'rauc'])).stdout.trim(); // e.g. 1.8-2
  const upstream = version.replace(/^\d+:/, '').replace(/-[^-]+$/, '');
  const dir = path.join(cacheRoot(), `rauc-src-${version}`);
  const script = path.join(dir, 'grub.conf');
  const source = `contrib/grub.conf of rauc_${upstream}.orig.tar.xz (Debian source package rauc ${version})`;
  if (existsSync(script)) return { text: await readFile(script, 'utf8'), source };
  const pool = `${await debianMirror()}/pool/main/r/rauc`;
  const dsc = (await fetchBytes(`${pool}/rauc_${version}.dsc`)).toString('utf8');
  const tarName = `rauc_${upstream}.orig.tar.xz`;
  const sums = dsc.slice(dsc.indexOf('Checksums-Sha256:'));
  const expected = new RegExp(`^ ([0-9a-f]{64}) \\d+ ${tarName.replace(/\./g, '\\.')}$`, 'm').exec(sums)?.[1];
  if (!expected) throw new Error(`rauc_${version}.dsc names no SHA-256 for ${tarName}`);
  const tar = await fetchBytes(`${pool}/${tarName}`);
  const actual = createHash('sha256').update(tar).digest('hex');
  if (actual !== expected) throw new Error(`${tarName}: SHA-256 ${actual}, the .dsc says ${expected}`);
  await mkdir(dir, { recursive: true });
  const tarFile = path.join(dir, tarName);
  await writeFile(tarFile, tar);
  const text = (await execa('tar', ['-xJOf', tarFile, '--wildcards', '*/contrib/grub.conf'])).stdout;
  if (!text.includes('load_env')) throw new Error(`${tarName} holds no contrib/grub.conf with load_env`);
  await writeFile(`${script}.tmp`, `${text}\n`);
  await rename(`${script}.tmp`, script);
  return { text: `${text}\n`, source };
}
