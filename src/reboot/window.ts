// The reboot window: parses REBOOT_WINDOW_START/LENGTH and answers "is now inside it" and "when does it open".

import { UpdaterError } from '../../common/errors.js';
import { parseWindowStart, WEEKDAYS } from '../config/window-start.js';
import { formatDuration, parseDuration } from '../duration.js';

const DAY_MS = 86_400_000;

/** A window that opens at a wall-clock time every day, or on one weekday, for a fixed length. */
export interface RebootWindow {
  /** 0 = Sunday .. 6 = Saturday; undefined = every day. */
  weekday?: number;
  hour: number;
  minute: number;
  lengthMs: number;
}

/** Which clock the window's wall-clock time is read on: UTC, or the process's local time zone (TZ). */
export type WindowClock = 'utc' | 'local';

/**
 * Builds the window from the two config values (both or neither, as locksmith requires).
 * Returns undefined when neither is set; throws ERR_CONFIG naming the bad value otherwise.
 */
export function parseRebootWindow(start: string | undefined, length: string | undefined): RebootWindow | undefined {
  const hasStart = start !== undefined && start.trim() !== '';
  const hasLength = length !== undefined && length.trim() !== '';
  if (!hasStart && !hasLength) return undefined;
  if (!hasStart || !hasLength) {
    throw new UpdaterError('ERR_CONFIG', `Cannot use the reboot window: ${hasStart ? 'REBOOT_WINDOW_LENGTH' : 'REBOOT_WINDOW_START'} is not set`, {
      hint: 'Set both REBOOT_WINDOW_START (e.g. "Thu 04:00") and REBOOT_WINDOW_LENGTH (e.g. "1h"), or neither.',
    });
  }
  const parsedStart = parseWindowStart(start);
  if (parsedStart === undefined) {
    throw new UpdaterError('ERR_CONFIG', `Cannot use the reboot window: REBOOT_WINDOW_START "${start}" is not "[WEEKDAY] HH:MM"`, {
      hint: 'Write e.g. "Thu 04:00" (weekday Sun..Sat or full name) or "04:00" for every day.',
    });
  }
  const lengthMs = parseDuration(length);
  if (lengthMs === undefined || lengthMs <= 0) {
    throw new UpdaterError('ERR_CONFIG', `Cannot use the reboot window: REBOOT_WINDOW_LENGTH "${length}" is not a positive duration`, {
      hint: 'Write e.g. "90s", "30m", "1h" or "1h30m".',
    });
  }
  return { ...parsedStart, lengthMs };
}

/** The wall-clock start instants of the window on the days around `now` (8 days back, 8 ahead), ascending. */
function startsAround(now: Date, window: RebootWindow, clock: WindowClock): number[] {
  const utc = clock === 'utc';
  const year = utc ? now.getUTCFullYear() : now.getFullYear();
  const month = utc ? now.getUTCMonth() : now.getMonth();
  const date = utc ? now.getUTCDate() : now.getDate();
  const starts: number[] = [];
  const back = Math.ceil(window.lengthMs / DAY_MS) + 8;
  for (let offset = -back; offset <= 8; offset++) {
    // Date.UTC and new Date(y, m, d, ...) both carry day overflow into the month and year.
    const instant = utc
      ? Date.UTC(year, month, date + offset, window.hour, window.minute)
      : new Date(year, month, date + offset, window.hour, window.minute).getTime();
    const day = utc ? new Date(instant).getUTCDay() : new Date(instant).getDay();
    if (window.weekday === undefined || window.weekday === day) starts.push(instant);
  }
  return starts;
}

/** True when `now` is inside an occurrence of the window. */
export function isInWindow(now: Date, window: RebootWindow, clock: WindowClock = 'utc'): boolean {
  const t = now.getTime();
  return startsAround(now, window, clock).some((start) => start <= t && t < start + window.lengthMs);
}

/**
 * The start of the window occurrence that is open at `now` (at or before `now`), or else of the next
 * one to open (after `now`).
 */
export function nextWindowStart(now: Date, window: RebootWindow, clock: WindowClock = 'utc'): Date {
  const t = now.getTime();
  const start = startsAround(now, window, clock).find((s) => t < s + window.lengthMs);
  if (start === undefined) throw new UpdaterError('ERR_INTERNAL', 'Cannot compute the next reboot window: no occurrence within 8 days');
  return new Date(start);
}

/** Milliseconds to wait from `now` until the window is open (0 when it is open now). */
export function msUntilWindow(now: Date, window: RebootWindow, clock: WindowClock = 'utc'): number {
  return Math.max(0, nextWindowStart(now, window, clock).getTime() - now.getTime());
}

/** "Thu 04:00 for 1h" / "every day 23:30 for 90m", for logs and status. */
export function describeWindow(window: RebootWindow, clock: WindowClock = 'utc'): string {
  const hhmm = `${String(window.hour).padStart(2, '0')}:${String(window.minute).padStart(2, '0')}`;
  const day = window.weekday === undefined ? 'every day' : capitalize(WEEKDAYS[window.weekday] ?? '?');
  return `${day} ${hhmm} ${clock === 'utc' ? 'UTC' : 'local time'} for ${formatDuration(window.lengthMs)}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
