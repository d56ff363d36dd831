// Scenario 3 of issue 7: v2's init never reaches post-boot (the kernel panics); the bootloader falls back to A by itself.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { readGptprio, readGrubenv, readStateFile } from './harness/host-flags.js';
import { Machine, type BootPath } from './harness/machine.js';
import { INSTALL_V2_THEN_REBOOT, POST_BOOT } from './harness/guest-scripts.js';
import { GUEST_COMPATIBLE, prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';


/** v2's /sbin/init dies at once: PID 1 exits, the kernel panics, panic=1 reboots. */
const BROKEN_INIT = '#!/bin/busybox sh\necho "ABUPDATE-MARKER stage=slot-init error=broken-init"\nexit 1\n';

describe('QEMU scenario 3: a v2 that panics before post-boot is rolled back by the bootloader', { timeout: 20 * 60_000, concurrency: 2 }, () => {
  let env: ScenarioEnv;

  before(async () => {
    env = await prepareScenario({
      bundles: ['2.0.0'],
      files: (publicKey, version) => ({
        '/etc/abupdate/keys.d/qemu.pub': publicKey,
        '/etc/abupdate/update.conf': `COMPATIBLE=${GUEST_COMPATIBLE}\nDISK=/dev/vda\nSERVER=disabled\n`,
        ...(version === '2.0.0' ? { '/sbin/init': BROKEN_INIT } : {}),
      }),
    });
  });
  after(() => env?.close());

  for (const bootPath of ['gptprio', 'grubenv'] as const satisfies readonly BootPath[]) {
    test(`${bootPath} path: B's one try ends in a panic, the next boot is A, and post-boot on A records 2.0.0 as bad`, async (t) => {
      const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: `panic-${bootPath}`, bootPath, serverPort: env.port });
      await machine.run(async () => {
        const first = await machine.boot({ run: INSTALL_V2_THEN_REBOOT, timeoutMs: 10 * 60_000 });
        assert.deepEqual([first.slot, first.end], ['A', 'reboot']);
        assert.equal((await machine.vms[0]?.waitForMarker({ step: 'install' }, 1))?.fields['code'], '0');

        const second = await machine.boot({ timeoutMs: 5 * 60_000 });
        assert.deepEqual([second.slot, second.end], [undefined, 'panic']);
        assert.ok(await machine.vms[1]?.waitForMarker({ error: 'broken-init' }, 1));
        assert.equal((await machine.vms[1]?.waitForMarker({ stage: 'initramfs', slot: /./ }, 1))?.fields['slot'], 'B');

        const third = await machine.boot({ run: POST_BOOT, timeoutMs: 5 * 60_000 });
        assert.deepEqual([third.slot, third.version, third.state], ['A', '1.0.0', 'good']);
        assert.equal((await machine.vms[2]?.waitForMarker({ step: 'post-boot' }, 1))?.fields['code'], '0');
        if (bootPath === 'grubenv') {
          const grubenv = await readGrubenv(machine.disk, machine.layout);
          assert.deepEqual([grubenv['B_OK'], grubenv['B_TRY']], ['0', '0']);
        } else {
          const b = await readGptprio(machine.disk, machine.layout, 'B');
          assert.deepEqual([b.tries, b.successful], [0, 0]);
        }
        const state = JSON.parse((await readStateFile(machine.disk, machine.layout, '/var/lib/abupdate/state.json'))?.toString() ?? '{}') as { badVersions?: string[] };
        assert.deepEqual(state.badVersions, ['2.0.0']);
      });
    });
  }
});
