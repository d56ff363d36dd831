// `abupdate post-boot`, `abupdate rollback [--reboot] [--force]`, `abupdate clear-bad [VERSION]`:
// the commit-or-rollback decision after a reboot, the manual rollback, and forgiving a bad version.

import { UpdaterError } from '../../common/errors.js';
import { applyEngineEvent } from '../engine/lifecycle.js';
import { loadEngineState } from '../engine/state-store.js';
import type { HealthReport } from '../lifecycle/health.js';
import { rollbackToOther } from '../lifecycle/manual-rollback.js';
import { runPostBoot, type PostBootOutcome } from '../lifecycle/post-boot.js';
import { syncRebootSentinel } from '../engine/reboot-sentinel.js';
import { recordPostBootMetrics } from '../metrics/post-boot-metrics.js';
import { rebootConfigFromValues, readMachineId } from '../reboot/reboot-config.js';
import { applyRebootStrategy, releaseRebootLock, type RebootConfig } from '../reboot/strategy.js';
import type { SlotName } from '../../partition/slots.js';
import { requireBooted, type HostContext, type HostDisk } from '../host/context.js';
import { report, type Command, type CommandContext } from './command.js';
import { slotsReport, slotsTable } from './slot-context.js';
import { withRunLock } from './with-run-lock.js';

async function rebootConfig(host: HostContext): Promise<RebootConfig> {
  const v = host.config.values;
  const needsId = v.REBOOT_STRATEGY === 'etcd-lock' || v.REBOOT_STRATEGY === 'fleetlock';
  const machineId = needsId ? await readMachineId(v.MACHINE_ID_PATH) : '';
  return rebootConfigFromValues(v, { machineId });
}

/** What post-boot and rollback act on: the host, its disk, the booted slot (known), the reboot config, a log to stderr. */
async function onBootedSlot(ctx: CommandContext): Promise<{ host: HostContext; sc: HostDisk; booted: SlotName; cfg: RebootConfig; log: (line: string) => void }> {
  const host = await ctx.host();
  const sc = await host.disk();
  const booted = requireBooted(sc);
  const cfg = await rebootConfig(host);
  return { host, sc, booted, cfg, log: (line) => ctx.stderr.write(`${line}\n`) };
}

/** Reboots now, whatever REBOOT_STRATEGY and its window say (the lock, if any, is already held). */
function rebootNow(cfg: RebootConfig, log: (line: string) => void): Promise<void> {
  return applyRebootStrategy({ ...cfg, strategy: 'reboot', window: undefined }, { log }).then(() => undefined);
}

function healthLine(health: HealthReport): string {
  if (health.results.length === 0) return 'no health checks configured';
  const failed = health.results.filter((r) => !r.ok);
  return failed.length === 0
    ? `${health.results.length} health check(s) passed`
    : `${failed.length} of ${health.results.length} health check(s) failed: ${failed.map((r) => `${r.name} (${r.detail})`).join('; ')}`;
}

function describeOutcome(outcome: PostBootOutcome): string {
  const v = (version: string | null) => (version ? ` (version ${version})` : '');
  switch (outcome.action) {
    case 'committed':
      return `Slot ${outcome.slot}${v(outcome.version)} is committed: ${healthLine(outcome.health)}.`;
    case 'rolled-back':
      return `Slot ${outcome.slot}${v(outcome.version)} failed its health check and is marked bad; rebooting into the other slot.\n${healthLine(outcome.health)}.`;
    case 'kept-failing':
      return `Slot ${outcome.slot}${v(outcome.version)} failed its health check, but the other slot cannot boot, so it stays committed.\n${healthLine(outcome.health)}.`;
    case 'rollback-detected':
      return `The update to ${outcome.badVersion ?? 'the new version'} did not come up (its tries ran out); slot ${outcome.slot} runs again. The version is recorded as bad.`;
    case 'pending-reboot':
      return `Slot ${outcome.next} holds an update and boots next; nothing to decide until the reboot.`;
    case 'steady':
      return `Slot ${outcome.slot}${v(outcome.version)} is committed; nothing to do.`;
  }
}

