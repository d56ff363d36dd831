// The id a host gives a FleetLock server, derived from the machine id exactly as zincati derives its node UUID.

import { createHmac } from 'node:crypto';
import { UpdaterError } from '../../common/errors.js';

/** zincati's application id (coreos/zincati src/identity/mod.rs, APP_ID). */
export const ZINCATI_APP_ID = 'de35106b6ec24688b63afddaa156679b';

function id128Bytes(text: string, what: string): Buffer {
  const hex = text.trim().toLowerCase().replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) {
    throw new UpdaterError('ERR_CONFIG', `Cannot derive the FleetLock id: the ${what} "${text.trim().slice(0, 64)}" is not a 128-bit id (32 hex digits)`, {
      hint: 'Run "systemd-machine-id-setup", or point MACHINE_ID_PATH at a file that holds the machine id.',
    });
  }
  return Buffer.from(hex, 'hex');
}

/**
 * systemd's sd_id128_get_app_specific (as in libsystemd's id128 and the libsystemd crate zincati uses): HMAC-SHA256
 * keyed by the 16 bytes of the base id over the 16 bytes of the app id, the first 16 bytes of the digest made a
 * v4 UUID (version nibble 4, RFC 4122 variant). Returned as 32 lowercase hex digits, zincati's `lower_hex()`.
 */
export function appSpecificId(baseId: string, appId: string): string {
  const digest = createHmac('sha256', id128Bytes(baseId, 'machine id')).update(id128Bytes(appId, 'app id')).digest();
  const id = digest.subarray(0, 16);
  id[6] = (id[6]! & 0x0f) | 0x40;
  id[8] = (id[8]! & 0x3f) | 0x80;
  return id.toString('hex');
}

/** The FleetLock `client_params.id` for a machine id: zincati's node UUID. */
export function fleetlockNodeId(machineId: string): string {
  return appSpecificId(machineId, ZINCATI_APP_ID);
}
