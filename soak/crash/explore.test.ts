// The crash-state explorer on the real operations' traces (over 1,000 crash states), and shown able to fail: a GPT
// write with its copies in the wrong order is reported as a broken state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir } from '../../fixtures/tmp.js';
import { prefixStates } from './crash-states.js';
import { exploreTraces, makeExplorer, recordTraces, TRACE_NAMES, type RecordedTrace } from './explore.js';
import type { TraceOp } from './recording-fs.js';

async function traces(t: { after(fn: () => unknown): void }): Promise<{ dir: string; traces: RecordedTrace[] }> {
  const dir = await makeTempDir(t);
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of cleanups) await fn();
  });
  return { dir, traces: await recordTraces(dir, cleanups) };
}

test('crash-state explorer: over 1,000 crash states of install, resumed install, post-boot, rollback, mark-* and clear-bad, on gptprio and on grubenv, keep the promise', async (t) => {
  const { dir, traces: recorded } = await traces(t);
  assert.deepEqual(recorded.map((r) => r.name).sort(), [...TRACE_NAMES].sort());
  for (const r of recorded) assert.ok(r.trace.some((op) => op.op === 'fsync'), `${r.name} recorded its fsyncs`);
  const install = recorded.find((r) => r.name === 'install') as RecordedTrace;
  assert.ok(install.trace.filter((op) => op.op === 'write' && op.path === 'disk.img').length > 8, 'the install trace holds the slot writes and the GPT writes');
  assert.ok(install.trace.some((op) => op.op === 'rename'), 'the install trace holds the state file renames');
  const report = await exploreTraces(recorded, makeExplorer(dir), { samples: 120, seed: 1, recover: 2 });
  assert.deepEqual(report.failures, []);
  assert.ok(report.states >= 1000, `explored ${report.states} crash states`);
  for (const name of TRACE_NAMES) assert.ok((report.perTrace[name]?.recovered ?? 0) >= 1, `${name}: a rerun recovered from a crash state`);
});

test('crash-state explorer reports the broken state of a GPT write that puts both entry arrays before either header', async (t) => {
  const { dir, traces: recorded } = await traces(t);
  const mark = recorded.find((r) => r.name === 'mark') as RecordedTrace;
  // the first writeGpt of the trace: backup array, backup header, fsync, primary array, primary header, fsync
  const writes = mark.trace.map((op, i) => ({ op, i })).filter(({ op }) => op.op === 'write');
  const [backupArray, backupHeader, primaryArray, primaryHeader] = writes.slice(0, 4).map(({ op }) => op) as TraceOp[];
  assert.ok(backupArray && backupHeader && primaryArray && primaryHeader);
  assert.ok((primaryHeader as { offset: number }).offset === 512, 'the fourth write is the primary header at LBA 1');
  // cgpt matches headers and arrays across the copies, so "primary header before the backup array" still reads (as
  // the new table); both arrays before either header (no fsync between the copies) leaves no valid pair at prefix 2
  const wrong: RecordedTrace = { ...mark, name: 'mark (wrong order)', trace: [backupArray, primaryArray, backupHeader, primaryHeader] };
  const explorer = makeExplorer(dir);
  const broken: string[] = [];
  for (const state of prefixStates(wrong.trace)) {
    const problems = await explorer.check(wrong, state);
    if (problems.length > 0) broken.push(`${state.label}: ${problems.join('; ')}`);
  }
  assert.ok(broken.some((b) => b.startsWith('prefix 2:') && /cgpt cannot read the GPT|unbootable/.test(b)), `reported: ${broken.join(' | ')}`);
  // the same writes in the product's order, with its fsyncs, leave no broken prefix
  const right: RecordedTrace = { ...mark, name: 'mark (first GPT write)', trace: mark.trace.slice(0, (writes[3]?.i ?? 0) + 2) };
  for (const state of prefixStates(right.trace)) assert.deepEqual(await explorer.check(right, state), [], `${right.name} ${state.label}`);
});

test('crash-state explorer reports the broken state of a grubenv flip written before the slot it makes bootable', async (t) => {
  const { dir, traces: recorded } = await traces(t);
  const install = recorded.find((r) => r.name === 'grubenv:install') as RecordedTrace;
  assert.equal(install.bootloader, 'grubenv');
  const flips = install.trace.map((op, i) => ({ op, i })).filter(({ op }) => op.op === 'write' && op.path === 'grubenv');
  assert.ok(flips.length >= 1, 'the grubenv install trace writes the grubenv block (the flip)');
  assert.ok(!install.trace.some((op) => op.op === 'write' && op.path === 'disk.img' && op.offset < 34 * 512), 'the grubenv install does not write the GPT');
  // the flip moved to the front: the block makes B a candidate before one byte of B is written
  const flip = flips.at(-1) as { op: TraceOp; i: number };
  const wrong: RecordedTrace = { ...install, name: 'grubenv:install (flip first)', trace: [flip.op, ...install.trace.filter((_, i) => i !== flip.i)] };
  const explorer = makeExplorer(dir);
  const problems = await explorer.check(wrong, prefixStates(wrong.trace)[1] as ReturnType<typeof prefixStates>[number]);
  assert.ok(problems.some((p) => /picks slot B, whose bytes are no verified version/.test(p)), `reported: ${problems.join(' | ')}`);
  // the product's order: every prefix keeps the promise
  for (const state of prefixStates(install.trace)) assert.deepEqual(await explorer.check(install, state), [], `${install.name} ${state.label}`);
});
