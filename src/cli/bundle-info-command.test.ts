// Tests of `abupdate bundle info`: the 64 MiB CLI round trip, failure reports, a bundle over HTTP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from '../../fixtures/tmp.js';
import { runCli } from '../../fixtures/cli.js';
import { makeBundle, makeImage, makeKeys } from '../../fixtures/bundle.js';

const MiB = 1024 * 1024;

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(file)) hash.update(piece as Buffer);
  return hash.digest('hex');
}

test('abupdate keygen, bundle create and bundle info round-trip a random 64 MiB image; the extracted image is byte-identical', async (t) => {
  const dir = await makeTempDir(t);
  const keys = path.join(dir, 'keys.d');
  await mkdir(keys);
  assert.equal((await runCli(['keygen', '--out', path.join(keys, 'release')])).code, 0);
  const image = await makeImage(path.join(dir, 'rootfs.img'), 64 * MiB, 'cli-round-trip');
  const bundle = path.join(dir, 'os-1.4.0.tar');
  const created = await runCli(['bundle', 'create', '--image', image, '--version', '1.4.0', '--key', path.join(keys, 'release.key'), '--out', bundle, '--compatible', 'acme-box-x86', '--expires', '2099-01-01', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const made = created.json<{ size: number; keyId: string; imageOffset: number; manifest: { image: { chunkCount: number }; expires: string } }>();
  assert.equal(made.manifest.image.chunkCount, 64);
  assert.equal(made.manifest.expires, '2099-01-01T00:00:00Z');
  assert.equal((await stat(bundle)).size, made.size);

  const info = await runCli(['bundle', 'info', bundle, '--keyring', keys, '--compatible', 'acme-box-x86', '--json']);
  assert.equal(info.code, 0, info.stdout + info.stderr);
  const report = info.json<{ ok: boolean; keyId: string; signature: { ok: boolean; keyId: string }; content: { ok: boolean; verifiedChunks: number }; policy: { ok: boolean } }>();
  assert.equal(report.ok, true);
  assert.equal(report.signature.keyId, made.keyId);
  assert.equal(report.content.verifiedChunks, 64);

  await execa('tar', ['--extract', '--file', bundle, '--directory', dir, 'image']);
  assert.equal(await sha256File(path.join(dir, 'image')), await sha256File(image));
  const human = await runCli(['bundle', 'info', bundle, '--keyring', keys]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, new RegExp(`signature   verified with key ${made.keyId}`));
  assert.match(human.stdout, /all 64 chunks and the image SHA-256 match\n/);
});

test('abupdate bundle info exits 1 and says why for an unknown key, a corrupted chunk and another compatible string', async (t) => {
  const dir = await makeTempDir(t);
  const signer = await makeKeys(dir, 'signer');
  const otherDir = path.join(dir, 'other');
  await mkdir(otherDir);
  await makeKeys(otherDir, 'other');
  const image = await makeImage(path.join(dir, 'image.raw'), 40_000, 2);
  const { path: bundle, layout } = await makeBundle(dir, { image, version: '1.0.0', compatible: 'box', key: signer, chunkSize: 8192 });

  const unknown = await runCli(['bundle', 'info', bundle, '--keyring', otherDir, '--json']);
  assert.equal(unknown.code, 1);
  const u = unknown.json<{ ok: boolean; signature: { ok: boolean; error: { code: string } }; content: { ok: boolean } }>();
  assert.equal(u.signature.error.code, 'ERR_KEY_UNKNOWN');
  assert.equal(u.content.ok, true, 'the chunks themselves are intact');

  const incompatible = await runCli(['bundle', 'info', bundle, '--keyring', dir, '--compatible', 'other-box', '--json']);
  assert.equal(incompatible.code, 1);
  assert.equal(incompatible.json<{ policy: { error: { code: string } } }>().policy.error.code, 'ERR_INCOMPATIBLE');

  const bytes = await readFile(bundle);
  const chunk3 = layout.chunks[3]?.bundleOffset ?? 0;
  bytes[chunk3 + 5] = (bytes[chunk3 + 5] ?? 0) ^ 1;
  const corrupt = path.join(dir, 'corrupt.tar');
  await writeFile(corrupt, bytes);
  const bad = await runCli(['bundle', 'info', corrupt, '--keyring', dir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /content {5}FAILED: Cannot accept chunk 3 .*\[ERR_CHUNK_HASH\]/);

  const notTar = path.join(dir, 'not.tar');
  await writeFile(notTar, Buffer.alloc(4096, 0x41));
  const garbage = await runCli(['bundle', 'info', notTar, '--keyring', dir]);
  assert.equal(garbage.code, 1);
  assert.match(garbage.stderr, /\[ERR_BUNDLE_TAR\]/);
});

test('abupdate bundle info URL reads the bundle over HTTP and verifies it like a file', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k');
  const image = await makeImage(path.join(dir, 'image.raw'), 3 * MiB + 5, 'http');
  const { path: bundle } = await makeBundle(dir, { image, version: '2.1.0', compatible: 'box', key: keys });
  const body = await readFile(bundle);
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': body.length });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/os-2.1.0.tar`;
  const info = await runCli(['bundle', 'info', url, '--keyring', dir, '--compatible', 'box', '--json']);
  assert.equal(info.code, 0, info.stdout + info.stderr);
  const report = info.json<{ ok: boolean; manifest: { version: string }; content: { verifiedChunks: number } }>();
  assert.equal(report.manifest.version, '2.1.0');
  assert.equal(report.content.verifiedChunks, 4);
});
