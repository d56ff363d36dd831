// Opens the etcd the reboot lock lives in, as configured: v3 (abupdate's default) or v2 (locksmithd's API), with TLS
// and user/password. The one place that turns the etcd settings into a client.

import type { TlsFiles } from '../net/tls.js';
import { EtcdClient } from './etcd-client.js';
import { EtcdV2Client } from './etcd-v2-client.js';
import type { SemaphoreStore } from './etcd-semaphore.js';

export type EtcdApi = 'v2' | 'v3';

/** How to reach etcd beyond its endpoints (ETCD_API, LOCKSMITHD_ETCD_CAFILE/_CERTFILE/_KEYFILE, _USERNAME/_PASSWORD). */
export interface EtcdAccess {
  api?: EtcdApi | undefined;
  tls?: TlsFiles | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

export function openEtcdStore(
  endpoints: readonly string[],
  access: EtcdAccess | undefined,
  options: { timeoutMs?: number; signal?: AbortSignal | undefined } = {},
): SemaphoreStore {
  const common = {
    endpoints: [...endpoints],
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(access?.tls === undefined ? {} : { tls: access.tls }),
    ...(access?.username === undefined ? {} : { username: access.username }),
    ...(access?.password === undefined ? {} : { password: access.password }),
  };
  return access?.api === 'v2' ? new EtcdV2Client(common) : new EtcdClient(common);
}
