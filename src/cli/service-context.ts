// Turns CLI options + update.conf into the update service's options (shared by daemon, check and update).

import { readFileSync } from 'node:fs';
import { UpdaterError } from '../../common/errors.js';
import { parseDuration } from '../duration.js';
import { createEngineSeam } from '../daemon/engine-seam.js';
import type { UpdateServiceOptions } from '../daemon/service.js';
import type { Logger } from '../log.js';
import { COMMON_HELP, COMMON_OPTIONS, stringOption, type CommandContext, type OptionSpec } from './command.js';
import { resolveEngineDirs, type EngineDisk } from './engine-context.js';
import { openSlotContext, requireBooted } from './slot-context.js';

export const SERVICE_OPTIONS = {
  json: COMMON_OPTIONS.json,
  config: COMMON_OPTIONS.config,
  disk: COMMON_OPTIONS.disk,
  booted: COMMON_OPTIONS.booted,
  bootloader: COMMON_OPTIONS.bootloader,
  grubenv: COMMON_OPTIONS.grubenv,
  keyring: COMMON_OPTIONS.keyring,
  'state-dir': COMMON_OPTIONS['state-dir'],
  'run-dir': COMMON_OPTIONS['run-dir'],
  compatible: COMMON_OPTIONS.compatible,
  'current-version': { type: 'string' },
  'request-timeout': { type: 'string' },
  'boot-id-file': { type: 'string' },
} as const satisfies OptionSpec;

export const SERVICE_HELP = [
  COMMON_HELP.config,
  COMMON_HELP.disk,
  COMMON_HELP.booted,
  COMMON_HELP.bootloader,
  COMMON_HELP.grubenv,
  COMMON_HELP.keyring,
  COMMON_HELP['state-dir'],
  COMMON_HELP['run-dir'],
  COMMON_HELP.compatible,
  '  --current-version V    the running version when the engine state has no record of it (fresh host)',
  '  --request-timeout D    timeout of one request to the update server (default 30s)',
  '  --boot-id-file PATH    where the boot id is read (default /proc/sys/kernel/random/boot_id)',
].join('\n');

export function updaterVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'abupdate' && typeof pkg.version === 'string') return `abupdate-${pkg.version}`;
    } catch {
      // next location
    }
  }
  return 'abupdate-0.0.0';
}

export function durationOption(ctx: CommandContext, name: string): number | undefined {
  const text = stringOption(ctx.values, name);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UpdaterError('ERR_USAGE', `Cannot parse option --${name}: "${text}" is not a duration like 90s, 5m, 1h`);
  return ms;
}

/** The run dir alone (to find a running daemon before opening disks). */
export async function resolveRunDir(ctx: CommandContext): Promise<{ runDir: string }> {
  const dirs = await resolveEngineDirs(ctx.values, ctx.env);
  return { runDir: dirs.runDir };
}

/** Everything the update service needs, from options and config. Config errors surface here, before anything runs. */
export async function buildServiceOptions(ctx: CommandContext, logger: Logger): Promise<UpdateServiceOptions & { runDir: string }> {
  const dirs = await resolveEngineDirs(ctx.values, ctx.env);
  if (dirs.compatible === undefined) {
    throw new UpdaterError('ERR_CONFIG', "Cannot run the update service: the host's compatible string is not set", {
      hint: 'Set COMPATIBLE in /etc/abupdate/update.conf or pass --compatible S.',
    });
  }
  // The disk (--disk, DISK, or the disk of the root), the boot control (gptprio or grubenv) and the booted slot.
  const sc = await openSlotContext(ctx.values, ctx.env);
  const disk: EngineDisk = { diskPath: sc.diskPath, control: sc.control, slots: sc.slots, booted: requireBooted(sc) };
  const currentVersion = stringOption(ctx.values, 'current-version');
  const engine = createEngineSeam({
    disk,
    stateDir: dirs.stateDir,
    runDir: dirs.runDir,
    keyringDirs: dirs.keyringDirs,
    compatible: dirs.compatible,
    logger,
    ...(currentVersion === undefined ? {} : { currentVersion }),
  });
  const requestTimeoutMs = durationOption(ctx, 'request-timeout');
  const bootIdPath = stringOption(ctx.values, 'boot-id-file');
  return {
    config: dirs.config,
    engine,
    stateDir: dirs.stateDir,
    runDir: dirs.runDir,
    keyringDirs: dirs.keyringDirs,
    compatible: dirs.compatible,
    logger,
    updaterVersion: updaterVersion(),
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(bootIdPath === undefined ? {} : { bootIdPath }),
  };
}
