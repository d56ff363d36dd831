// Benchmark for issue 13 (delta updates): the bytes a host on v1 must download to get v2, for root images built
// here from real Debian 12 packages in two versions (a small security update), as ext4 and as squashfs.
// Run: npm run bench:delta [-- --keep DIR]   (needs network once: the .debs are cached under .cache/delta-debs)
// Needs the Debian packages: apt (apt-get download), dpkg, e2fsprogs (mkfs.ext4 -d), squashfs-tools, casync,
// xdelta3, zstd (all in .ci/run's package list). Not run by npm test or .ci/run. Results and the choice they support: docs/delta.md.
//
// Rows: the whole v2 image; fixed 1 MiB chunks (format 1's chunking: the distinct aligned chunks of v2 whose
// SHA-256 v1 lacks); our FastCDC (verify/cdc.ts) at avg 16/32/64 KiB, raw and with each missing chunk
// compressed (zstd CLI -3 and -19, node's brotli quality 11; a chunk is counted raw when compression does not
// pay); casync make of v1 and v2 into one store (the stored, compressed chunk files v2's index needs that v1's
// does not name); xdelta3 -9 (default source window, and -B covering the whole source).

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import { build } from 'esbuild';
import { execa } from 'execa';
import type { ChunkChildResult, ChunkList } from './delta-chunk-child.js';
import { measureInstalls, type InstallMeasure } from './delta-install.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const CACHE = path.join(ROOT, '.cache', 'delta-debs');

/** The update: four packages, v1 from bookworm (the point release), v2 from bookworm-security. */
const CHANGED: { name: string; v1: string; v2: string }[] = [
  { name: 'libssl3', v1: '3.0.20-1~deb12u2', v2: '3.0.22-1~deb12u2' },
  { name: 'openssl', v1: '3.0.20-1~deb12u2', v2: '3.0.22-1~deb12u2' },
  { name: 'libexpat1', v1: '2.5.0-1+deb12u2', v2: '2.5.0-1+deb12u5' },
  { name: 'libpng16-16', v1: '1.6.39-2+deb12u5', v2: '1.6.39-2+deb12u6' },
];

/** The common base, at the candidate version of this machine's apt sources (printed). */
const BASE = [
  'libc6', 'libc-bin', 'libgcc-s1', 'gcc-12-base', 'libstdc++6', 'coreutils', 'bash', 'dash', 'sed', 'grep', 'tar', 'gzip',
  'findutils', 'diffutils', 'less', 'procps', 'util-linux', 'mount', 'e2fsprogs', 'iproute2', 'systemd', 'libsystemd0',
  'libudev1', 'libsystemd-shared', 'libkmod2', 'libcryptsetup12', 'libdevmapper1.02.1', 'libjson-c5', 'libargon2-1',
  'libseccomp2', 'libapparmor1', 'libip4tc2', 'liblz4-1', 'libgcrypt20', 'libgpg-error0', 'libzstd1', 'liblzma5',
  'libbz2-1.0', 'zlib1g', 'libcap2', 'libcap-ng0', 'libaudit1', 'libcrypt1', 'libselinux1', 'libpcre2-8-0', 'libacl1',
  'libattr1', 'libmount1', 'libblkid1', 'libuuid1', 'libsmartcols1', 'libfdisk1', 'libtinfo6', 'libncursesw6',
  'ncurses-base', 'libreadline8', 'readline-common', 'libpam0g', 'libpam-modules', 'libdb5.3', 'perl-base',
  'perl-modules-5.36', 'libperl5.36', 'python3.11-minimal', 'libpython3.11-minimal', 'libpython3.11-stdlib',
  'python3.11', 'libffi8', 'libsqlite3-0', 'libxml2', 'libgnutls30', 'libnettle8', 'libhogweed6',
  'libgmp10', 'libp11-kit0', 'libtasn1-6', 'libunistring2', 'libidn2-0', 'libkrb5-3', 'libgssapi-krb5-2',
  'libk5crypto3', 'libkrb5support0', 'libcom-err2', 'libkeyutils1', 'libcurl4', 'curl', 'libnghttp2-14', 'libpsl5',
  'librtmp1', 'libssh2-1', 'libldap-2.5-0', 'libsasl2-2', 'ca-certificates', 'vim-tiny', 'openssh-client', 'sudo',
];

const CDC_AVGS = [16 * KiB, 32 * KiB, 64 * KiB];
const FIXED_TIME = 1_700_000_000;
const FS_UUID = '6a1c6f2e-13de-4a77-9d0b-5b1e2c3d4e5f';

