// The host context (RAUC's r_context): the effective config, directories, disk, boot control, booted slot
// and keyring of this host, built once per process from plain settings (CLI flags, or none) over update.conf.

import { UpdaterError } from '../../common/errors.js';
import type { BootControl, BootloaderKind } from '../../partition/boot-control.js';
import { detectBootedSlot, findRootDisk, type BootedSlot } from '../../partition/booted.js';
import { openBootControl } from '../../partition/open-boot-control.js';
import type { SlotName, Slots } from '../../partition/slots.js';
import type { Keyring } from '../../verify/keyring.js';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';

/**
 * What the caller sets for this run; each field left undefined comes from update.conf (then its default).
 * The CLI fills these from the common options (src/cli/options.ts names the update.conf key each overrides).
 */
export interface HostSettings {
  /** --config: read this file instead of /etc/abupdate/update.conf (else $ABUPDATE_CONFIG). */
  configFile?: string | undefined;
  /** --disk (DISK): the whole-disk device or disk image with the slots. */
  disk?: string | undefined;
  /** --booted A|B: override booted-slot detection (RAUC's --override-boot-slot). */
  booted?: string | undefined;
  /** --bootloader (BOOTLOADER). */
  bootloader?: string | undefined;
  /** --grubenv (GRUBENV). */
  grubenv?: string | undefined;
  /** --state-dir (STATE_DIR). */
  stateDir?: string | undefined;
  /** --run-dir (RUN_DIR). */
  runDir?: string | undefined;
  /** --keyring, repeatable (KEYRING_DIRS); an empty list means "not given". */
  keyringDirs?: readonly string[] | undefined;
  /** --compatible (COMPATIBLE). */
  compatible?: string | undefined;
}

/** The disk with the slots and its boot control, as the settings (then update.conf) name them. */
export interface HostDisk {
  diskPath: string;
  bootloader: BootloaderKind;
  /** The grubenv file (grubenv backend only). */
  grubenvPath: string | undefined;
  slots: Slots;
  control: BootControl;
  /** The booted slot, or null when it cannot be told (`bootedError` says why). */
  booted: BootedSlot | null;
  bootedError: UpdaterError | null;
}

/** What the engine needs of the disk: the slots, their boot control and the booted slot (known). */
export interface EngineDisk {
  diskPath: string;
  control: BootControl;
  slots: Slots;
  booted: SlotName;
}

export interface HostContext {
  /** The effective update.conf (vendor file, /etc file or --config, ABUPDATE_<KEY> variables), loaded once. */
  readonly config: LoadedConfig;
  readonly stateDir: string;
  readonly runDir: string;
  readonly keyringDirs: string[];
  /** The host's compatible string, or undefined when neither the settings nor COMPATIBLE set it. */
  readonly compatible: string | undefined;
  /** The compatible string, or ERR_CONFIG saying how to set it (`what`: "install", "run the update service"). */
  requireCompatible(what: string): string;
  /**
   * The version the running system says it is (FLATCAR_RELEASE_VERSION in the booted /usr's release file), or
   * undefined: a fresh host's anti-rollback floor when the engine has no record of the booted slot.
   */
  readonly runningVersion: string | undefined;
  /** Opens the disk and its boot control and detects the booted slot, at the first call; later calls share it. */
  disk(): Promise<HostDisk>;
  /** The disk with the booted slot known (ERR_BOOTED_UNKNOWN when it cannot be told). */
  engineDisk(): Promise<EngineDisk>;
  /** The trusted keys of the keyring dirs, loaded at the first call. */
  keyring(): Promise<Keyring>;
}

export const DEFAULT_GRUBENV = '/boot/grub/grubenv';

/** The booted slot of `disk`, or the detection error (ERR_BOOTED_UNKNOWN with a hint). */
export function requireBooted(disk: Pick<HostDisk, 'booted' | 'bootedError'>): SlotName {
  if (disk.booted) return disk.booted.slot;
  throw disk.bootedError ?? new UpdaterError('ERR_BOOTED_UNKNOWN', 'Cannot tell which slot is booted', { hint: 'Pass --booted A or --booted B.' });
}

