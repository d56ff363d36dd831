// update_engine's ResetStatus() in UPDATED_NEED_REBOOT (D-Bus, update_engine_client -reset_status): the installed
// update that waits for its reboot is dropped, and the boot flags go back to the booted slot.
//
// update_engine itself (flatcar and coreos update_attempter.cc) only forgets the state there and leaves the new slot set
// to boot next; its client then prints the cgpt command that reverts the partition table by hand. Here the revert is
// done: the state first (as abupdate rollback does: a crash in between never leaves the state claiming an update the
// flags no longer schedule), then the new slot is marked bad (nothing of the dropped update boots, not even as a
// fallback), so the booted, committed slot is the only one the bootloader picks. Nothing is made bootable.

import { UpdaterError } from '../../common/errors.js';
import type { BootControl, SlotStatus } from '../../partition/boot-control.js';
import type { SlotName } from '../../partition/slots.js';
import { applyEngineEvent } from '../engine/lifecycle.js';
import { syncRebootSentinel } from '../engine/reboot-sentinel.js';
import { acquireRunLock } from '../engine/run-lock.js';
import { loadEngineState } from '../engine/state-store.js';

export interface ResetPendingOptions {
  control: BootControl;
  booted: SlotName;
  stateDir: string;
  runDir: string;
  /** REBOOT_SENTINEL: removed with the update (null: none). */
  rebootSentinel: string | null;
  warn?: (message: string) => void;
}

export interface ResetPendingResult {
  /** The version dropped, or null when no update waited for its reboot (a no-op, as update_engine's in IDLE). */
  dropped: string | null;
  /** The slot that no longer boots next. */
  slot: SlotName | null;
  status: SlotStatus[];
}

export async function resetPendingUpdate(options: ResetPendingOptions): Promise<ResetPendingResult> {
  const lock = await acquireRunLock(options.runDir, 'reset-status');
  try {
    const warn = options.warn ? { warn: options.warn } : {};
    const state = await loadEngineState(options.stateDir, warn);
    const install = state.install;
    if (state.state !== 'UPDATED_NEED_REBOOT' || install === null) return { dropped: null, slot: null, status: await options.control.status() };
    if (install.targetSlot === options.booted) {
      throw new UpdaterError('ERR_DAEMON', `Cannot reset the status: the host runs the new slot ${options.booted} already; post-boot commits or rolls it back`, {
        hint: 'Run "abupdate post-boot", or "abupdate rollback" to go back to the other slot.',
      });
    }
    const booted = (await options.control.status()).find((s) => s.name === options.booted);
    if (booted?.successful !== true) {
      throw new UpdaterError('ERR_SLOT_UNVERIFIED', `Cannot reset the status: the booted slot ${options.booted} is not committed, so it cannot be the only slot to boot`, {
        data: { flags: booted ?? null },
        hint: 'Run "abupdate post-boot" first.',
      });
    }
    await applyEngineEvent(options.stateDir, 'manual-rollback', { install: null }, warn);
    const status = await options.control.markBad(install.targetSlot);
    await syncRebootSentinel(options.rebootSentinel, false).catch((caught: unknown) => options.warn?.(`Cannot remove ${options.rebootSentinel}: ${(caught as Error).message}`));
    return { dropped: install.version, slot: install.targetSlot, status };
  } finally {
    await lock.release();
  }
}
