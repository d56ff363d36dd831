// Tests of the scheduler with a fake clock: first delay, jitter, capped backoff and its reset, server poll interval,
// one install at a time, and a clean stop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UpdaterError } from '../../common/errors.js';
import { createMemoryLogger } from '../log.js';
import type { CheckResult, Offer } from '../sources/source.js';
import { createScheduler, type SchedulerClock, type SchedulerOptions, type SchedulerSteps } from './scheduler.js';

const MIN = 60_000;
const OFFER: Offer = { version: '2.0.0', url: 'http://127.0.0.1:1/b', urls: ['http://127.0.0.1:1/b'], size: 10, source: 'omaha' };

/** Virtual time: every sleep is recorded and returns at once; the loop stops after `maxSleeps` sleeps. */
function fakeClock(stop: AbortController, maxSleeps: number): SchedulerClock & { sleeps: number[]; time: number } {
  const clock = {
    time: 1_000_000,
    sleeps: [] as number[],
    now: () => clock.time,
    async sleep(ms: number) {
      clock.sleeps.push(ms);
      clock.time += ms;
      if (clock.sleeps.length >= maxSleeps) stop.abort();
      await Promise.resolve();
    },
  };
  return clock;
}

function steps(checks: (CheckResult | Error)[], install: SchedulerSteps['install'] = async () => ({ alreadyInstalled: false })): SchedulerSteps & { calls: number } {
  const s = {
    calls: 0,
    async check() {
      const next = checks[Math.min(s.calls, checks.length - 1)];
      s.calls += 1;
      if (next instanceof Error) throw next;
      return next ?? { offer: null };
    },
    install,
  };
  return s;
}

function scheduler(overrides: Partial<SchedulerOptions> & { steps: SchedulerSteps }) {
  return createScheduler({ checkIntervalMs: 45 * MIN, logger: createMemoryLogger(), random: () => 0.5, ...overrides });
}

test('scheduler first checks after a random delay within bounds, then every CHECK_INTERVAL', async () => {
  const stop = new AbortController();
  const clock = fakeClock(stop, 4);
  const s = steps([{ offer: null }]);
  await scheduler({ steps: s, clock, initialDelayMs: { min: 10_000, max: 120_000 } }).run(stop.signal);
  assert.deepEqual(clock.sleeps, [65_000, 45 * MIN, 45 * MIN, 45 * MIN]);
  assert.equal(s.calls, 3);
});

test('scheduler varies each interval by at most ± a quarter (jitter)', async () => {
  for (const [r, expected] of [
    [0, 45 * MIN * 0.75],
    [0.999999, 45 * MIN * 1.25],
  ] as const) {
    const stop = new AbortController();
    const clock = fakeClock(stop, 3);
    await scheduler({ steps: steps([{ offer: null }]), clock, random: () => r }).run(stop.signal);
    assert.ok(Math.abs((clock.sleeps[2] ?? 0) - expected) < 10, `sleep ${clock.sleeps[2]} vs ${expected}`);
  }
  const stop = new AbortController();
  const clock = fakeClock(stop, 3);
  await scheduler({ steps: steps([{ offer: null }]), clock, initialDelayMs: { min: 10_000, max: 120_000 }, random: () => 0 }).run(stop.signal);
  assert.equal(clock.sleeps[0], 10_000);
});

test('scheduler backs off exponentially on errors, capped, and returns to the interval after a success', async () => {
  const stop = new AbortController();
  const clock = fakeClock(stop, 12);
  const failure = new UpdaterError('ERR_NETWORK', 'Cannot check for updates: connection refused');
  const checks: (CheckResult | Error)[] = [...Array(9).fill(failure), { offer: null }, { offer: null }];
  const logger = createMemoryLogger();
  const sched = scheduler({ steps: steps(checks), clock, logger, backoffBaseMs: MIN, backoffMaxMs: 60 * MIN });
  await sched.run(stop.signal);
  assert.deepEqual(clock.sleeps.slice(1), [1, 2, 4, 8, 16, 32, 60, 60, 60, 45, 45].map((m) => m * MIN));
  assert.equal(logger.entries.filter((e) => e.level === 'error').length, 9);
  assert.deepEqual(logger.entries.find((e) => e.level === 'error')?.fields, { code: 'ERR_NETWORK', failures: 1 });
  assert.equal(sched.status().consecutiveFailures, 0);
});

test('scheduler honours the server poll interval, clamped to its bounds, and forgets it when the server stops sending it', async () => {
  const stop = new AbortController();
  const clock = fakeClock(stop, 5);
  const checks: CheckResult[] = [{ offer: null, pollIntervalMs: 10 * MIN }, { offer: null, pollIntervalMs: 1000 }, { offer: null }, { offer: null }];
  await scheduler({ steps: steps(checks), clock }).run(stop.signal);
  assert.deepEqual(clock.sleeps.slice(1), [10 * MIN, 10_000, 45 * MIN, 45 * MIN]);
});

test('scheduler installs what a scheduled check offers, but a "check" trigger only reports it', async () => {
  const installed: string[] = [];
  const s = steps([{ offer: OFFER }], async (offer) => {
    installed.push(offer.version);
    return { alreadyInstalled: false };
  });
  const sched = scheduler({ steps: s });
  const checked = await sched.trigger('check');
  assert.equal(checked.outcome, 'available');
  assert.deepEqual(installed, []);
  const updated = await sched.trigger('update');
  assert.equal(updated.outcome, 'installed');
  assert.deepEqual(installed, ['2.0.0']);
  assert.equal(sched.status().offer?.version, '2.0.0');
});

