// npm run fuzz -- --target NAME --minutes N: builds the target, seeds its corpus from the fixtures, runs Jazzer.js
// (libFuzzer, coverage-guided) under the target's contract and prints executions, coverage and findings.
// --smoke runs every target briefly (CI); --all runs every target in turn.

import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../fixtures/cli.js';
import type { FuzzContract } from './contract.js';
import { ensureJazzerLoads } from './jazzer-glibc.js';
import { writeSeedCorpus } from './seeds.js';
import { FUZZ_TARGETS, isFuzzTarget, type FuzzTargetName } from './targets.js';

const HELP = `Usage: npm run fuzz -- --target NAME [--minutes N | --seconds N] [--json]
       npm run fuzz -- --smoke [--seconds N]      every target for N seconds (default 20): the CI smoke
       npm run fuzz -- --all --minutes N          every target in turn

Coverage-guided fuzzing with Jazzer.js (libFuzzer). Targets: ${FUZZ_TARGETS.join(', ')}.
The corpus lives in .cache/fuzz/corpus/NAME (seeded from the fixtures when empty; --fresh reseeds it);
inputs that break a target's contract are saved in .cache/fuzz/findings/NAME and make the run fail:
copy them to fuzz/regressions/NAME/ (replayed by npm test) and fix the parser.`;

export interface FuzzRunResult {
  target: FuzzTargetName;
  seconds: number;
  executions: number;
  execsPerSecond: number;
  /** libFuzzer's "cov": instrumented edges reached. */
  edges: number;
  /** libFuzzer's "ft": features (edges with hit-count buckets). */
  features: number;
  corpusInputs: number;
  seedInputs: number;
  peakRssMb: number;
  findings: string[];
  exitCode: number;
}

const CACHE = path.join(PROJECT_ROOT, '.cache', 'fuzz');

async function loadContract(target: FuzzTargetName): Promise<FuzzContract> {
  const module = (await import(`./targets/${target}.js`)) as { contract: FuzzContract };
  return module.contract;
}

