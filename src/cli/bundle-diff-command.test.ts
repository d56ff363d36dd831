// Tests of `abupdate bundle create --format 2` and `abupdate bundle diff` against an image, an older bundle and a slot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/tmp.js';
import { runCli } from '../../fixtures/cli.js';
import { layeredImage, makeKeys } from '../../fixtures/bundle.js';
import { makeSlotDisk } from '../../fixtures/disk.js';

const SIZE = 2 * 1024 * 1024 + 333;

test('bundle create --format 2 writes a bundle bundle info verifies; bundle diff from the older image, bundle and slot agree on what a host downloads', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k');
  const v1 = layeredImage(SIZE, 'cli');
  const v2 = layeredImage(SIZE, 'cli', 'v2');
  await writeFile(path.join(dir, 'v1.img'), v1);
  await writeFile(path.join(dir, 'v2.img'), v2);
  const create = (version: string, image: string, out: string, extra: string[] = []) =>
    runCli(['bundle', 'create', '--image', path.join(dir, image), '--version', version, '--key', keys.privatePath, '--out', path.join(dir, out), '--compatible', 'box', '--format', '2', '--zstd-level', '3', '--json', ...extra]);
  const made = await create('2.0.0', 'v2.img', 'v2.tar');
  assert.equal(made.code, 0, made.stderr);
  const created = made.json();
  assert.equal(created.manifest.format, 2);
  assert.equal(created.manifest.image.packed.chunking.avg, 16384);
  assert.ok(created.stored.compressedChunks > 0);
  assert.equal((await create('1.0.0', 'v1.img', 'v1.tar')).code, 0);
  const fixed = await runCli(['bundle', 'create', '--image', path.join(dir, 'v1.img'), '--version', '1.0.0', '--key', keys.privatePath, '--out', path.join(dir, 'v1-f1.tar'), '--compatible', 'box']);
  assert.equal(fixed.code, 0, fixed.stderr);
  const info = await runCli(['bundle', 'info', path.join(dir, 'v2.tar'), '--keyring', dir, '--json']);
  assert.equal(info.code, 0, info.stdout);
  assert.equal(info.json().content.verifiedChunks, created.manifest.image.chunkCount);

  const diff = async (from: string, extra: string[] = []) => {
    const r = await runCli(['bundle', 'diff', '--from', from, path.join(dir, 'v2.tar'), '--keyring', dir, '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return r.json();
  };
  const fromImage = await diff(path.join(dir, 'v1.img'));
  assert.equal(fromImage.how, 'scanned');
  assert.ok(fromImage.localChunks > fromImage.chunks / 2 && fromImage.localChunks < fromImage.chunks, `${fromImage.localChunks} of ${fromImage.chunks} chunks are in v1`);
  assert.ok(fromImage.download.total < fromImage.bundleSize / 2);
  assert.equal(fromImage.download.total, fromImage.download.head + fromImage.download.chunks + fromImage.download.tail);
  const fromBundle = await diff(path.join(dir, 'v1.tar'));
  assert.equal(fromBundle.how, 'index');
  const fromFormat1 = await diff(path.join(dir, 'v1-f1.tar'));
  assert.equal(fromFormat1.how, 'scanned');
  for (const other of [fromBundle, fromFormat1]) assert.deepEqual(other.download, fromImage.download, 'the same download from the image, its bundle and a format 1 bundle of it');
  const fromItself = await diff(path.join(dir, 'v2.img'));
  assert.equal(fromItself.download.chunks, 0, 'a host holding v2 fetches no chunk');

  // A slot of a disk: slot A holds v1.
  const disk = await makeSlotDisk(dir, { sizeMiB: 32, slotSizeMiB: 8 });
  const handle = await open(disk.path, 'r+');
  await handle.write(v1, 0, v1.length, disk.slots.A.offset);
  await handle.close();
  const fromSlot = await diff('A', ['--disk', disk.path, '--booted', 'A', '--state-dir', path.join(dir, 'state')]);
  assert.equal(fromSlot.how, 'scanned');
  assert.ok(fromSlot.download.chunks <= fromImage.download.chunks, 'the slot has at least what the image has');

  const human = await runCli(['bundle', 'diff', '--from', path.join(dir, 'v1.img'), path.join(dir, 'v2.tar'), '--keyring', dir]);
  assert.match(human.stdout, /downloads .* to install 2\.0\.0/);
  assert.match(human.stdout, /reused +\d+ chunks/);
  const usage = await runCli(['bundle', 'diff', path.join(dir, 'v2.tar')]);
  assert.equal(usage.code, 2);
  const mixed = await runCli(['bundle', 'create', '--image', path.join(dir, 'v1.img'), '--version', '1.0.0', '--key', keys.privatePath, '--out', path.join(dir, 'x.tar'), '--compatible', 'box', '--avg-chunk', '32768']);
  assert.equal(mixed.code, 2, 'format 2 options need --format 2');
  assert.match(mixed.stderr, /--avg-chunk needs --format 2/);
});
