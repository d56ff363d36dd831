// Tests for parseDuration/formatDuration: the units update.conf uses, and what is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from './duration.js';

test('parseDuration() reads single and combined units in milliseconds', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('30m'), 1_800_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2d'), 172_800_000);
  assert.equal(parseDuration(' 1m30s '), 90_000);
  assert.equal(parseDuration('0s'), 0);
});

test('parseDuration() returns undefined for text that is not a duration', () => {
  for (const bad of ['', ' ', '30', '-5m', '5 m', '1x', 'h', '1h30', 'm30', '1h-30m', '1e3s', 'five minutes']) {
    assert.equal(parseDuration(bad), undefined, `"${bad}" should be refused`);
  }
});

test('formatDuration() prints what parseDuration() reads back', () => {
  assert.equal(formatDuration(5000), '5s');
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(1500), '1s500ms');
  assert.equal(formatDuration(0), '0s');
  for (const ms of [1, 999, 61_000, 90_061_001]) assert.equal(parseDuration(formatDuration(ms)), ms);
});
