// Tests of the EnvironmentFile parser: comments, quotes, escapes, line numbers, refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpdaterError } from '../../common/errors.js';
import { parseEnvFile } from './env-file.js';

test('parseEnvFile() reads assignments with their line numbers, skipping comments and blank lines', () => {
  const text = [
    '# vendor defaults',
    '',
    '; also a comment',
    'SERVER=https://updates.example.com/v1/update/',
    '  GROUP = beta  ',
    'REBOOT_WINDOW_START="Thu 04:00"',
    "REBOOT_COMMAND='systemctl reboot --force'",
    'HEALTH_UNITS="a.service \\"b\\" \\\\ c"',
    'EMPTY=',
    'HASH=value # not a comment',
    'CRLF=yes\r',
  ].join('\n');
  assert.deepEqual(parseEnvFile(text, '/etc/x.conf'), [
    { key: 'SERVER', value: 'https://updates.example.com/v1/update/', line: 4 },
    { key: 'GROUP', value: 'beta', line: 5 },
    { key: 'REBOOT_WINDOW_START', value: 'Thu 04:00', line: 6 },
    { key: 'REBOOT_COMMAND', value: 'systemctl reboot --force', line: 7 },
    { key: 'HEALTH_UNITS', value: 'a.service "b" \\ c', line: 8 },
    { key: 'EMPTY', value: '', line: 9 },
    { key: 'HASH', value: 'value # not a comment', line: 10 },
    { key: 'CRLF', value: 'yes', line: 11 },
  ]);
});

for (const [name, line, expected] of [
  ['export', 'export SERVER=http://x/', /"export" is not allowed/],
  ['a line without =', 'SERVER http://x/', /is not a KEY=VALUE assignment/],
  ['a bad key name', 'SER-VER=1', /"SER-VER" is not a valid key name/],
  ['an unclosed double quote', 'GROUP="beta', /double quote is never closed/],
  ['an unclosed single quote', "GROUP='beta", /single quote is never closed/],
  ['text after the closing quote', 'GROUP="beta" extra', /unexpected text "extra"/],
  ['a line continuation', 'GROUP=beta \\', /line continuation is not supported/],
] as const) {
  test(`parseEnvFile() refuses ${name} with ERR_CONFIG naming file and line`, () => {
    const text = `# comment\nCOMPATIBLE=board-x\n${line}\n`;
    assert.throws(
      () => parseEnvFile(text, '/etc/abupdate/update.conf'),
      (error: unknown) => {
        assert.ok(isUpdaterError(error, 'ERR_CONFIG'));
        assert.match(error.message, /^Cannot read config \/etc\/abupdate\/update\.conf:3: /);
        assert.match(error.message, expected);
        assert.deepEqual(error.data, { file: '/etc/abupdate/update.conf', line: 3 });
        assert.ok(error.hint);
        return true;
      },
    );
  });
}
