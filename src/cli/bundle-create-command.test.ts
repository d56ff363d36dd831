// Tests of `abupdate bundle create` refusals and help.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/tmp.js';
import { runCli } from '../../fixtures/cli.js';
import { makeImage, makeKeys } from '../../fixtures/bundle.js';

test('abupdate bundle create refuses a bad version, a missing --compatible and a bad --chunk-size, writing nothing', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k');
  const image = await makeImage(path.join(dir, 'image.raw'), 10_000, 1);
  const out = path.join(dir, 'b.tar');
  const base = ['bundle', 'create', '--image', image, '--key', keys.privatePath, '--out', out];
  const badVersion = await runCli([...base, '--version', 'v1', '--compatible', 'x']);
  assert.equal(badVersion.code, 1);
  assert.match(badVersion.stderr, /\[ERR_BAD_VERSION\]/);
  const noCompatible = await runCli([...base, '--version', '1.0.0']);
  assert.equal(noCompatible.code, 2);
  assert.match(noCompatible.stderr, /--compatible is required/);
  const badChunk = await runCli([...base, '--version', '1.0.0', '--compatible', 'x', '--chunk-size', '1000']);
  assert.equal(badChunk.code, 2);
  const badExpiry = await runCli([...base, '--version', '1.0.0', '--compatible', 'x', '--expires', 'someday']);
  assert.equal(badExpiry.code, 2);
  // Strict RFC 3339: a day or hour that does not exist is refused, not rolled over into the next month or day.
  for (const when of ['2026-02-31T00:00:00Z', '2026-02-31', '2026-06-30T24:00:00Z']) {
    const rolled = await runCli([...base, '--version', '1.0.0', '--compatible', 'x', '--expires', when, '--json']);
    assert.equal(rolled.code, 2, when);
    assert.equal(rolled.json().error.code, 'ERR_USAGE', when);
  }
  await assert.rejects(stat(out), { code: 'ENOENT' });
  const help = await runCli(['bundle', 'create', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--min-version V/);
});
