// The signing options of `bundle create` and `bundle index`: --key (who signs) and --expires (when hosts stop accepting it).

import { UpdaterError } from '../../common/errors.js';
import { formatTimestamp } from '../../verify/bundle-writer.js';
import { isTimestamp } from '../../verify/manifest.js';
import { parseDuration } from '../duration.js';
import type { OptionDef } from './options.js';

/** --key: the private key that signs WHAT ("the bundle", "the index"). */
export function signingKeyOption(what: string): OptionDef {
  return { type: 'string', value: 'PREFIX.key', help: `the private key (from "abupdate keygen") that signs ${what}` };
}

/** --expires; WHAT is what hosts refuse after it ("it", "the index"). */
export function expiresOption(what: string): OptionDef {
  return { type: 'string', value: 'WHEN', help: `RFC 3339 time, YYYY-MM-DD or a duration from now (90d, 12h); hosts refuse ${what} afterwards` };
}

/** --expires: an RFC 3339 time, a day (YYYY-MM-DD, midnight UTC) or a duration from now (30d, 12h). */
export function parseExpires(text: string, now: Date): string {
  if (isTimestamp(text)) return text;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text) && isTimestamp(`${text}T00:00:00Z`)) return `${text}T00:00:00Z`;
  const ms = parseDuration(text);
  if (ms !== undefined && ms > 0) return formatTimestamp(new Date(now.getTime() + ms));
  throw new UpdaterError('ERR_USAGE', `Cannot parse option --expires: "${text}" is not an RFC 3339 time, a YYYY-MM-DD day or a duration like 90d`);
}
