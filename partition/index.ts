// The public API of partition/: disks, GPT, slots, boot control (gptprio, grubenv), booted-slot detection.

export { Disk, openDisk, type OpenDiskOptions, type SectorSize } from './disk.js';
export { readGpt, writeGpt, createGpt, findPartition, type Gpt, type GptPartition, type GptCopy, type GptCopyProblem, type CreateGptOptions } from './gpt.js';
export { COREOS_USR_TYPE_GUID, EFI_SYSTEM_TYPE_GUID, LINUX_DATA_TYPE_GUID, decodeGuid, encodeGuid, randomGuid } from './guid.js';
export { findSlots, otherSlot, isSlotName, slotByPartition, SLOT_NAMES, type Slot, type SlotName, type Slots } from './slots.js';
export {
  selectBootSlot,
  simulateBoot,
  slotState,
  isBootable,
  bootOrder,
  type BootControl,
  type BootloaderKind,
  type SlotFlags,
  type SlotState,
  type SlotStatus,
  type FlagsBySlot,
  type SimulatedBoot,
} from './boot-control.js';
export { planOperation, prioritize, checkInvariant, createBootControl, type BootOperation, type FlagStore } from './boot-operations.js';
export { decodeGptprio, encodeGptprio, gptprioStore, openGptprioBootControl, GPTPRIO_MAX } from './gptprio.js';
export { readGrubEnv, writeGrubEnv, parseGrubEnv, formatGrubEnv, getGrubVar, setGrubVar, unsetGrubVar, newGrubEnv, GRUBENV_SIZE, type GrubEnv } from './grubenv.js';
export { grubenvStore, openGrubenvBootControl, GRUBENV_MAX_TRIES } from './grubenv-boot-control.js';
export { detectBootedSlot, findRootDisk, parseCmdline, slotFromDeviceSpec, type BootedSlot, type BootedSource, type DetectBootedOptions } from './booted.js';
export { openBootControl, type OpenBootControlOptions } from './open-boot-control.js';
