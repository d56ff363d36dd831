// Post-boot health checks: executables in the health dir and systemd units that must be active,
// each with its own timeout, failing ones retried until one overall deadline.

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

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
}

export interface HealthCheckResult {
  name: string;
  kind: 'executable' | 'unit';
  ok: boolean;
  /** Exit code, signal or timeout, and the last line the check printed. */
  detail: string;
  /** Rounds this check ran (1 = passed or failed at the first run). */
  runs: number;
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
}

async function listExecutables(dir: string | null): Promise<Check[]> {
  if (dir === null) return [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const checks: Check[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => null);
    // Like run-parts: regular files with an execute bit; anything else in the dir is not a check.
    if (info?.isFile() && (info.mode & 0o111) !== 0) checks.push({ name, kind: 'executable', argv: [file] });
  }
  return checks;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines.at(-1) ?? '').slice(0, 200);
}

async function runCheck(check: Check, timeoutMs: number, signal: AbortSignal | undefined): Promise<{ ok: boolean; detail: string; timedOut: boolean }> {
  const [file, ...args] = check.argv;
  // Its own process group, so a timeout kills what the check started too (a `sleep` holding the pipe).
  const subprocess = execa(file ?? '', args, { reject: false, all: true, stdin: 'ignore', detached: true });
  let timedOut = false;
  const killGroup = (): void => {
    try {
      if (subprocess.pid !== undefined) process.kill(-subprocess.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, Math.max(1, timeoutMs));
  signal?.addEventListener('abort', killGroup, { once: true });
  const result = await subprocess;
  clearTimeout(timer);
  signal?.removeEventListener('abort', killGroup);
  if (result.exitCode === 0 && !timedOut) return { ok: true, detail: 'passed', timedOut };
  const output = lastLine(String(result.all ?? ''));
  const why = timedOut
    ? `timed out after ${timeoutMs} ms`
    : result.exitCode !== undefined
      ? `exit code ${result.exitCode}`
      : (result.shortMessage ?? 'failed to run');
  return { ok: false, detail: output ? `${why}: ${output}` : why, timedOut };
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
  const checks: Check[] = [
    ...(await listExecutables(config.dir)),
    ...config.units.map((unit): Check => ({ name: unit, kind: 'unit', argv: [...unitCommand, unit] })),
  ];
  const results = new Map<string, HealthCheckResult>(
    checks.map((c) => [`${c.kind}:${c.name}`, { name: c.name, kind: c.kind, ok: false, detail: 'not run', runs: 0 }]),
  );
  let rounds = 0;
  for (;;) {
    rounds += 1;
    const failing = checks.filter((c) => !results.get(`${c.kind}:${c.name}`)?.ok);
    for (const check of failing) {
      const remaining = deadline - now();
      if (remaining <= 0) break;
      const perCheck = config.checkTimeoutMs ?? 60_000;
      const limit = Math.min(remaining, perCheck);
      const outcome = await runCheck(check, limit, options.signal);
      const record = results.get(`${check.kind}:${check.name}`);
      // A rerun cut off by the overall deadline (not by the check's own timeout) says nothing new: the
      // report keeps why the check failed before ("exit code 3: inactive", not "timed out after 8 ms").
      const cutOff = outcome.timedOut && limit < perCheck && record !== undefined && record.runs > 0;
      if (record) Object.assign(record, cutOff ? {} : { ok: outcome.ok, detail: outcome.detail }, { runs: record.runs + 1 });
      if (!outcome.ok) log(`health: ${check.kind} "${check.name}" failed (${outcome.detail})`);
    }
    const all = [...results.values()];
    if (all.every((r) => r.ok)) break;
    const remaining = deadline - now();
    if (remaining <= 0 || options.signal?.aborted) break;
    await sleep(Math.min(config.retryDelayMs ?? 5000, remaining), undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
  }
  const list = [...results.values()];
  return { ok: list.every((r) => r.ok), rounds, elapsedMs: now() - started, results: list };
}
