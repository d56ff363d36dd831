// Tests of the keyring: several trusted keys for rotation, revoked.list, unknown signers, malformed files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../fixtures/tmp.js';
import { makeKeys } from '../fixtures/bundle.js';
import { loadKeyring } from './keyring.js';
import { signDetached, verifyDetached } from './signature.js';

test('loadKeyring() trusts every *.pub in several dirs, so an old and a new key both verify during rotation', async (t) => {
  const dir = await makeTempDir(t);
  const etc = path.join(dir, 'etc');
  const usr = path.join(dir, 'usr');
  await mkdir(etc);
  await mkdir(usr);
  const old = await makeKeys(usr, 'old');
  const next = await makeKeys(etc, 'new');
  await writeFile(path.join(etc, 'notes.txt'), 'not a key');
  const keyring = await loadKeyring([etc, usr, path.join(dir, 'missing')]);
  assert.deepEqual(keyring.keys.map((k) => k.keyId).sort(), [old.keyId, next.keyId].sort());
  const message = Buffer.from('channel index');
  assert.deepEqual(verifyDetached(message, signDetached(message, old.privateKey), keyring), { keyId: old.keyId });
  assert.deepEqual(verifyDetached(message, signDetached(message, next.privateKey), keyring), { keyId: next.keyId });
});

test('loadKeyring() drops keys named in revoked.list: their signatures fail with ERR_KEY_REVOKED', async (t) => {
  const dir = await makeTempDir(t);
  const old = await makeKeys(dir, 'old');
  const next = await makeKeys(dir, 'new');
  await writeFile(path.join(dir, 'revoked.list'), `# leaked 2026-03-01\n${old.keyId}  # old build server\n\n`);
  const keyring = await loadKeyring([dir]);
  assert.deepEqual(keyring.keys.map((k) => k.keyId), [next.keyId]);
  assert.ok(keyring.revoked.has(old.keyId));
  const message = Buffer.from('manifest');
  assert.throws(() => verifyDetached(message, signDetached(message, old.privateKey), keyring), { code: 'ERR_KEY_REVOKED' });
  assert.deepEqual(verifyDetached(message, signDetached(message, next.privateKey), keyring), { keyId: next.keyId });

  const byOption = await loadKeyring([dir], { revoked: [next.keyId] });
  assert.equal(byOption.keys.length, 0);
  assert.throws(() => verifyDetached(message, signDetached(message, next.privateKey), byOption), { code: 'ERR_KEY_REVOKED' });
});

test('verifyDetached() names an unknown signer with ERR_KEY_UNKNOWN when the content says which key it expects', async (t) => {
  const dir = await makeTempDir(t);
  const trusted = await makeKeys(path.join(dir), 'trusted');
  const stranger = await makeKeys(await makeTempDir(t), 'stranger');
  const keyring = await loadKeyring([dir]);
  const message = Buffer.from('x');
  const signature = signDetached(message, stranger.privateKey);
  assert.throws(() => verifyDetached(message, signature, keyring, { expectedKeyId: stranger.keyId }), (error: { code?: string; message?: string }) => {
    assert.equal(error.code, 'ERR_KEY_UNKNOWN');
    assert.ok(error.message?.includes(stranger.keyId));
    return true;
  });
  assert.throws(() => verifyDetached(message, signature, keyring), { code: 'ERR_SIGNATURE' });
  assert.throws(() => verifyDetached(message, signature.subarray(0, 63), keyring), { code: 'ERR_SIGNATURE' });
  assert.equal(keyring.keys[0]?.keyId, trusted.keyId);
});

test('loadKeyring() refuses a malformed revocation list or key file with ERR_KEY_FORMAT', async (t) => {
  const dir = await makeTempDir(t);
  await makeKeys(dir, 'k');
  await writeFile(path.join(dir, 'revoked.list'), 'not-a-key-id\n');
  await assert.rejects(loadKeyring([dir]), { code: 'ERR_KEY_FORMAT' });
  const other = await makeTempDir(t);
  await writeFile(path.join(other, 'broken.pub'), 'ed25519-public AAAA\n');
  await assert.rejects(loadKeyring([other]), { code: 'ERR_KEY_FORMAT' });
});
