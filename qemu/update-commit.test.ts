// Scenario 1 of issue 7: the daemon in the guest finds v2 on the host's server, installs it, reboots by itself; B is committed and stays.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { daemonGuestFiles, POST_BOOT } from './harness/guest-scripts.js';
import { readGptprio, readGrubenv } from './harness/host-flags.js';
import { Machine, type BootPath } from './harness/machine.js';
import { prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';

/** Boot 2 of the scenario: the same post-boot, then a clean reboot instead of the daemon. */
const POST_BOOT_THEN_REBOOT = `${POST_BOOT}/sbin/reboot\n`;

const BOOT_PATHS = ['grubenv', 'gptprio'] as const satisfies readonly BootPath[];

describe('QEMU scenario 1: update and commit by the daemon', { timeout: 25 * 60_000, concurrency: 2 }, () => {
  /** One scene per boot path (its own server), so each path's requests are its own. */
  const envs = new Map<BootPath, ScenarioEnv>();

  before(async () => {
    for (const bootPath of BOOT_PATHS) {
      envs.set(bootPath, await prepareScenario({ bundles: ['2.0.0'], channel: '2.0.0', files: (publicKey) => daemonGuestFiles(publicKey, ['REBOOT_STRATEGY=reboot']) }));
    }
  });
  after(async () => {
    for (const env of envs.values()) await env.close();
  });

  for (const bootPath of BOOT_PATHS) {
    test(`${bootPath} path: v1 on A finds v2, installs, reboots by itself; B boots on trial, is committed, and a further boot stays on B`, async (t) => {
      const env = envs.get(bootPath)!;
      const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: `scenario1-${bootPath}`, bootPath, serverPort: env.port });
      await machine.run(async () => {
        // Boot 1: nobody tells the guest anything; it must reboot by itself.
        const first = await machine.boot({ timeoutMs: 10 * 60_000 });
        assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'reboot']);
        assert.ok(env.server.requests.some((r) => r.path === 'channel/v2.0.0.bundle'), 'the guest downloaded the bundle');
        if (bootPath === 'grubenv') {
          const grubenv = await readGrubenv(machine.disk, machine.layout);
          assert.deepEqual([grubenv['ORDER'], grubenv['B_OK']], ['B A', '0']);
        } else {
          assert.equal((await readGptprio(machine.disk, machine.layout, 'B')).successful, 0);
        }

        // Boot 2: B on trial; post-boot commits it; then a clean reboot (sync first), as an operator would.
        const second = await machine.boot({ run: POST_BOOT_THEN_REBOOT, timeoutMs: 5 * 60_000 });
        assert.deepEqual([second.slot, second.version, second.state, second.end], ['B', '2.0.0', 'trying', 'reboot']);
        assert.equal((await machine.vms[1]?.waitForMarker({ step: 'post-boot' }, 1))?.fields['code'], '0');
        if (bootPath === 'grubenv') assert.equal((await readGrubenv(machine.disk, machine.layout))['B_OK'], '1');
        else assert.equal((await readGptprio(machine.disk, machine.layout, 'B')).successful, 1);

        // Boot 3: stays on B, committed; the daemon runs on (nothing newer), so the power is cut.
        const vm3 = await machine.start();
        const booted3 = await vm3.waitForMarker({ booted: /./ }, 5 * 60_000);
        assert.deepEqual([booted3.fields['booted'], booted3.fields['version'], booted3.fields['state']], ['B', '2.0.0', 'good']);
        assert.equal((await vm3.waitForMarker({ step: 'post-boot' }, 5 * 60_000)).fields['code'], '0');
        await machine.powerCut(vm3);
      });
    });
  }
});
