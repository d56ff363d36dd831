// RFC 3339 timestamps read strictly: every field in its range (no Feb 31, no 24:00, no minute 60), unlike
// Date.parse, which rolls "2026-02-31" over to March 3 and "T24:00" to the next day.

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Milliseconds since the epoch of an RFC 3339 date-time (`2026-03-01T04:00:00Z`, `...+02:00`), or undefined. */
export function parseTimestamp(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', zone, sign, zh = '0', zm = '0'] = match;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  // RFC 3339 allows second 60 only for a leap second; Date cannot hold one, and no signed time needs one.
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetHours = Number(zh);
  const offsetMinutes = Number(zm);
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const offset = zone === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  const ms = fraction === '' ? 0 : Math.floor(Number(`0${fraction}`) * 1000);
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset * 60_000;
}

export function isTimestamp(text: string): boolean {
  return parseTimestamp(text) !== undefined;
}
