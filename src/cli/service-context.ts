// Turns CLI options + update.conf into the update service's options (shared by daemon, check and update).

import { UpdaterError } from '../../common/errors.js';
import type { SlotName } from '../../partition/slots.js';
import { parseDuration } from '../duration.js';
import { createEngineSeam } from '../daemon/engine-seam.js';
import type { UpdateServiceOptions } from '../daemon/service.js';
import type { Logger } from '../log.js';
import type { HostContext } from '../host/context.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { SpeedLimit } from '../download/http-range.js';
import { intOption, stringOption, type CommandContext } from './command.js';
import type { OptionTable } from './options.js';
import { readPackageVersion } from './package-version.js';

/** curl's pair, on install and update: slower than --speed-limit bytes/s for --speed-time is ERR_NETWORK_SLOW. */
export const SPEED_OPTIONS = {
  'speed-limit': {
    type: 'string',
    value: 'N',
    help: 'bytes/s a download must average over --speed-time, else ERR_NETWORK_SLOW (progress kept for a resume); 0: off',
    overrides: 'DOWNLOAD_SPEED_LIMIT',
  },
  'speed-time': { type: 'string', value: 'D', help: 'how long a download may stay below --speed-limit', overrides: 'DOWNLOAD_SPEED_TIME' },
} as const satisfies OptionTable;

/** --speed-limit / --speed-time over DOWNLOAD_SPEED_LIMIT / DOWNLOAD_SPEED_TIME. */
export function speedLimitOption(ctx: CommandContext, config: LoadedConfig): SpeedLimit {
  const limit = intOption(ctx.values, 'speed-limit', 0, 10 * 1024 * 1024 * 1024);
  const time = durationOption(ctx, 'speed-time');
  if (time !== undefined && time < 1000) throw new UpdaterError('ERR_USAGE', `Cannot parse option --speed-time: "${stringOption(ctx.values, 'speed-time')}" is shorter than 1s`);
  return { bytesPerSecond: limit ?? config.values.DOWNLOAD_SPEED_LIMIT, timeMs: time ?? config.values.DOWNLOAD_SPEED_TIME };
}

/** The running version for a fresh host's floor and the server's report; the release file's FLATCAR_RELEASE_VERSION by default. */
export const CURRENT_VERSION_OPTION = {
  type: 'string',
  value: 'V',
  help: 'the running version when the engine state has no record of it (fresh host; default: FLATCAR_RELEASE_VERSION of /usr/share/flatcar/release)',
} as const;

/** The options of the commands that run the update service (daemon, check, update), over the common ones. */
export const SERVICE_OPTIONS = {
  'current-version': CURRENT_VERSION_OPTION,
  'request-timeout': { type: 'string', value: 'D', help: 'timeout of one request to the update server (default 30s)' },
  'boot-id-file': { type: 'string', value: 'PATH', help: 'where the boot id is read (default /proc/sys/kernel/random/boot_id)' },
  ...SPEED_OPTIONS,
} as const satisfies OptionTable;

/** The updater version the update server is told: abupdate-VERSION. */
export function updaterVersion(): string {
  return `abupdate-${readPackageVersion() ?? '0.0.0'}`;
}

export function durationOption(ctx: CommandContext, name: string): number | undefined {
  const text = stringOption(ctx.values, name);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UpdaterError('ERR_USAGE', `Cannot parse option --${name}: "${text}" is not a duration like 90s, 5m, 1h`);
  return ms;
}

/** Everything the update service needs, from options and config. Config errors surface here, before anything runs. */
export async function buildServiceOptions(ctx: CommandContext, logger: Logger): Promise<UpdateServiceOptions & { runDir: string; bootedSlot: SlotName }> {
  const host: HostContext = await ctx.host();
  const compatible = host.requireCompatible('run the update service');
  // The disk (--disk, DISK, or the disk of the root), the boot control (gptprio or grubenv) and the booted slot.
  const disk = await host.engineDisk();
  const currentVersion = stringOption(ctx.values, 'current-version') ?? host.runningVersion;
  const engine = createEngineSeam({
    disk,
    stateDir: host.stateDir,
    runDir: host.runDir,
    keyringDirs: host.keyringDirs,
    compatible,
    logger,
    rebootSentinel: host.config.values.REBOOT_SENTINEL,
    ...(currentVersion === undefined ? {} : { currentVersion }),
  });
  const requestTimeoutMs = durationOption(ctx, 'request-timeout');
  const bootIdPath = stringOption(ctx.values, 'boot-id-file');
  return {
    config: host.config,
    engine,
    stateDir: host.stateDir,
    runDir: host.runDir,
    bootedSlot: disk.booted,
    keyringDirs: host.keyringDirs,
    compatible,
    logger,
    updaterVersion: updaterVersion(),
    http: { speedLimit: speedLimitOption(ctx, host.config) },
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(bootIdPath === undefined ? {} : { bootIdPath }),
  };
}
