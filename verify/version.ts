// Semantic versions (semver 2.0.0) through the `semver` package: strict parsing and precedence, prerelease
// included, build metadata ignored. The anti-rollback rules (policy.ts) compare with these.

// The two functions, not the package's index: that loads all of semver (40 files, ~5 MiB RSS) for every command.
import parseSemver from 'semver/functions/parse.js';
import compareSemver from 'semver/functions/compare.js';
import type { SemVer } from 'semver';
import { UpdaterError } from '../common/errors.js';

export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** Dot-separated prerelease identifiers; empty for a release. */
  prerelease: string[];
  build: string[];
  text: string;
}

const MAX_VERSION_LENGTH = 256;

/** Strict semver: `semver` also accepts a leading "v" or "=" and surrounding blanks, which a manifest must not carry. */
function tryParseSemver(text: string): SemVer | undefined {
  if (text.length > MAX_VERSION_LENGTH || !/^\d/.test(text) || text.trim() !== text) return undefined;
  return parseSemver(text, { loose: false }) ?? undefined;
}

export function isVersion(text: unknown): text is string {
  return typeof text === 'string' && tryParseSemver(text) !== undefined;
}

/** Parses `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`; anything else is ERR_BAD_VERSION. */
export function parseVersion(text: string, what = 'version'): Version {
  const v = tryParseSemver(text);
  if (v === undefined) {
    throw new UpdaterError('ERR_BAD_VERSION', `Cannot parse ${what} "${text.slice(0, 80)}": not a semantic version`, {
      data: { version: text.slice(0, 80) },
      hint: 'Use MAJOR.MINOR.PATCH with an optional -PRERELEASE, for example 1.4.0 or 2.0.0-rc.1 (semver.org).',
    });
  }
  return { major: v.major, minor: v.minor, patch: v.patch, prerelease: v.prerelease.map(String), build: [...v.build], text };
}

/** -1, 0 or 1 by semver precedence: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0 < 1.0.1. */
export function compareVersions(a: string | Version, b: string | Version): number {
  const x = typeof a === 'string' ? parseVersion(a) : a;
  const y = typeof b === 'string' ? parseVersion(b) : b;
  return compareSemver(x.text, y.text);
}
