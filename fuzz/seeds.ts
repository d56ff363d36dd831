// The seed corpus of every fuzz target, generated from the project's fixtures and real tools (createBundle,
// sgdisk and createGpt, grub-editenv, the test Omaha server, signChannelIndex, the shipped update.conf).

import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { imageBytes, layeredImage, makeBundle, makeImage } from '../fixtures/bundle.js';
import { assembleBundle, readBundleParts, signManifest, tarMember, TAR_END } from '../fixtures/hostile-tar.js';
import { PROJECT_ROOT } from '../fixtures/cli.js';
import { openDisk } from '../partition/disk.js';
import { createGpt } from '../partition/gpt.js';
import { encodeGptprio } from '../partition/gptprio.js';
import { COREOS_USR_TYPE_GUID, EFI_SYSTEM_TYPE_GUID, LINUX_DATA_TYPE_GUID } from '../partition/guid.js';
import { buildOmahaRequest, type OmahaClientInfo } from '../src/omaha/request.js';
import { startOmahaServer } from '../fixtures/omaha-server.js';
import { signChannelIndex } from '../verify/channel-index.js';
import { fuzzPrivateKey } from './fuzz-key.js';
import type { FuzzTargetName } from './targets.js';

type Seeds = Record<string, Buffer>;

async function bundleSeeds(work: string): Promise<{ bundles: Seeds; manifests: Seeds }> {
  const key = fuzzPrivateKey();
  const bundles: Seeds = {};
  const manifests: Seeds = {};
  const cases = [
    { name: 'two-chunks', size: 5000, chunkSize: 4096 },
    { name: 'one-chunk-expires', size: 4096, chunkSize: 4096, expires: '2030-01-01T00:00:00Z', minVersion: '1.0.0' },
    { name: 'three-chunks', size: 3 * 4096 + 700, chunkSize: 8192 },
  ];
  for (const c of cases) {
    const image = await makeImage(path.join(work, `${c.name}.raw`), c.size, c.name);
    const bundle = await makeBundle(work, {
      image, version: '1.2.3', compatible: 'abupdate-fuzz', key, chunkSize: c.chunkSize, created: new Date('2026-01-01T00:00:00Z'),
      ...(c.expires ? { expires: c.expires } : {}), ...(c.minVersion ? { minVersion: c.minVersion } : {}), name: `${c.name}.tar`,
    });
    bundles[c.name] = await readFile(bundle.path);
    manifests[c.name] = (await readBundleParts(bundle.path)).manifestBytes;
  }
  // format 2: content-defined chunks, the index member, zstd and raw chunks (a layered image compresses in parts)
  const layered = path.join(work, 'format2.raw');
  await writeFile(layered, layeredImage(24_000, 'fuzz'));
  const v2 = await makeBundle(work, { image: layered, version: '1.2.3', compatible: 'abupdate-fuzz', key, format: 2, zstdLevel: 3, created: new Date('2026-01-01T00:00:00Z'), name: 'format2.tar' });
  bundles['format2'] = await readFile(v2.path);
  manifests['format2'] = (await readBundleParts(v2.path)).manifestBytes;
  // hostile framings made with the fixtures' tar helpers: a duplicate member, a trailer, a bad signature
  const parts = await readBundleParts(path.join(work, 'two-chunks.tar'));
  bundles['trailing-data'] = assembleBundle(parts, { trailer: Buffer.concat([TAR_END, Buffer.from('junk')]) });
  bundles['duplicate-manifest'] = Buffer.concat([tarMember(parts.manifestBytes, { name: 'manifest.json' }), tarMember(parts.manifestBytes, { name: 'manifest.json' }), TAR_END]);
  bundles['zero-signature'] = assembleBundle({ ...parts, signature: Buffer.alloc(64) });
  const resigned = signManifest({ ...parts.manifest, version: '2.0.0-rc.1' }, key);
  bundles['resigned'] = assembleBundle({ ...parts, ...resigned });
  manifests['resigned'] = resigned.manifestBytes;
  return { bundles, manifests };
}

