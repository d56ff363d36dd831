// Issue 11 item 1 on the real kernel: a kernel command line that names the root partition twice (an override
// appended at the boot prompt: the kernel takes the last) installs into the slot that is not running; one in Flatcar's
// dm-verity words (mount.usr=/dev/mapper/usr verity.usr=PARTUUID=..., twice) names the running slot; a --booted that
// contradicts the kernel is refused. One VM, two boots (gptprio, direct kernel boot: the words are appended).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { openDisk } from '../partition/disk.js';
import { readGpt } from '../partition/gpt.js';
import { findSlots } from '../partition/slots.js';
import { partitionOf } from './guest/disk.js';
import { GUEST_ENV, POST_BOOT } from './harness/guest-scripts.js';
import { readGptprio } from './harness/host-flags.js';
import { Machine } from './harness/machine.js';
import { GUEST_COMPATIBLE, prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';

/** Prints the booted slot abupdate sees (step=booted) and tries an install with --booted CONTRARY (step=forced-booted). */
function bootedChecks(version: string, contrary: 'A' | 'B'): string {
  return `echo "ABUPDATE-MARKER step=cmdline $(tr ' ' ',' < /proc/cmdline)"
booted=$(abupdate slots --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).booted))')
echo "ABUPDATE-MARKER step=booted slot=\${booted:-none}"
abupdate install --booted ${contrary} http://10.0.2.100:8080/v${version}.bundle > /tmp/forced.log 2>&1
echo "ABUPDATE-MARKER step=forced-booted code=$? error=$(grep -o 'ERR_[A-Z_]*' /tmp/forced.log | head -n 1)"
`;
}

/** bootedChecks, then installs VERSION (step=install with the node it wrote), then reboots. */
function installThenReboot(version: string, contrary: 'A' | 'B'): string {
  return `${GUEST_ENV}${bootedChecks(version, contrary)}abupdate install http://10.0.2.100:8080/v${version}.bundle > /tmp/install.log 2>&1
code=$?
tail -n 5 /tmp/install.log
target=$(sed -n 's/^writing slot [AB] to \\([^ ]*\\) (block device.*/\\1/p' /tmp/install.log)
echo "ABUPDATE-MARKER step=install code=$code target=\${target:-none} error=$(grep -o 'ERR_[A-Z_]*' /tmp/install.log | head -n 1)"
/sbin/reboot
`;
}

describe('QEMU scenario: the booted slot is what the kernel says', { timeout: 45 * 60_000 }, () => {
  let env: ScenarioEnv;

  before(async () => {
    env = await prepareScenario({
      bundles: ['2.0.0'],
      files: (publicKey) => ({
        '/etc/abupdate/keys.d/qemu.pub': publicKey,
        '/etc/abupdate/update.conf': `COMPATIBLE=${GUEST_COMPATIBLE}\nDISK=/dev/vda\nSERVER=disabled\nREBOOT_COMMAND=/sbin/reboot\n`,
      }),
    });
  });
  after(() => env?.close());

  test('root= given twice (last names the running A) installs into B; verity.usr= given twice (last names the running B) says B; --booted against the kernel is ERR_BOOTED_MISMATCH', async (t) => {
    const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: 'booted-cmdline', bootPath: 'gptprio', serverPort: env.port });
    const disk = await openDisk(machine.disk);
    const slots = findSlots(await readGpt(disk));
    await disk.close();
    const uuid = { A: slots.A.uuid.toLowerCase(), B: slots.B.uuid.toLowerCase() };
    const node = (label: 'USR-A' | 'USR-B') => `/dev/vda${partitionOf(machine.layout, label).index}`;
    await machine.run(async () => {
      // Boot 1: A runs (gptprio picks it); the command line first names B, then A: the kernel's word is the last.
      const first = await machine.boot({ cmdline: `root=PARTUUID=${uuid.B} root=PARTUUID=${uuid.A}`, run: installThenReboot('2.0.0', 'B'), timeoutMs: 20 * 60_000 });
      assert.deepEqual([first.slot, first.end], ['A', 'reboot']);
      const vm1 = machine.vms[0]!;
      assert.equal((await vm1.waitForMarker({ step: 'booted' }, 1)).fields['slot'], 'A');
      assert.deepEqual(pick(await vm1.waitForMarker({ step: 'forced-booted' }, 1)), { code: '1', error: 'ERR_BOOTED_MISMATCH' }, 'no --booted contrary to the kernel');
      const install1 = await vm1.waitForMarker({ step: 'install' }, 1);
      assert.deepEqual([install1.fields['code'], install1.fields['target']], ['0', node('USR-B')], `install into B, not the running A: ${JSON.stringify(install1.fields)}`);
      assert.deepEqual(await readGptprio(machine.disk, machine.layout, 'A'), { priority: 1, tries: 0, successful: 1 }, 'A (running) untouched');

      // Boot 2: B on trial, Flatcar's verity words name A first, then B: abupdate says B, post-boot commits B.
      const second = await machine.boot({
        cmdline: `mount.usr=/dev/mapper/usr verity.usr=PARTUUID=${uuid.A} verity.usr=PARTUUID=${uuid.B} verity.usrhash=0123abcd`,
        run: `${POST_BOOT}${bootedChecks('2.0.0', 'A')}/sbin/reboot\n`,
        timeoutMs: 20 * 60_000,
      });
      assert.deepEqual([second.slot, second.version, second.end], ['B', '2.0.0', 'reboot']);
      const vm2 = machine.vms[1]!;
      assert.equal((await vm2.waitForMarker({ step: 'post-boot' }, 1)).fields['code'], '0');
      assert.equal((await vm2.waitForMarker({ step: 'booted' }, 1)).fields['slot'], 'B');
      assert.deepEqual(pick(await vm2.waitForMarker({ step: 'forced-booted' }, 1)), { code: '1', error: 'ERR_BOOTED_MISMATCH' });
      assert.deepEqual(await readGptprio(machine.disk, machine.layout, 'B'), { priority: 2, tries: 0, successful: 1 }, 'B committed');
    });
  });
});

function pick(marker: { fields: Record<string, string> }): { code: string | undefined; error: string | undefined } {
  return { code: marker.fields['code'], error: marker.fields['error'] };
}
