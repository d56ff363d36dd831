// Tests of the kernel module ordering the initramfs relies on (busybox insmod does not resolve dependencies).

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { makeTempDir } from '../../fixtures/tmp.js';
import { isUpdaterError } from '../../common/errors.js';
import { readModuleDepends, resolveModules } from './kernel-modules.js';

/** A stand-in .ko: only its .modinfo strings matter to the resolver. */
async function fakeModule(dir: string, rel: string, depends: string): Promise<void> {
  const file = path.join(dir, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, Buffer.from(`\x7fELF\0license=GPL\0depends=${depends}\0name=${path.basename(rel, '.ko')}\0`));
}

test('readModuleDepends() reads the comma-separated depends= string of .modinfo', () => {
  assert.deepEqual(readModuleDepends(Buffer.from('\0license=GPL\0depends=jbd2,mbcache,crc16\0intree=Y\0')), ['jbd2', 'mbcache', 'crc16']);
  assert.deepEqual(readModuleDepends(Buffer.from('\0depends=\0')), []);
  assert.deepEqual(readModuleDepends(Buffer.from('no modinfo here')), []);
});

test('resolveModules() puts every dependency before its user, once, following file names with dashes', async (t) => {
  const dir = await makeTempDir(t);
  await fakeModule(dir, 'fs/ext4/ext4.ko', 'jbd2,mbcache,crc16');
  await fakeModule(dir, 'fs/jbd2/jbd2.ko', '');
  await fakeModule(dir, 'fs/mbcache.ko', '');
  await fakeModule(dir, 'lib/crc16.ko', '');
  await fakeModule(dir, 'drivers/virtio/virtio_ring.ko', '');
  await fakeModule(dir, 'drivers/virtio/virtio.ko', 'virtio_ring');
  await fakeModule(dir, 'drivers/block/virtio-blk.ko', 'virtio,virtio_ring');
  const order = (await resolveModules(dir, ['virtio_blk', 'ext4', 'virtio'])).map((m) => m.name);
  assert.deepEqual(order, ['virtio_ring', 'virtio', 'virtio_blk', 'jbd2', 'mbcache', 'crc16', 'ext4']);
});

test('resolveModules() refuses a missing module with ERR_IO and names who needed it', async (t) => {
  const dir = await makeTempDir(t);
  await fakeModule(dir, 'a.ko', 'b');
  await assert.rejects(resolveModules(dir, ['a']), (error) => {
    assert.ok(isUpdaterError(error, 'ERR_IO'));
    assert.deepEqual(error.data, { name: 'b', neededBy: ['a'] });
    return true;
  });
});
