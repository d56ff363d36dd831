// An etcd v2 keys-API client (GET/PUT /v2/keys/...), the API locksmithd uses, so abupdate hosts share one reboot lock
// with locksmithd hosts (ETCD_API=v2; etcd 3.4/3.5 serve it with --enable-v2). Same TLS and failover as the v3 client.

import got from 'got';
import { UpdaterError, isUpdaterError } from '../../common/errors.js';
import { gotTlsOptions, tlsErrorFor, type TlsFiles, type TlsMaterial } from '../net/tls.js';
import { etcdTlsMaterial, type CompareAndSwapResult, type EtcdKeyValue } from './etcd-client.js';

export interface EtcdV2ClientOptions {
  endpoints: string[];
  timeoutMs?: number;
  signal?: AbortSignal;
  tls?: TlsFiles;
  /** v2 authentication is HTTP basic auth (locksmith's --etcd-username/--etcd-password). */
  username?: string;
  password?: string;
}

interface V2Node {
  key?: string;
  value?: string;
  modifiedIndex?: number;
  createdIndex?: number;
}

interface V2Answer {
  node?: V2Node;
  errorCode?: number;
  message?: string;
  cause?: string;
}

/** etcd v2 error codes (etcd's error/error.go, client.ErrorCode*). */
const V2_KEY_NOT_FOUND = 100;
const V2_TEST_FAILED = 101;
const V2_NODE_EXIST = 105;