function debFile(name: string, version: string): string | undefined {
  const encoded = version.replace(/:/g, '%3a');
  for (const arch of ['amd64', 'all']) {
    const file = path.join(CACHE, `${name}_${encoded}_${arch}.deb`);
    if (existsSync(file)) return file;
  }
  return undefined;
}

async function candidates(names: string[]): Promise<Map<string, string>> {
  const { stdout } = await execa('apt-cache', ['policy', ...names]);
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of stdout.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head) current = head[1];
    const cand = /^\s+Candidate: (\S+)/.exec(line);
    if (cand && current !== undefined && cand[1] !== '(none)') out.set(current, cand[1]!);
  }
  const missing = names.filter((n) => !out.has(n));
  if (missing.length > 0) throw new Error(`no candidate version in the apt sources for: ${missing.join(', ')}`);
  return out;
}

/** Downloads the wanted PKG=VERSION .debs not yet in the cache, in one apt-get call; returns each one's file. */
async function fetchDebs(wanted: { name: string; version: string }[]): Promise<string[]> {
  await mkdir(CACHE, { recursive: true });
  const todo = wanted.filter((w) => debFile(w.name, w.version) === undefined);
  if (todo.length > 0) {
    process.stdout.write(`downloading ${todo.length} .debs into ${path.relative(ROOT, CACHE)} ...\n`);
    await execa('apt-get', ['download', ...todo.map((w) => `${w.name}=${w.version}`)], { cwd: CACHE });
  }
  return wanted.map((w) => {
    const file = debFile(w.name, w.version);
    if (file === undefined) throw new Error(`apt-get download did not leave ${w.name} ${w.version} in ${CACHE}`);
    return file;
  });
}

async function duBytes(dir: string): Promise<number> {
  const { stdout } = await execa('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]);
}

async function buildTree(dir: string, debs: string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const deb of debs) await execa('dpkg', ['-x', deb, dir]);
}

async function mkExt4(tree: string, out: string, sizeBytes: number): Promise<void> {
  await rm(out, { force: true });
  await execa('truncate', ['-s', String(sizeBytes), out]);
  await execa('mkfs.ext4', ['-F', '-q', '-b', '4096', '-U', FS_UUID, '-E', `hash_seed=${FS_UUID},root_owner=0:0`, '-d', tree, out], {
    env: { E2FSPROGS_FAKE_TIME: String(FIXED_TIME) },
  });
}

async function mkSquashfs(tree: string, out: string): Promise<void> {
  await rm(out, { force: true });
  await execa('mksquashfs', [tree, out, '-comp', 'zstd', '-b', '1M', '-noappend', '-quiet', '-no-progress', '-mkfs-time', String(FIXED_TIME), '-processors', '2']);
}

async function fixedChunks(file: string, size: number): Promise<ChunkList> {
  const list: ChunkList = { offsets: [], sizes: [], hashes: [] };
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(size);
    for (let offset = 0; ; offset += size) {
      const { bytesRead } = await handle.read(buffer, 0, size, offset);
      if (bytesRead === 0) break;
      list.offsets.push(offset);
      list.sizes.push(bytesRead);
      list.hashes.push(createHash('sha256').update(buffer.subarray(0, bytesRead)).digest('hex'));
    }
  } finally {
    await handle.close();
  }
  return list;
}

/** The distinct chunks of NEXT whose hash PREV lacks: {offset, size} in NEXT. */
function missing(prev: ChunkList, next: ChunkList): { offset: number; size: number }[] {
  const have = new Set(prev.hashes);
  const seen = new Set<string>();
  const out: { offset: number; size: number }[] = [];
  next.hashes.forEach((hash, k) => {
    if (have.has(hash) || seen.has(hash)) return;
    seen.add(hash);
    out.push({ offset: next.offsets[k]!, size: next.sizes[k]! });
  });
  return out;
}

interface Compressed {
  raw: number;
  zstd3: number;
  zstd19: number;
  brotli: number;
  seconds: { zstd3: number; zstd19: number; brotli: number };
}

