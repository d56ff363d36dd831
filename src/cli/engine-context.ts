// Turns CLI options + update.conf into what the engine needs: disk, boot control, slots, booted slot, dirs, keyring.

import type { BootControl } from '../../partition/boot-control.js';
import { detectBootedSlot } from '../../partition/booted.js';
import type { SlotName, Slots } from '../../partition/slots.js';
import type { LoadedConfig } from '../config/load-config.js';
import { acquireRunLock } from '../engine/run-lock.js';
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

/** How long a short command (mark-*, rollback, post-boot, clear-bad) waits for another holder of the run lock. */
export const SHORT_COMMAND_LOCK_WAIT_MS = 5000;

/**
 * Runs `fn` holding the run lock (--run-dir, else RUN_DIR), so that a boot-flag or engine-state change never
 * interleaves with an install's or with another such command's. Waits a few seconds for a short holder;
 * an install in progress fails it with ERR_LOCKED naming the install.
 */
export async function withRunLock<T>(values: OptionValues, env: NodeJS.ProcessEnv, command: string, fn: () => Promise<T>): Promise<T> {
  const { runDir } = await resolveEngineDirs(values, env);
  const lock = await acquireRunLock(runDir, command, { waitMs: SHORT_COMMAND_LOCK_WAIT_MS });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
