// A minimal etcd v3 client over etcd's JSON gRPC-gateway (/v3/kv/range, /v3/kv/put, /v3/kv/txn), with endpoint failover,
// TLS (CA, client certificate) and etcd's user/password authentication.

import got from 'got';
import { UpdaterError, isUpdaterError } from '../../common/errors.js';
import { gotTlsOptions, loadTlsMaterial, tlsErrorFor, type TlsFiles, type TlsMaterial } from '../net/tls.js';

/** One key as etcd returns it; revisions are int64 decimal strings, as the gateway sends them. */
export interface EtcdKeyValue {
  key: string;
  value: string;
  createRevision: string;
  modRevision: string;
  version: string;
}

export interface EtcdClientOptions {
  /** Client URLs, e.g. ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]; tried in turn on connection failure. */
  endpoints: string[];
  /** Per-request timeout in milliseconds (default 5000). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** CA bundle and client certificate for https endpoints (locksmith's --etcd-cafile/--etcd-certfile/--etcd-keyfile). */
  tls?: TlsFiles;
  /** etcd user and password (locksmith's --etcd-username/--etcd-password); the password never appears in errors. */
  username?: string;
  password?: string;
}

/** The setting names TLS problems are reported under. */
export const ETCD_TLS_SETTINGS = { ca: 'LOCKSMITHD_ETCD_CAFILE', cert: 'LOCKSMITHD_ETCD_CERTFILE', key: 'LOCKSMITHD_ETCD_KEYFILE' };

/** Reads an etcd client's TLS files once (undefined without any). */
export async function etcdTlsMaterial(files: TlsFiles | undefined): Promise<TlsMaterial | undefined> {
  if (files === undefined || (files.caFile === undefined && files.certFile === undefined && files.keyFile === undefined)) return undefined;
  return loadTlsMaterial(files, ETCD_TLS_SETTINGS);
}

export interface CompareAndSwapResult {
  succeeded: boolean;
  /** When the compare failed: the key as it is now (undefined if absent). */
  current: EtcdKeyValue | undefined;
}

interface RawKeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
}

interface RawRangeResponse {
  kvs?: RawKeyValue[];
}

interface RawTxnResponse {
  succeeded?: boolean;
  responses?: { response_range?: RawRangeResponse }[];
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function decode(raw: RawKeyValue): EtcdKeyValue {
  return {
    key: Buffer.from(raw.key ?? '', 'base64').toString('utf8'),
    value: Buffer.from(raw.value ?? '', 'base64').toString('utf8'),
    createRevision: raw.create_revision ?? '0',
    modRevision: raw.mod_revision ?? '0',
    version: raw.version ?? '0',
  };
}

/** Parses "http://a:2379,http://b:2379" into URLs without trailing slashes; undefined when any entry is not http(s). */
export function parseEtcdEndpoints(text: string): string[] | undefined {
  const endpoints = text
    .split(/[,\s]+/)
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (endpoints.length === 0) return undefined;
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  }
  return endpoints.map((e) => e.replace(/\/+$/, ''));
}

