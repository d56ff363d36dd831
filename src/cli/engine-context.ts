// Turns CLI options + update.conf into what the engine needs: disk, boot control, slots, booted slot, dirs, keyring.

import { UpdaterError } from '../../common/errors.js';
import type { BootControl } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { isSlotName, type SlotName, type Slots } from '../../partition/slots.js';
import type { LoadedConfig } from '../config/load-config.js';
import { listOption, stringOption, type OptionValues } from './command.js';
import { loadConfigForCommand } from './config-command.js';

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

/** Opens the disk's boot control and decides the booted slot. */
export async function openEngineDisk(values: OptionValues, config: LoadedConfig): Promise<EngineDisk> {
  const diskPath = stringOption(values, 'disk') ?? (config.values.DISK || undefined);
  if (diskPath === undefined) {
    throw new UpdaterError('ERR_DISK_NOT_FOUND', 'Cannot find the disk with the slots: no --disk and no DISK in update.conf', {
      hint: 'Pass --disk PATH (a whole-disk device or a disk image file).',
    });
  }
  const bootloader = stringOption(values, 'bootloader') ?? config.values.BOOTLOADER;
  if (bootloader !== 'gptprio') {
    throw new UpdaterError('ERR_CONFIG', `Cannot open boot control "${bootloader}": the engine supports gptprio here so far`, {
      hint: 'Use BOOTLOADER=gptprio (or --bootloader gptprio).',
    });
  }
  const { control, slots } = await openGptprioBootControl(diskPath);
  const bootedText = stringOption(values, 'booted');
  if (bootedText === undefined) {
    throw new UpdaterError('ERR_BOOTED_UNKNOWN', 'Cannot tell which slot is booted: pass --booted A|B', {
      hint: 'On a host, the booted slot is the one holding the mounted root; with a disk image say which one with --booted.',
    });
  }
  const booted = bootedText.toUpperCase();
  if (!isSlotName(booted)) {
    throw new UpdaterError('ERR_USAGE', `Cannot parse option --booted: "${bootedText}" is not A or B`);
  }
  return { diskPath, control, slots, booted };
}
