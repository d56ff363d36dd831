// Watches a running guest's serial console for lines that are not markers: daemon log lines, `install --json` progress.

import { setTimeout as sleep } from 'node:timers/promises';
import { UpdaterError } from '../../common/errors.js';
import type { Vm } from './vm.js';

/** Complete serial lines of VM from character FROM on (CR stripped). */
export function serialLines(vm: Vm, from = 0): string[] {
  const text = vm.serial.slice(from);
  const end = text.lastIndexOf('\n');
  return end < 0 ? [] : text.slice(0, end).split('\n').map((line) => line.replace(/\r$/, ''));
}

/**
 * Polls VM's serial output (every POLL_MS) until a complete line from character FROM on satisfies TEST; returns
 * the line. ERR_TIMEOUT after TIMEOUT_MS, ERR_TOOL_FAILED when qemu exits before.
 */
export async function waitForSerialLine(
  vm: Vm,
  test: RegExp | ((line: string) => boolean),
  timeoutMs: number,
  options: { from?: number; pollMs?: number } = {},
): Promise<string> {
  const match = typeof test === 'function' ? test : (line: string) => test.test(line);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const exited = vm.exit !== undefined;
    const found = serialLines(vm, options.from ?? 0).find(match);
    if (found !== undefined) return found;
    if (exited) throw new UpdaterError('ERR_TOOL_FAILED', `Cannot see a serial line matching ${String(test)}: qemu exited before the guest printed it`);
    if (performance.now() > deadline) throw new UpdaterError('ERR_TIMEOUT', `Cannot see a serial line matching ${String(test)}: not printed within ${timeoutMs} ms`);
    await sleep(options.pollMs ?? 20);
  }
}

/** One `abupdate install --json` event as printed on the console. */
export interface ProgressLine {
  event: 'phase' | 'progress' | 'message' | string;
  phase?: string;
  done?: number;
  total?: number;
  text?: string;
}

/** Parses a serial line that is an `install --json` event; undefined for anything else. */
export function parseProgressLine(line: string): ProgressLine | undefined {
  const start = line.indexOf('{"event"');
  if (start < 0) return undefined;
  try {
    return JSON.parse(line.slice(start)) as ProgressLine;
  } catch {
    return undefined;
  }
}
