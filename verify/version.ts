// Semantic versions (semver 2.0.0): strict parsing and precedence, prerelease included, build metadata ignored.

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

const NUMERIC = /^(0|[1-9]\d*)$/;
const IDENT = /^[0-9A-Za-z-]+$/;
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/;
const MAX_VERSION_LENGTH = 256;

export function isVersion(text: unknown): text is string {
  return typeof text === 'string' && tryParseVersion(text) !== undefined;
}

function tryParseVersion(text: string): Version | undefined {
  if (text.length > MAX_VERSION_LENGTH) return undefined;
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  const [, major, minor, patch, pre, build] = m;
  const prerelease = pre === undefined ? [] : pre.split('.');
  const buildIds = build === undefined ? [] : build.split('.');
  for (const id of prerelease) {
    if (!IDENT.test(id)) return undefined;
    if (/^\d+$/.test(id) && !NUMERIC.test(id)) return undefined; // numeric identifiers have no leading zeros
  }
  if (buildIds.some((id) => !IDENT.test(id))) return undefined;
  const nums = [Number(major), Number(minor), Number(patch)];
  if (nums.some((n) => !Number.isSafeInteger(n))) return undefined;
  return { major: nums[0] ?? 0, minor: nums[1] ?? 0, patch: nums[2] ?? 0, prerelease, build: buildIds, text };
}

/** Parses `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`; anything else is ERR_BAD_VERSION. */
export function parseVersion(text: string, what = 'version'): Version {
  const version = tryParseVersion(text);
  if (version === undefined) {
    throw new UpdaterError('ERR_BAD_VERSION', `Cannot parse ${what} "${text.slice(0, 80)}": not a semantic version`, {
      data: { version: text.slice(0, 80) },
      hint: 'Use MAJOR.MINOR.PATCH with an optional -PRERELEASE, for example 1.4.0 or 2.0.0-rc.1 (semver.org).',
    });
  }
  return version;
}

function compareIdentifiers(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) return Math.sign(Number(a) - Number(b));
  if (an) return -1; // numeric identifiers sort before alphanumeric ones
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** -1, 0 or 1 by semver precedence: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0 < 1.0.1. */
export function compareVersions(a: string | Version, b: string | Version): number {
  const x = typeof a === 'string' ? parseVersion(a) : a;
  const y = typeof b === 'string' ? parseVersion(b) : b;
  for (const key of ['major', 'minor', 'patch'] as const) {
    if (x[key] !== y[key]) return x[key] < y[key] ? -1 : 1;
  }
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    return x.prerelease.length === y.prerelease.length ? 0 : x.prerelease.length === 0 ? 1 : -1;
  }
  const n = Math.min(x.prerelease.length, y.prerelease.length);
  for (let i = 0; i < n; i++) {
    const c = compareIdentifiers(x.prerelease[i] ?? '', y.prerelease[i] ?? '');
    if (c !== 0) return c;
  }
  return Math.sign(x.prerelease.length - y.prerelease.length);
}
