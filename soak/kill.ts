// npm run soak:kill -- --count 1000: SIGKILLs abupdate (install, post-boot, rollback, mark-*, clear-bad) at moments
// picked by seeded timers over whole runs (and, for a share of installs, inside the flip: the GPT writes), checks
// the promise after every kill (soak/invariants.ts), resumes the operation, and goes on through update cycles.
// Prints the kills, the outcomes by phase and the number of unbootable states (must be zero).

import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { imageBytes, makeBundle, makeImage } from '../fixtures/bundle.js';
import { fastCliArgv } from '../fixtures/cli-bundle.js';
import { makeInstallEnv, TEST_COMPATIBLE } from '../fixtures/install-env.js';
import { prng } from '../fixtures/prng.js';
import { makeRebootRecorder } from '../fixtures/reboot-recorder.js';
import { simulateBoot } from '../partition/boot-control.js';
import { openGptprioBootControl } from '../partition/gptprio.js';
import type { SlotName } from '../partition/slots.js';
import { loadEngineState } from '../src/engine/state-store.js';
import { compareVersions } from '../verify/version.js';
import { checkHost, hashBytes, type SlotPlace, type VerifiedImage } from './invariants.js';

const HELP = `Usage: npm run soak:kill -- [--count N] [--seed S] [--json]

SIGKILLs abupdate install, post-boot, rollback, mark-* and clear-bad at random moments (seeded timers over the
whole run; a share of installs inside the flip's GPT writes), checks after each kill that the bootloader rule (cgpt)
picks a slot holding a verified version, the booted slot is unchanged and the floor not lower, then resumes.
--count N   kills to make (default 100)
--seed S    PRNG seed (default 1): the same seed makes the same sequence of decisions (the moments also
            depend on how long runs take, so a replay is close, not exact)
SIGTERM or SIGINT stops it after the current update cycle and prints the report so far.`;

type Op = 'install' | 'post-boot' | 'rollback' | 'mark-good' | 'mark-bad' | 'mark-active' | 'clear-bad';

interface PhaseStats {
  kills: number;
  /** What the bootloader rule picks right after the kill: the booted slot, the new one, or nothing. */
  picksBooted: number;
  picksOther: number;
  unbootable: number;
  problems: number;
}

export interface KillSoakReport {
  seed: number;
  kills: number;
  operations: number;
  cycles: number;
  commits: number;
  rollbacks: number;
  unbootable: number;
  problems: string[];
  byPhase: Record<string, PhaseStats>;
  seconds: number;
}

interface Run {
  killed: boolean;
  phase: string;
  exitCode: number | undefined;
  ms: number;
  stderr: string;
}