function toKeyValue(node: V2Node): EtcdKeyValue {
  return {
    key: (node.key ?? '').replace(/^\//, ''),
    value: node.value ?? '',
    createRevision: String(node.createdIndex ?? 0),
    modRevision: String(node.modifiedIndex ?? 0),
    version: '0',
  };
}

/** Keys as locksmith names them ("coreos.com/..."), each path segment URL-escaped as Go's client does. */
function keyPath(key: string): string {
  return `/v2/keys/${key.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')}`;
}

export class EtcdV2Client {
  readonly endpoints: string[];
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  #current = 0;
  readonly #tlsFiles: TlsFiles | undefined;
  #tls: Promise<TlsMaterial | undefined> | undefined;
  readonly #authorization: string | undefined;

  constructor(options: EtcdV2ClientOptions) {
    if (options.endpoints.length === 0) {
      throw new UpdaterError('ERR_CONFIG', 'Cannot use etcd: no endpoints configured', {
        hint: 'Set LOCKSMITHD_ENDPOINT or ETCD_ENDPOINTS (e.g. "http://127.0.0.1:2379").',
      });
    }
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.signal = options.signal;
    this.#tlsFiles = options.tls;
    this.#authorization =
      options.username === undefined || options.username === ''
        ? undefined
        : `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }

  /** Reads one key (its modifiedIndex as modRevision); undefined when it does not exist. */
  async get(key: string): Promise<EtcdKeyValue | undefined> {
    const answer = await this.#call('GET', key, undefined, `read key "${key}"`);
    if (answer.errorCode === V2_KEY_NOT_FOUND) return undefined;
    if (answer.node === undefined) throw this.#refusal(answer, `read key "${key}"`);
    return toKeyValue(answer.node);
  }

  async put(key: string, value: string): Promise<void> {
    const answer = await this.#call('PUT', key, { value }, `write key "${key}"`);
    if (answer.errorCode !== undefined) throw this.#refusal(answer, `write key "${key}"`);
  }

  async delete(key: string): Promise<void> {
    const answer = await this.#call('DELETE', key, undefined, `delete key "${key}"`);
    if (answer.errorCode !== undefined && answer.errorCode !== V2_KEY_NOT_FOUND) throw this.#refusal(answer, `delete key "${key}"`);
  }

  /**
   * locksmith's Set with PrevIndex (or Create, prevExist=false, when modRevision is undefined): writes only if the
   * key is unchanged. On a lost race returns the key as it is now.
   */
  async compareAndSwap(key: string, modRevision: string | undefined, value: string): Promise<CompareAndSwapResult> {
    const query = modRevision === undefined ? { prevExist: 'false' } : { prevIndex: modRevision };
    const answer = await this.#call('PUT', key, { value }, `update key "${key}"`, query);
    if (answer.errorCode === undefined) return { succeeded: true, current: undefined };
    if (answer.errorCode === V2_TEST_FAILED || answer.errorCode === V2_NODE_EXIST || answer.errorCode === V2_KEY_NOT_FOUND) {
      return { succeeded: false, current: await this.get(key) };
    }
    throw this.#refusal(answer, `update key "${key}"`);
  }

  #refusal(answer: V2Answer, what: string): UpdaterError {
    return new UpdaterError('ERR_ETCD', `Cannot ${what}: etcd refused it: ${answer.errorCode ?? '?'} "${answer.message ?? ''}"`, {
      data: { errorCode: answer.errorCode, cause: answer.cause },
    });
  }

  async #call(method: 'GET' | 'PUT' | 'DELETE', key: string, form: Record<string, string> | undefined, what: string, query?: Record<string, string>): Promise<V2Answer> {
    const failures: string[] = [];
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.#current + i) % this.endpoints.length;
      const endpoint = this.endpoints[index]!;
      try {
        const answer = await this.#request(endpoint, method, key, form, what, query);
        this.#current = index;
        return answer;
      } catch (error) {
        if (!isUpdaterError(error, 'ERR_ETCD') || error.data?.failover !== true) throw error;
        failures.push(`${endpoint}: ${String(error.data.reason)}`);
      }
    }
    throw new UpdaterError('ERR_ETCD', `Cannot ${what}: no etcd endpoint answered (${failures.join('; ')})`, {
      data: { endpoints: this.endpoints, failures },
      hint: 'Check that etcd runs with --enable-v2 (etcd 3.4/3.5) and that the endpoints list its client URLs.',
    });
  }

  async #request(endpoint: string, method: 'GET' | 'PUT' | 'DELETE', key: string, form: Record<string, string> | undefined, what: string, query?: Record<string, string>): Promise<V2Answer> {
    this.signal?.throwIfAborted();
    this.#tls ??= etcdTlsMaterial(this.#tlsFiles);
    const tls = await this.#tls;
    const url = new URL(`${endpoint}${keyPath(key)}`);
    for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
    let response;
    try {
      response = await got(url, {
        method,
        ...gotTlsOptions(tls),
        ...(this.#authorization === undefined ? {} : { headers: { authorization: this.#authorization } }),
        ...(form === undefined ? {} : { form }),
        responseType: 'text',
        throwHttpErrors: false,
        retry: { limit: 0 },
        timeout: { request: this.timeoutMs },
        decompress: false,
        ...(this.signal === undefined ? {} : { signal: this.signal }),
      });
    } catch (error) {
      if (this.signal?.aborted) throw new UpdaterError('ERR_ABORTED', `Cannot ${what}: aborted`, { cause: error });
      const tlsError = tlsErrorFor(error, what, endpoint);
      if (tlsError !== undefined) throw tlsError;
      const code = (error as { code?: string }).code ?? 'error';
      const reason = code === 'ETIMEDOUT' ? `no answer within ${this.timeoutMs} ms` : code;
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: ${reason}`, { cause: error, data: { failover: true, reason } });
    }
    if (response.statusCode === 401) {
      throw new UpdaterError('ERR_AUTH', `Cannot ${what}: etcd at ${endpoint} refused the v2 request: not authorized`, {
        data: { endpoint, status: 401 },
        hint: 'Check LOCKSMITHD_ETCD_USERNAME and LOCKSMITHD_ETCD_PASSWORD.',
      });
    }
    if (response.statusCode === 404 && !response.body.trimStart().startsWith('{')) {
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: etcd at ${endpoint} does not serve the v2 API`, {
        data: { endpoint, status: 404 },
        hint: 'Start etcd with --enable-v2 (etcd 3.4/3.5), or set ETCD_API=v3 when no locksmithd host shares the lock.',
      });
    }
    let answer: V2Answer;
    try {
      answer = JSON.parse(response.body) as V2Answer;
    } catch (error) {
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: ${endpoint} answered HTTP ${response.statusCode} with non-JSON`, {
        cause: error,
        data: { failover: response.statusCode >= 500, reason: `HTTP ${response.statusCode}, not JSON`, endpoint },
        hint: 'Start etcd with --enable-v2 (etcd 3.4/3.5) for ETCD_API=v2.',
      });
    }
    if (response.statusCode >= 500) {
      const reason = `HTTP ${response.statusCode} "${answer.message ?? ''}"`;
      throw new UpdaterError('ERR_ETCD', `Cannot ${what}: ${reason}`, { data: { failover: true, reason } });
    }
    return answer;
  }
}
