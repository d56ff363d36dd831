// Post-boot health checks: executables in the health dir and systemd units that must be active,
// each with its own timeout, failing ones retried until one overall deadline.

import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorCode } from '../../common/errors.js';
import { runCheckInScope, type CheckScope } from './check-scope.js';

export interface HealthConfig {
  /** Directory of executable checks (HEALTH_DIR); missing or null = none. */
  dir: string | null;
  /** systemd units that must be active (HEALTH_UNITS). */
  units: readonly string[];
  /** All checks must pass within this time (HEALTH_TIMEOUT). */
  timeoutMs: number;
  /** One run of one check may take at most this long (default: min(60 s, timeoutMs)). */
  checkTimeoutMs?: number;
  /** Pause between rounds of retrying the failing checks (default 5 s, never past the deadline). */
  retryDelayMs?: number;
  /** How units are asked (default ["systemctl", "is-active", "--quiet"]; tests substitute a script). */
  unitCommand?: readonly string[];
  /** How a check's processes are kept killable (default: a systemd scope when systemd is PID 1, else a session). */
  scope?: CheckScope;
  /** Refuse checks not owned by root or writable by group/others (default: when running as root). */
  requireRootOwned?: boolean;
}

export interface HealthCheckResult {
  name: string;
  kind: 'executable' | 'unit';
  ok: boolean;
  /** Exit code, signal or timeout, and the last line the check printed. */
  detail: string;
  /** Rounds this check ran (1 = passed or failed at the first run; 0 = refused, never run). */
  runs: number;
  /** Set when the check was refused without running (ERR_HEALTH_CHECK_UNSAFE). */
  code?: ErrorCode;
}

export interface HealthReport {
  ok: boolean;
  rounds: number;
  elapsedMs: number;
  results: HealthCheckResult[];
}

interface Check {
  name: string;
  kind: HealthCheckResult['kind'];
  argv: string[];
  /** Why it must not run (a file others could have changed); it then fails without running. */
  refused?: string;
}

/** The names run-parts runs (Debian's default, LANANA): letters, digits, '_' and '-'. No dots, so no editor backups
 * (`10-app~`, `.10-app.swp`, `#10-app#`), no package leftovers (`10-app.dpkg-old`) and no `README.md`. */
const RUN_PARTS_NAME = /^[A-Za-z0-9_-]+$/;

