// `abupdate slots`: the slot table (partition, label, uuid, flags, state), booted and next slot.

import { report, type Command } from './command.js';
import { openSlotContext, SLOT_CONTEXT_HELP, SLOT_CONTEXT_OPTIONS, slotsReport, slotsTable } from './slot-context.js';

export const slotsCommand: Command = {
  name: 'slots',
  summary: 'the A/B slot table: flags, state, booted and next slot',
  help: [
    'Usage: abupdate slots [--disk PATH] [--booted A|B] [--bootloader gptprio|grubenv] [--grubenv PATH] [--json]',
    '',
    'Shows slots A and B: partition, label, unique GUID, the boot flags (priority, tries,',
    'successful) and the state they mean (good, trying, bad, empty), which slot is booted and',
    'which one the bootloader would pick next.',
    '',
    'JSON: {"disk","bootloader","booted":"A"|"B"|null,"slots":[{"name","partition","label","uuid",',
    '       "priority","tries","successful","state"}],"next":"A"|"B"|null}',
    '',
    'Options:',
    ...SLOT_CONTEXT_HELP,
  ].join('\n'),
  options: SLOT_CONTEXT_OPTIONS,
  async run(ctx) {
    const sc = await openSlotContext(ctx.values, ctx.env);
    const r = await slotsReport(sc);
    report(ctx, slotsTable(r), r);
    return 0;
  },
};
