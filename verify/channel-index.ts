// The signed static channel index (e.g. stable.json + stable.json.sig): which bundle is newest on a channel.

import { UpdaterError } from '../common/errors.js';
import type { Keyring } from './keyring.js';
import type { PrivateKey } from './keys.js';
import { isTimestamp } from './manifest.js';
import { signDetached, verifyDetached } from './signature.js';
import { isVersion } from './version.js';
import { parseTimestamp } from './timestamp.js';

/** The index is tiny; anything bigger is not an index. */
export const MAX_CHANNEL_INDEX_BYTES = 64 * 1024;
export const CHANNEL_INDEX_FORMAT = 1;

export interface ChannelIndex {
  format: 1;
  /** The channel this index is for: a client asking for "stable" refuses an index that says "beta". */
  channel: string;
  /** The bundle's version (its manifest's version). */
  version: string;
  /** The bundle's compatible string (its manifest's). */
  compatible: string;
  /** Where the bundle is: absolute http(s) URL, or relative to the index URL. */
  url: string;
  /** Size of the whole bundle file in bytes. */
  size: number;
  /** SHA-256 of the whole bundle file, lowercase hex. */
  sha256: string;
  /** RFC 3339 time the index was made. */
  created: string;
  /** RFC 3339 time after which clients refuse the index (protects against a replayed old index). */
  expires?: string;
  /** The key that signed the index. */
  keyId: string;
}

const KEYS = new Set(['format', 'channel', 'version', 'compatible', 'url', 'size', 'sha256', 'created', 'expires', 'keyId']);
const CHANNEL = /^[A-Za-z0-9][A-Za-z0-9._:{}-]{0,127}$/;

function fieldError(field: string, why: string): UpdaterError {
  return new UpdaterError('ERR_CHANNEL', `Cannot accept channel index: field "${field}" ${why}`, {
    data: { field },
    hint: 'Regenerate the index with "abupdate bundle index".',
  });
}

function requireString(obj: Record<string, unknown>, field: string): string {
  const value = obj[field];
  if (typeof value !== 'string' || value === '') throw fieldError(field, 'must be a non-empty string');
  return value;
}

/** Checks the shape of a parsed index; throws ERR_CHANNEL naming the first bad field. */
export function validateChannelIndex(value: unknown): ChannelIndex {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UpdaterError('ERR_CHANNEL', 'Cannot accept channel index: it is not a JSON object');
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (!KEYS.has(key)) throw fieldError(key, 'is not a known field');
  if (obj.format !== CHANNEL_INDEX_FORMAT) throw fieldError('format', `must be ${CHANNEL_INDEX_FORMAT}, not ${JSON.stringify(obj.format)}`);
  const channel = requireString(obj, 'channel');
  if (!CHANNEL.test(channel)) throw fieldError('channel', `"${channel.slice(0, 80)}" is not a channel name`);
  const version = requireString(obj, 'version');
  if (!isVersion(version)) throw fieldError('version', `"${String(version).slice(0, 80)}" is not a semantic version`);
  const compatible = requireString(obj, 'compatible');
  const url = requireString(obj, 'url');
  if (url.length > 4096 || /[\s\0]/.test(url)) throw fieldError('url', 'must be a URL without spaces, at most 4096 characters');
  const size = obj.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) throw fieldError('size', 'must be a positive whole number');
  const sha256 = requireString(obj, 'sha256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw fieldError('sha256', 'must be 64 lowercase hex digits');
  const created = requireString(obj, 'created');
  if (!isTimestamp(created)) throw fieldError('created', 'must be an RFC 3339 time');
  const keyId = requireString(obj, 'keyId');
  const index: ChannelIndex = { format: 1, channel, version, compatible, url, size, sha256, created, keyId };
  if (obj.expires !== undefined) {
    const expires = requireString(obj, 'expires');
    if (!isTimestamp(expires)) throw fieldError('expires', 'must be an RFC 3339 time');
    index.expires = expires;
  }
  return index;
}

export function parseChannelIndex(bytes: Uint8Array): ChannelIndex {
  if (bytes.length > MAX_CHANNEL_INDEX_BYTES) {
    throw new UpdaterError('ERR_CHANNEL', `Cannot accept channel index: it has ${bytes.length} bytes, more than ${MAX_CHANNEL_INDEX_BYTES}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new UpdaterError('ERR_CHANNEL', `Cannot accept channel index: it is not JSON (${(error as Error).message})`, { cause: error });
  }
  return validateChannelIndex(value);
}

/** The signed bytes of an index (pretty JSON, newline-terminated) and their detached signature. */
export function signChannelIndex(fields: Omit<ChannelIndex, 'format' | 'keyId'>, privateKey: PrivateKey): { index: ChannelIndex; bytes: Buffer; signature: Buffer } {
  const index = validateChannelIndex({ format: CHANNEL_INDEX_FORMAT, ...fields, keyId: privateKey.keyId });
  const bytes = Buffer.from(`${JSON.stringify(index, null, 2)}\n`, 'utf8');
  return { index, bytes, signature: Buffer.from(signDetached(bytes, privateKey)) };
}

export interface VerifyChannelIndexOptions {
  /** The channel the client asked for (GROUP). */
  channel: string;
  now?: Date;
}

/**
 * Checks the signature over the exact bytes FIRST, then the fields, the channel name and expiry.
 * Returns the index and the key that signed it.
 */
export function verifyChannelIndex(bytes: Uint8Array, signature: Uint8Array, keyring: Keyring, options: VerifyChannelIndexOptions): { index: ChannelIndex; keyId: string } {
  if (bytes.length > MAX_CHANNEL_INDEX_BYTES) {
    throw new UpdaterError('ERR_CHANNEL', `Cannot accept channel index: it has ${bytes.length} bytes, more than ${MAX_CHANNEL_INDEX_BYTES}`);
  }
  const { keyId } = verifyDetached(bytes, signature, keyring, { what: 'channel index' });
  const index = parseChannelIndex(bytes);
  if (index.channel !== options.channel) {
    throw new UpdaterError('ERR_CHANNEL', `Cannot accept channel index: it is for channel "${index.channel}", this host follows "${options.channel}"`, {
      data: { channel: index.channel, expected: options.channel },
      hint: 'Check GROUP in update.conf and the index file the server serves for it.',
    });
  }
  const now = options.now ?? new Date();
  if (index.expires !== undefined && (parseTimestamp(index.expires) ?? -Infinity) <= now.getTime()) {
    throw new UpdaterError('ERR_EXPIRED', `Cannot accept channel index: it expired at ${index.expires}`, {
      data: { expires: index.expires, now: now.toISOString() },
      hint: 'The publisher must re-sign the index regularly; check the clock if it is wrong.',
    });
  }
  return { index, keyId };
}
