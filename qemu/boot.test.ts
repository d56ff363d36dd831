// Smoke test of the QEMU harness: real firmware/GRUB or the gptprio initramfs pick the slot; the host only flips flags.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { buildGuest, type Guest } from './guest/build-guest.js';
import { readGptprio, readGrubenv, readStateFile, setGptprio, setGrubenv } from './harness/host-flags.js';
import { Machine } from './harness/machine.js';

/** What the first boot runs in the guest: node, the bundled CLI, the host's server, a write to the state partition. */
const PROBE = [
  'echo "ABUPDATE-MARKER probe=node node=$(node -e "process.stdout.write(process.version)")"',
  'echo "ABUPDATE-MARKER probe=cli $(abupdate --version | tr " " "=")"',
  // busybox-static's wget segfaults in static glibc's resolver: the guest's HTTP client is node.
  `echo "ABUPDATE-MARKER probe=http body=$(node -e "fetch('http://10.0.2.100:8080/probe').then((r) => r.text()).then((t) => process.stdout.write(t))")"`,
  'echo "written by boot of $GUEST_BOOTED_SLOT" > /var/lib/abupdate/probe.txt',
].join('\n');

/** Version 2.0.0 carries its own boot behaviour: what runs when the harness passes no command. */
const V2_BOOT_SH = 'echo "ABUPDATE-MARKER probe=slot-boot-sh version=$GUEST_VERSION"\n';

describe('QEMU boot paths', { timeout: 15 * 60_000, concurrency: 2 }, () => {
  let guest: Guest;
  let server: Server;
  let port: number;

  before(async () => {
    server = createServer((req, res) => res.end(req.url === '/probe' ? 'hello-from-host' : 'unexpected'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    guest = await buildGuest({ slotA: { version: '1.0.0' }, slotB: { version: '2.0.0', files: { '/etc/abupdate/boot.sh': V2_BOOT_SH } } });
  });
  after(() => server.close());

  test('grubenv path: GRUB with partition/grub/abupdate-ab.cfg boots A, then B once on its one try, then falls back to A', async (t) => {
    const machine = await Machine.create({ guest, dir: await makeTempDir(t), name: 'boot-grubenv', bootPath: 'grubenv', serverPort: port });
    await machine.run(async () => {
      const first = await machine.boot({ run: PROBE });
      assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'poweroff']);
      const vm = machine.vms[0];
      assert.ok(vm);
      assert.match((await vm.waitForMarker({ probe: 'node' }, 1)).fields['node'] ?? '', /^v20\./);
      assert.equal((await vm.waitForMarker({ probe: 'cli' }, 1)).fields['abupdate'], '0.1.0');
      assert.equal((await vm.waitForMarker({ probe: 'http' }, 1)).fields['body'], 'hello-from-host');
      assert.equal((await readStateFile(machine.disk, machine.layout, '/var/lib/abupdate/probe.txt'))?.toString(), 'written by boot of A\n');
      assert.equal((await readGrubenv(machine.disk, machine.layout))['A_TRY'], '0');

      await setGrubenv(machine.disk, machine.layout, { ORDER: 'B A', B_OK: '0', B_TRY: '1' });
      const second = await machine.boot();
      assert.deepEqual([second.slot, second.version, second.state], ['B', '2.0.0', 'trying']);
      assert.equal((await machine.vms[1]?.waitForMarker({ stage: 'grub' }, 1))?.fields['chose'], 'B');
      assert.equal((await machine.vms[1]?.waitForMarker({ probe: 'slot-boot-sh' }, 1))?.fields['version'], '2.0.0');
      const spent = await readGrubenv(machine.disk, machine.layout);
      assert.deepEqual([spent['ORDER'], spent['B_OK'], spent['B_TRY'], spent['A_OK']], ['B A', '0', '0', '1']);

      const third = await machine.boot();
      assert.deepEqual([third.slot, third.version, third.state], ['A', '1.0.0', 'good']);
    });
  });

  test('gptprio path: the initramfs applies gptprio.next with cgpt, spends the try before mounting, and falls back to A', async (t) => {
    const machine = await Machine.create({ guest, dir: await makeTempDir(t), name: 'boot-gptprio', bootPath: 'gptprio', serverPort: port });
    await machine.run(async () => {
      const first = await machine.boot({ run: PROBE });
      assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'poweroff']);
      assert.equal((await machine.vms[0]?.waitForMarker({ probe: 'http' }, 1))?.fields['body'], 'hello-from-host');
      assert.equal((await readStateFile(machine.disk, machine.layout, '/var/lib/abupdate/probe.txt'))?.toString(), 'written by boot of A\n');

      // Two tries for B; the power is cut as soon as the selector has chosen B: one try is gone.
      await setGptprio(machine.disk, machine.layout, 'B', { priority: 2, tries: 2, successful: 0 });
      const cut = await machine.start();
      await cut.waitForMarker({ stage: 'gptprio', chose: 'B' }, 120_000);
      const cutRecord = await machine.powerCut(cut);
      assert.equal(cutRecord.end, 'power-cut');
      assert.deepEqual(await readGptprio(machine.disk, machine.layout, 'B'), { priority: 2, tries: 1, successful: 0 });

      const second = await machine.boot();
      assert.deepEqual([second.slot, second.version, second.state], ['B', '2.0.0', 'trying']);
      assert.equal((await machine.vms[2]?.waitForMarker({ probe: 'slot-boot-sh' }, 1))?.fields['version'], '2.0.0');
      assert.deepEqual(await readGptprio(machine.disk, machine.layout, 'B'), { priority: 2, tries: 0, successful: 0 });
      assert.deepEqual(await readGptprio(machine.disk, machine.layout, 'A'), { priority: 1, tries: 0, successful: 1 });

      const third = await machine.boot();
      assert.deepEqual([third.slot, third.version, third.state], ['A', '1.0.0', 'good']);
    });
  });
});