/** Why a file root would run is unsafe: not owned by root, or writable by group or others; undefined if safe. */
function unsafeBecause(what: string, info: { uid: number; mode: number }): string | undefined {
  if (info.uid !== 0) return `${what} is owned by uid ${info.uid}, not root`;
  if ((info.mode & 0o022) !== 0) return `${what} is writable by ${(info.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return undefined;
}

async function listExecutables(dir: string | null, requireRootOwned: boolean): Promise<Check[]> {
  if (dir === null) return [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  // As root, a check anyone else can change runs as root: refuse it (and all of a dir others can write to).
  const dirInfo = requireRootOwned ? await stat(dir) : undefined;
  const dirUnsafe = dirInfo ? unsafeBecause(`the health dir "${dir}"`, dirInfo) : undefined;
  const checks: Check[] = [];
  for (const name of names.sort()) {
    if (!RUN_PARTS_NAME.test(name)) continue;
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => null);
    // Like run-parts: regular files with an execute bit; anything else in the dir is not a check.
    if (!info?.isFile() || (info.mode & 0o111) === 0) continue;
    const check: Check = { name, kind: 'executable', argv: [file] };
    if (requireRootOwned) {
      const link = await lstat(file);
      const refused = dirUnsafe ?? (link.isSymbolicLink() ? unsafeBecause(`the link "${file}"`, link) : undefined) ?? unsafeBecause(`"${file}"`, info);
      if (refused !== undefined) check.refused = refused;
    }
    checks.push(check);
  }
  return checks;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines.at(-1) ?? '').slice(0, 200);
}

async function runCheck(check: Check, timeoutMs: number, config: HealthConfig, signal: AbortSignal | undefined): Promise<{ ok: boolean; detail: string; timedOut: boolean }> {
  // Its own scope (a systemd scope, else a session marked in its environment): at the deadline, and when the check
  // ends, everything it started is killed, including a child that left with setsid and still holds stdout.
  const run = await runCheckInScope(check.argv, timeoutMs, { ...(signal ? { signal } : {}), ...(config.scope ? { scope: config.scope } : {}) });
  if (run.exitCode === 0 && !run.timedOut) return { ok: true, detail: 'passed', timedOut: false };
  const output = lastLine(run.output);
  const why = run.timedOut
    ? `timed out after ${timeoutMs} ms`
    : run.exitCode !== null
      ? `exit code ${run.exitCode}`
      : run.signal !== null
        ? `killed by ${run.signal}`
        : `failed to run: ${run.spawnError ?? 'unknown error'}`;
  return { ok: false, detail: output ? `${why}: ${output}` : why, timedOut: run.timedOut };
}

/**
 * Runs every check; the ones that fail are run again each round until all pass or the deadline
 * (timeoutMs from the start) is reached. No checks at all counts as healthy.
 */
export async function runHealthChecks(
  config: HealthConfig,
  options: { signal?: AbortSignal; log?: (line: string) => void; now?: () => number } = {},
): Promise<HealthReport> {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const started = now();
  const deadline = started + config.timeoutMs;
  const unitCommand = config.unitCommand ?? ['systemctl', 'is-active', '--quiet'];
  const requireRootOwned = config.requireRootOwned ?? process.getuid?.() === 0;
  const checks: Check[] = [
    ...(await listExecutables(config.dir, requireRootOwned)),
    ...config.units.map((unit): Check => ({ name: unit, kind: 'unit', argv: [...unitCommand, unit] })),
  ];
  const results = new Map<string, HealthCheckResult>(
    checks.map((c): [string, HealthCheckResult] => [
      `${c.kind}:${c.name}`,
      c.refused === undefined
        ? { name: c.name, kind: c.kind, ok: false, detail: 'not run', runs: 0 }
        : { name: c.name, kind: c.kind, ok: false, detail: `refused, not run: ${c.refused}`, runs: 0, code: 'ERR_HEALTH_CHECK_UNSAFE' },
    ]),
  );
  for (const c of checks) if (c.refused !== undefined) log(`health: ${c.kind} "${c.name}" refused (${c.refused}) [ERR_HEALTH_CHECK_UNSAFE]`);
  let rounds = 0;
  for (;;) {
    rounds += 1;
    const failing = checks.filter((c) => c.refused === undefined && !results.get(`${c.kind}:${c.name}`)?.ok);
    for (const check of failing) {
      const remaining = deadline - now();
      if (remaining <= 0) break;
      const perCheck = config.checkTimeoutMs ?? 60_000;
      const limit = Math.min(remaining, perCheck);
      const outcome = await runCheck(check, limit, config, options.signal);
      const record = results.get(`${check.kind}:${check.name}`);
      // A rerun cut off by the overall deadline (not by the check's own timeout) says nothing new: the
      // report keeps why the check failed before ("exit code 3: inactive", not "timed out after 8 ms").
      const cutOff = outcome.timedOut && limit < perCheck && record !== undefined && record.runs > 0;
      if (record) Object.assign(record, cutOff ? {} : { ok: outcome.ok, detail: outcome.detail }, { runs: record.runs + 1 });
      if (!outcome.ok) log(`health: ${check.kind} "${check.name}" failed (${outcome.detail})`);
    }
    const all = [...results.values()];
    // A refused check fails without running: rerunning the others cannot make the report healthy.
    if (all.every((r) => r.ok || r.code !== undefined)) break;
    const remaining = deadline - now();
    if (remaining <= 0 || options.signal?.aborted) break;
    await sleep(Math.min(config.retryDelayMs ?? 5000, remaining), undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
  }
  const list = [...results.values()];
  return { ok: list.every((r) => r.ok), rounds, elapsedMs: now() - started, results: list };
}