export async function runKillSoak(options: { count: number; seed: number; log?: ((line: string) => void) | undefined; stop?: AbortSignal }): Promise<KillSoakReport> {
  const started = Date.now();
  const rnd = prng(options.seed);
  const log = options.log ?? (() => {});
  const cleanups: Array<() => unknown> = [];
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-soak-kill-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  try {
    const env = await makeInstallEnv({ after: (fn) => void cleanups.unshift(fn) }, dir, { imageSize: 1024 * 1024 + 4096, slotSizeMiB: 4 });
    const argv = await fastCliArgv();
    const healthDir = path.join(dir, 'health.d');
    const healthResult = path.join(dir, 'health-result');
    await mkdir(healthDir);
    await writeFile(path.join(healthDir, '10-app'), `#!/bin/sh\nexit "$(cat ${healthResult})"\n`);
    await chmod(path.join(healthDir, '10-app'), 0o755);
    const recorder = await makeRebootRecorder(dir);
    const conf = path.join(dir, 'update.conf');
    await writeFile(conf, [`HEALTH_DIR=${healthDir}`, 'HEALTH_TIMEOUT=2s', `REBOOT_COMMAND=${recorder.command('host').join(' ')}`, ''].join('\n'));
    const slots: Record<SlotName, SlotPlace> = { A: env.disk.slots.A, B: env.disk.slots.B };
    const v1 = imageBytes(2 * 1024 * 1024, '1.0.0');
    const images: VerifiedImage[] = [{ version: '1.0.0', size: v1.length, sha256: createHash('sha256').update(v1).digest('hex') }];
    const report: KillSoakReport = { seed: options.seed, kills: 0, operations: 0, cycles: 0, commits: 0, rollbacks: 0, unbootable: 0, problems: [], byPhase: {}, seconds: 0 };
    const estimates = new Map<string, number>();
    let booted: SlotName = 'A';
    let bootedSha256 = await hashBytes(env.disk.path, slots.A.offset, slots.A.size);
    let floor: string | null = null;

    const common = () => ['--disk', env.disk.path, '--state-dir', env.stateDir, '--run-dir', env.runDir, '--config', conf, '--booted', booted];
    const floorNow = async () => (await loadEngineState(env.stateDir)).floorVersion;
    const boot = async () => {
      const { control } = await openGptprioBootControl(env.disk.path);
      const { slot } = await simulateBoot(control);
      if (slot === null) throw new Error('simulateBoot found no bootable slot');
      booted = slot;
      bootedSha256 = await hashBytes(env.disk.path, slots[slot].offset, slots[slot].size);
    };

    const check = async (where: string, phase: string | undefined): Promise<void> => {
      let currentFloor: string | null = null;
      const problems: string[] = [];
      try {
        currentFloor = await floorNow();
      } catch (error) {
        problems.push(`the engine state cannot be read: ${(error as Error).message}`);
      }
      const result = await checkHost({ diskPath: env.disk.path, slots, images, booted, bootedSha256, floor, currentFloor });
      problems.push(...result.problems);
      if (currentFloor !== null && (floor === null || compareVersions(currentFloor, floor) > 0)) floor = currentFloor;
      if (phase !== undefined) {
        const stats = (report.byPhase[phase] ??= { kills: 0, picksBooted: 0, picksOther: 0, unbootable: 0, problems: 0 });
        stats.kills += 1;
        if (result.next === null) stats.unbootable += 1;
        else if (result.next === booted) stats.picksBooted += 1;
        else stats.picksOther += 1;
        if (problems.length > 0) stats.problems += 1;
      }
      if (result.next === null) report.unbootable += 1;
      for (const p of problems) {
        const line = `${where}: ${p} (seed ${options.seed}, kill ${report.kills})`;
        report.problems.push(line);
        log(`PROBLEM ${line}`);
      }
    };

    /**
     * Runs one CLI operation, maybe killed by a timer; returns how it ended. The timer is uniform over the whole
     * run (from the spawn), or for installs over the work (from the first phase event) or over the flip (from the
     * "flip" phase event: the GPT or grubenv writes), each span estimated from the runs that were not killed.
     */
    const runOnce = async (op: Op, args: string[], mayKill: boolean): Promise<Run> => {
      const whole = estimates.get(op);
      // installs are where the writes are: they are killed most; post-boot spends most of its time in health checks
      const kill = mayKill && whole !== undefined && rnd() < (op === 'install' ? 0.9 : op === 'post-boot' ? 0.4 : 0.7);
      const pick = rnd();
      const anchor: 'spawn' | 'check' | 'flip' = op !== 'install' || pick < 0.3 ? 'spawn' : pick < 0.75 ? 'check' : 'flip';
      const span = anchor === 'spawn' ? (whole ?? 0) : (estimates.get(`install:${anchor}`) ?? 20);
      const delay = rnd() * span * 1.1;
      const t0 = Date.now();
      const at: Partial<Record<'check' | 'flip', number>> = {};
      let phase = 'startup';
      // its own process group: a Ctrl-C at the terminal stops the soak after this cycle, not the operation under test
      const child = execa(argv[0] as string, [...argv.slice(1), op, ...args], { reject: false, stdin: 'ignore', buffer: false, detached: true });
      let timer: NodeJS.Timeout | undefined;
      const arm = (point: 'spawn' | 'check' | 'flip') => {
        if (kill && point === anchor) timer = setTimeout(() => child.kill('SIGKILL'), delay);
      };
      arm('spawn');
      let pending = '';
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-4000);
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const m = /"event":"phase","phase":"([a-z]+)"/.exec(line);
          if (!m?.[1]) continue;
          phase = m[1];
          if (phase === 'check' || phase === 'flip') {
            at[phase] ??= Date.now();
            arm(phase);
          }
        }
      });
      const result = await child;
      if (timer) clearTimeout(timer);
      const end = Date.now();
      const killed = result.signal === 'SIGKILL';
      const ewma = (key: string, ms: number) => {
        const old = estimates.get(key);
        estimates.set(key, old === undefined ? ms : 0.8 * old + 0.2 * ms);
      };
      if (!killed) {
        ewma(op, end - t0);
        if (at.check !== undefined) ewma('install:check', end - at.check);
        if (at.flip !== undefined) ewma('install:flip', end - at.flip);
      }
      const label = op !== 'install' ? op : `install:${phase}${anchor === 'flip' && kill ? ' (timer in flip)' : ''}`;
      return { killed, phase: label, exitCode: result.exitCode, ms: end - t0, stderr };
    };

    /** Runs OP until it completes on its own, killing attempts at random; checks the promise after every kill. */
    const runToCompletion = async (op: Op, args: string[]): Promise<Run> => {
      for (let attempt = 0; ; attempt++) {
        const run = await runOnce(op, args, attempt < 6 && report.kills < options.count && !options.stop?.aborted);
        report.operations += 1;
        if (run.killed) {
          report.kills += 1;
          await check(`after a kill in ${run.phase}`, run.phase);
          if (report.kills % 50 === 0) log(`soak:kill: ${report.kills} kills, ${report.cycles} cycles, ${report.unbootable} unbootable`);
          continue;
        }
        await check(`after ${op} completed`, undefined);
        return run;
      }
    };

    const bundleFor = async (version: string): Promise<string> => {
      const image = await makeImage(path.join(dir, `image-${version}.img`), 1024 * 1024 + 4096 + 4096 * images.length, version);
      const bundle = await makeBundle(dir, { image, version, compatible: TEST_COMPATIBLE, key: env.keys, chunkSize: 65536 });
      images.push({ version, size: bundle.manifest.image.size, sha256: bundle.manifest.image.sha256 });
      return env.serve(`bundle-${version}.tar`, bundle.path);
    };

    for (let major = 2; report.kills < options.count && !options.stop?.aborted; major++) {
      report.cycles += 1;
      const version = `${major}.0.0`;
      const url = await bundleFor(version);
      const installed = await runToCompletion('install', [url, ...common(), '--keyring', env.keys.keyringDir, '--compatible', TEST_COMPATIBLE, '--json']);
      if (installed.exitCode !== 0) {
        const line = `cycle ${report.cycles}: the install of ${version} did not complete when resumed (exit ${installed.exitCode}): ${installed.stderr.trim().split('\n').slice(-3).join(' | ')} (seed ${options.seed}, kill ${report.kills})`;
        report.problems.push(line);
        log(`PROBLEM ${line}`);
        break;
      }
      const healthy = rnd() < 0.75;
      await writeFile(healthResult, healthy ? '0' : '1');
      const from: SlotName = booted;
      await boot();
      if (booted === from) report.problems.push(`cycle ${report.cycles}: after installing ${version} the bootloader stayed on ${from}`);
      const postBoot = (await runToCompletion('post-boot', [...common(), '--json'])).exitCode;
      if (postBoot === 0) report.commits += 1;
      else {
        report.rollbacks += 1;
        await boot(); // the rollback's reboot: the bootloader passes over the bad slot
        await runToCompletion('post-boot', [...common(), '--json']);
        if (rnd() < 0.5) await runToCompletion('clear-bad', ['--state-dir', env.stateDir, '--run-dir', env.runDir, '--config', conf]);
      }
      const extra = rnd();
      if (extra < 0.25) {
        // a manual rollback to the other (committed) slot, when it holds one, then its boot
        const rolled = (await runToCompletion('rollback', [...common(), '--json'])).exitCode;
        if (rolled === 0) {
          await boot();
          await runToCompletion('post-boot', [...common(), '--json']);
        }
      } else if (extra < 0.5) {
        // the other slot demoted, re-activated for one try, and the booted one committed again (first again)
        await runToCompletion('mark-bad', ['other', ...common()]);
        await runToCompletion('mark-active', ['other', ...common()]);
        await runToCompletion('mark-good', ['booted', ...common()]);
      }
      await writeFile(healthResult, '0');
    }
    report.seconds = Math.round((Date.now() - started) / 1000);
    return report;
  } finally {
    for (const fn of cleanups) await fn();
  }
}

