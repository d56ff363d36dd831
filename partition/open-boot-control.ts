// Opens the boot control a host is configured for (gptprio or grubenv) over the slots of its disk.

import { UpdaterError } from '../common/errors.js';
import type { BootControl, BootloaderKind } from './boot-control.js';
import { openGptprioBootControl, type GptprioOptions } from './gptprio.js';
import type { Slots } from './slots.js';

export interface OpenBootControlOptions extends GptprioOptions {
  /** Whole-disk device or image file holding the slots (both backends find the slots there). */
  diskPath: string;
  /** Default gptprio. */
  bootloader?: BootloaderKind;
  /** The grubenv file; required for grubenv. */
  grubenvPath?: string | undefined;
}

/** The slots of the disk and the boot control of the chosen backend. */
export async function openBootControl(options: OpenBootControlOptions): Promise<{ control: BootControl; slots: Slots; bootloader: BootloaderKind }> {
  const bootloader = options.bootloader ?? 'gptprio';
  const gpt = await openGptprioBootControl(options.diskPath, options.sectorSize ? { sectorSize: options.sectorSize } : {});
  if (bootloader === 'gptprio') return { ...gpt, bootloader };
  if (bootloader !== 'grubenv' && bootloader !== 'grubenv-rauc') {
    throw new UpdaterError('ERR_USAGE', `Cannot open boot control "${String(bootloader)}": expected gptprio, grubenv or grubenv-rauc`);
  }
  if (options.grubenvPath === undefined) {
    throw new UpdaterError('ERR_USAGE', 'Cannot open the grubenv boot control: no grubenv path given', { hint: 'Pass --grubenv PATH or set GRUBENV in update.conf.' });
  }
  // The grubenv backends are imported by the hosts that use them only (start-up time of every command on gptprio).
  const open = bootloader === 'grubenv' ? (await import('./grubenv-boot-control.js')).openGrubenvBootControl : (await import('./grubenv-rauc-boot-control.js')).openGrubenvRaucBootControl;
  return { control: open(options.grubenvPath, gpt.slots), slots: gpt.slots, bootloader };
}
