// Builds the RebootConfig from loaded update.conf values, and reads the machine id used as the lock holder id.

import { readFile } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import type { ConfigValues } from '../config/keys.js';
import { etcdConnection } from './etcd-store.js';
import { fleetlockNodeId } from './fleetlock-id.js';
import type { RebootConfig } from './strategy.js';
import { parseWindowStart } from '../config/window-start.js';
import type { WindowClock } from './window.js';

export const DEFAULT_MACHINE_ID_PATH = '/etc/machine-id';

/** Reads the machine id (trimmed) from `file`; ERR_IO naming the file when it is missing or empty. */
export async function readMachineId(file: string = DEFAULT_MACHINE_ID_PATH): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UpdaterError('ERR_IO', `Cannot read the machine id: ${(error as Error).message}`, {
      cause: error,
      data: { file },
      hint: 'Pass the holder id with --id ID, or point MACHINE_ID_PATH (--machine-id-file) at a file that holds it.',
    });
  }
  const id = text.trim();
  if (id === '') {
    throw new UpdaterError('ERR_IO', `Cannot read the machine id: "${file}" is empty`, {
      data: { file },
      hint: 'Run "systemd-machine-id-setup", or pass the holder id with --id ID.',
    });
  }
  return id;
}

export type RebootConfigValues = Pick<
  ConfigValues,
  'REBOOT_STRATEGY' | 'REBOOT_WINDOW_START' | 'REBOOT_WINDOW_LENGTH' | 'REBOOT_COMMAND' | 'ETCD_ENDPOINTS' | 'FLEETLOCK_URL'
> &
  Partial<
    Pick<
      ConfigValues,
      | 'ETCD_API'
      | 'LOCKSMITHD_ENDPOINT'
      | 'LOCKSMITHD_ETCD_CAFILE'
      | 'LOCKSMITHD_ETCD_CERTFILE'
      | 'LOCKSMITHD_ETCD_KEYFILE'
      | 'LOCKSMITHD_ETCD_USERNAME'
      | 'LOCKSMITHD_ETCD_PASSWORD'
      | 'LOCKSMITHD_GROUP'
      | 'FLEETLOCK_GROUP'
    >
  >;

/**
 * Maps checked update.conf values onto RebootConfig. The window start/length pairing and the
 * FLEETLOCK_URL requirement are already checked by the config loader (with file and line).
 * `group` is the reboot-lock group (update.conf has no key for it yet: "" = locksmith's default key).
 */
export function rebootConfigFromValues(
  values: RebootConfigValues,
  host: { machineId: string; group?: string | undefined; windowClock?: WindowClock | undefined },
): RebootConfig {
  const start = values.REBOOT_WINDOW_START === null ? undefined : parseWindowStart(values.REBOOT_WINDOW_START);
  const lengthMs = values.REBOOT_WINDOW_LENGTH;
  if (values.REBOOT_WINDOW_START !== null && start === undefined) {
    throw new UpdaterError('ERR_CONFIG', `Cannot use the reboot window: REBOOT_WINDOW_START "${values.REBOOT_WINDOW_START}" is not "[WEEKDAY] HH:MM"`);
  }
  if ((start === undefined) !== (lengthMs === null)) {
    throw new UpdaterError('ERR_CONFIG', 'Cannot use the reboot window: REBOOT_WINDOW_START and REBOOT_WINDOW_LENGTH must be set together', {
      hint: 'Set both (e.g. "Thu 04:00" and "1h") or neither.',
    });
  }
  const etcd = etcdConnection(values);
  const cfg: RebootConfig = {
    strategy: values.REBOOT_STRATEGY,
    rebootCommand: values.REBOOT_COMMAND,
    etcdEndpoints: etcd.endpoints,
    etcd: etcd.access,
    machineId: host.machineId,
    group: host.group ?? (values.LOCKSMITHD_GROUP || undefined),
  };
  if (values.FLEETLOCK_GROUP) cfg.fleetlockGroup = values.FLEETLOCK_GROUP;
  if (start !== undefined && lengthMs !== null) cfg.window = { ...start, lengthMs };
  if (host.windowClock !== undefined) cfg.windowClock = host.windowClock;
  if (values.FLEETLOCK_URL !== null) cfg.fleetlockUrl = values.FLEETLOCK_URL;
  // FleetLock servers know hosts by zincati's node id, never the raw machine id (which is meant to stay private).
  if (values.REBOOT_STRATEGY === 'fleetlock') cfg.fleetlockId = fleetlockNodeId(host.machineId);
  return cfg;
}
