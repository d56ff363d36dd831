// Strict RFC 3339: what Date.parse would roll over is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTimestamp, parseTimestamp } from './timestamp.js';

test('parseTimestamp() refuses dates and times that do not exist instead of rolling them over', () => {
  for (const text of [
    '2026-02-31T00:00:00Z', // Date.parse: 2026-03-03
    '2026-02-29T00:00:00Z', // not a leap year
    '2026-04-31T12:00:00Z',
    '2026-01-01T24:00:00Z', // Date.parse: the next day
    '2026-01-01T24:00:00+01:00',
    '2026-01-01T23:60:00Z',
    '2026-01-01T23:59:60Z',
    '2026-00-10T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-00T00:00:00Z',
    '2026-01-01T00:00:00+24:00',
    '2026-01-01T00:00:00+01:60',
    '2026-01-01 00:00:00Z',
    '2026-01-01T00:00Z',
  ]) {
    assert.equal(parseTimestamp(text), undefined, text);
    assert.equal(isTimestamp(text), false, text);
  }
});

test('parseTimestamp() reads valid times with fractions and offsets as Date does', () => {
  for (const text of ['2028-02-29T00:00:00Z', '2000-02-29T23:59:59Z', '2026-12-31T23:59:59.999Z', '2026-06-01T04:00:00+02:00', '2026-06-01T04:00:00-05:30', '2026-06-01T04:00:00.123456789Z']) {
    assert.equal(parseTimestamp(text), Date.parse(text), text);
  }
  assert.equal(parseTimestamp('2026-06-01T04:00:00+02:00'), Date.parse('2026-06-01T02:00:00Z'));
});
