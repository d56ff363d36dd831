// Smoke test of the QEMU harness: real firmware/GRUB or the gptprio initramfs pick the slot; the host only flips flags.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { buildGuest, type Guest } from './guest/build-guest.js';
import { readGptprio, readGrubenv, readStateFile, setGptprio, setGrubenv } from './harness/host-flags.js';
import { Machine } from './harness/machine.js';

/** What the first boot runs in the guest: node and the bundled CLI, and a write to the state partition. */
const PROBE = [
  'echo "ABUPDATE-MARKER probe=node node=$(node -e "process.stdout.write(process.version)")"',
  'echo "ABUPDATE-MARKER probe=cli $(abupdate --version | tr " " "=")"',
  'echo "written by boot of $ABUPDATE_BOOTED_SLOT" > /var/lib/abupdate/probe.txt',
].join('\n');

describe('QEMU boot paths', { timeout: 15 * 60_000 }, () => {
  let guest: Guest;

  before(async () => {
    guest = await buildGuest({ slotA: { version: '1.0.0' }, slotB: { version: '2.0.0' } });
  });

  test('grubenv path: GRUB with partition/grub/abupdate-ab.cfg boots A, then B once on its one try, then falls back to A', async (t) => {
    const machine = await Machine.create({ guest, dir: await makeTempDir(t), name: 'boot-grubenv', bootPath: 'grubenv' });
    await machine.run(async () => {
      const first = await machine.boot({ run: PROBE });
      assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'poweroff']);
      const vm = machine.vms[0];
      assert.ok(vm);
      assert.match((await vm.waitForMarker({ probe: 'node' }, 1)).fields['node'] ?? '', /^v20\./);
      assert.equal((await vm.waitForMarker({ probe: 'cli' }, 1)).fields['abupdate'], '0.1.0');
      assert.equal((await readStateFile(machine.disk, machine.layout, '/var/lib/abupdate/probe.txt'))?.toString(), 'written by boot of A\n');
      assert.equal((await readGrubenv(machine.disk, machine.layout))['A_TRY'], '0');

      await setGrubenv(machine.disk, machine.layout, { ORDER: 'B A', B_OK: '0', B_TRY: '1' });
      const second = await machine.boot();
      assert.deepEqual([second.slot, second.version, second.state], ['B', '2.0.0', 'trying']);
      const spent = await readGrubenv(machine.disk, machine.layout);
      assert.deepEqual([spent['ORDER'], spent['B_OK'], spent['B_TRY'], spent['A_OK']], ['B A', '0', '0', '1']);

      const third = await machine.boot();
      assert.deepEqual([third.slot, third.version, third.state], ['A', '1.0.0', 'good']);
    });
  });

  test('gptprio path: the initramfs applies gptprio.next with cgpt: boots A, then B once on its one try, then falls back to A', async (t) => {
    const machine = await Machine.create({ guest, dir: await makeTempDir(t), name: 'boot-gptprio', bootPath: 'gptprio' });
    await machine.run(async () => {
      const first = await machine.boot({ run: PROBE });
      assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'poweroff']);
      assert.equal((await readStateFile(machine.disk, machine.layout, '/var/lib/abupdate/probe.txt'))?.toString(), 'written by boot of A\n');

      await setGptprio(machine.disk, machine.layout, 'B', { priority: 2, tries: 1, successful: 0 });
      const second = await machine.boot();
      assert.deepEqual([second.slot, second.version, second.state], ['B', '2.0.0', 'trying']);
      assert.deepEqual(await readGptprio(machine.disk, machine.layout, 'B'), { priority: 2, tries: 0, successful: 0 });
      assert.deepEqual(await readGptprio(machine.disk, machine.layout, 'A'), { priority: 1, tries: 0, successful: 1 });

      const third = await machine.boot();
      assert.deepEqual([third.slot, third.version, third.state], ['A', '1.0.0', 'good']);
    });
  });
});