export const postBootCommand: Command = {
  name: 'post-boot',
  summary: 'after a reboot: run the health checks, then commit the booted slot or roll back',
  usage: 'abupdate post-boot [--disk PATH] [--booted A|B] [--config FILE] [--state-dir DIR] [--json]',
  description: [
    'Runs on every boot (abupdate-post-boot.service). If the booted slot is on trial, runs the health',
    'checks (executables in HEALTH_DIR, units in HEALTH_UNITS, retried until HEALTH_TIMEOUT):',
    '  all pass  -> mark-good, raise the anti-rollback floor, release the reboot lock',
    '  any fails -> mark-bad, record the version as bad, reboot into the other slot (whatever',
    '               REBOOT_STRATEGY says: the host runs a version that failed)',
    'If the host came up on the old slot although an update was activated (the new slot never',
    'reached this point), the rollback is recorded and the version marked bad.',
    'Exit status: 0 when the host runs a committed slot, 1 when the check failed.',
  ].join('\n'),
  async run(ctx) {
    const { host, sc, booted, cfg, log } = await onBootedSlot(ctx);
    const v = host.config.values;
    const outcome = await withRunLock(host.runDir, 'post-boot', () => runPostBoot({
      control: sc.control,
      booted,
      stateDir: host.stateDir,
      health: { dir: v.HEALTH_DIR, units: v.HEALTH_UNITS, timeoutMs: v.HEALTH_TIMEOUT ?? 300_000 },
      reboot: () => rebootNow(cfg, log),
      releaseLock: async () => {
        await releaseRebootLock(cfg, { log });
      },
      log,
      signal: ctx.signal,
    }));
    await recordPostBootMetrics(host.stateDir, outcome).catch((caught: unknown) => log(`post-boot: could not record the metrics: ${(caught as Error).message}`));
    // Committed, rolled back or steady: no update waits for a reboot any more, so kured must not reboot for one.
    await syncRebootSentinel(v.REBOOT_SENTINEL, outcome.action === 'pending-reboot').catch((caught: unknown) => log(`post-boot: could not update ${v.REBOOT_SENTINEL}: ${(caught as Error).message}`));
    const status = await sc.control.status();
    report(ctx, `${describeOutcome(outcome)}\n\n${slotsTable(await slotsReport(sc, status))}`, { ...outcome, slots: (await slotsReport(sc, status)).slots });
    return outcome.action === 'rolled-back' || outcome.action === 'kept-failing' ? 1 : 0;
  },
};

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'manual rollback: boot the other slot next, if it holds a committed image',
  usage: 'abupdate rollback [--reboot] [--force] [--disk PATH] [--booted A|B] [--json]',
  description: [
    'Manual rollback: the other slot boots next as a committed slot (no health gate after the',
    'reboot), and the slot left behind stays the fallback; its version is not marked bad. Refused',
    'when the other slot is empty, bad or was never committed. An update waiting for its reboot is',
    'dropped. Works whether or not the daemon runs.',
  ].join('\n'),
  options: {
    reboot: { type: 'boolean', help: 'reboot now (REBOOT_COMMAND)' },
    force: {
      type: 'boolean',
      help: 'also roll to a slot that is not committed: it gets one trial boot, and\nthe bootloader falls back to the booted slot if it fails',
    },
  },
  async run(ctx) {
    const { host, sc, booted, cfg, log } = await onBootedSlot(ctx);
    const result = await withRunLock(host.runDir, 'rollback', () => rollbackToOther({ control: sc.control, booted, stateDir: host.stateDir, force: ctx.values.force === true, log }));
    // An update that waited for its reboot is dropped: kured must not reboot for it.
    const sentinel = host.config.values.REBOOT_SENTINEL;
    await syncRebootSentinel(sentinel, false).catch((caught: unknown) => log(`rollback: could not remove ${sentinel}: ${(caught as Error).message}`));
    const table = slotsTable(await slotsReport(sc, result.status));
    const lines = [
      `Slot ${result.to}${result.version ? ` (version ${result.version})` : ''} boots next${result.mode === 'trial' ? ' on trial (one try)' : ''}; slot ${result.from} stays the fallback.`,
      ...(result.droppedUpdate ? [`The pending update to ${result.droppedUpdate} was dropped.`] : []),
      ctx.values.reboot === true ? 'Rebooting now.' : 'Reboot to use it (or run again with --reboot).',
    ];
    report(ctx, `${lines.join('\n')}\n\n${table}`, { ...result, status: undefined, slots: (await slotsReport(sc, result.status)).slots, rebooting: ctx.values.reboot === true });
    if (ctx.values.reboot === true) await rebootNow(cfg, log);
    return 0;
  },
};

export const clearBadCommand: Command = {
  name: 'clear-bad',
  summary: 'allow a version that failed on this host to be installed again',
  usage: 'abupdate clear-bad [VERSION] [--state-dir DIR] [--json]',
  description: [
    'A version that failed its health check, or never came up, is recorded as bad and not installed',
    'again until a newer one is offered. This forgets VERSION (or, without it, every bad version).',
  ].join('\n'),
  maxPositionals: 1,
  async run(ctx) {
    const host = await ctx.host();
    const version = ctx.positionals[0];
    const { cleared, remaining } = await withRunLock(host.runDir, 'clear-bad', async () => {
      const state = await loadEngineState(host.stateDir);
      if (version !== undefined && !state.badVersions.includes(version)) {
        throw new UpdaterError('ERR_USAGE', `Cannot clear version "${version}": it is not recorded as bad`, {
          data: { badVersions: state.badVersions },
          hint: state.badVersions.length > 0 ? `Bad versions: ${state.badVersions.join(', ')}.` : 'No version is recorded as bad.',
        });
      }
      const cleared = version === undefined ? state.badVersions : [version];
      const remaining = state.badVersions.filter((b) => !cleared.includes(b));
      await applyEngineEvent(host.stateDir, 'bad-versions-cleared', { badVersions: remaining });
      return { cleared, remaining };
    });
    report(ctx, cleared.length === 0 ? 'No version was recorded as bad.' : `Cleared: ${cleared.join(', ')}. Still bad: ${remaining.join(', ') || 'none'}.`, {
      cleared,
      badVersions: remaining,
    });
    return 0;
  },
};
