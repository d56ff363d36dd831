// Manual rollback: the other slot boots next, committed as it is (no health gate), when it holds a
// committed image; the version rolled away from is not marked bad: it was a choice, not a failure.

import type { FileSystem } from '../../common/file-system.js';
import type { BootControl, SlotStatus } from '../../partition/boot-control.js';
import { otherSlot, type SlotName } from '../../partition/slots.js';
import { applyEngineEvent } from '../engine/lifecycle.js';
import { loadEngineState } from '../engine/state-store.js';
import { checkMayBoot, slotTrust } from './slot-trust.js';

export interface RollbackOptions {
  control: BootControl;
  booted: SlotName;
  stateDir: string;
  /** Also roll to a slot that is bad, empty or on trial: it then boots on trial (one try). */
  force?: boolean;
  log?: (line: string) => void;
  /** The file system the state is written with (tests record it; the flags go through `control`). */
  fs?: FileSystem;
}

export interface RollbackResult {
  from: SlotName;
  to: SlotName;
  /** The version in the slot rolled to, as far as the engine recorded it. */
  version: string | null;
  /** 'committed': boots as a good slot; 'trial': forced onto a slot that was not good (one try). */
  mode: 'committed' | 'trial';
  /** A pending update (activated, waiting for its reboot) that the rollback dropped. */
  droppedUpdate: string | null;
  status: SlotStatus[];
}

export async function rollbackToOther(options: RollbackOptions): Promise<RollbackResult> {
  const { control, booted } = options;
  const to = otherSlot(booted);
  const status = await control.status();
  const target = status.find((s) => s.name === to);
  const state = await loadEngineState(options.stateDir, options.log ? { warn: options.log } : {});
  const version = state.slots[to]?.version ?? null;
  const pending = state.install !== null && state.install.targetSlot === to ? state.install.version : null;
  const trust = slotTrust(to, { state, status, booted });
  const committed = trust.content === 'committed';
  const what = target === undefined ? 'missing' : trust.content === 'half-written' ? `half-written (${trust.why})` : target.state === 'trying' ? 'only on trial (never committed)' : target.state;
  const { forced } = checkMayBoot('rollback', trust, options.force === true, {
    message: `Cannot roll back to slot ${to}: it is ${what}, not a committed image`,
    data: { flags: target ?? null },
  });
  if (forced) options.log?.(`warning: ${forced}`);
  // The pending update (if any) is dropped before the flags change, so a crash in between never
  // leaves the state claiming an update that the flags no longer schedule.
  if (pending !== null || state.state === 'UPDATED_NEED_REBOOT') {
    await applyEngineEvent(options.stateDir, 'manual-rollback', { install: null }, { ...(options.log ? { warn: options.log } : {}), ...(options.fs ? { fs: options.fs } : {}) });
  }
  const after = committed ? await control.markGood(to) : await control.markActive(to, 1);
  options.log?.(`rollback: slot ${to}${version ? ` (version ${version})` : ''} boots next${committed ? '' : ' on trial'}; slot ${booted} stays the fallback`);
  return { from: booted, to, version, mode: committed ? 'committed' : 'trial', droppedUpdate: pending, status: after };
}
