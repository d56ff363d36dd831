// Tests that every config key has a working default and is documented in docs/service.md with that default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../fixtures/cli.js';
import { CONFIG_KEYS, CONFIG_KEY_NAMES, closestKey } from './keys.js';
import { isInvalid } from './value-parsers.js';

test('CONFIG_KEYS defaults all pass their own parsers', () => {
  for (const name of CONFIG_KEY_NAMES) {
    const spec = CONFIG_KEYS[name];
    assert.equal(isInvalid(spec.parser.parse(spec.default)), false, name);
  }
});

test('docs/service.md has a table row for every key with its default', async () => {
  const doc = await readFile(path.join(PROJECT_ROOT, 'docs/service.md'), 'utf8');
  for (const name of CONFIG_KEY_NAMES) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
    assert.ok(row, `no row for ${name}`);
    const documented = row.split('|')[2]?.trim();
    const expected = CONFIG_KEYS[name].default === '' ? '(empty)' : `\`${CONFIG_KEYS[name].default}\``;
    assert.equal(documented, expected, name);
  }
});

test('closestKey() suggests a key for small typos and nothing for unrelated names', () => {
  assert.equal(closestKey('SEVER'), 'SERVER');
  assert.equal(closestKey('check_interval'), 'CHECK_INTERVAL');
  assert.equal(closestKey('REBOOT_STRATEGIE'), 'REBOOT_STRATEGY');
  assert.equal(closestKey('ZINCATI_STRATEGY_NAME'), undefined);
});