async function compressChunks(file: string, chunks: { offset: number; size: number }[], work: string): Promise<Compressed> {
  const dir = path.join(work, `chunks-${randomBytes(4).toString('hex')}`);
  await mkdir(dir);
  const handle = await open(file, 'r');
  const names: string[] = [];
  let raw = 0;
  let brotli = 0;
  let brotliSeconds = 0;
  try {
    for (const [k, chunk] of chunks.entries()) {
      const data = Buffer.alloc(chunk.size);
      await handle.read(data, 0, chunk.size, chunk.offset);
      raw += chunk.size;
      const start = process.hrtime.bigint();
      const packed = brotliCompressSync(data, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: chunk.size } });
      brotliSeconds += Number(process.hrtime.bigint() - start) / 1e9;
      brotli += Math.min(packed.length, chunk.size);
      const name = path.join(dir, String(k));
      await writeFile(name, data);
      names.push(name);
    }
  } finally {
    await handle.close();
  }
  await writeFile(path.join(dir, 'list'), names.join('\n'));
  const zstd = async (level: number): Promise<{ bytes: number; seconds: number }> => {
    await mkdir(path.join(dir, `z${level}`)); // zstd 1.5.4 segfaults when --output-dir-flat does not exist
    const start = process.hrtime.bigint();
    await execa('zstd', [`-${level}`, '-q', '-f', '-k', '--filelist', path.join(dir, 'list'), '--output-dir-flat', path.join(dir, `z${level}`)]);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    let bytes = 0;
    for (const [k, chunk] of chunks.entries()) {
      const packed = (await stat(path.join(dir, `z${level}`, `${k}.zst`))).size;
      bytes += Math.min(packed, chunk.size);
    }
    return { bytes, seconds };
  };
  const z3 = await zstd(3);
  const z19 = await zstd(19);
  await rm(dir, { recursive: true, force: true });
  return { raw, zstd3: z3.bytes, zstd19: z19.bytes, brotli, seconds: { zstd3: z3.seconds, zstd19: z19.seconds, brotli: brotliSeconds } };
}

/** The chunk ids of a casync blob index (.caibx): a 48-byte index header, a 16-byte table header, then
 * 40-byte items (end offset u64, chunk id 32 bytes), ended by a tail whose first word is 0. */
async function caibxChunks(file: string): Promise<string[]> {
  const data = await readFile(file);
  const ids: string[] = [];
  for (let at = 48 + 16; at + 40 <= data.length; at += 40) {
    if (data.readBigUInt64LE(at) === 0n) break;
    ids.push(data.subarray(at + 8, at + 40).toString('hex'));
  }
  return ids;
}

async function casync(v1: string, v2: string, work: string): Promise<{ bytes: number; chunks: number; compression: string }> {
  const store = path.join(work, `castr-${randomBytes(4).toString('hex')}`);
  const i1 = path.join(work, 'v1.caibx');
  const i2 = path.join(work, 'v2.caibx');
  await execa('casync', ['make', `--store=${store}`, i1, v1]);
  await execa('casync', ['make', `--store=${store}`, i2, v2]);
  const have = new Set(await caibxChunks(i1));
  const need = [...new Set(await caibxChunks(i2))].filter((id) => !have.has(id));
  let bytes = 0;
  let compression = '?';
  for (const id of need) {
    const file = path.join(store, id.slice(0, 4), `${id}.cacnk`);
    bytes += (await stat(file)).size;
    if (compression === '?') {
      const magic = (await readFile(file)).subarray(0, 4).toString('hex');
      compression = magic === '28b52ffd' ? 'zstd' : magic.startsWith('fd377a58') ? 'xz' : magic.startsWith('1f8b') ? 'gzip' : magic;
    }
  }
  await rm(store, { recursive: true, force: true });
  return { bytes, chunks: need.length, compression };
}

async function xdelta(v1: string, v2: string, work: string, window?: number): Promise<number> {
  const out = path.join(work, 'delta.vcdiff');
  await execa('xdelta3', ['-9', '-e', '-f', ...(window === undefined ? [] : ['-B', String(window)]), '-s', v1, v2, out]);
  const size = (await stat(out)).size;
  await rm(out);
  return size;
}

