// REBOOT_WINDOW_START's syntax: "Thu 04:00", "thursday 4:00" or "04:00" (every day). The config checks it, the reboot window uses it.

/** Short weekday names, index 0 = Sunday (as Date.getDay()). */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const FULL_WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;

export interface WindowStart {
  weekday?: number;
  hour: number;
  minute: number;
}

/** Parses "Thu 04:00", "thursday 4:00" or "04:00" (every day). Returns undefined on bad input. */
export function parseWindowStart(text: string): WindowStart | undefined {
  const match = /^\s*(?:([A-Za-z]+)\s+)?(\d{1,2}):(\d{2})\s*$/.exec(text);
  if (match === null) return undefined;
  const [, day, hh, mm] = match;
  const hour = Number(hh);
  const minute = Number(mm);
  if (hour > 23 || minute > 59) return undefined;
  if (day === undefined) return { hour, minute };
  const lower = day.toLowerCase();
  let weekday: number = WEEKDAYS.indexOf(lower as (typeof WEEKDAYS)[number]);
  if (weekday < 0) weekday = FULL_WEEKDAYS.indexOf(lower as (typeof FULL_WEEKDAYS)[number]);
  if (weekday < 0) return undefined;
  return { weekday, hour, minute };
}
