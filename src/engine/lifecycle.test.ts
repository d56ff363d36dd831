// Tests of the lifecycle table: every (state, event) pair, reachability, the one writer of state.json.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isUpdaterError } from '../../common/errors.js';
import { seedEngineState } from '../../fixtures/engine-state.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import {
  applyEngineEvent,
  ENGINE_EVENTS,
  ENGINE_STATES,
  LIFECYCLE_EVENTS,
  LIFECYCLE_TABLE,
  PERSISTED_STATES,
  ROUND_EVENTS,
  transition,
  type EngineStateName,
  type LifecycleEvent,
} from './lifecycle.js';
import { loadEngineState } from './state-store.js';

const P = PERSISTED_STATES;
const INSTALLING = ['DOWNLOADING', 'VERIFYING', 'FINALIZING'] as const;
const same = (states: readonly EngineStateName[]): Record<string, EngineStateName> => Object.fromEntries(states.map((s) => [s, s]));
const all = (states: readonly EngineStateName[], to: EngineStateName): Record<string, EngineStateName> => Object.fromEntries(states.map((s) => [s, to]));

/**
 * The documented lifecycle (docs/architecture.md, "The lifecycle table"), written out independently of
 * LIFECYCLE_TABLE: for each event, the states it is allowed in and the state it leads to. Every pair not
 * listed must be refused with ERR_ILLEGAL_TRANSITION.
 */
const EXPECTED: Record<LifecycleEvent, Record<string, EngineStateName>> = {
  'check-started': all([...P, 'UPDATE_AVAILABLE'], 'CHECKING_FOR_UPDATE'),
  'update-found': { CHECKING_FOR_UPDATE: 'UPDATE_AVAILABLE' },
  'no-update': { CHECKING_FOR_UPDATE: 'IDLE' },
  'round-failed': all(ENGINE_STATES.filter((s) => s !== 'REPORTING_ERROR_EVENT'), 'REPORTING_ERROR_EVENT'),
  'error-reported': { REPORTING_ERROR_EVENT: 'IDLE' },
  'install-started': all([...P, 'UPDATE_AVAILABLE'], 'DOWNLOADING'),
  'progress-saved': same(INSTALLING),
  'download-finished': { DOWNLOADING: 'VERIFYING' },
  'readback-passed': { VERIFYING: 'FINALIZING' },
  'slot-flipped': { FINALIZING: 'UPDATED_NEED_REBOOT' },
  'install-failed': all(INSTALLING, 'IDLE'),
  'install-refused': same(P),
  'install-discarded': { VERIFYING: 'IDLE' },
  'health-check-started': all(P, 'HEALTH_CHECK'),
  'health-passed': { HEALTH_CHECK: 'IDLE' },
  'health-failed': { HEALTH_CHECK: 'ROLLED_BACK' },
  'health-failed-kept': { HEALTH_CHECK: 'IDLE' },
  'rollback-detected': { UPDATED_NEED_REBOOT: 'ROLLED_BACK', HEALTH_CHECK: 'ROLLED_BACK' },
  'commit-recorded': { ...all(P, 'IDLE'), ROLLED_BACK: 'ROLLED_BACK' },
  'manual-rollback': all(P, 'IDLE'),
  'bad-versions-cleared': same(P),
  'slot-recorded': { IDLE: 'IDLE' },
};

test('transition() walks the whole table: every (state, event) pair is the documented next state or ERR_ILLEGAL_TRANSITION', () => {
  assert.deepEqual(Object.keys(EXPECTED).sort(), [...LIFECYCLE_EVENTS].sort(), 'every event is documented');
  let legal = 0;
  let refused = 0;
  for (const state of ENGINE_STATES) {
    for (const event of LIFECYCLE_EVENTS) {
      const expected = EXPECTED[event][state];
      if (expected !== undefined) {
        assert.equal(transition(state, event), expected, `${state} --${event}-->`);
        legal += 1;
      } else {
        assert.throws(
          () => transition(state, event),
          (e: unknown) => isUpdaterError(e, 'ERR_ILLEGAL_TRANSITION') && e.message.includes(`"${event}" in state ${state}`) && e.data?.state === state,
          `${state} --${event}--> must be refused`,
        );
        refused += 1;
      }
    }
  }
  assert.equal(legal + refused, ENGINE_STATES.length * LIFECYCLE_EVENTS.length);
  assert.ok(refused > legal, `most pairs are bugs (${legal} legal, ${refused} refused)`);
});

test('lifecycle table: every state is reachable from IDLE, and no (state, event) pair has two rows', () => {
  const seen = new Set<EngineStateName>(['IDLE']);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of LIFECYCLE_TABLE) {
      for (const from of row.from) {
        if (!seen.has(from)) continue;
        const to = row.to === 'same' ? from : row.to;
        if (!seen.has(to)) {
          seen.add(to);
          grew = true;
        }
      }
    }
  }
  assert.deepEqual([...seen].sort(), [...ENGINE_STATES].sort());
  const pairs = LIFECYCLE_TABLE.flatMap((row) => row.from.map((from) => `${from} ${row.event}`));
  assert.equal(new Set(pairs).size, pairs.length);
});

