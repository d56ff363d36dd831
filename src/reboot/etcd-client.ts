// A minimal etcd v3 client over etcd's JSON gRPC-gateway (kv range/put/txn, leases, watch), with endpoint failover,
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

interface RawWatchResult {
  header?: { revision?: string };
  created?: boolean;
  canceled?: boolean;
  cancel_reason?: string;
  compact_revision?: string;
  events?: { type?: string; kv?: RawKeyValue }[];
}

interface RawTxnResponse {
  succeeded?: boolean;
  responses?: { response_range?: RawRangeResponse }[];
}

/** A range read: the keys (none with countOnly), how many matched, and the store revision it was read at. */
export interface EtcdRange {
  kvs: EtcdKeyValue[];
  count: number;
  revision: string;
}

/** One condition of a txn: the key's create/mod revision, version or value compared with `value`. */
export interface EtcdCompare {
  key: string;
  target: 'CREATE' | 'MOD' | 'VERSION' | 'VALUE';
  result: 'EQUAL' | 'NOT_EQUAL' | 'GREATER' | 'LESS';
  value: string;
}

/** One operation of a txn; `prefix` makes a range or delete cover every key starting with `key`. */
export type EtcdOp =
  | { put: { key: string; value: string; lease?: string } }
  | { range: { key: string; prefix?: boolean } }
  | { delete: { key: string; prefix?: boolean } };

export interface EtcdTxnResult {
  succeeded: boolean;
  /** Per operation of the branch that ran: the keys a range op read (empty for put and delete). */
  ranges: EtcdKeyValue[][];
  revision: string;
}

/** One change seen by a watch; `value` is undefined for a delete (or a lease expiry). */
export interface EtcdWatchEvent {
  type: 'PUT' | 'DELETE';
  key: string;
  value: string | undefined;
  modRevision: string;
}

export interface EtcdWatch {
  /** Resolves once etcd confirmed the watch (events after it are delivered). */
  ready: Promise<void>;
  /** Resolves when the stream ends: stopped, etcd went away, or the revision was compacted (`compacted`). */
  closed: Promise<{ error?: Error; compactRevision?: string }>;
  stop(): void;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The range_end that makes a request cover every key starting with `prefix` (etcd's prefix rule), base64. */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) return Buffer.concat([bytes.subarray(0, i), Buffer.from([bytes[i]! + 1])]).toString('base64');
  }
  return Buffer.from([0]).toString('base64'); // all 0xff: to the end of the keyspace
}

