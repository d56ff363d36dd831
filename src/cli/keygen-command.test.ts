// Tests of `abupdate keygen`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/tmp.js';
import { runCli } from '../../fixtures/cli.js';
import { readPrivateKey, readPublicKey } from '../../verify/keys.js';

test('abupdate keygen --out PREFIX writes a matching key pair and prints its key id', async (t) => {
  const dir = await makeTempDir(t);
  const prefix = path.join(dir, 'release');
  const result = await runCli(['keygen', '--out', prefix, '--json']);
  assert.equal(result.code, 0, result.stderr);
  const out = result.json<{ keyId: string; privateKey: string; publicKey: string }>();
  assert.equal(out.privateKey, `${prefix}.key`);
  assert.equal(out.publicKey, `${prefix}.pub`);
  const privateKey = await readPrivateKey(out.privateKey);
  const publicKey = await readPublicKey(out.publicKey);
  assert.equal(privateKey.keyId, out.keyId);
  assert.deepEqual(privateKey.publicKey.bytes, publicKey.bytes);
  assert.equal((await stat(out.privateKey)).mode & 0o077, 0, 'private key readable by its owner only');
  assert.ok((await readFile(out.publicKey, 'utf8')).includes(out.keyId));

  const human = await runCli(['keygen', '--out', path.join(dir, 'second')]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /key id [0-9a-f]{16}/);
});

test('abupdate keygen refuses to overwrite a key (ERR_IO, exit 1) and needs --out (exit 2)', async (t) => {
  const dir = await makeTempDir(t);
  const prefix = path.join(dir, 'k');
  assert.equal((await runCli(['keygen', '--out', prefix])).code, 0);
  const before = await readFile(`${prefix}.key`, 'utf8');
  const again = await runCli(['keygen', '--out', prefix]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /\[ERR_IO\]/);
  assert.equal(await readFile(`${prefix}.key`, 'utf8'), before);
  const missing = await runCli(['keygen']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--out is required/);
});
