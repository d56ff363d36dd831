// Parsers for update.conf values: each turns text into a typed value or says what is allowed instead.

import { parseDuration } from '../duration.js';

/** A parse that failed: `why` completes "KEY="value" <why>", `allowed` describes valid values. */
export interface Invalid {
  invalid: true;
  why: string;
}

export type ParseResult<T> = T | Invalid;

export interface ValueParser<T> {
  /** What is allowed, for error messages and docs: "omaha or static". */
  allowed: string;
  parse(text: string): ParseResult<T>;
}

export function isInvalid(value: unknown): value is Invalid {
  return typeof value === 'object' && value !== null && (value as Invalid).invalid === true;
}

const bad = (why: string): Invalid => ({ invalid: true, why });

export function oneOf<const T extends string>(choices: readonly T[]): ValueParser<T> {
  const allowed = choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `one of ${choices.join(', ')}`;
  return {
    allowed,
    parse: (text) => ((choices as readonly string[]).includes(text) ? (text as T) : bad('is not a known choice')),
  };
}

function checkHttpUrl(text: string): URL | Invalid {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(`has scheme "${url.protocol.slice(0, -1)}", not http or https`);
  if (url.username !== '' || url.password !== '') return bad('carries a user name or password');
  return url;
}

/** An http(s) URL; with `disabled`, the word `disabled` gives null (checking turned off). */
export function httpUrl(options: { disabled?: boolean; optional?: boolean } = {}): ValueParser<string | null> {
  const parts = ['an http:// or https:// URL'];
  if (options.disabled) parts.push('"disabled"');
  if (options.optional) parts.push('empty (unset)');
  return {
    allowed: parts.join(' or '),
    parse(text) {
      if (options.disabled && text === 'disabled') return null;
      if (options.optional && text === '') return null;
      const url = checkHttpUrl(text);
      return isInvalid(url) ? url : text;
    },
  };
}

/** Comma-separated http(s) URLs, at least one. */
export function httpUrlList(): ValueParser<string[]> {
  return {
    allowed: 'a comma-separated list of http:// or https:// URLs',
    parse(text) {
      const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (items.length === 0) return bad('names no URL');
      for (const item of items) {
        const url = checkHttpUrl(item);
        if (isInvalid(url)) return bad(`has "${item}", which ${url.why}`);
      }
      return items;
    },
  };
}

/** A duration written 90s, 5m, 1h (or combined, 1h30m), in milliseconds, within bounds. */
export function duration(minMs: number, maxMs: number, options?: { optional?: false }): ValueParser<number>;
export function duration(minMs: number, maxMs: number, options: { optional: true }): ValueParser<number | null>;
export function duration(minMs: number, maxMs: number, options: { optional?: boolean } = {}): ValueParser<number | null> {
  const describe = (ms: number) => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);
  const allowed = `a duration like 90s, 5m or 1h, from ${describe(minMs)} to ${describe(maxMs)}${options.optional ? ', or empty (unset)' : ''}`;
  return {
    allowed,
    parse(text) {
      if (options.optional && text === '') return null;
      let ms: number | undefined;
      try {
        ms = parseDuration(text) ?? undefined;
      } catch {
        ms = undefined;
      }
      if (ms === undefined || !Number.isFinite(ms)) return bad('is not a duration');
      if (ms < minMs || ms > maxMs) return bad('is out of range');
      return ms;
    },
  };
}

/** A whole number in decimal digits, within bounds (a byte rate, a count). */
export function wholeNumber(min: number, max: number, unit: string): ValueParser<number> {
  return {
    allowed: `a whole number of ${unit} from ${min} to ${max}`,
    parse(text) {
      if (!/^\d{1,15}$/.test(text)) return bad('is not a whole number');
      const value = Number(text);
      return value < min || value > max ? bad('is out of range') : value;
    },
  };
}

/** An absolute path; optional ones may be empty (null). */
export function absolutePath(options?: { optional?: false }): ValueParser<string>;
export function absolutePath(options: { optional: true }): ValueParser<string | null>;
export function absolutePath(options: { optional?: boolean } = {}): ValueParser<string | null> {
  return {
    allowed: `an absolute path${options.optional ? ' or empty (unset)' : ''}`,
    parse(text) {
      if (options.optional && text === '') return null;
      if (!text.startsWith('/')) return bad('is not an absolute path');
      if (text.includes('\0')) return bad('contains a NUL byte');
      return text;
    },
  };
}

/** Space-separated absolute paths, at least one. */
export function absolutePathList(): ValueParser<string[]> {
  return {
    allowed: 'one or more absolute paths separated by spaces',
    parse(text) {
      const items = text.split(/\s+/).filter((s) => s !== '');
      if (items.length === 0) return bad('names no path');
      const relative = items.find((s) => !s.startsWith('/'));
      return relative === undefined ? items : bad(`has "${relative}", which is not an absolute path`);
    },
  };
}

/** Space-separated words matching a pattern (systemd unit names, for example); may be empty. */
export function wordList(pattern: RegExp, what: string): ValueParser<string[]> {
  return {
    allowed: `${what} separated by spaces, or empty`,
    parse(text) {
      const items = text.split(/\s+/).filter((s) => s !== '');
      const wrong = items.find((s) => !pattern.test(s));
      return wrong === undefined ? items : bad(`has "${wrong}", which is not ${what.replace(/s$/, '')}`);
    },
  };
}

/** One token matching a pattern; optional ones may be empty (null). */
export function token(pattern: RegExp, what: string, options?: { optional?: false }): ValueParser<string>;
export function token(pattern: RegExp, what: string, options: { optional: true }): ValueParser<string | null>;
export function token(pattern: RegExp, what: string, options: { optional?: boolean } = {}): ValueParser<string | null> {
  return {
    allowed: `${what}${options.optional ? ', or empty (unset)' : ''}`,
    parse(text) {
      if (options.optional && text === '') return null;
      return pattern.test(text) ? text : bad(`is not ${what}`);
    },
  };
}

/** A command line split on spaces (no shell); at least the program. */
export function commandLine(): ValueParser<string[]> {
  return {
    allowed: 'a program and its arguments separated by spaces (no shell quoting)',
    parse(text) {
      const argv = text.split(/\s+/).filter((s) => s !== '');
      return argv.length === 0 ? bad('is empty') : argv;
    },
  };
}
