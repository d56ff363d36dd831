// `abupdate install SOURCE`: installs a bundle (path or URL) into the passive slot, with progress.

import { UpdaterError } from '../../common/errors.js';
import { serverAccessFromConfig } from '../net/server-access.js';
import { installBundle, type InstallResult } from '../engine/install.js';
import { createProgressReporter, formatBytes, progressMode } from '../engine/progress.js';
import { intOption, report, stringOption, type Command } from './command.js';
import { CURRENT_VERSION_OPTION, SPEED_OPTIONS, speedLimitOption } from './service-context.js';

function where(target: InstallResult['target']): string {
  if (target === null) return '';
  return target.blockDevice ? ` (${target.path})` : ` (bytes ${target.offset}-${target.offset + target.size} of ${target.path})`;
}

function summary(result: InstallResult): string {
  if (result.alreadyInstalled) {
    return `Bundle ${result.version} is already installed in slot ${result.slot}; reboot to start it.`;
  }
  const flags = result.status.map((s) => `  slot ${s.name} (partition ${s.partition}): ${s.state}, priority ${s.priority}, tries ${s.tries}`);
  const reused = Object.entries(result.reused.from).map(([slot, bytes]) => `${formatBytes(bytes)} from slot ${slot}`);
  return [
    `Installed ${result.version} into slot ${result.slot}${where(result.target)}: ${result.chunks.written} chunks written, ${result.chunks.reused} already there, ${formatBytes(result.bytesDownloaded)} downloaded.`,
    ...(reused.length > 0 ? [`  delta: reused ${reused.join(', ')}, downloaded ${formatBytes(result.bytesDownloaded)}`] : []),
    ...flags,
    `Slot ${result.slot} boots next. Reboot to start it; after a healthy boot, commit it with "abupdate mark-good".`,
  ].join('\n');
}

export const installCommand: Command = {
  name: 'install',
  summary: 'install a bundle (path or URL) into the passive slot',
  maxPositionals: 1,
  usage: [
    'abupdate install SOURCE [--disk PATH] [--booted A|B] [--keyring DIR] [--state-dir DIR]',
    '                        [--run-dir DIR] [--compatible S] [--tries N] [--allow-downgrade] [--json]',
  ].join('\n'),
  description: [
    'Installs the bundle SOURCE (a file or an http(s):// URL) into the slot that is not booted:',
    'the signature and policy are checked before anything is written, every chunk is verified as',
    'it arrives and read back after it is written, then the slot boots next with N tries.',
    'An interrupted install resumes where it stopped when run again (same bundle).',
  ].join('\n'),
  options: {
    tries: { type: 'string', value: 'N', help: 'boot attempts the new slot gets before it is passed over (default 1)' },
    'allow-downgrade': { type: 'boolean', help: 'install a version that is not newer than the committed one' },
    'current-version': CURRENT_VERSION_OPTION,
    'stall-timeout': { type: 'string', value: 'SEC', help: 'give up on a download connection with no data for SEC seconds (default 30)' },
    retries: { type: 'string', value: 'N', help: 'failed download attempts in a row before giving up (default 5)' },
    ...SPEED_OPTIONS,
    json: { type: 'boolean', help: 'print progress events and the result as JSON lines' },
  },
  async run(ctx) {
    const source = ctx.positionals[0];
    if (source === undefined) {
      throw new UpdaterError('ERR_USAGE', 'Cannot run "abupdate install": the bundle SOURCE (path or URL) is missing', {
        hint: 'See "abupdate install --help".',
      });
    }
    const tries = intOption(ctx.values, 'tries', 1, 15) ?? 1;
    const stall = intOption(ctx.values, 'stall-timeout', 1, 3600);
    const retries = intOption(ctx.values, 'retries', 0, 100);
    const host = await ctx.host();
    const compatible = host.requireCompatible('install');
    const disk = await host.engineDisk();
    const keyring = await host.keyring();
    // A fresh host's floor: the version it runs, when the engine has no record of the booted slot.
    const currentVersion = stringOption(ctx.values, 'current-version') ?? host.runningVersion;
    const progress = createProgressReporter({ mode: progressMode(ctx.json, ctx.stderr), err: ctx.stderr, out: ctx.stdout });
    const result = await installBundle({
      source,
      ...disk,
      keyring,
      compatible,
      stateDir: host.stateDir,
      runDir: host.runDir,
      tries,
      // kured's sentinel: the same install use case as the daemon's, so a CLI install without a daemon creates it too.
      rebootSentinel: host.config.values.REBOOT_SENTINEL,
      allowDowngrade: ctx.values['allow-downgrade'] === true,
      ...(currentVersion === undefined ? {} : { currentVersion }),
      progress,
      signal: ctx.signal,
      ...(ctx.checkpoint ? { checkpoint: ctx.checkpoint } : {}),
      warn: (message) => progress.message(`warning: ${message}`),
      http: {
        speedLimit: speedLimitOption(ctx, host.config),
        // An https bundle URL is fetched as the daemon fetches its payload: SERVER_CAFILE/_CERTFILE/_KEYFILE, DOWNLOAD_USER.
        ...(await serverAccessFromConfig(host.config)),
        ...(stall === undefined ? {} : { timeouts: { stall: stall * 1000 } }),
        ...(retries === undefined ? {} : { retries }),
      },
    });
    report(ctx, summary(result), { event: 'installed', ...result });
    return 0;
  },
};
