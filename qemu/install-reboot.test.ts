// Whole-system update through real reboots, driven by the CLI in the guest: install v2, reboot, the bootloader picks B, post-boot commits.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeBundle, makeKeys } from '../fixtures/bundle.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { buildGuest, buildVersionImage, type Guest } from './guest/build-guest.js';
import type { SlotFiles } from './guest/slot-image.js';
import { readGptprio, readGrubenv } from './harness/host-flags.js';
import { Machine, type BootPath } from './harness/machine.js';

const COMPATIBLE = 'abupdate-qemu-guest';

/** What every version carries: the trusted key and update.conf (the boot path comes from the environment). */
function slotFiles(publicKey: Buffer): SlotFiles {
  return {
    '/etc/abupdate/keys.d/qemu.pub': publicKey,
    '/etc/abupdate/update.conf': [`COMPATIBLE=${COMPATIBLE}`, 'DISK=/dev/vda', 'REBOOT_COMMAND=/sbin/reboot', 'SERVER=disabled', ''].join('\n'),
  };
}

/** Prefix of every guest script: the backend follows the boot path under test. */
const ENV = 'export ABUPDATE_BOOTLOADER="$GUEST_BOOT_PATH"\n';

const INSTALL = `${ENV}
abupdate install http://10.0.2.100:8080/v2.bundle --tries 1 > /tmp/install.log 2>&1
code=$?
tail -n 20 /tmp/install.log
echo "ABUPDATE-MARKER step=install code=$code"
abupdate status 2>&1
/sbin/reboot
`;

const POST_BOOT = `${ENV}
abupdate post-boot 2>&1
echo "ABUPDATE-MARKER step=post-boot code=$?"
abupdate status 2>&1
`;

describe('QEMU: install and commit through real reboots', { timeout: 20 * 60_000 }, () => {
  let guest: Guest;
  let server: TestHttpServer;
  let keyDir: string;

  before(async () => {
    keyDir = await mkdtemp(path.join(tmpdir(), 'abupdate-qemu-keys-'));
    const keys = await makeKeys(keyDir, 'qemu', 'qemu-guest');
    const files = slotFiles(await readFile(keys.publicPath));
    guest = await buildGuest({ slotA: { version: '1.0.0', files } });
    const v2 = await buildVersionImage({ version: '2.0.0', files });
    const bundle = await makeBundle(keyDir, { image: v2, version: '2.0.0', compatible: COMPATIBLE, key: keys, name: 'v2.bundle' });
    server = await startHttpServer({ 'v2.bundle': bundle.path });
  });
  after(async () => {
    await server.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  for (const bootPath of ['grubenv', 'gptprio'] as const satisfies readonly BootPath[]) {
    test(`${bootPath} path: v1 on A installs v2 into B, reboots, the bootloader boots B on trial, post-boot commits it, and B stays`, async (t) => {
      const port = Number(new URL(server.origin).port);
      const machine = await Machine.create({ guest, dir: await makeTempDir(t), name: `install-${bootPath}`, bootPath, serverPort: port });
      await machine.run(async () => {
        const first = await machine.boot({ run: INSTALL, timeoutMs: 10 * 60_000 });
        assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'reboot']);
        assert.equal((await machine.vms[0]?.waitForMarker({ step: 'install' }, 1))?.fields['code'], '0');
        if (bootPath === 'grubenv') {
          const env = await readGrubenv(machine.disk, machine.layout);
          assert.deepEqual([env['ORDER'], env['B_TRY'], env['B_OK'], env['A_OK']], ['B A', '1', '0', '1']);
        } else {
          const b = await readGptprio(machine.disk, machine.layout, 'B');
          assert.deepEqual([b.tries, b.successful], [1, 0]);
          assert.ok(b.priority > (await readGptprio(machine.disk, machine.layout, 'A')).priority);
        }

        const second = await machine.boot({ run: POST_BOOT });
        assert.deepEqual([second.slot, second.version, second.state, second.end], ['B', '2.0.0', 'trying', 'poweroff']);
        assert.equal((await machine.vms[1]?.waitForMarker({ step: 'post-boot' }, 1))?.fields['code'], '0');

        const third = await machine.boot();
        assert.deepEqual([third.slot, third.version, third.state], ['B', '2.0.0', 'good']);
      });
    });
  }
});
