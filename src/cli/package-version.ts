// abupdate's own version, from package.json (found from the source tree and from dist/).

import { readFileSync } from 'node:fs';

/** The version in abupdate's package.json, or undefined when it cannot be found (a bundled copy without it). */
export function readPackageVersion(): string | undefined {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'abupdate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location (source tree or dist/)
    }
  }
  return undefined;
}
