// Tests of the cpio newc writer against GNU cpio, the tool that reads the same format as the kernel.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { execa } from 'execa';
import { makeTempDir } from '../../fixtures/tmp.js';
import { writeCpio, writeCpioGzip } from './cpio.js';

test('writeCpio() writes directories, files, symlinks and device nodes that GNU cpio lists with their modes', async (t) => {
  const dir = await makeTempDir(t);
  const archive = path.join(dir, 'a.cpio');
  await writeFile(
    archive,
    writeCpio([
      { type: 'dir', path: '/bin' },
      { type: 'file', path: '/bin/tool', data: Buffer.from('#!/bin/sh\necho padded\n'), mode: 0o755 },
      { type: 'symlink', path: '/bin/sh', target: 'busybox' },
      { type: 'dir', path: '/dev' },
      { type: 'chardev', path: '/dev/console', major: 5, minor: 1 },
    ]),
  );
  const listing = (await execa('cpio', ['-t', '-v', '--quiet', '-F', archive])).stdout.split('\n');
  assert.equal(listing.length, 5);
  assert.match(listing[0] ?? '', /^drwxr-xr-x .* bin$/);
  assert.match(listing[1] ?? '', /^-rwxr-xr-x .* 22 .* bin\/tool$/);
  assert.match(listing[2] ?? '', /^lrwxrwxrwx .* bin\/sh -> busybox$/);
  assert.match(listing[4] ?? '', /^crw------- .* 5,\s+1 .* dev\/console$/);
  const extracted = await execa('cpio', ['-i', '--to-stdout', '--quiet', '-F', archive, 'bin/tool']);
  assert.equal(extracted.stdout, '#!/bin/sh\necho padded');
});

test('writeCpioGzip() is the same archive, gzip-compressed, ending with the TRAILER!!! entry', () => {
  const entries = [{ type: 'file' as const, path: '/init', data: Buffer.from('x') }];
  const plain = writeCpio(entries);
  assert.deepEqual(gunzipSync(writeCpioGzip(entries)), plain);
  assert.ok(plain.includes(Buffer.from('TRAILER!!!\0')));
  assert.equal(plain.length % 4, 0);
});
