// The named points an install passes, in pipeline order. A caller may pass a checkpoint (InstallOptions.checkpoint)
// that is called at each: the install-kill test SIGKILLs the engine there (fixtures/kill-cli.ts) to pull the plug at
// exact, repeatable moments. The product passes none.

export const INSTALL_POINTS = [
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
export type InstallPoint = (typeof INSTALL_POINTS)[number];

/** Called at each point an install passes (synchronously: a test may end the process there). */
export type InstallCheckpoint = (point: InstallPoint) => void;
