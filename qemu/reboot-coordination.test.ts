// Scenario 6 of issue 7: two guests with REBOOT_STRATEGY=etcd-lock (max 1) against one etcd on the host never reboot at once.
// With FLEET_STATUS=etcd (issue 16) the same etcd is the fleet view: `abupdate fleet status` on the host shows both
// guests on v1 waiting to reboot, and each on B with v2 once it came back.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli } from '../fixtures/cli.js';
import { useEtcdForFile, watchEtcdKey } from '../fixtures/etcd.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { semaphoreKey } from '../src/reboot/etcd-semaphore.js';
import { readGptprio } from './harness/host-flags.js';
import { Machine } from './harness/machine.js';
import { daemonGuestFiles, POST_BOOT } from './harness/guest-scripts.js';
import { prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';
import type { Vm } from './harness/vm.js';

/** The guests reach the host's etcd as 10.0.2.100:2379 (guestfwd), next to the update server on :8080. */
const GUEST_ETCD_PORT = 2379;
const KEY = semaphoreKey();
/** The holder id of an operator who holds the lock (maintenance) while both guests install v2. */
const OPERATOR = 'operator-maintenance';

/**
 * Boot 2 on B: post-boot commits and releases the lock, then the daemon runs a while (the fleet sees the host on
 * v2), stopped by SIGTERM (it revokes its fleet lease on the way out); then the guest powers off.
 */
const POST_BOOT_THEN_DAEMON = `${POST_BOOT}timeout -s TERM 150 abupdate daemon --first-check-delay 1s --current-version "$GUEST_VERSION" 2>&1
echo "ABUPDATE-MARKER step=daemon-exit code=$?"
`;

interface FleetHost {
  machineId: string;
  version: string | null;
  booted: 'A' | 'B' | null;
  state: string;
}

/** `abupdate fleet status --json` on the host: the hosts whose lease is alive. */
async function fleetHosts(endpoint: string): Promise<FleetHost[]> {
  const result = await runCli(['fleet', 'status', '--endpoints', endpoint, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return (result.json() as { hosts: FleetHost[] }).hosts;
}

/** Boot 1: give the machine its id (the holder name in etcd), then the slot's own service manager. */
const firstBoot = (machineId: string): string => `echo ${machineId} > /var/lib/abupdate/machine-id
sh /etc/abupdate/boot.sh
`;

interface LockValue {
  at: number;
  semaphore: number;
  max: number;
  holders: string[];
}

/** Host time (performance.now()) at which the host read the first marker of VM matching QUERY. */
async function markerTime(vm: Vm | undefined, query: Record<string, string | RegExp>): Promise<number> {
  assert.ok(vm, 'the boot happened');
  const marker = await vm.waitForMarker(query, 1);
  return vm.startedAt + marker.atMs;
}

/** The console lines of VM that contain every one of PARTS. */
function linesWith(vm: Vm | undefined, ...parts: string[]): string[] {
  return (vm?.serial ?? '').split(/\r?\n/).filter((line) => parts.every((part) => line.includes(part)));
}

/** Polls CHECK every 250 ms until it is true (or SIGNAL aborts); fails the test after TIMEOUT_MS. */
async function waitUntil(check: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check() && !signal.aborted) {
    assert.ok(performance.now() < deadline, `condition not met within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** The lines of VM's console holding each of PARTS, in that order (fails if one is missing or out of order). */
function inOrder(vm: Vm | undefined, parts: string[]): string[] {
  const lines = (vm?.serial ?? '').split(/\r?\n/);
  let at = -1;
  return parts.map((part) => {
    const found = lines.findIndex((line, i) => i > at && line.includes(part));
    assert.ok(found > at, `"${part}" on the console after line ${at}`);
    at = found;
    return lines[found] ?? '';
  });
}

const getEtcd = useEtcdForFile();

describe('QEMU scenario 6: reboot coordination through an etcd lock', { timeout: 25 * 60_000 }, () => {
  let env: ScenarioEnv;

  before(async () => {
    env = await prepareScenario({ files: (publicKey) => daemonGuestFiles(publicKey, ['REBOOT_STRATEGY=etcd-lock', `ETCD_ENDPOINTS=http://10.0.2.100:${GUEST_ETCD_PORT}`, 'FLEET_STATUS=etcd']), bundles: ['2.0.0'], channel: '2.0.0' });
  });
  after(async () => {
    await env?.close();
  });

  test('gptprio path: two guests (etcd-lock, max 1) both install v2 at once, but reboot one after the other; both end on B committed, the lock free; fleet status shows both before and after', async (t) => {
    const started = performance.now();
    const since = (at: number): string => `+${((at - started) / 1000).toFixed(1)}s`;
    const etcd = await getEtcd();
    const endpoint = etcd.endpoints[0] ?? '';
    const etcdPort = Number(new URL(endpoint).port);
    const setMax = await runCli(['reboot-lock', 'set-max', '1', '--endpoints', endpoint, '--json']);
    assert.equal(setMax.code, 0, setMax.stderr);
    const lock = await runCli(['reboot-lock', 'lock', OPERATOR, '--endpoints', endpoint, '--json']);
    assert.equal(lock.code, 0, lock.stderr);

    // Every value the lock key ever had, from revision 1, with the host time it arrived.
    const history: LockValue[] = [];
    const watch = watchEtcdKey(endpoint, KEY, (value) => {
      if (value !== undefined) history.push({ at: performance.now(), ...(JSON.parse(value) as Omit<LockValue, 'at'>) });
    });
    t.after(() => watch.stop());
    await watch.ready;

    const ids = { one: '11111111111111111111111111111111', two: '22222222222222222222222222222222' };
    const nameOf = (id: string): string => (id === ids.one ? 'one' : id === ids.two ? 'two' : id === OPERATOR ? 'operator' : id);
    // Every (version, slot, state) `fleet status` showed for each guest, polled through the whole run.
    const seen = new Map<string, Set<string>>();
    const polling = new AbortController();
    t.after(() => polling.abort());
    const poller = (async () => {
      while (!polling.signal.aborted) {
        for (const h of await fleetHosts(endpoint).catch(() => [])) {
          const set = seen.get(h.machineId) ?? new Set<string>();
          set.add(`${h.version}/${h.booted}/${h.state}`);
          seen.set(h.machineId, set);
        }
        await sleep(3000);
      }
    })();
    const machines = {
      one: await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: 'scenario6-one', bootPath: 'gptprio', serverPort: env.port, forwards: [{ guestPort: GUEST_ETCD_PORT, hostPort: etcdPort }] }),
      two: await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: 'scenario6-two', bootPath: 'gptprio', serverPort: env.port, forwards: [{ guestPort: GUEST_ETCD_PORT, hostPort: etcdPort }] }),
    };

    await machines.one.run(() =>
      machines.two.run(async () => {
        // Both boot v1 at the same moment; nobody tells them anything until each has rebooted by itself.
        const cycle = async (name: 'one' | 'two') => {
          const machine = machines[name];
          const first = await machine.boot({ run: firstBoot(ids[name]), timeoutMs: 15 * 60_000 });
          // Boot 2: post-boot commits B and gives the lock back; then the guest powers off (nothing newer to wait for).
          const second = await machine.boot({ run: POST_BOOT_THEN_DAEMON, timeoutMs: 9 * 60_000 });
          return { first, second };
        };
        const cycles = Promise.all([cycle('one'), cycle('two')]);
        cycles.catch(() => undefined);
        // The operator holds the lock until both guests have installed v2 and found it busy: from then on
        // both want to reboot at the same time, whatever the emulation speed of each.
        const bothWaiting = (): boolean => (['one', 'two'] as const).every((name) => linesWith(machines[name].vms[0], 'lock busy', OPERATOR).length > 0);
        const stopWaiting = new AbortController();
        const endedEarly = cycles.then(() => assert.ok(bothWaiting(), 'a guest finished its cycle while the operator held the lock'));
        endedEarly.catch(() => undefined);
        try {
          await Promise.race([waitUntil(bothWaiting, 12 * 60_000, stopWaiting.signal), endedEarly]);
        } finally {
          stopWaiting.abort();
        }
        // Before: the fleet view shows both guests on A with v1, each waiting to reboot into v2. A guest that has just
        // said "lock busy" may not have written its entry yet (a host writes at most every 2 s, and an emulated
        // guest is slow): the view is given up to a minute to catch up, then compared.
        const wanted = JSON.stringify([['one', '1.0.0', 'A', 'UPDATED_NEED_REBOOT'], ['two', '1.0.0', 'A', 'UPDATED_NEED_REBOOT']]);
        const shown = (hosts: FleetHost[]) => hosts.map((h) => [nameOf(h.machineId), h.version, h.booted, h.state]).sort();
        let before = await fleetHosts(endpoint);
        for (const deadline = performance.now() + 60_000; JSON.stringify(shown(before)) !== wanted && performance.now() < deadline; ) {
          await sleep(1000);
          before = await fleetHosts(endpoint);
        }
        process.stderr.write(`[scenario6] fleet status while both wait: ${before.map((h) => `${nameOf(h.machineId)} ${h.version}/${h.booted}/${h.state}`).join(', ')}\n`);
        assert.deepEqual(shown(before), JSON.parse(wanted));
        const operatorReleased = performance.now();
        const unlock = await runCli(['reboot-lock', 'unlock', OPERATOR, '--endpoints', endpoint, '--json']);
        assert.equal(unlock.code, 0, unlock.stderr);
        process.stderr.write(`[scenario6] both guests wait for the lock; the operator releases it at ${since(operatorReleased)}\n`);
        const results = await cycles;
        polling.abort();
        await poller;
        // After: each guest was shown on B with v2 (its boot-2 daemon); none is left once the daemons stopped.
        for (const [name, id] of Object.entries(ids)) {
          const views = [...(seen.get(id) ?? [])];
          process.stderr.write(`[scenario6] fleet status showed ${name}: ${views.join(', ')}\n`);
          assert.ok(views.includes('2.0.0/B/IDLE'), `fleet status showed ${name} on B with 2.0.0: ${views.join(', ')}`);
        }
        assert.deepEqual(await fleetHosts(endpoint), [], 'a daemon stopped by SIGTERM leaves the fleet view at once');
        for (const { first, second } of results) {
          assert.deepEqual([first.slot, first.version, first.state, first.end], ['A', '1.0.0', 'good', 'reboot']);
          assert.deepEqual([second.slot, second.version, second.state, second.end], ['B', '2.0.0', 'trying', 'poweroff']);
        }

        // etcd's own record: never more than one holder; the operator, then one guest, then the other held it.
        for (const v of history) process.stderr.write(`[scenario6] etcd ${since(v.at)}: ${v.semaphore} of ${v.max} free, holders [${v.holders.map(nameOf).join(', ')}]\n`);
        for (const v of history) {
          assert.equal(v.max, 1);
          assert.ok(v.holders.length <= 1, `never two holders: ${JSON.stringify(v.holders)}`);
          assert.equal(v.semaphore + v.holders.length, 1);
        }
        const holderRuns = history.map((v) => v.holders.join(',')).filter((h, i, all) => i === 0 || h !== all[i - 1]);
        assert.equal(holderRuns.length, 7, `lock history: ${JSON.stringify(holderRuns)}`);
        const early: 'one' | 'two' = holderRuns[3] === ids.one ? 'one' : 'two';
        const late: 'one' | 'two' = early === 'one' ? 'two' : 'one';
        assert.deepEqual(holderRuns, ['', OPERATOR, '', ids[early], '', ids[late], '']);
        /** Host time at which etcd's watch reported that ID no longer held the lock. */
        const releasedBy = (id: string): number => {
          const from = history.findIndex((v) => v.holders.includes(id));
          return history.slice(from).find((v) => !v.holders.includes(id))?.at ?? Number.NaN;
        };

        // Per guest, from its serial console: it took the lock, then rebooted; on B, post-boot committed, then
        // released the lock. Its reboot window runs from /sbin/reboot's marker to etcd's record of the release.
        const windows: { rebootStart: number; released: number }[] = [];
        for (const name of [early, late]) {
          const [boot1, boot2] = machines[name].vms;
          const id = ids[name];
          assert.equal((await boot2?.waitForMarker({ step: 'post-boot' }, 1))?.fields['code'], '0');
          inOrder(boot1, ['took the etcd lock', 'halt=reboot']);
          inOrder(boot2, ['slot B is healthy and committed', 'released the etcd lock', 'step=post-boot']);
          assert.equal(linesWith(boot1, 'took the etcd lock', id).length, 1, `${name} took the lock once, as ${id}`);
          assert.equal(linesWith(boot2, 'released the etcd lock', id).length, 1, `${name} released it as ${id}`);
          assert.deepEqual(await readGptprio(machines[name].disk, machines[name].layout, 'B'), { priority: 2, tries: 0, successful: 1 });
          const window = { name, rebootStart: await markerTime(boot1, { halt: 'reboot' }), released: releasedBy(id), committed: await markerTime(boot2, { step: 'post-boot' }) };
          process.stderr.write(
            `[scenario6] ${name} (${id}): reboot started ${since(window.rebootStart)}, lock released ${since(window.released)}, post-boot done ${since(window.committed)}; ` +
              `"lock busy" ${linesWith(boot1, 'lock busy').length} time(s)\n`,
          );
          windows.push(window);
        }
        const [first, second] = windows;
        assert.ok(first && second);
        // No guest rebooted while the operator held the lock, and the reboot windows do not overlap.
        assert.ok(operatorReleased < first.rebootStart, 'no guest rebooted while the operator held the lock');
        assert.ok(first.rebootStart < first.released, `${early} rebooted before it released the lock`);
        assert.ok(first.released < second.rebootStart, `${early} released the lock at ${since(first.released)}, before ${late} started rebooting at ${since(second.rebootStart)}`);
        assert.ok(second.rebootStart < second.released);
        // The later guest was ready while the earlier one held the lock: it had to wait for it.
        assert.ok(linesWith(machines[late].vms[0], 'lock busy', ids[early]).length >= 1, `${late} found the lock held by ${early} while it wanted to reboot`);

        // The lock ends free, as the operator command reports it.
        const status = await runCli(['reboot-lock', 'status', '--endpoints', endpoint, '--json']);
        assert.equal(status.code, 0, status.stderr);
        const final = JSON.parse(status.stdout) as { semaphore: number; max: number; holders: string[] };
        assert.deepEqual([final.semaphore, final.max, final.holders], [1, 1, []]);
        process.stderr.write(`[scenario6] whole run ${since(performance.now())}\n`);
      }),
    );
  });
});
