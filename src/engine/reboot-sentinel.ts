// The reboot sentinel (REBOOT_SENTINEL, default /run/reboot-required, as Flatcar's postinstall touches it for kured):
// present exactly while an installed update waits for its reboot.

import { rm, writeFile } from 'node:fs/promises';

/** Creates or removes the sentinel so that it exists iff `needed`; null turns it off. Returns whether it exists now. */
export async function syncRebootSentinel(sentinel: string | null, needed: boolean): Promise<boolean> {
  if (sentinel === null) return false;
  if (needed) {
    // Contents do not matter to kured (it tests existence); Ubuntu's file says the same.
    await writeFile(sentinel, '*** System restart required ***\n', { mode: 0o644 });
    return true;
  }
  await rm(sentinel, { force: true });
  return false;
}
