// Tests of semver parsing and precedence.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, parseVersion } from './version.js';

test('compareVersions() orders by semver precedence, prereleases included and build metadata ignored', () => {
  const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '1.10.0', '2.0.0'];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(compareVersions(ordered[i] ?? '', ordered[j] ?? ''), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  assert.equal(compareVersions('1.0.0+build.5', '1.0.0+build.1'), 0);
  assert.equal(compareVersions('3352.0.0', '3350.99.99'), 1);
});

test('parseVersion() refuses what is not semver with ERR_BAD_VERSION', () => {
  assert.deepEqual(parseVersion('1.2.3-rc.1+g1234').prerelease, ['rc', '1']);
  for (const text of ['1', '1.2', '1.2.3.4', 'v1.2.3', '1.02.3', '1.2.3-rc.01', '1.2.3-', '1.2.3-a..b', ' 1.2.3', '1.2.3 ', '99999999999999999999.0.0']) {
    assert.throws(() => parseVersion(text), { code: 'ERR_BAD_VERSION' }, text);
  }
  assert.throws(() => compareVersions('1.0.0', 'latest'), { code: 'ERR_BAD_VERSION' });
});
