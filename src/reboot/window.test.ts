// Tests for the reboot window: parsing, and window arithmetic across days, week wrap, midnight, UTC and local time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpdaterError } from '../../common/errors.js';
import { parseWindowStart } from '../config/window-start.js';
import { describeWindow, isInWindow, msUntilWindow, nextWindowStart, parseRebootWindow } from './window.js';

const utc = (iso: string): Date => new Date(`${iso}Z`);

/** Runs fn with process.env.TZ set (Node re-reads TZ when it changes), restoring it afterwards. */
function withTz<T>(tz: string, fn: () => T): T {
  const saved = process.env.TZ;
  process.env.TZ = tz;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

test('parseWindowStart() reads weekday names (short, full, any case) and every-day times', () => {
  assert.deepEqual(parseWindowStart('Thu 04:00'), { weekday: 4, hour: 4, minute: 0 });
  assert.deepEqual(parseWindowStart('thursday 4:05'), { weekday: 4, hour: 4, minute: 5 });
  assert.deepEqual(parseWindowStart('SUN 23:59'), { weekday: 0, hour: 23, minute: 59 });
  assert.deepEqual(parseWindowStart('Saturday 00:00'), { weekday: 6, hour: 0, minute: 0 });
  assert.deepEqual(parseWindowStart('04:00'), { hour: 4, minute: 0 });
  for (const bad of ['', 'Thu', '24:00', '04:60', 'Thx 04:00', '4', 'Thu04:00', '04:00 Thu', 'Thu 04:00:00']) {
    assert.equal(parseWindowStart(bad), undefined, `"${bad}" should be refused`);
  }
});

test('parseRebootWindow() needs both values or neither, and names the bad one', () => {
  assert.equal(parseRebootWindow(undefined, undefined), undefined);
  assert.equal(parseRebootWindow('', ''), undefined);
  assert.deepEqual(parseRebootWindow('Thu 04:00', '1h30m'), { weekday: 4, hour: 4, minute: 0, lengthMs: 5_400_000 });
  const cases: [string | undefined, string | undefined, RegExp][] = [
    ['Thu 04:00', undefined, /REBOOT_WINDOW_LENGTH is not set/],
    [undefined, '1h', /REBOOT_WINDOW_START is not set/],
    ['Thu 4am', '1h', /REBOOT_WINDOW_START "Thu 4am"/],
    ['Thu 04:00', '0s', /REBOOT_WINDOW_LENGTH "0s" is not a positive duration/],
    ['Thu 04:00', '60', /REBOOT_WINDOW_LENGTH "60"/],
  ];
  for (const [start, length, message] of cases) {
    assert.throws(
      () => parseRebootWindow(start, length),
      (error: unknown) => isUpdaterError(error, 'ERR_CONFIG') && message.test(error.message) && error.hint !== undefined,
    );
  }
});

test('isInWindow() on a daily UTC window: inside, at the edges, and on other days', () => {
  const w = parseRebootWindow('04:00', '1h')!;
  assert.equal(isInWindow(utc('2026-11-25T04:00:00'), w), true);
  assert.equal(isInWindow(utc('2026-11-25T04:59:59.999'), w), true);
  assert.equal(isInWindow(utc('2026-11-25T05:00:00'), w), false);
  assert.equal(isInWindow(utc('2026-11-25T03:59:59.999'), w), false);
  assert.equal(isInWindow(utc('2026-11-28T04:30:00'), w), true);
  assert.equal(nextWindowStart(utc('2026-11-25T05:00:00'), w).toISOString(), '2026-11-26T04:00:00.000Z');
  assert.equal(nextWindowStart(utc('2026-11-25T04:30:00'), w).toISOString(), '2026-11-25T04:00:00.000Z');
  assert.equal(msUntilWindow(utc('2026-11-25T04:30:00'), w), 0);
  assert.equal(msUntilWindow(utc('2026-11-25T03:00:00'), w), 3_600_000);
});

test('nextWindowStart() on a weekly UTC window skips to the right weekday, across a month end', () => {
  const w = parseRebootWindow('Thu 04:00', '1h')!;
  // 2026-11-26 is a Thursday.
  assert.equal(nextWindowStart(utc('2026-11-25T12:00:00'), w).toISOString(), '2026-11-26T04:00:00.000Z');
  assert.equal(isInWindow(utc('2026-11-26T04:10:00'), w), true);
  assert.equal(isInWindow(utc('2026-11-25T04:10:00'), w), false);
  // Just after the window closes: next Thursday, which is in December.
  assert.equal(nextWindowStart(utc('2026-11-26T05:00:00'), w).toISOString(), '2026-12-03T04:00:00.000Z');
  assert.equal(msUntilWindow(utc('2026-11-26T05:00:00'), w), 7 * 86_400_000 - 3_600_000);
});

test('isInWindow() handles a Saturday window that spans midnight into Sunday (week wrap)', () => {
  const w = parseRebootWindow('Sat 23:00', '2h')!;
  // 2026-11-28 is a Saturday, 2026-11-29 a Sunday.
  assert.equal(isInWindow(utc('2026-11-28T23:30:00'), w), true);
  assert.equal(isInWindow(utc('2026-11-29T00:59:00'), w), true);
  assert.equal(isInWindow(utc('2026-11-29T01:00:00'), w), false);
  assert.equal(isInWindow(utc('2026-11-28T22:59:00'), w), false);
  assert.equal(nextWindowStart(utc('2026-11-29T00:30:00'), w).toISOString(), '2026-11-28T23:00:00.000Z');
  assert.equal(nextWindowStart(utc('2026-11-29T01:00:00'), w).toISOString(), '2026-12-05T23:00:00.000Z');
});

test('isInWindow() handles a daily window spanning midnight and the new year', () => {
  const w = parseRebootWindow('23:30', '90m')!;
  assert.equal(isInWindow(utc('2026-12-31T23:45:00'), w), true);
  assert.equal(isInWindow(utc('2027-01-01T00:59:59'), w), true);
  assert.equal(isInWindow(utc('2027-01-01T01:00:00'), w), false);
  assert.equal(nextWindowStart(utc('2027-01-01T00:10:00'), w).toISOString(), '2026-12-31T23:30:00.000Z');
  assert.equal(nextWindowStart(utc('2027-01-01T01:00:00'), w).toISOString(), '2027-01-01T23:30:00.000Z');
});

test('isInWindow() in local time follows the TZ zone, which can move the weekday (Asia/Kolkata, UTC+05:30)', () => {
  withTz('Asia/Kolkata', () => {
    const w = parseRebootWindow('Thu 04:00', '1h')!;
    // Thu 04:00 in Kolkata is Wed 22:30 UTC.
    assert.equal(isInWindow(utc('2026-11-25T22:45:00'), w, 'local'), true);
    assert.equal(isInWindow(utc('2026-11-25T22:45:00'), w, 'utc'), false);
    assert.equal(isInWindow(utc('2026-11-26T04:15:00'), w, 'local'), false);
    assert.equal(isInWindow(utc('2026-11-26T04:15:00'), w, 'utc'), true);
    assert.equal(nextWindowStart(utc('2026-11-25T12:00:00'), w, 'local').toISOString(), '2026-11-25T22:30:00.000Z');
    assert.match(describeWindow(w, 'local'), /^Thu 04:00 local time for 1h$/);
  });
});

test('nextWindowStart() in local time west of UTC crosses the date line the other way (America/Phoenix, UTC-7)', () => {
  withTz('America/Phoenix', () => {
    const w = parseRebootWindow('Sat 22:00', '3h')!;
    // Sat 22:00 in Phoenix is Sun 05:00 UTC; the window runs to Sun 08:00 UTC.
    assert.equal(nextWindowStart(utc('2026-11-28T12:00:00'), w, 'local').toISOString(), '2026-11-29T05:00:00.000Z');
    assert.equal(isInWindow(utc('2026-11-29T07:59:00'), w, 'local'), true);
    assert.equal(isInWindow(utc('2026-11-29T08:00:00'), w, 'local'), false);
  });
});

test('nextWindowStart() in local time keeps the wall-clock hour across a DST change (Europe/Berlin)', () => {
  withTz('Europe/Berlin', () => {
    const w = parseRebootWindow('04:00', '30m')!;
    // Clocks go back on 2026-10-25: 04:00 is 02:00 UTC before, 03:00 UTC after.
    assert.equal(nextWindowStart(utc('2026-10-24T12:00:00'), w, 'local').toISOString(), '2026-10-25T03:00:00.000Z');
    assert.equal(nextWindowStart(utc('2026-10-23T12:00:00'), w, 'local').toISOString(), '2026-10-24T02:00:00.000Z');
  });
});

test('nextWindowStart() in local time moves a start inside the spring-forward gap later by the gap (Europe/Berlin)', () => {
  withTz('Europe/Berlin', () => {
    const w = parseRebootWindow('Sun 02:30', '1h')!;
    // 2026-03-29 02:00 CET jumps to 03:00 CEST; 02:30 does not exist and becomes 03:30 CEST = 01:30 UTC.
    assert.equal(nextWindowStart(utc('2026-03-28T12:00:00'), w, 'local').toISOString(), '2026-03-29T01:30:00.000Z');
    assert.equal(isInWindow(utc('2026-03-29T02:29:00'), w, 'local'), true);
    assert.equal(isInWindow(utc('2026-03-29T02:30:00'), w, 'local'), false);
  });
});