async function chunkInChild(script: string, image: string, avg: number, work: string): Promise<{ list: ChunkList; result: ChunkChildResult }> {
  const out = path.join(work, 'chunks.json');
  const run = await execa(process.execPath, [script, image, String(avg), out]);
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as ChunkChildResult;
  const list = JSON.parse(await readFile(out, 'utf8')) as ChunkList;
  await rm(out);
  return { list, result };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;

interface Column {
  rows: Map<string, number>;
  whole: number;
  perf: string[];
  installs: InstallMeasure;
}

async function measure(name: string, v1: string, v2: string, script: string, work: string): Promise<Column> {
  const rows = new Map<string, number>();
  const perf: string[] = [];
  const whole = (await stat(v2)).size;
  rows.set('whole v2 image', whole);
  process.stdout.write(`[${name}] zstd -19 of the whole image ...\n`);
  await execa('zstd', ['-19', '-T2', '-q', '-f', '-k', v2, '-o', path.join(work, 'whole.zst')]);
  rows.set('whole v2 image, zstd -19', (await stat(path.join(work, 'whole.zst'))).size);
  await rm(path.join(work, 'whole.zst'));
  process.stdout.write(`[${name}] fixed 1 MiB chunks ...\n`);
  const fixedMissing = missing(await fixedChunks(v1, MiB), await fixedChunks(v2, MiB));
  rows.set('fixed 1 MiB chunks (format 1 chunking), raw', fixedMissing.reduce((a, c) => a + c.size, 0));
  for (const avg of CDC_AVGS) {
    process.stdout.write(`[${name}] FastCDC avg ${avg / KiB} KiB ...\n`);
    const a = await chunkInChild(script, v1, avg, work);
    const b = await chunkInChild(script, v2, avg, work);
    const need = missing(a.list, b.list);
    const packed = await compressChunks(v2, need, work);
    const label = `FastCDC avg ${avg / KiB} KiB`;
    rows.set(`${label}, raw`, packed.raw);
    rows.set(`${label}, zstd -3 per chunk`, packed.zstd3);
    rows.set(`${label}, zstd -19 per chunk`, packed.zstd19);
    rows.set(`${label}, brotli 11 per chunk`, packed.brotli);
    const r = b.result;
    const rate = (bytes: number, seconds: number): string => `${(bytes / MiB / seconds).toFixed(1)} MiB/s`;
    perf.push(
      `| ${name} | ${avg / KiB} KiB | ${r.chunks} | ${need.length} | ${rate(r.bytes, r.seconds)} | ${r.baseRssMiB.toFixed(0)} / ${r.maxRssMiB.toFixed(0)} MiB ` +
        `| ${rate(packed.raw, packed.seconds.zstd3)} / ${rate(packed.raw, packed.seconds.zstd19)} / ${rate(packed.raw, packed.seconds.brotli)} |`,
    );
  }
  process.stdout.write(`[${name}] casync ...\n`);
  const ca = await casync(v1, v2, work);
  rows.set('casync make (its default 64 KiB avg), chunk files as stored', ca.bytes);
  perf.push(`casync (${name}): ${ca.chunks} chunk files needed, stored as ${ca.compression}`);
  process.stdout.write(`[${name}] xdelta3 ...\n`);
  rows.set('xdelta3 -9 -e -s v1 v2', await xdelta(v1, v2, work));
  const window = 2 ** Math.ceil(Math.log2((await stat(v1)).size));
  rows.set('xdelta3 -9 -B (v1 size rounded up to a power of 2)', await xdelta(v1, v2, work, window));
  const installs = await measureInstalls(name, v1, v2, work);
  rows.set('format 1 bundle (a host downloads it whole)', installs.format1Bytes);
  rows.set('format 2 bundle, whole (a full install)', installs.format2Bytes);
  const delta = installs.runs.find((r) => r.label.startsWith('delta'));
  rows.set('format 2 delta install: bytes the server sent (measured, head and index included)', delta?.served ?? Number.NaN);
  return { rows, whole, perf, installs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { keep: { type: 'string' } } });
  const work = values.keep ?? (await mkdtemp(path.join(tmpdir(), 'abupdate-bench-delta-')));
  await mkdir(work, { recursive: true });
  try {
    const script = path.join(work, 'delta-chunk-child.mjs');
    await build({ entryPoints: [path.join(HERE, 'delta-chunk-child.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: script, logLevel: 'warning',
      // tweetnacl (reached through verify/manifest.ts) is CommonJS and require()s node:crypto: give the ESM bundle a require.
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });
    const base = await candidates(BASE);
    const baseDebs = await fetchDebs(BASE.map((name) => ({ name, version: base.get(name)! })));
    const v1Debs = await fetchDebs(CHANGED.map((c) => ({ name: c.name, version: c.v1 })));
    const v2Debs = await fetchDebs(CHANGED.map((c) => ({ name: c.name, version: c.v2 })));
    const t1 = path.join(work, 'tree-v1');
    const t2 = path.join(work, 'tree-v2');
    await rm(t1, { recursive: true, force: true });
    await rm(t2, { recursive: true, force: true });
    process.stdout.write(`unpacking ${baseDebs.length} base packages + ${CHANGED.length} changed ones, twice ...\n`);
    await buildTree(t1, [...baseDebs, ...v1Debs]);
    await buildTree(t2, [...baseDebs, ...v2Debs]);
    const treeBytes = Math.max(await duBytes(t1), await duBytes(t2));
    const ext4Size = Math.ceil((treeBytes * 1.2 + 16 * MiB) / MiB) * MiB;
    const img = (n: string): string => path.join(work, n);
    process.stdout.write('building ext4 and squashfs images ...\n');
    await mkExt4(t1, img('v1.ext4'), ext4Size);
    await mkExt4(t2, img('v2.ext4'), ext4Size);
    await mkSquashfs(t1, img('v1.squashfs'));
    await mkSquashfs(t2, img('v2.squashfs'));
    const ext4 = await measure('ext4', img('v1.ext4'), img('v2.ext4'), script, work);
    const squash = await measure('squashfs', img('v1.squashfs'), img('v2.squashfs'), script, work);

    const lines: string[] = [];
    lines.push(`bench:delta ${new Date().toISOString()}, node ${process.version}`);
    lines.push(`base: ${BASE.length} packages at this machine's candidate versions (files in ${baseDebs.length} .debs), unpacked ${mb(treeBytes)}`);
    lines.push(`update v1 -> v2: ${CHANGED.map((c) => `${c.name} ${c.v1} -> ${c.v2}`).join(', ')}`);
    lines.push(`ext4: mkfs.ext4 -b 4096 -d, ${mb(ext4.whole)} image, fixed UUID/hash seed/time; squashfs: mksquashfs -comp zstd -b 1M, ${mb(squash.whole)} (v2)`);
    lines.push('');
    lines.push('bytes a v1 host downloads to get v2 (distinct missing chunks; % of the whole v2 image):');
    lines.push('');
    lines.push('| method | ext4 | squashfs |');
    lines.push('|---|---|---|');
    for (const [label, bytes] of ext4.rows) {
      const other = squash.rows.get(label) ?? Number.NaN;
      const cell = (n: number, whole: number): string => `${mb(n)} (${((100 * n) / whole).toFixed(1)} %)`;
      lines.push(`| ${label} | ${cell(bytes, ext4.whole)} | ${cell(other, squash.whole)} |`);
    }
    lines.push('');
    lines.push('chunker (v2 image, 1 MiB reads, plain node on an esbuild bundle) and per-chunk compression speed of the missing chunks:');
    lines.push('');
    lines.push('| image | avg | chunks | missing | FastCDC+SHA-256 | RSS before / peak | zstd -3 / zstd -19 / brotli 11 |');
    lines.push('|---|---|---|---|---|---|---|');
    const table = (p: string[]): string[] => p.filter((l) => l.startsWith('|'));
    const notes = (p: string[]): string[] => p.filter((l) => !l.startsWith('|'));
    lines.push(...table(ext4.perf), ...table(squash.perf), '', ...notes(ext4.perf), ...notes(squash.perf));
    lines.push('');
    lines.push('installs of v2 by the engine over HTTP on 127.0.0.1 (node:http test server), into a sparse disk image, one run each:');
    lines.push('');
    lines.push('| image | install | wall | bytes served | reused from the host | wall / format 1 full (same link) |');
    lines.push('|---|---|---|---|---|---|');
    for (const [name, column] of [['ext4', ext4], ['squashfs', squash]] as const) {
      const base = column.installs.runs[0]?.seconds ?? Number.NaN;
      const pacedBase = column.installs.runs.find((r) => r.label.startsWith('100 Mbit/s'))?.seconds ?? Number.NaN;
      for (const r of column.installs.runs) {
        const ratio = r.seconds / (r.label.startsWith('100 Mbit/s') ? pacedBase : base);
        lines.push(`| ${name} | ${r.label} | ${r.seconds.toFixed(2)} s | ${mb(r.served)} | ${mb(r.reused)} | ${ratio.toFixed(2)} |`);
      }
      lines.push(`| ${name} | (bundle create: format 1 ${column.installs.createSeconds.format1.toFixed(1)} s, format 2 ${column.installs.createSeconds.format2.toFixed(1)} s) | | | | |`);
    }
    process.stdout.write(`\n${lines.join('\n')}\n`);
    await writeFile(path.join(work, 'result.md'), `${lines.join('\n')}\n`);
  } finally {
    if (values.keep === undefined) await rm(work, { recursive: true, force: true });
  }
}

await main();