async function gptSeeds(work: string): Promise<Seeds> {
  const seeds: Seeds = {};
  const a = encodeGptprio(0n, { priority: 1, tries: 0, successful: true });
  const b = encodeGptprio(0n, { priority: 2, tries: 1, successful: false });
  // sgdisk's own table: 128 entries, 100 sectors of 512 bytes (the real tool's layout, unaligned)
  const sg = path.join(work, 'sgdisk.img');
  await writeFile(sg, Buffer.alloc(100 * 512));
  await execa('sgdisk', ['-a', '1', '-o', '-n', '1:34:40', '-t', `1:${EFI_SYSTEM_TYPE_GUID}`, '-c', '1:EFI-SYSTEM',
    '-n', '2:41:50', '-t', `2:${COREOS_USR_TYPE_GUID}`, '-c', '2:USR-A', '-A', `2:=:${a.toString(16)}`,
    '-n', '3:51:60', '-t', `3:${COREOS_USR_TYPE_GUID}`, '-c', '3:USR-B', '-A', `3:=:${b.toString(16)}`, sg]);
  // the first byte of a gpt input is the target's CRC fix-up flags: seeds come as they are (0) and fixed (3)
  const withFlags = (flags: number, disk: Buffer) => Buffer.concat([Buffer.from([flags]), disk]);
  seeds['sgdisk-512'] = withFlags(0, await readFile(sg));
  // our writer: 4 entries (one-sector arrays), 512 and 4096-byte sectors, labelled and type-only slots
  for (const [name, sectorSize, sectors, labels] of [
    ['abupdate-512', 512, 24, ['USR-A', 'USR-B']],
    ['abupdate-4096', 4096, 16, ['USR-A', 'USR-B']],
    ['abupdate-512-unlabelled', 512, 24, ['', '']],
  ] as const) {
    const file = path.join(work, `${name}.img`);
    await writeFile(file, Buffer.alloc(sectors * sectorSize));
    const disk = await openDisk(file, { writable: true, sectorSize });
    try {
      const part = (number: number, typeGuid: string, label: string, first: number, last: number, attributes = 0n) => ({
        number, typeGuid, uniqueGuid: `00000000-0000-4000-8000-00000000000${number}`, firstLba: BigInt(first), lastLba: BigInt(last), attributes, name: label,
      });
      await createGpt(disk, {
        entryCount: 4,
        diskGuid: '11111111-2222-4333-8444-555555555555',
        partitions: [
          part(1, EFI_SYSTEM_TYPE_GUID, 'EFI-SYSTEM', 3, 4),
          part(2, COREOS_USR_TYPE_GUID, labels[0], 5, 7, a),
          part(3, COREOS_USR_TYPE_GUID, labels[1], 8, 10, b),
          part(4, LINUX_DATA_TYPE_GUID, 'STATE', 11, sectors - 4),
        ],
      });
    } finally {
      await disk.close();
    }
    seeds[name] = withFlags(name.endsWith('unlabelled') ? 0 : 3, await readFile(file));
  }
  return seeds;
}

async function grubenvSeeds(work: string): Promise<Seeds> {
  const seeds: Seeds = {};
  const file = path.join(work, 'grubenv');
  await execa('grub-editenv', [file, 'create']);
  seeds['empty'] = await readFile(file);
  await execa('grub-editenv', [file, 'set', 'ORDER=A B', 'A_OK=1', 'A_TRY=0', 'B_OK=0', 'B_TRY=1']);
  seeds['rauc-vars'] = await readFile(file);
  await execa('grub-editenv', [file, 'set', 'saved_entry=a\\b=c', 'next_entry=']);
  seeds['escapes'] = await readFile(file);
  return seeds;
}

async function omahaSeeds(): Promise<Seeds> {
  const seeds: Seeds = {};
  const server = await startOmahaServer({
    package: { version: '2.0.0', urlBase: 'http://127.0.0.1:9/pkgs', name: 'os-2.0.0.bundle', size: 67546213, sha256: Buffer.alloc(32, 7).toString('base64'), mirrors: ['https://mirror.example/pkgs/'] },
    pollInterval: 600,
  });
  try {
    const info: OmahaClientInfo = {
      appId: server.appId, version: '1.0.0', track: 'stable', alephVersion: '1.0.0', updaterVersion: 'abupdate-fuzz',
      machineId: '0123456789abcdef0123456789abcdef', bootId: '{11111111-2222-3333-4444-555555555555}', oem: '', oemVersion: '', board: 'amd64-usr',
    };
    const ask = async (name: string, version = '1.0.0') => {
      const body = buildOmahaRequest({ ...info, version }, { kind: 'updatecheck', interactive: false });
      const response = await fetch(server.url, { method: 'POST', body, headers: { 'content-type': 'text/xml' } });
      seeds[name] = Buffer.from(await response.arrayBuffer());
    };
    await ask('ok');
    await ask('noupdate', '3.0.0');
    server.setMode({ kind: 'app-status', status: 'error-unknownApplication' });
    await ask('app-status');
    server.setMode({ kind: 'updatecheck-status', status: 'error-internal' });
    await ask('updatecheck-status');
    server.setMode({ kind: 'malformed-xml' });
    await ask('malformed');
  } finally {
    await server.close();
  }
  return seeds;
}

