// Tests of checkPolicy(): compatible, expiry, downgrade, anti-rollback floor, minVersion.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Manifest } from './manifest.js';
import { checkPolicy } from './policy.js';

const H = 'b'.repeat(64);
const NOW = new Date('2026-06-01T12:00:00Z');

function manifest(extra: Partial<Manifest> = {}): Manifest {
  return {
    format: 1,
    compatible: 'acme-box',
    version: '2.0.0',
    created: '2026-05-01T00:00:00Z',
    image: { size: 4096, sha256: H, chunks: [{ size: 4096, sha256: H }] },
    keyId: '0123456789abcdef',
    ...extra,
  };
}

test('checkPolicy() accepts a newer, compatible, unexpired bundle above the floor', () => {
  assert.equal(checkPolicy(manifest({ expires: '2026-07-01T00:00:00Z', minVersion: '1.5.0' }), { compatible: 'acme-box', committedVersion: '1.9.9', floorVersion: '1.0.0', now: NOW }), undefined);
  assert.equal(checkPolicy(manifest(), { compatible: 'acme-box' }), undefined, 'nothing known about the host but its compatible string');
});

test('checkPolicy() refuses another compatible string with ERR_INCOMPATIBLE', () => {
  assert.throws(() => checkPolicy(manifest(), { compatible: 'acme-box-arm', now: NOW }), { code: 'ERR_INCOMPATIBLE' });
});

test('checkPolicy() refuses an expired bundle with ERR_EXPIRED (freeze attack)', () => {
  assert.throws(() => checkPolicy(manifest({ expires: '2026-06-01T11:59:59Z' }), { compatible: 'acme-box', now: NOW }), { code: 'ERR_EXPIRED' });
  assert.throws(() => checkPolicy(manifest({ expires: '2026-06-01T14:00:00+02:00' }), { compatible: 'acme-box', now: NOW }), { code: 'ERR_EXPIRED' }, 'expiry exactly now, other zone');
});

test('checkPolicy() refuses an older or equal version with ERR_DOWNGRADE unless allowDowngrade', () => {
  assert.throws(() => checkPolicy(manifest({ version: '1.9.0' }), { compatible: 'acme-box', committedVersion: '2.0.0', now: NOW }), { code: 'ERR_DOWNGRADE' });
  assert.throws(() => checkPolicy(manifest(), { compatible: 'acme-box', committedVersion: '2.0.0', now: NOW }), { code: 'ERR_DOWNGRADE' }, 'same version');
  assert.throws(() => checkPolicy(manifest({ version: '2.0.0-rc.1' }), { compatible: 'acme-box', committedVersion: '2.0.0', now: NOW }), { code: 'ERR_DOWNGRADE' }, 'prerelease of the committed version');
  assert.equal(checkPolicy(manifest({ version: '1.9.0' }), { compatible: 'acme-box', committedVersion: '2.0.0', allowDowngrade: true, now: NOW }), undefined);
});

test('checkPolicy() refuses a version below the anti-rollback floor with ERR_BELOW_FLOOR, even with allowDowngrade', () => {
  assert.throws(() => checkPolicy(manifest({ version: '1.4.0' }), { compatible: 'acme-box', committedVersion: '2.0.0', floorVersion: '1.5.0', allowDowngrade: true, now: NOW }), { code: 'ERR_BELOW_FLOOR' });
  assert.equal(checkPolicy(manifest({ version: '1.5.0' }), { compatible: 'acme-box', committedVersion: '2.0.0', floorVersion: '1.5.0', allowDowngrade: true, now: NOW }), undefined, 'the floor itself is allowed');
});

test('checkPolicy() refuses a host older than the bundle minVersion with ERR_MIN_VERSION', () => {
  assert.throws(() => checkPolicy(manifest({ minVersion: '1.5.0' }), { compatible: 'acme-box', committedVersion: '1.4.9', now: NOW }), { code: 'ERR_MIN_VERSION' });
  assert.equal(checkPolicy(manifest({ minVersion: '1.5.0' }), { compatible: 'acme-box', committedVersion: '1.5.0', now: NOW }), undefined);
});
