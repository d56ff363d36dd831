// A commit must survive a power cut: post-boot says B is committed, the power goes, and the next boot is still B, good.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { readGptprio, readGrubenv } from './harness/host-flags.js';
import { Machine, type BootPath } from './harness/machine.js';
import { INSTALL_V2_THEN_REBOOT, POST_BOOT } from './harness/guest-scripts.js';
import { GUEST_COMPATIBLE, prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';

/** post-boot, then the guest idles: the harness cuts the power right after the commit is reported. */
const POST_BOOT_THEN_IDLE = `${POST_BOOT}sleep 600\n`;

describe('QEMU: a commit survives a power cut right after post-boot reports it', { timeout: 20 * 60_000, concurrency: 2 }, () => {
  let env: ScenarioEnv;

  before(async () => {
    env = await prepareScenario({
      bundles: ['2.0.0'],
      files: (publicKey) => ({
        '/etc/abupdate/keys.d/qemu.pub': publicKey,
        '/etc/abupdate/update.conf': `COMPATIBLE=${GUEST_COMPATIBLE}\nDISK=/dev/vda\nSERVER=disabled\n`,
      }),
    });
  });
  after(() => env?.close());

  for (const bootPath of ['grubenv', 'gptprio'] as const satisfies readonly BootPath[]) {
    test(`${bootPath} path: B committed by post-boot, power cut at once, boots B (good) again`, async (t) => {
      const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: `commit-cut-${bootPath}`, bootPath, serverPort: env.port });
      await machine.run(async () => {
        const first = await machine.boot({ run: INSTALL_V2_THEN_REBOOT, timeoutMs: 10 * 60_000 });
        assert.deepEqual([first.slot, first.end], ['A', 'reboot']);
        assert.equal((await machine.vms[0]?.waitForMarker({ step: 'install' }, 1))?.fields['code'], '0');

        const vm = await machine.start({ run: POST_BOOT_THEN_IDLE });
        assert.equal((await vm.waitForMarker({ booted: /./ }, 5 * 60_000)).fields['booted'], 'B');
        assert.equal((await vm.waitForMarker({ step: 'post-boot' }, 5 * 60_000)).fields['code'], '0');
        await machine.powerCut(vm);

        // What the bootloader makes of it counts first; then the flags as the host's tools read them.
        const third = await machine.boot({ timeoutMs: 5 * 60_000 });
        assert.deepEqual([third.slot, third.version, third.state], ['B', '2.0.0', 'good'], 'the commit was lost: the next boot is not B, good');
        if (bootPath === 'grubenv') {
          const grubenv = await readGrubenv(machine.disk, machine.layout);
          assert.deepEqual([grubenv['ORDER'], grubenv['B_OK']], ['B A', '1']);
        } else {
          assert.equal((await readGptprio(machine.disk, machine.layout, 'B')).successful, 1);
        }
      });
    });
  }
});
