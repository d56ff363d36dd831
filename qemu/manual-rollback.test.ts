// Scenario 5 of issue 7: after a committed update to v2, `abupdate rollback --reboot` in the guest brings it back to v1 on A.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { partitionOf } from './guest/disk.js';
import { Machine, type BootPath } from './harness/machine.js';
import { INSTALL_V2_THEN_REBOOT, POST_BOOT } from './harness/guest-scripts.js';
import { GUEST_COMPATIBLE, prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';

/** Commit v2 (post-boot), then roll back by hand; rollback --reboot runs REBOOT_COMMAND (/sbin/reboot). */
const COMMIT_THEN_ROLLBACK = `${POST_BOOT}abupdate rollback --reboot 2>&1
echo "ABUPDATE-MARKER step=rollback code=$?"
`;

describe('QEMU scenario 5: manual rollback after a committed update', { timeout: 20 * 60_000, concurrency: 2 }, () => {
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

  for (const bootPath of ['gptprio', 'grubenv'] as const satisfies readonly BootPath[]) {
    test(`${bootPath} path: v2 committed on B, "abupdate rollback --reboot" reboots the guest into v1 on A, committed`, async (t) => {
      const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: `rollback-${bootPath}`, bootPath, serverPort: env.port });
      await machine.run(async () => {
        const first = await machine.boot({ run: INSTALL_V2_THEN_REBOOT, timeoutMs: 10 * 60_000 });
        assert.deepEqual([first.slot, first.end], ['A', 'reboot']);
        // The engine found the guest's disk as a block device and wrote slot B through its partition node.
        const install = await machine.vms[0]?.waitForMarker({ step: 'install' }, 1);
        assert.deepEqual([install?.fields['code'], install?.fields['target']], ['0', `/dev/vda${partitionOf(machine.layout, 'USR-B').index}`]);

        const second = await machine.boot({ run: COMMIT_THEN_ROLLBACK, timeoutMs: 5 * 60_000 });
        assert.deepEqual([second.slot, second.version, second.state, second.end], ['B', '2.0.0', 'trying', 'reboot']);
        assert.equal((await machine.vms[1]?.waitForMarker({ step: 'post-boot' }, 1))?.fields['code'], '0');

        const third = await machine.boot({ timeoutMs: 5 * 60_000 });
        assert.deepEqual([third.slot, third.version, third.state], ['A', '1.0.0', 'good']);
      });
    });
  }
});