test('scheduler never runs two installs at once: concurrent triggers and the timer join the running cycle', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let installs = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  const s = steps([{ offer: OFFER }], async (_offer, { onProgress }) => {
    installs += 1;
    concurrent += 1;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    onProgress({ phase: 'downloading', bytesDone: 5, bytesTotal: 10 });
    await gate;
    concurrent -= 1;
    return { alreadyInstalled: false };
  });
  const sched = scheduler({ steps: s });
  const events: string[] = [];
  sched.subscribe((e) => events.push(e.type === 'activity' ? `activity:${e.status.activity}` : e.type));
  const a = sched.trigger('update');
  const b = sched.trigger('update');
  const c = sched.trigger('check');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sched.status().activity, 'installing');
  assert.deepEqual(sched.status().progress, { phase: 'downloading', bytesDone: 5, bytesTotal: 10 });
  release();
  const results = await Promise.all([a, b, c]);
  assert.equal(installs, 1);
  assert.equal(maxConcurrent, 1);
  assert.ok(results.every((r) => r === results[0]));
  assert.deepEqual(events, ['activity:checking', 'activity:installing', 'progress', 'activity:idle', 'cycle']);
});

test('scheduler.run() stops on abort: the install sees the signal and run() resolves after it returned', async () => {
  const stop = new AbortController();
  let sawAbort = false;
  const s = steps([{ offer: OFFER }], (_offer, { signal }) => {
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        sawAbort = true;
        reject(new UpdaterError('ERR_ABORTED', 'Cannot install: stopped'));
      });
    });
  });
  const clock: SchedulerClock = { now: () => 0, sleep: async () => undefined };
  const logger = createMemoryLogger();
  const sched = scheduler({ steps: s, clock, logger });
  const running = sched.run(stop.signal);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sched.status().activity, 'installing');
  stop.abort();
  await running;
  assert.equal(sawAbort, true);
  assert.equal(sched.status().lastCycle?.error?.code, 'ERR_ABORTED');
  assert.equal(logger.entries.filter((e) => e.level === 'error').length, 0, 'a stop is not logged as an error');
  await assert.rejects(sched.trigger('check'), (e: unknown) => e instanceof UpdaterError && e.code === 'ERR_ABORTED');
});

test('scheduler wakes for a trigger while sleeping and schedules the next check a full interval after it', async () => {
  const stop = new AbortController();
  const sleeps: number[] = [];
  let wakeSleeping: (() => void) | undefined;
  const clock: SchedulerClock = {
    now: () => 0,
    sleep: (ms, signal) =>
      new Promise((resolve) => {
        sleeps.push(ms);
        if (sleeps.length >= 3) stop.abort();
        if (signal.aborted) return resolve();
        wakeSleeping = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      }),
  };
  const s = steps([{ offer: null }]);
  const sched = scheduler({ steps: s, clock });
  const running = sched.run(stop.signal);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sleeps.length, 1);
  const result = await sched.trigger('check');
  assert.equal(result.outcome, 'noupdate');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(s.calls, 1, 'the woken loop did not run a second check');
  assert.equal(sleeps[1], 45 * MIN);
  wakeSleeping?.();
  await running;
});

test('scheduler does not run an extra scheduled check when a triggered cycle finished before the loop woke up', async () => {
  const stop = new AbortController();
  const sleeps: number[] = [];
  const clock: SchedulerClock = {
    now: () => 0,
    sleep: (ms, signal) =>
      new Promise((resolve) => {
        sleeps.push(ms);
        if (sleeps.length >= 3) stop.abort();
        // The loop notices the wake-up late: 30 ms after the abort.
        signal.addEventListener('abort', () => setTimeout(resolve, 30), { once: true });
      }),
  };
  const s = steps([{ offer: null }]);
  const sched = scheduler({ steps: s, clock });
  const running = sched.run(stop.signal);
  await new Promise((resolve) => setImmediate(resolve));
  await sched.trigger('check');
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(s.calls, 1);
  assert.deepEqual(sleeps.slice(1), [45 * MIN]);
  stop.abort();
  await running;
});

test('scheduler stops a round that outlives ROUND_TIMEOUT with ERR_TIMEOUT: the install sees its signal abort', async () => {
  let sawAbort = false;
  const s = steps([{ offer: OFFER }], async (_offer, { signal }) => {
    // An install that never ends by itself (a server just above the speed limit, forever).
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    sawAbort = true;
    throw new UpdaterError('ERR_ABORTED', 'Cannot download: aborted');
  });
  const alive = setInterval(() => undefined, 1000); // the deadline's own timer does not keep node running
  const result = await scheduler({ steps: s, roundTimeoutMs: 200 }).trigger('update');
  clearInterval(alive);
  assert.equal(result.outcome, 'error');
  assert.equal(result.error?.code, 'ERR_TIMEOUT');
  assert.match(result.error?.message ?? '', /the round passed its deadline of .* \(ROUND_TIMEOUT\)/);
  assert.ok(sawAbort);
});
