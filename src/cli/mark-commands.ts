// `abupdate mark-good [SLOT]`, `mark-bad [SLOT]`, `mark-active SLOT [--tries N]`: the boot-control operations.

import { UpdaterError } from '../../common/errors.js';
import type { SlotStatus } from '../../partition/boot-control.js';
import type { SlotName } from '../../partition/slots.js';
import type { HostDisk } from '../host/context.js';
import { intOption, report, type Command, type CommandContext } from './command.js';
import { resolveSlotArgument, slotsReport, slotsTable } from './slot-context.js';
import { withRunLock } from './with-run-lock.js';
import { loadEngineState } from '../engine/state-store.js';
import { checkMayBoot, slotTrust } from '../lifecycle/slot-trust.js';

type Operation = 'mark-good' | 'mark-bad' | 'mark-active';

const SUMMARY: Record<Operation, string> = {
  'mark-good': 'commit a slot (default: the booted one): good, first, no more tries',
  'mark-bad': 'mark a slot (default: the booted one) bad: never booted until re-activated',
  'mark-active': 'boot a slot next with N tries; the other slot stays the fallback',
};

const DOES: Record<Operation, string[]> = {
  'mark-good': [
    'Commits SLOT (default: the booted slot): it is good, needs no more tries, and boots first.',
    'gptprio: successful=1 tries=0, then priority as `cgpt prioritize`. grubenv: X_OK=1 X_TRY=0, first in ORDER.',
  ],
  'mark-bad': [
    'Marks SLOT (default: the booted slot) bad: the bootloader never chooses it until re-activated.',
    'gptprio: priority=0 tries=0 successful=0. grubenv: X_OK=0 X_TRY=0, removed from ORDER.',
  ],
  'mark-active': [
    'SLOT boots next, with N tries (default 1) and no commit; the other slot stays the fallback.',
    'gptprio: successful=0 tries=N, then `cgpt prioritize` (tries 1-15). grubenv: X_OK=0 X_TRY=N, first in ORDER (tries 1-3).',
  ],
};

/** mark-good and mark-active only make a slot bootable whose content the engine verified (slot-trust.ts), or with --force. */
async function checkContent(sc: HostDisk, operation: Operation, slot: SlotName, stateDir: string, force: boolean): Promise<string | null> {
  if (operation === 'mark-bad') return null;
  const trust = slotTrust(slot, { state: await loadEngineState(stateDir), status: await sc.control.status(), booted: sc.booted?.slot ?? null });
  return checkMayBoot(operation, trust, force).forced;
}

async function apply(sc: HostDisk, operation: Operation, slot: SlotName, tries: number | undefined): Promise<SlotStatus[]> {
  if (operation === 'mark-good') return sc.control.markGood(slot);
  if (operation === 'mark-bad') return sc.control.markBad(slot);
  return sc.control.markActive(slot, tries ?? 1);
}

function makeMarkCommand(operation: Operation): Command {
  const active = operation === 'mark-active';
  const usage = active ? `abupdate ${operation} SLOT [--tries N]` : `abupdate ${operation} [SLOT]`;
  return {
    name: operation,
    summary: SUMMARY[operation],
    usage: `${usage}${operation === 'mark-bad' ? '' : ' [--force]'} [--disk PATH] [--booted A|B] [--bootloader gptprio|grubenv] [--grubenv PATH] [--state-dir DIR] [--run-dir DIR] [--json]`,
    description: [
      ...DOES[operation],
      'SLOT is A, B, booted or other. The change is refused (nothing written) if it would leave no',
      'bootable slot, or demote a good slot below one that is only trying. It holds the run lock, so it',
      'never interleaves with an install (refused with ERR_LOCKED while one runs).',
      ...(operation === 'mark-bad'
        ? []
        : [
            'Refused with ERR_SLOT_UNVERIFIED unless SLOT is the booted slot, committed, or written and read back',
            'by the engine (an interrupted, refused or discarded install, or a slot it never wrote, is not).',
          ]),
    ].join('\n'),
    options: {
      ...(active ? { tries: { type: 'string', value: 'N', help: 'boot attempts before the bootloader falls back (default 1)' } as const } : {}),
      ...(operation === 'mark-bad' ? {} : { force: { type: 'boolean', help: 'also a slot whose content is not verified (says what it risks)' } as const }),
    },
    maxPositionals: 1,
    async run(ctx: CommandContext) {
      const arg = ctx.positionals[0] ?? (active ? undefined : 'booted');
      if (arg === undefined) {
        throw new UpdaterError('ERR_USAGE', `Cannot run "abupdate ${operation}": name the slot (A, B, booted or other)`, { hint: `Usage: ${usage}` });
      }
      const tries = active ? intOption(ctx.values, 'tries', 1, 15) : undefined;
      const host = await ctx.host();
      const sc = await host.disk();
      const slot = resolveSlotArgument(sc, arg, operation);
      let forced: string | null = null;
      const status = await withRunLock(host.runDir, `${operation} ${slot}`, async () => {
        forced = await checkContent(sc, operation, slot, host.stateDir, ctx.values.force === true);
        if (forced) ctx.stderr.write(`abupdate: warning: ${forced}\n`);
        return apply(sc, operation, slot, tries);
      });
      const r = await slotsReport(sc, status);
      report(ctx, `${operation} ${slot}: done\n${slotsTable(r)}`, { operation, slot, ...(forced ? { forced } : {}), ...r });
      return 0;
    },
  };
}

export const markGoodCommand = makeMarkCommand('mark-good');
export const markBadCommand = makeMarkCommand('mark-bad');
export const markActiveCommand = makeMarkCommand('mark-active');
