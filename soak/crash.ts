// npm run soak:crash -- --states 100000: records the traces of the real operations and explores that many crash
// states (prefixes, torn writes, seeded subsets and reorderings of unsynced writes), printing the count per trace and
// every failing state with what replays it (the trace, "prefix K", "torn write I at sector S" or "sample (seed S)").

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exploreTraces, makeExplorer, recordTraces, TRACE_NAMES } from './crash/explore.js';

const HELP = `Usage: npm run soak:crash -- [--states N] [--seed S] [--recover R] [--json]

Explores at least N crash states (default 100000) over the traces of ${TRACE_NAMES.join(', ')}, checking each with
cgpt (GRUB's gptprio rule), the verified slot bytes, the booted slot and the floor; R states per trace (default 20)
also rerun the operation to show it recovers. A failing state prints with its replay label and seed.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { states: { type: 'string', default: '100000' }, seed: { type: 'string', default: '1' }, recover: { type: 'string', default: '20' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const states = Number(values.states);
  const seed = Number(values.seed);
  const recover = Number(values.recover);
  if (![states, seed, recover].every(Number.isInteger) || states < 1) {
    console.error(`Cannot run soak:crash: --states, --seed and --recover must be whole numbers [ERR_USAGE]`);
    return 2;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-soak-crash-'));
  const cleanups: Array<() => unknown> = [];
  const started = Date.now();
  try {
    const traces = await recordTraces(dir, cleanups);
    const samples = Math.ceil(states / traces.length);
    const report = await exploreTraces(traces, makeExplorer(dir), { samples, seed, recover, log: values.json ? undefined : (line) => console.log(line) });
    const seconds = Math.round((Date.now() - started) / 1000);
    if (values.json) console.log(JSON.stringify({ ...report, seed, seconds }, null, 2));
    else console.log(`soak:crash seed ${seed}: ${report.states} crash states over ${traces.length} traces in ${seconds} s, ${report.failures.length} failing`);
    return report.failures.length === 0 ? 0 : 1;
  } finally {
    for (const fn of cleanups) await fn();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
