// Scenario 2 of issue 7: v2's health check fails; the guest rolls itself back to A, records 2.0.0 as bad, skips it, then installs v3.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import type { SlotFiles } from './guest/slot-image.js';
import { readGptprio, readGrubenv, readStateFile } from './harness/host-flags.js';
import { Machine, type BootPath } from './harness/machine.js';
import { daemonGuestFiles } from './harness/guest-scripts.js';
import { prepareScenario, type ScenarioEnv, type ScenarioEnvOptions } from './harness/scenario-env.js';
import { waitForSerialLine } from './harness/serial-watch.js';

/** v2's health check: fails every time, so post-boot gives up at HEALTH_TIMEOUT. */
const FAILING_CHECK = '#!/bin/busybox sh\necho "v2 health check: broken on purpose"\nexit 1\n';

interface StateJson {
  state?: string;
  badVersions?: string[];
}

async function readState(machine: Machine): Promise<StateJson> {
  return JSON.parse((await readStateFile(machine.disk, machine.layout, '/var/lib/abupdate/state.json'))?.toString() ?? '{}') as StateJson;
}

const BOOT_PATHS = ['gptprio', 'grubenv'] as const satisfies readonly BootPath[];

// The two boot paths run at the same time (two qemus on two cores), each with its own server and channel.
describe('QEMU scenario 2: a v2 that fails its health check is rolled back, recorded as bad and skipped; v3 installs', { timeout: 30 * 60_000, concurrency: 2 }, () => {
  const envs = new Map<BootPath, ScenarioEnv>();
  let checkDir: string;

  before(async () => {
    checkDir = await mkdtemp(path.join(tmpdir(), 'abupdate-qemu-health-'));
    const failing = path.join(checkDir, 'fail');
    await writeFile(failing, FAILING_CHECK);
    const options: ScenarioEnvOptions = {
      bundles: ['2.0.0', '3.0.0'],
      channel: '2.0.0',
      files: (publicKey, version): SlotFiles => ({
        ...daemonGuestFiles(publicKey, ['CHECK_INTERVAL=10s', 'HEALTH_TIMEOUT=5s', 'REBOOT_STRATEGY=reboot']),
        ...(version === '2.0.0' ? { '/etc/abupdate/health.d/50-broken': { hostPath: failing, mode: 0o755 } } : {}),
      }),
    };
    // One after the other: the second finds the guest and slot images cached and only signs its own bundles.
    for (const bootPath of BOOT_PATHS) envs.set(bootPath, await prepareScenario(options));
  });
  after(async () => {
    for (const env of envs.values()) await env.close();
    await rm(checkDir, { recursive: true, force: true });
  });

  for (const bootPath of BOOT_PATHS) {
    test(`${bootPath} path: v2 fails its health check on B, the guest reboots into A by itself, 2.0.0 is bad and not fetched again, v3 installs and is committed`, async (t) => {
      const env = envs.get(bootPath);
      assert.ok(env);
      const v2Requests = () => env.server.requests.filter((r) => r.path === 'channel/v2.0.0.bundle').length;
      const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: `health-${bootPath}`, bootPath, serverPort: env.port });
      await machine.run(async () => {
        // Boot 1: the daemon on A installs v2 from the channel and reboots by itself.
        const first = await machine.boot({ timeoutMs: 10 * 60_000 });
        assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'reboot']);
        const fetched = v2Requests();
        assert.ok(fetched > 0, 'the guest downloaded v2');

        // Boot 2: B on trial; post-boot runs the failing check to its deadline, marks B bad and reboots by itself.
        const second = await machine.boot({ timeoutMs: 5 * 60_000 });
        assert.deepEqual([second.slot, second.version, second.state, second.end], ['B', '2.0.0', 'trying', 'reboot']);
        assert.match(
          machine.vms[1]?.serial ?? '',
          /post-boot: Cannot commit slot B: 1 health check\(s\) failed: executable "50-broken": exit code 1: v2 health check: broken on purpose; slot B marked bad, rebooting into slot A/,
        );
        const bad = await readState(machine);
        assert.deepEqual([bad.state, bad.badVersions], ['ROLLED_BACK', ['2.0.0']]);
        if (bootPath === 'grubenv') assert.equal((await readGrubenv(machine.disk, machine.layout))['B_OK'], '0');
        else assert.equal((await readGptprio(machine.disk, machine.layout, 'B')).successful, 0);

        // Boot 3: A, good, by the bootloader's choice. The daemon sees 2.0.0 offered and skips it.
        const vm3 = await machine.start();
        const booted3 = await vm3.waitForMarker({ booted: /./ }, 5 * 60_000);
        assert.deepEqual([booted3.fields['booted'], booted3.fields['version'], booted3.fields['state']], ['A', '1.0.0', 'good']);
        await waitForSerialLine(vm3, /update skipped: this version failed its health check on this host before version=2\.0\.0/, 5 * 60_000);
        assert.equal(v2Requests(), fetched, 'v2 was not downloaded again after the rollback');

        // The channel moves on to v3: the next check installs it and the guest reboots by itself.
        await env.publish('3.0.0');
        await vm3.waitForExit(10 * 60_000);
        const third = machine.recordBoot(vm3);
        assert.equal(third.end, 'reboot');
        assert.ok(env.server.requests.some((r) => r.path === 'channel/v3.0.0.bundle'), 'the guest downloaded v3');
        assert.equal(v2Requests(), fetched, 'v2 was not downloaded again');

        // Boot 4: v3 on B on trial; its health checks (none) pass and post-boot commits it.
        const vm4 = await machine.start();
        const booted4 = await vm4.waitForMarker({ booted: /./ }, 5 * 60_000);
        assert.deepEqual([booted4.fields['booted'], booted4.fields['version'], booted4.fields['state']], ['B', '3.0.0', 'trying']);
        assert.equal((await vm4.waitForMarker({ step: 'post-boot' }, 5 * 60_000)).fields['code'], '0');
        assert.match(vm4.serial, /Slot B \(version 3\.0\.0\) is committed/);
        await waitForSerialLine(vm4, /running 3\.0\.0, updated from 1\.0\.0/, 5 * 60_000);
        await waitForSerialLine(vm4, /checked for updates: none available/, 5 * 60_000);
        await machine.powerCut(vm4);
        if (bootPath === 'grubenv') {
          const grubenv = await readGrubenv(machine.disk, machine.layout);
          assert.deepEqual([grubenv['ORDER'], grubenv['B_OK']], ['B A', '1']);
        } else {
          assert.equal((await readGptprio(machine.disk, machine.layout, 'B')).successful, 1);
        }
        // (state.json is not read here: after a power cut, debugfs sees the ext4 file system without its journal replayed.)
      });
    });
  }
});