async function buildTarget(target: FuzzTargetName): Promise<string> {
  const outfile = path.join(CACHE, 'build', `${target}.cjs`);
  await build({
    entryPoints: [path.join(PROJECT_ROOT, 'fuzz', 'targets', `${target}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    logLevel: 'error',
    // A native addon cannot be bundled; the build is inside the project, so node_modules resolves it.
    external: ['zstd-napi'],
  });
  return outfile;
}

function jazzerCli(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@jazzer.js/core/package.json')), 'dist', 'cli.js');
}

async function countFiles(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).length;
  } catch {
    return 0;
  }
}

export async function runFuzzTarget(target: FuzzTargetName, seconds: number, options: { fresh?: boolean; log?: (line: string) => void } = {}): Promise<FuzzRunResult> {
  const contract = await loadContract(target);
  const corpus = path.join(CACHE, 'corpus', target);
  const findingsDir = path.join(CACHE, 'findings', target);
  if (options.fresh) await rm(corpus, { recursive: true, force: true });
  let seedInputs = await countFiles(corpus);
  if (seedInputs === 0) seedInputs = await writeSeedCorpus(target, corpus, path.join(CACHE, 'work', target));
  await mkdir(findingsDir, { recursive: true });
  const bundle = await buildTarget(target);
  const args = [
    jazzerCli(), bundle, corpus,
    ...(contract.sync ? ['--sync'] : []),
    '--timeout', String(contract.timeoutMs),
    '--',
    `-max_total_time=${seconds}`,
    `-max_len=${contract.maxLen}`,
    `-rss_limit_mb=${contract.maxRssMb}`,
    `-malloc_limit_mb=${contract.maxRssMb}`,
    '-print_final_stats=1',
    `-artifact_prefix=${findingsDir}/`,
  ];
  const logFile = path.join(CACHE, `${target}.log`);
  const log = createWriteStream(logFile);
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const stats = { executions: 0, edges: 0, features: 0, peakRssMb: 0 };
  const findings: string[] = [];
  let pending = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const status = /^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+)/.exec(line);
      if (status) {
        stats.executions = Math.max(stats.executions, Number(status[1]));
        stats.edges = Math.max(stats.edges, Number(status[2]));
        stats.features = Math.max(stats.features, Number(status[3]));
        const rss = /rss: (\d+)Mb/.exec(line);
        if (rss) stats.peakRssMb = Math.max(stats.peakRssMb, Number(rss[1]));
      }
      const units = /^stat::number_of_executed_units: (\d+)/.exec(line);
      if (units) stats.executions = Math.max(stats.executions, Number(units[1]));
      const peak = /^stat::peak_rss_mb: (\d+)/.exec(line);
      if (peak) stats.peakRssMb = Math.max(stats.peakRssMb, Number(peak[1]));
      const unit = /Test unit written to (\S+)/.exec(line);
      if (unit?.[1]) findings.push(unit[1]);
      if (/Uncaught Exception|ContractBreach|==\d+== ERROR|timeout|out-of-memory/i.test(line)) options.log?.(`${target}: ${line}`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exitCode = await new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  log.end();
  const elapsed = (Date.now() - started) / 1000;
  return {
    target,
    seconds: Math.round(elapsed),
    ...stats,
    execsPerSecond: Math.round(stats.executions / Math.max(elapsed, 1)),
    corpusInputs: await countFiles(corpus),
    seedInputs,
    findings,
    exitCode,
  };
}

export function describeRun(r: FuzzRunResult): string {
  return `fuzz ${r.target}: ${r.executions} executions in ${r.seconds} s (${r.execsPerSecond}/s), coverage ${r.edges} edges / ${r.features} features, ` +
    `corpus ${r.corpusInputs} inputs (${r.seedInputs} seeds), peak RSS ${r.peakRssMb} MB, findings ${r.findings.length}${r.findings.length ? `: ${r.findings.join(' ')}` : ''}` +
    (r.exitCode !== 0 && r.findings.length === 0 ? ` (jazzer exit code ${r.exitCode}; see .cache/fuzz/${r.target}.log)` : '');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', multiple: true },
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      fresh: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const targets = values.smoke || values.all ? [...FUZZ_TARGETS] : (values.target ?? []);
  if (targets.length === 0) {
    console.error(`Cannot fuzz: no target given [ERR_USAGE]\nhint: pass --target NAME (one of ${FUZZ_TARGETS.join(', ')}), --all or --smoke.`);
    return 2;
  }
  for (const t of targets) {
    if (!isFuzzTarget(t)) {
      console.error(`Cannot fuzz: unknown target "${t}" [ERR_USAGE]\nhint: targets are ${FUZZ_TARGETS.join(', ')}.`);
      return 2;
    }
  }
  const seconds = values.seconds !== undefined ? Number(values.seconds) : values.minutes !== undefined ? Number(values.minutes) * 60 : values.smoke ? 20 : 60;
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error(`Cannot fuzz: "${values.seconds ?? values.minutes}" is not a positive duration [ERR_USAGE]\nhint: --minutes 20 or --seconds 30.`);
    return 2;
  }
  const patched = ensureJazzerLoads();
  if (patched.length > 0 && !values.json) console.log(`jazzer: patched the prebuilt addon for this glibc (${patched.join(', ')})`);
  const results: FuzzRunResult[] = [];
  for (const target of targets as FuzzTargetName[]) {
    const result = await runFuzzTarget(target, seconds, { fresh: values.fresh, log: (line) => !values.json && console.log(line) });
    results.push(result);
    if (!values.json) console.log(describeRun(result));
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
  const failed = results.filter((r) => r.exitCode !== 0 || r.findings.length > 0);
  if (!values.json) console.log(`fuzz: ${results.length} targets, ${results.reduce((n, r) => n + r.executions, 0)} executions, ${failed.length} broke their contract`);
  return failed.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
