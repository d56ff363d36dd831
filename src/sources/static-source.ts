// The static update source: a signed channel index (SERVER/GROUP.json + .sig) on any HTTP server.

import type { TlsMaterial } from '../net/tls.js';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import { MAX_CHANNEL_INDEX_BYTES, verifyChannelIndex } from '../../verify/channel-index.js';
import type { Keyring } from '../../verify/keyring.js';
import { SIGNATURE_BYTES } from '../../verify/signature.js';
import { compareVersions } from '../../verify/version.js';
import { fetchCapped } from '../download/fetch-capped.js';
import type { CheckContext, CheckResult, UpdateSource } from './source.js';
import { parseTimestamp } from '../../verify/timestamp.js';

export interface StaticSourceOptions {
  /** SERVER: the base URL the channel indexes live under. */
  server: string;
  /** GROUP: the channel; the index is SERVER/GROUP.json. */
  channel: string;
  /** The keyring bundles are verified with (loaded per check, so key rotation needs no restart). */
  keyring: () => Promise<Keyring>;
  /** The host's compatible string; an index for another one is refused. */
  compatible?: string;
  timeoutMs?: number;
  now?: () => Date;
  /** Remembers the newest accepted index's `created` across restarts (STATE_DIR/channel-index-seen.json). */
  seenFile?: string;
  /** SERVER_CAFILE / SERVER_CERTFILE / SERVER_KEYFILE, read. */
  tls?: TlsMaterial;
}

export function channelIndexUrl(server: string, channel: string): string {
  const base = server.endsWith('/') ? server : `${server}/`;
  return new URL(`${encodeURIComponent(channel)}.json`, base).href;
}

export function createStaticSource(options: StaticSourceOptions): UpdateSource {
  const indexUrl = channelIndexUrl(options.server, options.channel);
  /** The newest `created` accepted so far: an older index (a replay) is refused. */
  let newestCreated: number | undefined;
  let seenLoaded = false;

  async function loadSeen(): Promise<void> {
    if (seenLoaded || options.seenFile === undefined) return;
    seenLoaded = true;
    try {
      const value = JSON.parse(await readFile(options.seenFile, 'utf8')) as { url?: unknown; created?: unknown };
      if (value.url === indexUrl && typeof value.created === 'string' && parseTimestamp(value.created) !== undefined) newestCreated = parseTimestamp(value.created) ?? newestCreated;
    } catch {
      // nothing seen yet (or an unreadable record: start over)
    }
  }

  async function saveSeen(created: string): Promise<void> {
    if (options.seenFile === undefined) return;
    const temp = `${options.seenFile}.tmp`;
    await writeFile(temp, `${JSON.stringify({ url: indexUrl, created })}\n`, { mode: 0o600 });
    await rename(temp, options.seenFile);
  }

  async function get(url: string, maxBytes: number, signal: AbortSignal | undefined): Promise<Buffer> {
    const result = await fetchCapped(url, {
      maxBytes,
      what: `fetch the channel index ${url}`,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(signal === undefined ? {} : { signal }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    });
    return result.body;
  }

  return {
    kind: 'static',
    async check(ctx: CheckContext): Promise<CheckResult> {
      const bytes = await get(indexUrl, MAX_CHANNEL_INDEX_BYTES, ctx.signal);
      const signature = await get(`${indexUrl}.sig`, SIGNATURE_BYTES, ctx.signal);
      const now = options.now?.() ?? new Date();
      const { index } = verifyChannelIndex(bytes, signature, await options.keyring(), { channel: options.channel, now });
      await loadSeen();
      const created = parseTimestamp(index.created) ?? Number.NaN;
      if (newestCreated !== undefined && created < newestCreated) {
        throw new UpdaterError('ERR_CHANNEL', `Cannot accept channel index ${indexUrl}: it was created at ${index.created}, before an index already seen`, {
          data: { url: indexUrl, created: index.created },
          hint: 'The server is serving an old copy (a mirror lagging behind, or a replay); the next check will try again.',
        });
      }
      if (newestCreated !== created) await saveSeen(index.created).catch(() => undefined);
      newestCreated = created;
      if (options.compatible !== undefined && index.compatible !== options.compatible) {
        throw new UpdaterError('ERR_INCOMPATIBLE', `Cannot use channel index ${indexUrl}: it names a bundle for "${index.compatible}", this host is "${options.compatible}"`, {
          data: { url: indexUrl, bundle: index.compatible, host: options.compatible },
          hint: 'Check SERVER and GROUP: this channel is for other hardware.',
        });
      }
      if (compareVersions(index.version, ctx.currentVersion) <= 0) return { offer: null };
      let url: string;
      try {
        url = new URL(index.url, indexUrl).href;
      } catch (error) {
        throw new UpdaterError('ERR_CHANNEL', `Cannot use channel index ${indexUrl}: its url "${index.url}" is not a URL`, { cause: error });
      }
      if (!/^https?:$/.test(new URL(url).protocol)) {
        throw new UpdaterError('ERR_CHANNEL', `Cannot use channel index ${indexUrl}: its url "${url}" is not http or https`, { data: { url } });
      }
      return { offer: { version: index.version, url, urls: [url], size: index.size, sha256: index.sha256, source: 'static' } };
    },
    async report(): Promise<void> {
      // A static server has nobody to tell; the daemon logs events itself.
    },
    async ping(): Promise<void> {
      // Nothing to tell a static server either.
    },
  };
}