async function updateConfSeeds(): Promise<Seeds> {
  const shipped = await readFile(path.join(PROJECT_ROOT, 'systemd/update.conf'));
  return {
    shipped,
    etc: Buffer.from('SERVER=https://nebraska.example/v1/update/\nGROUP="beta"\nREBOOT_STRATEGY=etcd-lock\nETCD_ENDPOINTS=http://127.0.0.1:2379\nREBOOT_WINDOW_START="Thu 04:00"\nREBOOT_WINDOW_LENGTH=1h\n'),
    quoting: Buffer.from("# comment\nexport GROUP='stable' \nSERVER=\"http://127.0.0.1:8080/\\\n\"\nCHECK_INTERVAL=10m\n"),
  };
}

function channelSeeds(): Seeds {
  const key = fuzzPrivateKey();
  const sha256 = createHash('sha256').update(imageBytes(100, 'x')).digest('hex');
  const seeds: Seeds = {};
  const fields = { channel: 'stable', version: '2.0.0', compatible: 'abupdate-fuzz', url: 'os-2.0.0.bundle', size: 4096, sha256, created: '2026-01-01T00:00:00Z' };
  seeds['relative-url'] = signChannelIndex(fields, key).bytes;
  seeds['absolute-url-expires'] = signChannelIndex({ ...fields, url: 'https://updates.example/stable/os-2.0.0.bundle', expires: '2030-01-01T00:00:00Z' }, key).bytes;
  return seeds;
}

/**
 * What node's own HTTP server puts on the wire (a Content-Length body, a chunked one, a 206, a redirect, a 100
 * Continue before a 200), read off a socket, and a chunked body with extensions and a trailer; each after one byte
 * that picks how the fuzz target cuts it into reads.
 */
async function httpResponseSeeds(): Promise<Seeds> {
  const { createServer } = await import('node:http');
  const { connect } = await import('node:net');
  const server = createServer((req, res) => {
    if (req.url === '/length') res.writeHead(200, { 'content-length': '11' }).end('hello world');
    else if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(300, 1));
      res.end(Buffer.alloc(5, 2));
    } else if (req.url === '/range') res.writeHead(206, { 'content-range': 'bytes 10-19/100', 'content-length': '10' }).end('0123456789');
    else if (req.url === '/continue') {
      res.writeContinue();
      res.writeHead(200, { 'content-length': '2' }).end('ok');
    } else res.writeHead(302, { location: '/length', 'content-length': '0' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const raw = (path: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      const socket = connect(port, '127.0.0.1', () => socket.end(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      socket.on('data', (part: Buffer) => parts.push(part));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(parts)));
    });
  const seeds: Seeds = {};
  try {
    for (const [i, path] of ['/length', '/chunked', '/range', '/continue', '/redirect'].entries()) {
      seeds[path.slice(1)] = Buffer.concat([Buffer.from([i * 7]), await raw(path)]);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  seeds['chunked-trailer'] = Buffer.from('\x03HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1A\r\n\r\n0\r\n\r\n0123456789abcdefghi\r\n0\r\nX-Sum: 1\r\n\r\n', 'latin1');
  seeds['to-close'] = Buffer.from('\x05HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until the close', 'latin1');
  return seeds;
}

/** Writes the seeds of TARGET into DIR (one file per seed, named by content hash like libFuzzer's). Returns the count. */
export async function writeSeedCorpus(target: FuzzTargetName, dir: string, work: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  await mkdir(work, { recursive: true });
  let seeds: Seeds;
  switch (target) {
    case 'bundle-head': seeds = (await bundleSeeds(work)).bundles; break;
    case 'manifest': seeds = (await bundleSeeds(work)).manifests; break;
    case 'gpt': seeds = await gptSeeds(work); break;
    case 'grubenv': seeds = await grubenvSeeds(work); break;
    case 'omaha-response': seeds = await omahaSeeds(); break;
    case 'update-conf': seeds = await updateConfSeeds(); break;
    case 'channel-index': seeds = channelSeeds(); break;
    case 'http-response': seeds = await httpResponseSeeds(); break;
  }
  for (const bytes of Object.values(seeds)) {
    await writeFile(path.join(dir, createHash('sha1').update(bytes).digest('hex')), bytes);
  }
  return Object.keys(seeds).length;
}
