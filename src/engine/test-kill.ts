// TEST-ONLY fault injection: ABUPDATE_TEST_KILL_AT=<point>:<n> makes the engine SIGKILL itself at the n-th
// time it passes <point>, so tests can "pull the plug" at exact, repeatable moments. Unset, this does nothing.

const counts = new Map<string, number>();
let parsed: { point: string; n: number } | null | undefined;

/** The points the engine passes, in pipeline order (tests iterate over them). */
export const KILL_POINTS = [
  'head-verified', // signature + policy checked, nothing written yet
  'slot-disarmed', // target slot marked bad (if it was bootable) and the install recorded
  'chunk-written', // after each chunk's positional write (before its fsync)
  'synced', // after an fsync of the slot, before the progress is saved
  'progress-saved', // after each save of the chunk bitmap
  'first-chunk-written', // the slot's first chunk written (last of all)
  'readback-done', // every chunk read back and matched, before the flip
  'flipping', // the state says FINALIZING, mark-active not yet written
  'flipped', // mark-active written, before the state says UPDATED_NEED_REBOOT
] as const;
export type KillPoint = (typeof KILL_POINTS)[number];

function target(): { point: string; n: number } | null {
  if (parsed !== undefined) return parsed;
  const spec = process.env.ABUPDATE_TEST_KILL_AT;
  const match = spec ? /^([a-z-]+):(\d+)$/.exec(spec) : null;
  parsed = match ? { point: match[1] ?? '', n: Number(match[2]) } : null;
  return parsed;
}

export function killPoint(point: KillPoint): void {
  const wanted = target();
  if (wanted === null || wanted.point !== point) return;
  const n = (counts.get(point) ?? 0) + 1;
  counts.set(point, n);
  if (n === wanted.n) process.kill(process.pid, 'SIGKILL');
}