export function describeKillSoak(r: KillSoakReport): string {
  const lines = [
    `soak:kill seed ${r.seed}: ${r.kills} kills over ${r.operations} runs in ${r.cycles} update cycles (${r.commits} commits, ${r.rollbacks} health rollbacks), ${r.seconds} s`,
    'outcomes by phase (what the bootloader rule, reading the GPT with cgpt, picks right after the kill):',
    ...Object.entries(r.byPhase)
      .sort((a, b) => b[1].kills - a[1].kills)
      .map(([phase, s]) => `  ${phase.padEnd(26)} ${String(s.kills).padStart(5)} kills: booted slot ${s.picksBooted}, the other slot ${s.picksOther}, unbootable ${s.unbootable}, broken promise ${s.problems}`),
    `unbootable: ${r.unbootable}`,
    `problems: ${r.problems.length}`,
    ...r.problems.slice(0, 20).map((p) => `  ${p}`),
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { count: { type: 'string', default: '100' }, seed: { type: 'string', default: '1' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const count = Number(values.count);
  const seed = Number(values.seed);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
    console.error(`Cannot run soak:kill: --count "${values.count}" and --seed "${values.seed}" must be whole numbers, the count at least 1 [ERR_USAGE]`);
    return 2;
  }
  // SIGTERM or SIGINT ends the soak at the end of the current cycle and still prints what it found
  const stop = new AbortController();
  // process.on, not once: execa's cleanup (signal-exit) re-sends a signal to this process when its own listener is
  // the only one left when the signal is handled, and a once-listener removes itself before signal-exit looks
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop.abort());
  const report = await runKillSoak({ count, seed, stop: stop.signal, log: values.json ? undefined : (line) => console.log(line) });
  if (stop.signal.aborted) console.log(`soak:kill: stopped by a signal after ${report.kills} of ${count} kills`);
  console.log(values.json ? JSON.stringify(report, null, 2) : describeKillSoak(report));
  return report.problems.length === 0 && report.unbootable === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
