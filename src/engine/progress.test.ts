// Tests of the progress reporter: what a terminal, a log and a JSON reader see.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createProgressReporter, formatBytes, formatDuration, progressMode, type ProgressOptions } from './progress.js';

const MiB = 1024 * 1024;

function capture(mode: ProgressOptions['mode']) {
  const err = new PassThrough();
  const out = new PassThrough();
  const text = { err: '', out: '' };
  err.on('data', (b: Buffer) => (text.err += b.toString()));
  out.on('data', (b: Buffer) => (text.out += b.toString()));
  let clock = 0;
  const reporter = createProgressReporter({ mode, err, out, now: () => clock });
  return { reporter, text, tick: (ms: number) => (clock += ms) };
}

test('progress bar on a TTY redraws one line with percent, bytes, rate and ETA', () => {
  const { reporter, text, tick } = capture('bar');
  reporter.phase('download', 100 * MiB);
  for (let i = 1; i <= 10; i += 1) {
    tick(1000);
    reporter.update(i * 5 * MiB);
  }
  reporter.finish();
  const frames = text.err.split('\r\x1b[K').filter(Boolean);
  const last = frames.at(-1) ?? '';
  assert.match(last, /^downloading +\[#{12}-{12}\] +50% 50\.0 MiB\/100\.0 MiB +5\.0 MiB\/s +ETA 0:10\n$/);
  assert.equal(text.err.split('\n').length, 2, 'one line, ended once');
  assert.equal(text.out, '');
});

test('progress in log mode writes periodic plain lines, not every update', () => {
  const { reporter, text, tick } = capture('lines');
  reporter.phase('readback', 10 * MiB);
  for (let i = 1; i <= 100; i += 1) {
    tick(100);
    reporter.update(i * 0.1 * MiB);
  }
  reporter.finish();
  const lines = text.err.trim().split('\n');
  assert.ok(lines.length >= 3 && lines.length <= 5, lines.join('|'));
  assert.match(lines.at(-1) ?? '', /^verifying: 100% 10\.0 MiB\/10\.0 MiB, 1\.0 MiB\/s, ETA 0:00$/);
  assert.ok(!text.err.includes('\r'));
});

test('progress with --json emits phase and progress events as JSON lines on stdout', () => {
  const { reporter, text, tick } = capture('json');
  reporter.phase('download', 4 * MiB, MiB);
  tick(600);
  reporter.update(2 * MiB);
  reporter.message('resumed');
  reporter.finish();
  const events = text.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(events[0], { event: 'phase', phase: 'download', total: 4 * MiB, done: MiB });
  assert.equal(events[1].event, 'progress');
  assert.equal(events[1].done, 2 * MiB);
  assert.ok(events[1].bytesPerSecond > 0);
  assert.deepEqual(events[2], { event: 'message', text: 'resumed' });
  assert.equal(text.err, '');
});

test('progressMode() picks json, bar or lines from the flags and the terminal', () => {
  assert.equal(progressMode(true, { isTTY: true }), 'json');
  assert.equal(progressMode(false, { isTTY: true }), 'bar');
  assert.equal(progressMode(false, {}), 'lines');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatDuration(3725), '1:02:05');
});