test('round events never lead into a state that is written to state.json by them, and engine events never enter a round state', () => {
  for (const row of LIFECYCLE_TABLE) {
    if ((ROUND_EVENTS as readonly string[]).includes(row.event)) continue;
    assert.ok(row.to === 'same' || (PERSISTED_STATES as readonly string[]).includes(row.to), `${row.event} -> ${row.to}`);
  }
  assert.equal(ENGINE_EVENTS.length + ROUND_EVENTS.length, LIFECYCLE_EVENTS.length);
});

test('applyEngineEvent() writes the next state with the change, and an illegal event writes nothing', async (t) => {
  const dir = await makeTempDir(t);
  await seedEngineState(dir, { state: 'DOWNLOADING', committedVersion: '1.0.0' }, { fresh: true });
  const next = await applyEngineEvent(dir, 'download-finished', (current) => ({ badVersions: [...current.badVersions, '0.9.0'] }));
  assert.deepEqual([next.state, next.committedVersion, next.badVersions], ['VERIFYING', '1.0.0', ['0.9.0']]);
  const before = await readFile(path.join(dir, 'state.json'), 'utf8');
  await assert.rejects(applyEngineEvent(dir, 'health-passed', { committedVersion: '9.9.9' }), (e: unknown) => isUpdaterError(e, 'ERR_ILLEGAL_TRANSITION'));
  assert.equal(await readFile(path.join(dir, 'state.json'), 'utf8'), before, 'state.json unchanged');
  assert.equal((await loadEngineState(dir)).committedVersion, '1.0.0');
});

test('loadEngineState() reads a round state found in state.json as IDLE (round states are never written)', async (t) => {
  const dir = await makeTempDir(t);
  await seedEngineState(dir, { state: 'CHECKING_FOR_UPDATE', committedVersion: '1.0.0' }, { fresh: true });
  const state = await loadEngineState(dir);
  assert.deepEqual([state.state, state.committedVersion], ['IDLE', '1.0.0']);
});

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The only files that may import the state store's writer: the lifecycle, the store's own test, the tests' seeding fixture. */
// The lifecycle (the product's one writer), the writer's own test (state-store.test.ts), and the test fixture that
// seeds a state as a crash left it (floor.test.ts writes through the lifecycle).
const WRITER_IMPORTERS = ['src/engine/lifecycle.ts', 'src/engine/state-store.test.ts', 'fixtures/engine-state.ts'];

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) out.push(...(await sourceFiles(rel)));
    } else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) {
      out.push(rel);
    }
  }
  return out;
}

/** Whether a source text imports the writer: a named import or re-export of saveEngineState, a star import, a dynamic import. */
function importsWriter(text: string): boolean {
  const fromStore = [...text.matchAll(/(?:import|export)\s*(?:type\s*)?\{([^}]*)\}\s*from\s*['"]([^'"]*state-store(?:\.js)?)['"]/g)];
  if (fromStore.some((m) => /\bsaveEngineState\b/.test(m[1] ?? ''))) return true;
  return /(?:import|export)\s*\*\s*(?:as\s+\w+\s*)?from\s*['"][^'"]*state-store(?:\.js)?['"]/.test(text) || /import\(\s*['"][^'"]*state-store/.test(text);
}

test('only the lifecycle module imports the state store writer (saveEngineState): nothing else writes state.json', async () => {
  const files = (await Promise.all(['src', 'partition', 'verify', 'common', 'fixtures', 'qemu', 'bench', 'scripts'].map((d) => sourceFiles(d).catch(() => [])))).flat();
  assert.ok(files.length > 100, 'the scan sees the tree');
  const importers: string[] = [];
  for (const file of files) {
    if (importsWriter(await readFile(path.join(ROOT, file), 'utf8'))) importers.push(file);
  }
  assert.deepEqual(importers.sort(), [...WRITER_IMPORTERS].sort());
});

test('the writer scan catches every way of importing the writer, and passes a reader (so it can fail)', () => {
  const STORE = ['state', 'store.js'].join('-'); // split, so this file does not match its own scan
  assert.equal(importsWriter(`import {\n  loadEngineState,\n  saveEngineState,\n} from '../engine/${STORE}';`), true);
  assert.equal(importsWriter(`export { saveEngineState as save } from './${STORE}';`), true);
  assert.equal(importsWriter(`import * as store from '../engine/${STORE}';`), true);
  assert.equal(importsWriter(`const store = await import('../engine/${STORE}');`), true);
  assert.equal(importsWriter(`import { loadEngineState, type EngineState } from '../engine/${STORE}';`), false);
});
