// The checks an install passes before the first byte reaches a slot: the target slot, the policy, the size.

import { UpdaterError } from '../../common/errors.js';
import type { SlotStatus } from '../../partition/boot-control.js';
import { otherSlot, type Slot, type SlotName } from '../../partition/slots.js';
import type { Manifest } from '../../verify/manifest.js';
import { checkPolicy } from '../../verify/policy.js';
import { highestVersion } from './floor-copy.js';
import type { EngineState } from './state-store.js';

/**
 * The slot to write: the one that is not booted. Refused when it is the booted slot (whatever the flags say), or
 * when it is the only good slot (the booted one is still only trying): writing it would leave no known-good version.
 */
export function chooseTargetSlot(booted: SlotName, status: readonly SlotStatus[], requested?: SlotName): SlotName {
  const target = requested ?? otherSlot(booted);
  if (target === booted) {
    throw new UpdaterError('ERR_BOOTED_SLOT_TARGET', `Cannot install into slot ${target}: it is the booted slot`, {
      data: { booted, target },
      hint: 'An update always goes into the other slot; check --booted if the booted slot was detected wrongly.',
    });
  }
  const targetStatus = status.find((s) => s.name === target);
  const bootedStatus = status.find((s) => s.name === booted);
  if (targetStatus?.state === 'good' && bootedStatus?.state !== 'good') {
    throw new UpdaterError(
      'ERR_BOOTED_SLOT_TARGET',
      `Cannot install into slot ${target}: it is the only good slot (booted slot ${booted} is ${bootedStatus?.state ?? 'unknown'}, not committed)`,
      {
        data: { booted, target, bootedState: bootedStatus?.state, targetState: targetStatus.state },
        hint: `Commit the booted slot first (abupdate mark-good ${booted}) once it is healthy, or roll back to slot ${target}.`,
      },
    );
  }
  return target;
}

export interface InstallPolicyOptions {
  compatible: string;
  allowDowngrade: boolean;
  booted: SlotName;
  now: Date;
  /** The version the booted slot runs when the state has no record of it (a fresh host): the daemon's --current-version. */
  currentVersion?: string | undefined;
}

/**
 * The anti-rollback floor an install must not go below: the recorded floor (the higher of state.json's and
 * floor.json's, loadEngineState), and on a host with none recorded yet, the version it runs (from the booted slot's
 * record, else the daemon's --current-version): a fresh host never accepts a bundle older than itself.
 */
export function provableFloor(state: EngineState, booted: SlotName, currentVersion?: string): string | null {
  if (state.floorVersion !== null) return state.floorVersion;
  return highestVersion([state.slots[booted]?.version, currentVersion]);
}

/** The version policy (compatible, expiry, floor, downgrade, minVersion) plus the engine's list of bad versions. */
export function checkInstallPolicy(manifest: Manifest, state: EngineState, options: InstallPolicyOptions): void {
  const committed = state.committedVersion ?? state.slots[options.booted]?.version;
  checkPolicy(manifest, {
    compatible: options.compatible,
    allowDowngrade: options.allowDowngrade,
    now: options.now,
    ...(committed ? { committedVersion: committed } : {}),
    ...floorOption(provableFloor(state, options.booted, options.currentVersion)),
  });
  if (state.badVersions.includes(manifest.version)) {
    throw new UpdaterError('ERR_KNOWN_BAD_VERSION', `Cannot install bundle ${manifest.version}: this version failed its health check on this host before`, {
      data: { version: manifest.version },
      hint: 'Wait for a newer version; it is offered again only when it is newer than the bad one.',
    });
  }
}

function floorOption(floor: string | null): { floorVersion?: string } {
  return floor === null ? {} : { floorVersion: floor };
}

/** The image must fit the target slot. */
export function checkImageFits(manifest: Manifest, slot: Slot): void {
  if (manifest.image.size > slot.size) {
    throw new UpdaterError(
      'ERR_IMAGE_TOO_LARGE',
      `Cannot install bundle ${manifest.version}: its image has ${manifest.image.size} bytes, slot ${slot.name} (partition ${slot.partition}) has ${slot.size}`,
      {
        data: { imageSize: manifest.image.size, slotSize: slot.size, slot: slot.name },
        hint: 'Use a bundle built for this disk layout.',
      },
    );
  }
}