function memo<T>(make: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => (promise ??= make());
}

async function openHostDisk(settings: HostSettings, config: LoadedConfig): Promise<HostDisk> {
  const diskPath = settings.disk ?? (config.values.DISK || undefined) ?? (await findRootDisk());
  if (diskPath === undefined) {
    throw new UpdaterError('ERR_DISK_NOT_FOUND', 'Cannot find the disk with the slots: no --disk, no DISK in update.conf, and / is not on a disk partition', {
      hint: 'Pass --disk PATH (a whole-disk device or a disk image file).',
    });
  }
  const bootloader = settings.bootloader ?? config.values.BOOTLOADER;
  if (bootloader !== 'gptprio' && bootloader !== 'grubenv' && bootloader !== 'grubenv-rauc') {
    throw new UpdaterError('ERR_USAGE', `Cannot use --bootloader "${bootloader}": expected gptprio, grubenv or grubenv-rauc`);
  }
  const grubenvPath = bootloader !== 'gptprio' ? (settings.grubenv ?? config.values.GRUBENV ?? DEFAULT_GRUBENV) : undefined;
  const { control, slots } = await openBootControl({ diskPath, bootloader, grubenvPath });
  let booted: BootedSlot | null = null;
  let bootedError: UpdaterError | null = null;
  try {
    booted = await detectBootedSlot(slots, { override: settings.booted?.toUpperCase(), diskPath });
  } catch (error) {
    // Shown as 'booted: unknown' by the reporting commands; whatever needs the booted slot throws it (requireBooted).
    if (!(error instanceof UpdaterError) || !['ERR_BOOTED_UNKNOWN', 'ERR_BOOTED_CONFLICT', 'ERR_BOOTED_MISMATCH'].includes(error.code)) throw error;
    bootedError = error;
  }
  return { diskPath, bootloader, grubenvPath, slots, control, booted, bootedError };
}

/** Builds the host context: loads update.conf now (its errors surface here); disk and keyring open on first use. */
export async function createHostContext(settings: HostSettings = {}, env: NodeJS.ProcessEnv = process.env): Promise<HostContext> {
  const config = await loadConfig(settings.configFile === undefined ? { env } : { env, configFile: settings.configFile });
  return hostContextFromConfig(config, settings);
}

/** The host context over an already loaded config (tests, or a caller that loaded it itself). */
export function hostContextFromConfig(config: LoadedConfig, settings: HostSettings = {}): HostContext {
  const v = config.values;
  const keyringDirs = settings.keyringDirs !== undefined && settings.keyringDirs.length > 0 ? [...settings.keyringDirs] : [...v.KEYRING_DIRS];
  const compatible = settings.compatible ?? (v.COMPATIBLE || undefined);
  const disk = memo(() => openHostDisk(settings, config));
  // Imported at the first call (tweetnacl and the key parsers): a command that never checks a signature never loads them.
  const keyring = memo(async () => (await import('../../verify/keyring.js')).loadKeyring(keyringDirs));
  return {
    config,
    stateDir: settings.stateDir ?? v.STATE_DIR,
    runDir: settings.runDir ?? v.RUN_DIR,
    keyringDirs,
    compatible,
    runningVersion: config.flatcarRelease?.version || undefined,
    requireCompatible(what) {
      if (compatible !== undefined) return compatible;
      throw new UpdaterError('ERR_CONFIG', `Cannot ${what}: the host's compatible string is not set`, {
        hint: 'Set COMPATIBLE in /etc/abupdate/update.conf or pass --compatible S.',
      });
    },
    disk,
    async engineDisk() {
      const d = await disk();
      return { diskPath: d.diskPath, control: d.control, slots: d.slots, booted: requireBooted(d) };
    },
    keyring,
  };
}