function rawOp(op: EtcdOp): Record<string, unknown> {
  if ('put' in op) return { request_put: { key: b64(op.put.key), value: b64(op.put.value), ...(op.put.lease === undefined ? {} : { lease: op.put.lease }) } };
  const which = 'range' in op ? op.range : op.delete;
  const body = { key: b64(which.key), ...(which.prefix === true ? { range_end: prefixEnd(which.key) } : {}) };
  return 'range' in op ? { request_range: body } : { request_delete_range: body };
}

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

  /** Writes one key unconditionally; with `lease`, the key is deleted when that lease expires. */
  async put(key: string, value: string, options: { lease?: string } = {}): Promise<void> {
    await this.#call('/v3/kv/put', { key: b64(key), value: b64(value), ...(options.lease === undefined ? {} : { lease: options.lease }) }, `write key "${key}"`);
  }

  /** Reads one key, or with `prefix` every key starting with `key` (sorted by key). */
  async range(key: string, options: { prefix?: boolean; countOnly?: boolean } = {}): Promise<EtcdRange> {
    const body = { key: b64(key), ...(options.prefix === true ? { range_end: prefixEnd(key) } : {}), ...(options.countOnly === true ? { count_only: true } : {}) };
    const response = (await this.#call('/v3/kv/range', body, `read ${options.prefix === true ? 'keys under' : 'key'} "${key}"`)) as RawRangeResponse & { count?: string; header?: { revision?: string } };
    return { kvs: (response.kvs ?? []).map(decode), count: Number(response.count ?? 0), revision: response.header?.revision ?? '0' };
  }

  /** One etcd transaction: if every compare holds, runs `success`, else `failure`, atomically. */
  async txn(request: { compare: EtcdCompare[]; success: EtcdOp[]; failure?: EtcdOp[] }, what = 'run a transaction'): Promise<EtcdTxnResult> {
    const compare = request.compare.map((c) => {
      const field = { CREATE: 'create_revision', MOD: 'mod_revision', VERSION: 'version', VALUE: 'value' }[c.target];
      return { key: b64(c.key), target: c.target, result: c.result, [field]: c.target === 'VALUE' ? b64(c.value) : c.value };
    });
    const body = { compare, success: request.success.map(rawOp), failure: (request.failure ?? []).map(rawOp) };
    const response = (await this.#call('/v3/kv/txn', body, what)) as RawTxnResponse & { header?: { revision?: string } };
    return {
      succeeded: response.succeeded === true,
      ranges: (response.responses ?? []).map((r) => (r.response_range?.kvs ?? []).map(decode)),
      revision: response.header?.revision ?? '0',
    };
  }

  /** Grants a lease of `ttlSeconds`; keys put with its id vanish when it is neither renewed nor revoked in time. */
  async grantLease(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const response = (await this.#call('/v3/lease/grant', { TTL: String(ttlSeconds) }, 'grant a lease')) as { ID?: string; TTL?: string };
    if (response.ID === undefined) throw new UpdaterError('ERR_ETCD', 'Cannot grant a lease: etcd answered without a lease id');
    return { id: response.ID, ttl: Number(response.TTL ?? ttlSeconds) };
  }

  /** Renews a lease once; returns its new TTL in seconds, 0 when the lease expired or never existed. */
  async keepAliveLease(id: string): Promise<number> {
    const response = (await this.#call('/v3/lease/keepalive', { ID: id }, `renew lease ${id}`)) as { result?: { TTL?: string } };
    return Number(response.result?.TTL ?? 0);
  }

  /** Revokes a lease: every key bound to it is deleted at once. */
  async revokeLease(id: string): Promise<void> {
    await this.#call('/v3/lease/revoke', { ID: id }, `revoke lease ${id}`);
  }

  /**
   * Watches every key starting with `prefix` from `startRevision` on, on the endpoint that answered last
   * (the caller re-watches from its last revision + 1 after `closed`, which moves to the next endpoint).
   */
  watch(prefix: string, options: { startRevision?: string; onEvents: (events: EtcdWatchEvent[], revision: string) => void; signal?: AbortSignal }): EtcdWatch {
    const controller = new AbortController();
    const signals = [controller.signal, ...(options.signal ? [options.signal] : []), ...(this.signal ? [this.signal] : [])];
    const endpoint = this.endpoints[this.#current]!;
    let markReady: () => void = () => {};
    let failReady: (error: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => undefined);
    const closed = (async (): Promise<{ error?: Error; compactRevision?: string }> => {
      const body = { create_request: { key: b64(prefix), range_end: prefixEnd(prefix), ...(options.startRevision === undefined ? {} : { start_revision: options.startRevision }) } };
      const stream = got.stream.post(`${endpoint}/v3/watch`, { json: body, decompress: false, retry: { limit: 0 }, timeout: { connect: this.timeoutMs }, signal: AbortSignal.any(signals) });
      let buffered = '';
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        buffered += chunk.toString('utf8');
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === '') continue;
          const message = JSON.parse(line) as { result?: RawWatchResult; error?: { message?: string } };
          const result = message.result;
          if (result === undefined) throw new Error(message.error?.message ?? 'watch stream error');
          if (result.created === true) markReady();
          if (result.compact_revision !== undefined && result.compact_revision !== '0') return { compactRevision: result.compact_revision };
          if (result.canceled === true) throw new Error(`etcd canceled the watch: ${result.cancel_reason ?? ''}`);
          const events = (result.events ?? []).map((e): EtcdWatchEvent => {
            const kv = decode(e.kv ?? {});
            return { type: e.type === 'DELETE' ? 'DELETE' : 'PUT', key: kv.key, value: e.type === 'DELETE' ? undefined : kv.value, modRevision: kv.modRevision };
          });
          if (events.length > 0) options.onEvents(events, result.header?.revision ?? events[events.length - 1]!.modRevision);
        }
      }
      return {};
    })().then(
      (end) => {
        failReady(new Error('watch ended before etcd confirmed it'));
        return end;
      },
      (error: unknown) => {
        if (!controller.signal.aborted) this.#current = (this.endpoints.indexOf(endpoint) + 1) % this.endpoints.length;
        failReady(error as Error);
        return controller.signal.aborted ? {} : { error: error as Error };
      },
    );
    return { ready, closed, stop: () => controller.abort() };
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
