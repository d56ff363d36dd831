// `abupdate slots`: the slot table (partition, label, uuid, flags, state), booted and next slot.

import { report, type Command } from './command.js';
import { slotsReport, slotsTable } from './slot-context.js';

export const slotsCommand: Command = {
  name: 'slots',
  summary: 'the A/B slot table: flags, state, booted and next slot',
  usage: 'abupdate slots [--disk PATH] [--booted A|B] [--bootloader gptprio|grubenv] [--grubenv PATH] [--json]',
  description: [
    'Shows slots A and B: partition, label, unique GUID, the boot flags (priority, tries,',
    'successful) and the state they mean (good, trying, bad, empty), which slot is booted and',
    'which one the bootloader would pick next.',
    '',
    'JSON: {"disk","bootloader","booted":"A"|"B"|null,"slots":[{"name","partition","label","uuid",',
    '       "priority","tries","successful","state"}],"next":"A"|"B"|null}',
  ].join('\n'),
  async run(ctx) {
    const sc = await (await ctx.host()).disk();
    const r = await slotsReport(sc);
    report(ctx, slotsTable(r), r);
    return 0;
  },
};