export class EtcdClient {
  readonly endpoints: string[];
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  /** The endpoint that answered last; requests start there. */
  #current = 0;
  readonly #tlsFiles: TlsFiles | undefined;
  #tls: Promise<TlsMaterial | undefined> | undefined;
  readonly #username: string | undefined;
  readonly #password: string | undefined;
  /** The auth token from /v3/auth/authenticate (simple or JWT), when a username is set. */
  #token: string | undefined;

  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) {
      throw new UpdaterError('ERR_CONFIG', 'Cannot use etcd: no endpoints configured', {
        hint: 'Set ETCD_ENDPOINTS (e.g. "http://127.0.0.1:2379") or pass --endpoints.',
      });
    }
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.signal = options.signal;
    this.#tlsFiles = options.tls;
    this.#username = options.username === '' ? undefined : options.username;
    this.#password = options.password;
  }

  /** Who this client authenticates as (for messages); never the password. */
  get username(): string | undefined {
    return this.#username;
  }

  /** Reads one key; undefined when it does not exist. */
  async get(key: string): Promise<EtcdKeyValue | undefined> {
    const response = (await this.#call('/v3/kv/range', { key: b64(key) }, `read key "${key}"`)) as RawRangeResponse;
    const raw = response.kvs?.[0];
    return raw === undefined ? undefined : decode(raw);
  }

  /** Writes one key unconditionally. */
  async put(key: string, value: string): Promise<void> {
    await this.#call('/v3/kv/put', { key: b64(key), value: b64(value) }, `write key "${key}"`);
  }

  /** Deletes one key unconditionally. */
  async delete(key: string): Promise<void> {
    await this.#call('/v3/kv/deleterange', { key: b64(key) }, `delete key "${key}"`);
  }

  /**
   * Writes `value` only if the key's mod_revision is still `modRevision` (or, with undefined, only if
   * the key does not exist), in one txn. On a lost race returns the key as it is now.
   */
  async compareAndSwap(key: string, modRevision: string | undefined, value: string): Promise<CompareAndSwapResult> {
    const k = b64(key);
    const compare =
      modRevision === undefined
        ? { key: k, target: 'CREATE', result: 'EQUAL', create_revision: '0' }
        : { key: k, target: 'MOD', result: 'EQUAL', mod_revision: modRevision };
    const body = {
      compare: [compare],
      success: [{ request_put: { key: k, value: b64(value) } }],
      failure: [{ request_range: { key: k } }],
    };
    const response = (await this.#call('/v3/kv/txn', body, `update key "${key}"`)) as RawTxnResponse;
    // The gateway omits false booleans (proto3 JSON), so a missing `succeeded` means the compare failed.
    if (response.succeeded === true) return { succeeded: true, current: undefined };
    const raw = response.responses?.[0]?.response_range?.kvs?.[0];
    return { succeeded: false, current: raw === undefined ? undefined : decode(raw) };
  }

  /**
   * POSTs to each endpoint in turn, starting at the last one that answered, until one answers. With a username,
   * authenticates first and once more when etcd says the token is no longer valid (simple tokens expire).
   */
  async #call(path: string, body: unknown, what: string): Promise<unknown> {
    if (this.#username === undefined) return this.#callEndpoints(path, body, what, undefined);
    this.#token ??= await this.#authenticate();
    try {
      return await this.#callEndpoints(path, body, what, this.#token);
    } catch (error) {
      if (!isUpdaterError(error, 'ERR_ETCD') || error.data?.invalidToken !== true) throw error;
      this.#token = await this.#authenticate();
      return this.#callEndpoints(path, body, what, this.#token);
    }
  }

  async #authenticate(): Promise<string> {
    const user = this.#username ?? '';
    let response: { token?: unknown };
    try {
      response = (await this.#callEndpoints('/v3/auth/authenticate', { name: user, password: this.#password ?? '' }, `authenticate to etcd as "${user}"`, undefined)) as {
        token?: unknown;
      };
    } catch (error) {
      if (isUpdaterError(error, 'ERR_ETCD') && error.data?.status !== undefined && /authentication failed|invalid user|password/i.test(String(error.data.etcdMessage ?? ''))) {
        throw new UpdaterError('ERR_AUTH', `Cannot authenticate to etcd as "${user}": etcd refused the user name or password`, {
          data: { user, endpoint: error.data.endpoint },
          hint: 'Check LOCKSMITHD_ETCD_USERNAME and LOCKSMITHD_ETCD_PASSWORD (locksmith\'s --etcd-username/--etcd-password).',
        });
      }
      throw error;
    }
    if (typeof response.token !== 'string' || response.token === '') {
      throw new UpdaterError('ERR_AUTH', `Cannot authenticate to etcd as "${user}": etcd returned no token (is authentication enabled?)`, {
        data: { user },
        hint: 'Without etcd authentication, leave LOCKSMITHD_ETCD_USERNAME empty.',
      });
    }
    return response.token;
  }

  async #callEndpoints(path: string, body: unknown, what: string, token: string | undefined): Promise<unknown> {
    const failures: string[] = [];
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.#current + i) % this.endpoints.length;
      const endpoint = this.endpoints[index]!;
      try {
        const result = await this.#post(endpoint, path, body, what, token);
        this.#current = index;
        return result;
      } catch (error) {
        if (!isUpdaterError(error, 'ERR_ETCD') || error.data?.failover !== true) throw error;
        failures.push(`${endpoint}: ${String(error.data.reason)}`);
      }
    }
    throw new UpdaterError('ERR_ETCD', `Cannot ${what}: no etcd endpoint answered (${failures.join('; ')})`, {
      data: { endpoints: this.endpoints, failures },
      hint: 'Check that etcd runs and that ETCD_ENDPOINTS lists its client URLs.',
    });
  }

  async #post(endpoint: string, path: string, body: unknown, what: string, token: string | undefined): Promise<unknown> {
    this.signal?.throwIfAborted();
    this.#tls ??= etcdTlsMaterial(this.#tlsFiles);
    const tls = await this.#tls;
    let response;
    try {
      response = await got.post(`${endpoint}${path}`, {
        ...gotTlsOptions(tls),
        ...(token === undefined ? {} : { headers: { authorization: token } }),
        json: body,
        responseType: 'text',
        throwHttpErrors: false,
        retry: { limit: 0 },
        timeout: { request: this.timeoutMs },
        decompress: false,
        ...(this.signal === undefined ? {} : { signal: this.signal }),
      });
    } catch (error) {
      if (this.signal?.aborted) {
        throw new UpdaterError('ERR_ABORTED', `Cannot ${what}: aborted`, { cause: error });
      }
      // A certificate problem is the same on every member: no failover, and never a retry without TLS.
      const tlsError = tlsErrorFor(error, what, endpoint);
      if (tlsError !== undefined) throw tlsError;
      const code = (error as { code?: string }).code ?? 'error';
      const reason = `${code === 'ETIMEDOUT' ? `no answer within ${this.timeoutMs} ms` : code}`;
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: ${reason}`, { cause: error, data: { failover: true, reason } });
    }
    let parsed: { error?: string; message?: string; code?: number } & Record<string, unknown>;
    try {
      parsed = JSON.parse(response.body) as typeof parsed;
    } catch (error) {
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: ${endpoint} answered HTTP ${response.statusCode} with non-JSON`, {
        cause: error,
        data: { failover: true, reason: `HTTP ${response.statusCode}, not JSON` },
      });
    }
    if (response.statusCode >= 500) {
      // Unavailable, no leader, timed out inside etcd: another member may do better.
      const reason = `HTTP ${response.statusCode} "${parsed.message ?? parsed.error ?? ''}"`;
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: ${reason}`, { data: { failover: true, reason } });
    }
    if (response.statusCode !== 200) {
      const etcdMessage = parsed.message ?? parsed.error ?? '';
      // gRPC Unauthenticated (16): the token expired or was revoked; #call authenticates again.
      if (token !== undefined && (parsed.code === 16 || /invalid auth token/.test(etcdMessage))) {
        throw new UpdaterError('ERR_ETCD', `Cannot ${what}: etcd at ${endpoint} no longer accepts the auth token`, { data: { endpoint, invalidToken: true } });
      }
      if (/user name is empty|permission denied|user name not found/.test(etcdMessage)) {
        throw new UpdaterError('ERR_AUTH', `Cannot ${what}: etcd at ${endpoint} refused it: "${etcdMessage}"`, {
          data: { endpoint, status: response.statusCode, grpcCode: parsed.code, user: this.#username },
          hint: this.#username === undefined
            ? 'etcd has authentication enabled: set LOCKSMITHD_ETCD_USERNAME and LOCKSMITHD_ETCD_PASSWORD.'
            : `Grant the user "${this.#username}" read and write on the reboot lock keys (etcdctl role grant-permission).`,
        });
      }
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: etcd at ${endpoint} refused the request: HTTP ${response.statusCode} "${etcdMessage}"`, {
        data: { endpoint, status: response.statusCode, grpcCode: parsed.code, etcdMessage },
        hint: 'The etcd server must speak the v3 API through its gRPC gateway (etcd 3.4 or newer).',
      });
    }
    return parsed;
  }
}
