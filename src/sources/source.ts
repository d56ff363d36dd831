// The one interface the daemon uses to ask "is there an update?" and to tell the server how it went.

import type { UpdateEvent } from '../omaha/events.js';

export type { UpdateEvent } from '../omaha/events.js';

/** An update a source offers: where the bundle is and what it must be. */
export interface Offer {
  version: string;
  /** The bundle URL to download first. */
  url: string;
  /** Every URL it is available at, in order of preference (url is the first). */
  urls: string[];
  /** Size of the whole bundle file in bytes, as the source states it. */
  size: number;
  /** SHA-256 of the whole bundle file, lowercase hex, when the source states it (Omaha, static index). */
  sha256?: string;
  source: 'omaha' | 'static';
}

export interface CheckContext {
  /** The version the host runs now (the committed slot's). */
  currentVersion: string;
  /** The version first installed on this host (Omaha alephversion); defaults to currentVersion. */
  alephVersion?: string;
  /** true for `abupdate check`/`update` (Omaha installsource ondemandupdate), false for scheduled checks. */
  interactive: boolean;
  signal?: AbortSignal;
}

export interface CheckResult {
  offer: Offer | null;
  /** Set instead of asking for an offer while an installed update waits for its reboot: that version. */
  rebootPending?: string;
  /** A poll interval the server asked for (Omaha updatecheck@PollInterval), in milliseconds. */
  pollIntervalMs?: number;
}

export interface ReportContext {
  currentVersion: string;
  alephVersion?: string;
  interactive: boolean;
  signal?: AbortSignal;
}

export interface UpdateSource {
  readonly kind: 'omaha' | 'static';
  /** Asks for an update. Throws UpdaterError (ERR_OMAHA_*, ERR_CHANNEL, ERR_NETWORK, ERR_TIMEOUT, ...) when the answer is unusable. */
  check(ctx: CheckContext): Promise<CheckResult>;
  /**
   * Tells the server about progress: download started/finished, installed, complete after reboot, error.
   * Best effort for the caller: it throws on a failed request, and the daemon logs and carries on.
   */
  report(event: UpdateEvent, ctx: ReportContext): Promise<void>;
  /** Says "still here" without asking for an update (Omaha ping-only, as update_engine sends while it waits for the reboot). */
  ping(ctx: ReportContext): Promise<void>;
}
