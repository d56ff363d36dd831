// Shell snippets the scenarios run in the guest (as the fw_cfg run script, or as a slot's /etc/abupdate/boot.sh),
// and the slot files of a guest whose daemon finds updates on the host's static channel.

import type { SlotFiles } from '../guest/slot-image.js';
import { GUEST_COMPATIBLE } from './scenario-env.js';

/** Every guest script starts here: abupdate's boot-control backend follows the boot path under test. */
export const GUEST_ENV = 'export ABUPDATE_BOOTLOADER="$GUEST_BOOT_PATH"\n';

/** post-boot as abupdate-post-boot.service runs it, then its exit code as a marker (step=post-boot). */
const POST_BOOT_STEP = 'abupdate post-boot 2>&1\necho "ABUPDATE-MARKER step=post-boot code=$?"\n';

/** A boot that runs post-boot and nothing else (scenarios append what comes next: a reboot, a rollback, idling). */
export const POST_BOOT = `${GUEST_ENV}${POST_BOOT_STEP}`;

/**
 * Installs the served v2 bundle, shows the end of its log, its exit code and where it wrote the slot (step=install,
 * target: the partition node its "writing slot" line names), then reboots cleanly.
 */
export const INSTALL_V2_THEN_REBOOT = `${GUEST_ENV}abupdate install http://10.0.2.100:8080/v2.0.0.bundle > /tmp/install.log 2>&1
code=$?
tail -n 5 /tmp/install.log
target=$(sed -n 's/^writing slot [AB] to \\([^ ]*\\) (block device.*/\\1/p' /tmp/install.log)
echo "ABUPDATE-MARKER step=install code=$code target=\${target:-none}"
/sbin/reboot
`;

/**
 * The slot's service manager in daemon scenarios: a machine id (unless a first boot set one), post-boot, then
 * the daemon, in the order the systemd units run them.
 */
export const DAEMON_BOOT_SH = `${GUEST_ENV}[ -s /var/lib/abupdate/machine-id ] || cat /proc/sys/kernel/random/uuid | tr -d - > /var/lib/abupdate/machine-id
${POST_BOOT_STEP}abupdate daemon --first-check-delay 1s --current-version "$GUEST_VERSION" 2>&1
echo "ABUPDATE-MARKER step=daemon-exit code=$?"
`;

/**
 * A daemon guest's files: the trusted key, DAEMON_BOOT_SH, and an update.conf for the static channel on the host
 * (reboots with /sbin/reboot) plus SETTINGS (KEY=VALUE lines: the reboot strategy, intervals, health timeout).
 */
export function daemonGuestFiles(publicKey: Buffer, settings: string[]): SlotFiles {
  return {
    '/etc/abupdate/keys.d/qemu.pub': publicKey,
    '/etc/abupdate/boot.sh': DAEMON_BOOT_SH,
    '/etc/abupdate/update.conf': [
      `COMPATIBLE=${GUEST_COMPATIBLE}`,
      'DISK=/dev/vda',
      'PROTOCOL=static',
      'SERVER=http://10.0.2.100:8080/channel',
      'GROUP=stable',
      'REBOOT_COMMAND=/sbin/reboot',
      'MACHINE_ID_PATH=/var/lib/abupdate/machine-id',
      ...settings,
      '',
    ].join('\n'),
  };
}
