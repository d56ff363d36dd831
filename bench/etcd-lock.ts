// Benchmark of the etcd reboot lock on a real local etcd: lock/unlock latency and a fleet cycling through the semaphore.
// Run: node --import tsx bench/etcd-lock.ts [HOSTS] [MAX]   (prints one JSON line)

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEtcd } from '../fixtures/etcd.js';
import { EtcdClient } from '../src/reboot/etcd-client.js';
import { lockSemaphore, setSemaphoreMax, unlockSemaphore } from '../src/reboot/etcd-semaphore.js';
import { applyRebootStrategy, releaseRebootLock, type RebootConfig } from '../src/reboot/strategy.js';

const hosts = Number(process.argv[2] ?? 50);
const max = Number(process.argv[3] ?? 5);
const cleanups: (() => Promise<void> | void)[] = [];
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return Number((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0).toFixed(1));
};

try {
  const etcd = await startEtcd({ after: (fn) => cleanups.push(fn) });
  const client = new EtcdClient({ endpoints: etcd.endpoints });
  const target = { client, group: 'bench-latency' };
  const lock: number[] = [];
  const unlock: number[] = [];
  for (let i = 0; i < 100; i++) {
    let t = performance.now();
    await lockSemaphore(target, 'bench-host');
    lock.push(performance.now() - t);
    t = performance.now();
    await unlockSemaphore(target, 'bench-host');
    unlock.push(performance.now() - t);
  }

  await setSemaphoreMax({ client, group: 'bench-fleet' }, max);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: hosts }, async (_, i) => {
      const cfg: RebootConfig = { strategy: 'etcd-lock', rebootCommand: ['true'], etcdEndpoints: etcd.endpoints, group: 'bench-fleet', machineId: `host-${i}` };
      await applyRebootStrategy(cfg, { backoff: { initialMs: 20, maxMs: 200 } });
      await sleep(50);
      await releaseRebootLock(cfg);
    }),
  );
  const fleetMs = performance.now() - started;
  process.stdout.write(
    `${JSON.stringify({
      lockMs: { p50: percentile(lock, 50), p95: percentile(lock, 95) },
      unlockMs: { p50: percentile(unlock, 50), p95: percentile(unlock, 95) },
      fleet: { hosts, max, holdMs: 50, totalMs: Math.round(fleetMs) },
    })}\n`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
