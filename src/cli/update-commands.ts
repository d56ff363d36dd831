// `abupdate check` and `abupdate update`: through the running daemon's control API, or directly without one.

import { UpdaterError, type UpdaterErrorJson } from '../../common/errors.js';
import { controlRequest, followControlEvents, isDaemonRunning } from '../daemon/control-client.js';
import type { CycleResult } from '../daemon/scheduler.js';
import { createUpdateService } from '../daemon/service.js';
import { formatBytes } from '../engine/progress.js';
import { createLogger } from '../log.js';
import { report, type Command, type CommandContext } from './command.js';
import { buildServiceOptions, SERVICE_OPTIONS } from './service-context.js';

/** A cycle result as JSON (from the daemon, or serialised locally): the error is an UpdaterErrorJson. */
type CycleJson = Omit<CycleResult, 'error'> & { error?: UpdaterErrorJson };

function describe(result: CycleJson): string {
  const offer = result.offer;
  switch (result.outcome) {
    case 'noupdate':
      return 'No update available.';
    case 'available':
      return `Update available: ${offer?.version} (${formatBytes(offer?.size ?? 0)}) at ${offer?.url}`;
    case 'installed':
      return `Installed ${offer?.version}; the new slot boots next. Reboot to start it.`;
    case 'already-installed':
      return `Update ${offer?.version} is already installed; reboot to start it.`;
    case 'reboot-pending':
      return `Update ${result.pendingVersion} is installed and waits for the reboot; reboot to start it.`;
    case 'error':
      return `Failed: ${result.error?.message ?? 'unknown error'}`;
  }
}

function progressLine(event: Record<string, unknown>): string | undefined {
  if (event.type !== 'progress') return undefined;
  const p = event.progress as { phase?: string; bytesDone?: number; bytesTotal?: number };
  const percent = p.bytesTotal ? ` ${Math.floor(((p.bytesDone ?? 0) * 100) / p.bytesTotal)}%` : '';
  return `${p.phase ?? 'working'}${percent}`;
}

async function runCycle(ctx: CommandContext, kind: 'check' | 'update'): Promise<{ result: CycleJson; via: 'daemon' | 'direct' }> {
  const { runDir } = await ctx.host();
  if (await isDaemonRunning(runDir)) {
    if (kind === 'check') return { result: await controlRequest<CycleJson>(runDir, 'POST', '/check', { signal: ctx.signal }), via: 'daemon' };
    const stop = new AbortController();
    let last = '';
    const following = followControlEvents(
      runDir,
      (event) => {
        const line = progressLine(event);
        if (line !== undefined && line !== last && !ctx.json) ctx.stderr.write(`${line}\n`);
        if (line !== undefined) last = line;
      },
      stop.signal,
    ).catch(() => undefined);
    try {
      return { result: await controlRequest<CycleJson>(runDir, 'POST', '/update', { signal: ctx.signal }), via: 'daemon' };
    } finally {
      stop.abort();
      await following;
    }
  }
  const logger = createLogger({ stream: ctx.stderr, env: ctx.env, level: ctx.json ? 'warn' : 'info' });
  const service = await createUpdateService({ ...(await buildServiceOptions(ctx, logger)), scheduler: { signal: ctx.signal } });
  await service.reportStartup(ctx.signal);
  let last = '';
  service.scheduler.subscribe((event) => {
    const line = progressLine(event as unknown as Record<string, unknown>);
    if (line !== undefined && line !== last && !ctx.json) ctx.stderr.write(`${line}\n`);
    if (line !== undefined) last = line;
  });
  const result = await service.scheduler.trigger(kind);
  return { result: JSON.parse(JSON.stringify(result)) as CycleJson, via: 'direct' };
}

function commandFor(kind: 'check' | 'update'): Command {
  return {
    name: kind,
    summary: kind === 'check' ? 'ask the update server whether an update is available' : 'check and install an available update now',
    usage: `abupdate ${kind} [--json] [OPTIONS]`,
    description: [
      kind === 'check'
        ? 'Asks SERVER (per PROTOCOL) once whether a newer version is offered; installs nothing.'
        : 'Asks SERVER once and, when a newer version is offered, downloads, checks and installs it into\nthe other slot (reporting each step to the server). It does not reboot.',
      'When "abupdate daemon" runs, the request goes through its control socket (RUN_DIR/control.sock),',
      'so the daemon does the work; otherwise this command does it itself, with the same requests.',
      'Exit status: 0 when the check (and install) worked, whether or not there was an update; 1 on error.',
    ].join('\n'),
    options: SERVICE_OPTIONS,
    async run(ctx) {
      const { result, via } = await runCycle(ctx, kind);
      if (result.outcome === 'error') {
        const error = result.error ?? { name: 'UpdaterError', code: 'ERR_INTERNAL', message: `Cannot ${kind}: unknown error` };
        throw UpdaterError.fromJSON(error);
      }
      report(ctx, describe(result), { ...result, via });
      return 0;
    },
  };
}

export const checkCommand = commandFor('check');
export const updateCommand = commandFor('update');
