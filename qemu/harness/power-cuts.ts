// Power cuts timed by the install's JSON progress in the guest: where a cut lands (a phase and a share of its bytes),
// waiting for that moment on the serial console, and what the flags say afterwards. Used by power-cut.test.ts and
// by npm run soak:qemu (qemu/soak.ts).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readGptprio, readGrubenv } from './host-flags.js';
import type { BootPath, Machine } from './machine.js';
import { GUEST_ENV } from './guest-scripts.js';
import { parseProgressLine, serialLines, type ProgressLine } from './serial-watch.js';
import type { Vm } from './vm.js';

const INSTALL_CMD = 'abupdate install http://10.0.2.100:8080/v2.0.0.bundle --json 2>&1\necho "ABUPDATE-MARKER step=install code=$?"\n';
/** A boot that will lose its power: install, then idle until the harness cuts. */
export const CUT_RUN = `${GUEST_ENV}${INSTALL_CMD}sleep 600\n`;
/** The boot that finishes: install (resuming), then a clean reboot. */
export const FINAL_RUN = `${GUEST_ENV}${INSTALL_CMD}/sbin/reboot\n`;

/** Where a cut lands: a phase (and a fraction of its bytes), then a random delay of up to maxDelayMs. */
export interface Moment {
  phase: 'download' | 'readback' | 'flip' | 'flipped';
  at?: number;
  maxDelayMs: number;
}

export function describeMoment(m: Moment): string {
  return m.at === undefined ? m.phase : `${m.phase}>=${Math.round(m.at * 100)}%`;
}

function reached(m: Moment, line: ProgressLine): boolean {
  if (m.phase === 'flipped') return line.event === 'message' && /boots next/.test(line.text ?? '');
  if (line.phase !== m.phase || (line.event !== 'phase' && line.event !== 'progress')) return false;
  return m.at === undefined || (line.done ?? 0) >= m.at * (line.total ?? 0);
}

/** Waits for the install's JSON progress to reach M; returns the line that reached it. */
export async function waitForMoment(vm: Vm, m: Moment, timeoutMs: number): Promise<ProgressLine> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const lines = serialLines(vm).map(parseProgressLine).filter((l): l is ProgressLine => l !== undefined);
    const hit = lines.find((l) => reached(m, l));
    if (hit) return hit;
    if (vm.exit) throw new Error(`qemu exited before the install reached ${describeMoment(m)}`);
    if (vm.markers.some((mk) => mk.fields['step'] === 'install')) throw new Error(`the install ended before it reached ${describeMoment(m)}`);
    if (performance.now() > deadline) throw new Error(`the install did not reach ${describeMoment(m)} within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** The last install progress line on VM's console (for the report of a cut). */
export function lastProgress(vm: Vm): ProgressLine | undefined {
  return serialLines(vm).map(parseProgressLine).filter((l) => l !== undefined).at(-1);
}

/** Whether the flags say B boots next on trial (the flip landed), read with the host's cgpt / grub-editenv; throws when they are between. */
export async function flipped(machine: Machine, bootPath: BootPath): Promise<boolean> {
  if (bootPath === 'grubenv') {
    const env = await readGrubenv(machine.disk, machine.layout);
    const on = env['ORDER'] === 'B A' && env['B_TRY'] === '1' && env['B_OK'] === '0' && env['A_OK'] === '1';
    const off = env['B_OK'] !== '1' && (env['B_TRY'] ?? '0') === '0' && env['A_OK'] === '1';
    assert.ok(on || off, `grubenv is neither before nor after the flip: ${JSON.stringify(env)}`);
    return on;
  }
  const a = await readGptprio(machine.disk, machine.layout, 'A');
  const b = await readGptprio(machine.disk, machine.layout, 'B');
  const on = b.priority > a.priority && b.tries === 1 && b.successful === 0 && a.successful === 1;
  const off = a.priority > 0 && a.successful === 1 && (b.priority === 0 || (b.tries === 0 && b.successful === 0));
  assert.ok(on || off, `gptprio flags are neither before nor after the flip: A ${JSON.stringify(a)} B ${JSON.stringify(b)}`);
  return on;
}
