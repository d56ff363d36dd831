// Install policy over a verified manifest: compatible string, expiry, downgrade, anti-rollback floor, minVersion.

import { UpdaterError } from '../common/errors.js';
import type { Manifest } from './manifest.js';
import { compareVersions, parseVersion } from './version.js';
import { parseTimestamp } from './timestamp.js';

export interface PolicyOptions {
  /** The host's compatible string (config COMPATIBLE or --compatible). */
  compatible: string;
  /** The version of the committed (booted, good) slot, when known. */
  committedVersion?: string;
  /** The anti-rollback floor: no bundle below it installs, not even with allowDowngrade. */
  floorVersion?: string;
  /** Allow a version that is not newer than the committed one (still never below the floor). */
  allowDowngrade?: boolean;
  now?: Date;
}

/** Throws the first rule the manifest breaks; returns nothing when it may be installed. */
export function checkPolicy(manifest: Manifest, options: PolicyOptions): void {
  if (manifest.compatible !== options.compatible) {
    throw new UpdaterError('ERR_INCOMPATIBLE', `Cannot install bundle: it is for "${manifest.compatible}", this host is "${options.compatible}"`, {
      data: { bundle: manifest.compatible, host: options.compatible },
      hint: 'Use a bundle built for this host; the host value comes from COMPATIBLE in update.conf or --compatible.',
    });
  }
  const now = options.now ?? new Date();
  if (manifest.expires !== undefined && (parseTimestamp(manifest.expires) ?? -Infinity) <= now.getTime()) {
    throw new UpdaterError('ERR_EXPIRED', `Cannot install bundle ${manifest.version}: it expired at ${manifest.expires}`, {
      data: { expires: manifest.expires, now: now.toISOString() },
      hint: 'Ask the publisher for a freshly signed bundle (expiry protects against replayed old bundles); check the clock if it is wrong.',
    });
  }
  const version = parseVersion(manifest.version, 'bundle version');
  if (options.floorVersion !== undefined && compareVersions(version, parseVersion(options.floorVersion, 'anti-rollback floor')) < 0) {
    throw new UpdaterError('ERR_BELOW_FLOOR', `Cannot install bundle ${manifest.version}: it is below the anti-rollback floor ${options.floorVersion}`, {
      data: { version: manifest.version, floor: options.floorVersion },
      hint: 'Versions below the floor are never installed again; use a newer bundle.',
    });
  }
  if (options.committedVersion !== undefined) {
    const committed = parseVersion(options.committedVersion, 'committed version');
    if (!options.allowDowngrade && compareVersions(version, committed) <= 0) {
      const same = compareVersions(version, committed) === 0;
      throw new UpdaterError('ERR_DOWNGRADE', `Cannot install bundle ${manifest.version}: it is ${same ? 'the same as' : 'older than'} the committed version ${options.committedVersion}`, {
        data: { version: manifest.version, committed: options.committedVersion },
        hint: 'Pass --allow-downgrade to install it anyway.',
      });
    }
    if (manifest.minVersion !== undefined && compareVersions(committed, parseVersion(manifest.minVersion, 'manifest minVersion')) < 0) {
      throw new UpdaterError('ERR_MIN_VERSION', `Cannot install bundle ${manifest.version}: it needs at least version ${manifest.minVersion} installed, this host has ${options.committedVersion}`, {
        data: { version: manifest.version, minVersion: manifest.minVersion, committed: options.committedVersion },
        hint: `Install an intermediate version of at least ${manifest.minVersion} first.`,
      });
    }
  }
}
