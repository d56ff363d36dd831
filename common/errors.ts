// The one error type of abupdate: a code from a closed list, a message, the cause and structured data.
// This folder is the only module every layer (partition/, verify/, src/) may import.

export const ERROR_CODES = [
  // usage and environment
  'ERR_USAGE',
  'ERR_CONFIG',
  'ERR_IO',
  'ERR_NO_SPACE',
  'ERR_LOCKED',
  'ERR_ABORTED',
  'ERR_INTERNAL',
  'ERR_ILLEGAL_TRANSITION',
  'ERR_TOOL_FAILED',
  // disk and GPT (partition/)
  'ERR_NOT_GPT',
  'ERR_GPT_CRC',
  'ERR_GPT_HEADER',
  'ERR_GPT_ENTRIES',
  'ERR_GPT_BOTH_CORRUPT',
  'ERR_GPT_PARTITION_RANGE',
  'ERR_GPT_OVERLAP',
  'ERR_DISK_TRUNCATED',
  'ERR_DISK_NOT_FOUND',
  'ERR_SLOT_COUNT',
  'ERR_SLOT_UNKNOWN',
  'ERR_BOOTED_UNKNOWN',
  'ERR_BOOTED_MISMATCH',
  'ERR_BOOTED_CONFLICT',
  'ERR_SLOT_IN_USE',
  'ERR_SLOT_KERNEL_MISMATCH',
  'ERR_GPT_COPIES_DISAGREE',
  'ERR_NO_BOOTABLE_SLOT',
  'ERR_GOOD_SLOT_DEMOTED',
  'ERR_GRUBENV',
  // trust (verify/)
  'ERR_KEY_FORMAT',
  'ERR_KEY_UNKNOWN',
  'ERR_KEY_REVOKED',
  'ERR_SIGNATURE',
  'ERR_MANIFEST_JSON',
  'ERR_MANIFEST_FORMAT',
  'ERR_MANIFEST_FIELD',
  'ERR_MANIFEST_CHUNKS',
  'ERR_MANIFEST_CHUNK_SIZE',
  'ERR_MANIFEST_LIMIT',
  'ERR_MANIFEST_TOO_LARGE',
  'ERR_BUNDLE_MEMBER',
  'ERR_BUNDLE_ORDER',
  'ERR_BUNDLE_SIZE',
  'ERR_BUNDLE_TRUNCATED',
  'ERR_BUNDLE_TRAILING',
  'ERR_BUNDLE_TAR',
  'ERR_CHUNK_HASH',
  /** Format 2: the chunk index's SHA-256 differs from the signed manifest's. */
  'ERR_INDEX_HASH',
  /** Format 2: a record of the (hash-verified) chunk index breaks the format's rules. */
  'ERR_INDEX',
  /** Format 2: a compressed chunk does not decompress to exactly its declared size (a bomb is stopped at that size). */
  'ERR_CHUNK_INFLATE',
  'ERR_IMAGE_HASH',
  'ERR_INCOMPATIBLE',
  'ERR_EXPIRED',
  'ERR_DOWNGRADE',
  'ERR_BELOW_FLOOR',
  'ERR_MIN_VERSION',
  /** A version string that is not semver. */
  'ERR_BAD_VERSION',
  /** A version recorded as bad on this host (it failed its health check or never came up): not installed again. */
  'ERR_KNOWN_BAD_VERSION',
  'ERR_CHANNEL',
  // engine, network, service (src/)
  'ERR_IMAGE_TOO_LARGE',
  'ERR_BOOTED_SLOT_TARGET',
  'ERR_READBACK',
  'ERR_HTTP_STATUS',
  'ERR_HTTP_RANGE',
  'ERR_NETWORK',
  'ERR_TIMEOUT',
  'ERR_NETWORK_SLOW',
  'ERR_OMAHA_XML',
  'ERR_OMAHA_STATUS',
  'ERR_OMAHA_HASH',
  'ERR_OMAHA_ARCH',
  'ERR_RESPONSE_TOO_LARGE',
  'ERR_DAEMON',
  'ERR_HEALTH_CHECK',
  'ERR_HEALTH_CHECK_UNSAFE',
  'ERR_ROLLBACK',
  'ERR_SLOT_UNVERIFIED',
  'ERR_STATE_UNREADABLE',
  'ERR_STATE_NEWER',
  'ERR_REBOOT',
  'ERR_REBOOT_LOCK',
  'ERR_ETCD',
  'ERR_FLEETLOCK',
  'ERR_TLS',
  'ERR_AUTH',
  'ERR_FLEET_TOKEN',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorData = Record<string, unknown>;

export interface UpdaterErrorOptions {
  cause?: unknown;
  data?: ErrorData;
  /** What the user can do next; printed after the message. */
  hint?: string;
}

export interface UpdaterErrorJson {
  name: 'UpdaterError';
  code: ErrorCode;
  message: string;
  hint?: string;
  data?: ErrorData;
  cause?: string;
}

export class UpdaterError extends Error {
  override readonly name = 'UpdaterError';
  readonly code: ErrorCode;
  readonly data: ErrorData | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: UpdaterErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = options.data;
    this.hint = options.hint;
  }

  toJSON(): UpdaterErrorJson {
    const json: UpdaterErrorJson = { name: 'UpdaterError', code: this.code, message: this.message };
    if (this.hint !== undefined) json.hint = this.hint;
    if (this.data !== undefined) json.data = this.data;
    if (this.cause !== undefined) json.cause = this.cause instanceof Error ? this.cause.message : String(this.cause);
    return json;
  }

  static fromJSON(json: UpdaterErrorJson): UpdaterError {
    const options: UpdaterErrorOptions = {};
    if (json.hint !== undefined) options.hint = json.hint;
    if (json.data !== undefined) options.data = json.data;
    if (json.cause !== undefined) options.cause = json.cause;
    return new UpdaterError(json.code, json.message, options);
  }
}

export function isUpdaterError(error: unknown, code?: ErrorCode): error is UpdaterError {
  return error instanceof UpdaterError && (code === undefined || error.code === code);
}

/** Wraps an unexpected error (a Node system error, a bug) so the CLI can still print it as data. */
export function toUpdaterError(error: unknown, what: string): UpdaterError {
  if (error instanceof UpdaterError) return error;
  const sys = error as NodeJS.ErrnoException | undefined;
  if (sys?.code === 'ENOSPC') {
    return new UpdaterError('ERR_NO_SPACE', `Cannot ${what}: no space left on the device`, { cause: error });
  }
  if (sys?.code === 'ENOENT' || sys?.code === 'EACCES' || sys?.code === 'EIO' || sys?.code === 'EISDIR') {
    return new UpdaterError('ERR_IO', `Cannot ${what}: ${sys.message}`, { cause: error, data: { errno: sys.code } });
  }
  if (sys?.name === 'AbortError') return new UpdaterError('ERR_ABORTED', `Cannot ${what}: aborted`, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new UpdaterError('ERR_INTERNAL', `Cannot ${what}: ${message}`, { cause: error });
}
