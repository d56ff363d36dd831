// How abupdate reaches the update server and the payload, from update.conf: SERVER_CAFILE / SERVER_CERTFILE /
// SERVER_KEYFILE read as TLS material, DOWNLOAD_USER / DOWNLOAD_PASSWORD as the payload's basic auth.

import { UpdaterError } from '../../common/errors.js';
import type { LoadedConfig } from '../config/load-config.js';
import { loadTlsMaterial, type TlsMaterial } from './tls.js';

export interface ServerAccess {
  /** For the Omaha / channel-index requests and the payload. */
  tls?: TlsMaterial;
  /** For the payload only (update_engine sends it on the payload download, not to the Omaha server). */
  auth?: { username: string; password: string };
}

export async function serverAccessFromConfig(config: LoadedConfig): Promise<ServerAccess> {
  const v = config.values;
  const access: ServerAccess = {};
  if (v.SERVER_CAFILE !== null || v.SERVER_CERTFILE !== null || v.SERVER_KEYFILE !== null) {
    access.tls = await loadTlsMaterial(
      { caFile: v.SERVER_CAFILE ?? undefined, certFile: v.SERVER_CERTFILE ?? undefined, keyFile: v.SERVER_KEYFILE ?? undefined },
      { ca: 'SERVER_CAFILE', cert: 'SERVER_CERTFILE', key: 'SERVER_KEYFILE' },
    );
  }
  if (v.DOWNLOAD_PASSWORD !== null && v.DOWNLOAD_USER === null) {
    throw new UpdaterError('ERR_CONFIG', 'Cannot use DOWNLOAD_PASSWORD without DOWNLOAD_USER', {
      data: { origin: config.origins.DOWNLOAD_PASSWORD },
      hint: 'Set DOWNLOAD_USER to the user the payload server expects, or remove DOWNLOAD_PASSWORD.',
    });
  }
  if (v.DOWNLOAD_USER !== null) access.auth = { username: v.DOWNLOAD_USER, password: v.DOWNLOAD_PASSWORD ?? '' };
  return access;
}
