// Opens etcd as configured: the endpoints, v3 (abupdate's default) or v2 (locksmithd's API), TLS and user/password.
// The one place that turns the etcd settings into a client: the reboot lock, the reboot-lock commands, the fleet
// commands and the fleet agent all reach etcd through it.

import type { ConfigValues } from '../config/keys.js';
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

/** Where etcd is and how to reach it. */
export interface EtcdConnection {
  endpoints: string[];
  access: EtcdAccess;
}

/** The update.conf keys an etcd connection is made of. */
export type EtcdConnectionValues = Pick<ConfigValues, 'ETCD_ENDPOINTS'> &
  Partial<
    Pick<
      ConfigValues,
      'ETCD_API' | 'LOCKSMITHD_ENDPOINT' | 'LOCKSMITHD_ETCD_CAFILE' | 'LOCKSMITHD_ETCD_CERTFILE' | 'LOCKSMITHD_ETCD_KEYFILE' | 'LOCKSMITHD_ETCD_USERNAME' | 'LOCKSMITHD_ETCD_PASSWORD'
    >
  >;

/** Settings given beside update.conf (command-line flags); each one set replaces its update.conf value. */
export interface EtcdOverrides {
  endpoints?: string[] | undefined;
  api?: EtcdApi | undefined;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

/**
 * The etcd connection update.conf describes (LOCKSMITHD_ENDPOINT replaces ETCD_ENDPOINTS when set), with `overrides`
 * laid over it field by field. Without `values` only the overrides count (endpoints default to ETCD_ENDPOINTS').
 */
export function etcdConnection(values: EtcdConnectionValues | undefined, overrides: EtcdOverrides = {}, defaultEndpoints: readonly string[] = []): EtcdConnection {
  const tls: TlsFiles = {};
  const caFile = overrides.caFile ?? (values?.LOCKSMITHD_ETCD_CAFILE || undefined);
  const certFile = overrides.certFile ?? (values?.LOCKSMITHD_ETCD_CERTFILE || undefined);
  const keyFile = overrides.keyFile ?? (values?.LOCKSMITHD_ETCD_KEYFILE || undefined);
  if (caFile !== undefined) tls.caFile = caFile;
  if (certFile !== undefined) tls.certFile = certFile;
  if (keyFile !== undefined) tls.keyFile = keyFile;
  const access: EtcdAccess = { api: overrides.api ?? values?.ETCD_API ?? 'v3', tls };
  const username = overrides.username ?? (values?.LOCKSMITHD_ETCD_USERNAME || undefined);
  const password = overrides.password ?? (values?.LOCKSMITHD_ETCD_PASSWORD || undefined);
  if (username !== undefined) access.username = username;
  if (password !== undefined) access.password = password;
  const configured = values === undefined ? undefined : values.LOCKSMITHD_ENDPOINT ?? values.ETCD_ENDPOINTS;
  return { endpoints: [...(overrides.endpoints ?? configured ?? defaultEndpoints)], access };
}

interface OpenOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

function clientOptions(connection: EtcdConnection, options: OpenOptions) {
  const { access } = connection;
  return {
    endpoints: [...connection.endpoints],
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(access.tls === undefined ? {} : { tls: access.tls }),
    ...(access.username === undefined ? {} : { username: access.username }),
    ...(access.password === undefined ? {} : { password: access.password }),
  };
}

/** A v3 client whatever ETCD_API says: what the fleet needs (ranges, txns, leases, watches) only v3 has. */
export function openEtcdClient(connection: EtcdConnection, options: OpenOptions = {}): EtcdClient {
  return new EtcdClient(clientOptions(connection, options));
}

/** The store the reboot lock lives in: v2's keys API with ETCD_API=v2 (shared with locksmithd), else v3. */
export function openEtcdStore(connection: EtcdConnection, options: OpenOptions = {}): SemaphoreStore {
  return connection.access.api === 'v2' ? new EtcdV2Client(clientOptions(connection, options)) : openEtcdClient(connection, options);
}
