// Tests of the signed channel index: sign, verify, and refusal of every tampering, wrong channel, expiry and unknown key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../common/errors.js';
import { makeKeys } from '../fixtures/bundle.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { parseChannelIndex, signChannelIndex, verifyChannelIndex } from './channel-index.js';
import { loadKeyring } from './keyring.js';

const FIELDS = {
  channel: 'stable',
  version: '2.0.0',
  compatible: 'acme-x86',
  url: 'os-2.0.0.bundle',
  size: 4096 * 3,
  sha256: 'ab'.repeat(32),
  created: '2026-11-25T21:00:00Z',
  expires: '2027-01-01T00:00:00Z',
};
const NOW = new Date('2026-11-26T00:00:00Z');

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'release', 'channel-index-test');
  const keyring = await loadKeyring([dir]);
  return { dir, keys, keyring };
}

test('signChannelIndex() output verifies with the keyring and reads back the same fields', async (t) => {
  const { keys, keyring } = await setup(t);
  const signed = signChannelIndex(FIELDS, keys.privateKey);
  assert.equal(signed.signature.length, 64);
  assert.ok(signed.bytes.toString('utf8').endsWith('}\n'));
  const { index, keyId } = verifyChannelIndex(signed.bytes, signed.signature, keyring, { channel: 'stable', now: NOW });
  assert.equal(keyId, keys.keyId);
  assert.deepEqual(index, { format: 1, ...FIELDS, keyId: keys.keyId });
  assert.deepEqual(parseChannelIndex(signed.bytes), index);
});

test('verifyChannelIndex() refuses an index whose bytes changed after signing (ERR_SIGNATURE), even by one byte', async (t) => {
  const { keys, keyring } = await setup(t);
  const signed = signChannelIndex(FIELDS, keys.privateKey);
  const tampered = Buffer.from(signed.bytes.toString('utf8').replace('"2.0.0"', '"9.0.0"'));
  assert.throws(() => verifyChannelIndex(tampered, signed.signature, keyring, { channel: 'stable', now: NOW }), (e: unknown) => isUpdaterError(e, 'ERR_SIGNATURE'));
  const flipped = Buffer.from(signed.bytes);
  flipped[10] = (flipped[10] ?? 0) ^ 1;
  assert.throws(() => verifyChannelIndex(flipped, signed.signature, keyring, { channel: 'stable', now: NOW }), (e: unknown) => isUpdaterError(e, 'ERR_SIGNATURE'));
  const badSig = Buffer.from(signed.signature);
  badSig[0] = (badSig[0] ?? 0) ^ 0x80;
  assert.throws(() => verifyChannelIndex(signed.bytes, badSig, keyring, { channel: 'stable', now: NOW }), (e: unknown) => isUpdaterError(e, 'ERR_SIGNATURE'));
  assert.throws(() => verifyChannelIndex(signed.bytes, signed.signature.subarray(0, 10), keyring, { channel: 'stable', now: NOW }), (e: unknown) => isUpdaterError(e, 'ERR_SIGNATURE'));
});

test('verifyChannelIndex() refuses an index signed by a key outside the keyring, and one signed by a revoked key', async (t) => {
  const { dir, keyring } = await setup(t);
  const otherDir = path.join(dir, 'other');
  await mkdir(otherDir);
  const stranger = await makeKeys(otherDir, 'stranger', 'stranger');
  const signed = signChannelIndex(FIELDS, stranger.privateKey);
  assert.throws(() => verifyChannelIndex(signed.bytes, signed.signature, keyring, { channel: 'stable', now: NOW }), (e: unknown) => isUpdaterError(e, 'ERR_SIGNATURE'));
  await writeFile(path.join(otherDir, 'revoked.list'), `${stranger.keyId}\n`);
  const revokedRing = await loadKeyring([otherDir]);
  assert.throws(() => verifyChannelIndex(signed.bytes, signed.signature, revokedRing, { channel: 'stable', now: NOW }), (e: unknown) => isUpdaterError(e, 'ERR_KEY_REVOKED'));
});

test('verifyChannelIndex() refuses a validly signed index for another channel (ERR_CHANNEL) and an expired one (ERR_EXPIRED)', async (t) => {
  const { keys, keyring } = await setup(t);
  const beta = signChannelIndex({ ...FIELDS, channel: 'beta' }, keys.privateKey);
  assert.throws(
    () => verifyChannelIndex(beta.bytes, beta.signature, keyring, { channel: 'stable', now: NOW }),
    (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL') && /is for channel "beta", this host follows "stable"/.test(e.message),
  );
  const signed = signChannelIndex(FIELDS, keys.privateKey);
  assert.throws(() => verifyChannelIndex(signed.bytes, signed.signature, keyring, { channel: 'stable', now: new Date('2027-02-01T00:00:00Z') }), (e: unknown) => isUpdaterError(e, 'ERR_EXPIRED'));
});

for (const [name, change] of [
  ['an unknown field', { extra: 1 }],
  ['a bad version', { version: 'v2' }],
  ['a hex sha256 in upper case', { sha256: 'AB'.repeat(32) }],
  ['a zero size', { size: 0 }],
  ['a bad created time', { created: 'yesterday' }],
  ['a URL with a space', { url: 'a b' }],
  ['format 2', { format: 2 }],
] as const) {
  test(`parseChannelIndex() refuses ${name} with ERR_CHANNEL`, () => {
    const bytes = Buffer.from(JSON.stringify({ format: 1, ...FIELDS, keyId: '0011223344556677', ...change }));
    assert.throws(() => parseChannelIndex(bytes), (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL') && /^Cannot accept channel index: field "/.test(e.message));
  });
}

test('parseChannelIndex() refuses non-JSON and oversized input', () => {
  assert.throws(() => parseChannelIndex(Buffer.from('<html>')), (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL') && /not JSON/.test(e.message));
  assert.throws(() => parseChannelIndex(Buffer.alloc(70 * 1024, 0x20)), (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL') && /more than 65536/.test(e.message));
});
