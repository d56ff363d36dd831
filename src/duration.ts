// Parses and prints durations as update.conf writes them ("90s", "30m", "1h30m", "1.5h"), in milliseconds.

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * Parses a Go-style duration: one or more `<number><unit>` parts, units ms, s, m, h, d
 * ("90s", "30m", "1h", "1h30m", "1.5h", "250ms"). Returns milliseconds, or undefined when the text
 * is not a duration (empty, a bare number, a negative value, an unknown unit), so callers can
 * report the file and line themselves.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  let total = 0;
  let offset = 0;
  while (offset < trimmed.length) {
    PART.lastIndex = offset;
    const match = PART.exec(trimmed);
    if (match === null) return undefined;
    const [whole, number, unit] = match;
    const scale = unit === undefined ? undefined : UNIT_MS[unit];
    if (number === undefined || scale === undefined) return undefined;
    total += Number(number) * scale;
    offset += whole.length;
  }
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Prints milliseconds the way parseDuration reads them back: 5000 → "5s", 5_400_000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  let rest = Math.round(ms);
  const parts: string[] = [];
  for (const [unit, scale] of [
    ['d', UNIT_MS.d],
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
  ] as const) {
    if (scale === undefined) continue;
    if (rest >= scale) {
      parts.push(`${Math.floor(rest / scale)}${unit}`);
      rest %= scale;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}
