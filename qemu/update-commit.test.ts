// Scenario 1 of issue 7: the daemon in the guest finds v2 on the host's server, installs it, reboots by itself; B is committed and stays.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeBundle, makeKeys } from '../fixtures/bundle.js';
import { runCli } from '../fixtures/cli.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { buildGuest, buildVersionImage, type Guest } from './guest/build-guest.js';
import type { SlotFiles } from './guest/slot-image.js';
import { readGptprio, readGrubenv } from './harness/host-flags.js';
import { Machine, type BootPath } from './harness/machine.js';

const COMPATIBLE = 'abupdate-qemu-guest';

/**
 * The guest's service manager, in every version: post-boot, then the daemon (as the systemd units
 * would run them). The boot-control backend follows the boot path under test.
 */
const BOOT_SH = `export ABUPDATE_BOOTLOADER="$GUEST_BOOT_PATH"
[ -s /var/lib/abupdate/machine-id ] || cat /proc/sys/kernel/random/uuid | tr -d - > /var/lib/abupdate/machine-id
abupdate post-boot > /tmp/post-boot.log 2>&1
code=$?
tail -n 20 /tmp/post-boot.log
echo "ABUPDATE-MARKER step=post-boot code=$code"
abupdate daemon --first-check-delay 1s --current-version "$GUEST_VERSION" 2>&1
echo "ABUPDATE-MARKER step=daemon-exit code=$?"
`;

/** Boot 2 of the scenario: the same post-boot, then a clean reboot instead of the daemon. */
const POST_BOOT_THEN_REBOOT = `export ABUPDATE_BOOTLOADER="$GUEST_BOOT_PATH"
abupdate post-boot 2>&1
echo "ABUPDATE-MARKER step=post-boot code=$?"
/sbin/reboot
`;

function slotFiles(publicKey: Buffer): SlotFiles {
  return {
    '/etc/abupdate/keys.d/qemu.pub': publicKey,
    '/etc/abupdate/boot.sh': BOOT_SH,
    '/etc/abupdate/update.conf': [
      `COMPATIBLE=${COMPATIBLE}`,
      'DISK=/dev/vda',
      'PROTOCOL=static',
      'SERVER=http://10.0.2.100:8080/channel',
      'GROUP=stable',
      'REBOOT_STRATEGY=reboot',
      'REBOOT_COMMAND=/sbin/reboot',
      'MACHINE_ID_PATH=/var/lib/abupdate/machine-id',
      '',
    ].join('\n'),
  };
}

describe('QEMU scenario 1: update and commit by the daemon', { timeout: 25 * 60_000, concurrency: 2 }, () => {
  let guest: Guest;
  /** What the channel serves; each boot path gets its own server, so its requests are its own. */
  let served: Record<string, string>;
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'abupdate-qemu-scenario1-'));
    const keys = await makeKeys(workDir, 'qemu', 'qemu-guest');
    const files = slotFiles(await readFile(keys.publicPath));
    guest = await buildGuest({ slotA: { version: '1.0.0', files } });
    const v2 = await buildVersionImage({ version: '2.0.0', files });
    const bundle = await makeBundle(workDir, { image: v2, version: '2.0.0', compatible: COMPATIBLE, key: keys, name: 'v2.bundle' });
    const index = path.join(workDir, 'stable.json');
    const made = await runCli(['bundle', 'index', '--bundle', bundle.path, '--url', 'v2.bundle', '--key', keys.privatePath, '--out', index]);
    assert.equal(made.code, 0, made.stderr);
    served = { 'channel/stable.json': index, 'channel/stable.json.sig': `${index}.sig`, 'channel/v2.bundle': bundle.path };
  });
  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  for (const bootPath of ['grubenv', 'gptprio'] as const satisfies readonly BootPath[]) {
    test(`${bootPath} path: v1 on A finds v2, installs, reboots by itself; B boots on trial, is committed, and a further boot stays on B`, async (t) => {
      const server: TestHttpServer = await startHttpServer(served);
      t.after(() => server.close());
      const port = Number(new URL(server.origin).port);
      const machine = await Machine.create({ guest, dir: await makeTempDir(t), name: `scenario1-${bootPath}`, bootPath, serverPort: port });
      await machine.run(async () => {
        // Boot 1: nobody tells the guest anything; it must reboot by itself.
        const first = await machine.boot({ timeoutMs: 10 * 60_000 });
        assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'reboot']);
        assert.ok(server.requests.some((r) => r.path === 'channel/v2.bundle'), 'the guest downloaded the bundle');
        if (bootPath === 'grubenv') {
          const env = await readGrubenv(machine.disk, machine.layout);
          assert.deepEqual([env['ORDER'], env['B_OK']], ['B A', '0']);
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
