// Tests of Ed25519 keys and signatures, cross-checked with Node's crypto and openssl; the key file format.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { generateKeyPair, keyIdOf, parsePublicKey, publicKeyFromBytes, readPrivateKey, readPublicKey, writeKeyPair } from './keys.js';
import { keyringOf } from './keyring.js';
import { signDetached, verifyDetached } from './signature.js';

function nodePublicKey(raw: Uint8Array) {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

test('signDetached() signatures verify with Node crypto.verify(null, ...) and Node-made signatures verify with verifyDetached()', () => {
  const key = generateKeyPair();
  const message = Buffer.from('{"format":1,"version":"1.0.0"}\n');
  const signature = signDetached(message, key);
  assert.equal(signature.length, 64);
  assert.equal(nodeVerify(null, message, nodePublicKey(key.publicKey.bytes), signature), true);
  assert.equal(nodeVerify(null, Buffer.from('{"format":1,"version":"1.0.1"}\n'), nodePublicKey(key.publicKey.bytes), signature), false);

  const node = generateKeyPairSync('ed25519');
  const raw = Buffer.from(node.publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const nodeSignature = nodeSign(null, message, node.privateKey);
  const ours = publicKeyFromBytes(raw);
  assert.deepEqual(verifyDetached(message, nodeSignature, keyringOf([ours])), { keyId: ours.keyId });
  assert.throws(() => verifyDetached(Buffer.concat([message, Buffer.from(' ')]), nodeSignature, keyringOf([ours])), { code: 'ERR_SIGNATURE' });
});

test('keyIdOf() is the first 16 hex digits of SHA-256 over the raw public key', () => {
  const key = generateKeyPair();
  assert.equal(key.keyId, createHash('sha256').update(key.publicKey.bytes).digest('hex').slice(0, 16));
  assert.equal(keyIdOf(key.publicKey), key.keyId);
  assert.match(key.keyId, /^[0-9a-f]{16}$/);
});

test('writeKeyPair() writes PREFIX.key (0600) and PREFIX.pub in the documented text format, and openssl reads the public key', async (t) => {
  const dir = await makeTempDir(t);
  const key = generateKeyPair();
  const { privatePath, publicPath } = await writeKeyPair(path.join(dir, 'release'), key);
  assert.equal((await stat(privatePath)).mode & 0o777, 0o600);
  const pubText = await readFile(publicPath, 'utf8');
  assert.match(pubText, new RegExp(`^# abupdate Ed25519 public key, key id ${key.keyId}\\ned25519-public [A-Za-z0-9+/]{43}=\\n$`));
  assert.match(await readFile(privatePath, 'utf8'), /\ned25519-seed [A-Za-z0-9+/]{43}=\n$/);
  assert.deepEqual((await readPrivateKey(privatePath)).secretKey, key.secretKey);
  assert.deepEqual((await readPublicKey(publicPath)).bytes, key.publicKey.bytes);
  // The documented SPKI conversion: 12-byte DER prefix + the raw key, which openssl accepts as an Ed25519 key.
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.publicKey.bytes)]);
  await writeFile(path.join(dir, 'pub.der'), der);
  const shown = await execa('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', path.join(dir, 'pub.der'), '-noout', '-text']);
  assert.match(shown.stdout, /ED25519 Public-Key/);
  await assert.rejects(writeKeyPair(path.join(dir, 'release'), generateKeyPair()), { code: 'ERR_IO' });
});

test('parsePublicKey() refuses malformed key files with ERR_KEY_FORMAT', () => {
  const good = Buffer.alloc(32, 1).toString('base64');
  assert.equal(parsePublicKey(`# comment\n\ned25519-public ${good}\n`).bytes.length, 32);
  for (const text of ['', `ed25519-seed ${good}`, `ed25519-public ${Buffer.alloc(31).toString('base64')}`, `ed25519-public ${good}\ned25519-public ${good}`, `ed25519-public ${good} extra`, 'ed25519-public !!!!']) {
    assert.throws(() => parsePublicKey(text), { code: 'ERR_KEY_FORMAT' }, JSON.stringify(text));
  }
});
