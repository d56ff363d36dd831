// Turns CLI options + update.conf into what the engine needs: disk, boot control, slots, booted slot, dirs, keyring.

import type { BootControl } from '../../partition/boot-control.js';
import { detectBootedSlot } from '../../partition/booted.js';
import type { SlotName, Slots } from '../../partition/slots.js';
import type { LoadedConfig } from '../config/load-config.js';
import { listOption, stringOption, type OptionValues } from './command.js';
import { loadConfigForCommand } from './config-command.js';
import { openSlotDisk } from './slot-context.js';

export interface EngineDirs {
  config: LoadedConfig;
  stateDir: string;
  runDir: string;
  keyringDirs: string[];
  /** The host's compatible string, or undefined when neither --compatible nor COMPATIBLE sets it. */
  compatible: string | undefined;
}

export interface EngineDisk {
  diskPath: string;
  control: BootControl;
  slots: Slots;
  booted: SlotName;
}

/** The directories and settings, from the options first, then update.conf. */
export async function resolveEngineDirs(values: OptionValues, env: NodeJS.ProcessEnv): Promise<EngineDirs> {
  const config = await loadConfigForCommand(values, env);
  const keyrings = listOption(values, 'keyring');
  const compatible = stringOption(values, 'compatible') ?? (config.values.COMPATIBLE || undefined);
  return {
    config,
    stateDir: stringOption(values, 'state-dir') ?? config.values.STATE_DIR ?? '/var/lib/abupdate',
    runDir: stringOption(values, 'run-dir') ?? config.values.RUN_DIR ?? '/run/abupdate',
    keyringDirs: keyrings.length > 0 ? keyrings : config.values.KEYRING_DIRS,
    compatible,
  };
}

/** Opens the disk's boot control (gptprio or grubenv) and decides the booted slot (--booted, else detected). */
export async function openEngineDisk(values: OptionValues, config: LoadedConfig): Promise<EngineDisk> {
  const { diskPath, control, slots } = await openSlotDisk(values, config);
  const booted = await detectBootedSlot(slots, { override: stringOption(values, 'booted')?.toUpperCase(), diskPath });
  return { diskPath, control, slots, booted: booted.slot };
}
