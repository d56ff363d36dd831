// Fleet benchmark: 1,000 simulated hosts (in-process, each its own etcd client and lease) against a real 3-member
// etcd on 127.0.0.1 report through an update and contend for the reboot lock (max 10); one member is stopped in the
// middle. Prints: hosts lost, the most holders etcd ever recorded, dashboard JSON latency, and the page's render time.
// Run: npm run bench:fleet [-- HOSTS]

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { launchChromium } from '../fixtures/chromium.js';
import { startEtcd, watchEtcdKey } from '../fixtures/etcd.js';
import { sampleReport } from '../fixtures/fleet-hosts.js';
import { startDashboard } from '../src/fleet/dashboard-server.js';
import { FleetKeys } from '../src/fleet/fleet-keys.js';
import { createHostPublisher, type HostPublisher } from '../src/fleet/host-publisher.js';
import { parseHostReport } from '../src/fleet/host-report.js';
import { createMemoryLogger, type Logger } from '../src/log.js';

const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
import { EtcdClient } from '../src/reboot/etcd-client.js';
import { isSemaphoreFull, lockSemaphore, semaphoreKey, setSemaphoreMax, unlockSemaphore } from '../src/reboot/etcd-semaphore.js';

const HOSTS = Number(process.argv[2] ?? 1000);
const MAX = 10;
const GROUP = 'bench';
const PREFIX = 'bench/fleet';
const cleanups: (() => Promise<void> | void)[] = [];
const t = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
const ms = (n: number) => Number(n.toFixed(1));
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return ms(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
};
const log = (line: string) => process.stderr.write(`bench:fleet: ${line}\n`);

async function simulateHost(i: number, endpoints: string[], keys: FleetKeys, stop: AbortSignal, held: { now: number; max: number }, publishers: HostPublisher[]): Promise<void> {
  const machineId = `bench${String(i).padStart(4, '0')}`;
  const client = new EtcdClient({ endpoints, timeoutMs: 3000 });
  const publisher = createHostPublisher({ client, keys, machineId, logger: silentLogger, ttlSeconds: 20, minIntervalMs: 1000, retryMs: 200, maxRetryMs: 2000 });
  publishers.push(publisher);
  const running = publisher.run(stop);
  const report = (h: Partial<Parameters<typeof sampleReport>[0]>) => publisher.publish(sampleReport({ machineId, group: GROUP, version: '1.0.0', ...h }));
  report({});
  await publisher.flushed();
  await sleep(Math.random() * 3000);
  for (const percent of [10, 50, 90]) {
    report({ state: 'DOWNLOADING', percent, other: '2.0.0' });
    await sleep(300 + Math.random() * 300);
  }
  report({ state: 'UPDATED_NEED_REBOOT', other: '2.0.0' });
  // Contend for the reboot lock like the daemon: a full semaphore or a lost race waits and tries again.
  const target = { client, group: GROUP };
  for (let attempt = 0; ; attempt++) {
    try {
      await lockSemaphore(target, machineId);
      break;
    } catch (error) {
      if (!isSemaphoreFull(error) && !(error instanceof Error)) throw error;
      await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 4)) * (0.5 + Math.random()));
    }
  }
  held.now += 1;
  held.max = Math.max(held.max, held.now);
  report({ state: 'UPDATED_NEED_REBOOT', other: '2.0.0', rebootLock: true });
  await sleep(100); // the "reboot"
  report({ version: '2.0.0', other: '1.0.0', state: 'IDLE' });
  held.now -= 1;
  for (let attempt = 0; ; attempt++) {
    try {
      await unlockSemaphore(target, machineId);
      break;
    } catch {
      await sleep(200);
    }
  }
  await publisher.flushed();
  void running;
}

try {
  const etcd = await startEtcd(t, { size: 3 });
  log(`3-member etcd up: ${etcd.endpoints.join(', ')}`);
  const admin = new EtcdClient({ endpoints: etcd.endpoints });
  await setSemaphoreMax({ client: admin, group: GROUP }, MAX);
  const keys = new FleetKeys(PREFIX);
  const stop = new AbortController();
  const dashboard = await startDashboard({ client: new EtcdClient({ endpoints: [...etcd.endpoints].reverse() }), keys, host: '127.0.0.1', port: 0, token: undefined, logger: createMemoryLogger(), signal: stop.signal });
  t.after(() => dashboard.close());
  await dashboard.ready;

  const held = { now: 0, max: 0 };
  const publishers: HostPublisher[] = [];
  const started = performance.now();
  let done = 0;
  const hosts = Array.from({ length: HOSTS }, (_, i) =>
    (async () => {
      await sleep((i / HOSTS) * 5000); // hosts come up over 5 s
      await simulateHost(i, etcd.endpoints, keys, stop.signal, held, publishers);
      done += 1;
    })(),
  );

  // Dashboard JSON latency while the fleet reports, sampled every 250 ms; one member stopped at half-way.
  const latencies: number[] = [];
  let stoppedMember: string | undefined;
  let stoppedAt: number | undefined;
  const all = Promise.all(hosts);
  let finished = false;
  void all.then(() => (finished = true));
  while (!finished) {
    const t0 = performance.now();
    const body = (await (await fetch(`${dashboard.url}/api/fleet`)).json()) as { counts: { hosts: number } };
    latencies.push(performance.now() - t0);
    if (stoppedMember === undefined && done >= HOSTS / 2) {
      const member = etcd.members[0]!;
      stoppedMember = member.name;
      stoppedAt = performance.now() - started;
      await member.stop();
      log(`stopped etcd member ${member.name} (${member.clientUrl}) with ${done} hosts through; ${body.counts.hosts} on the dashboard`);
    }
    await sleep(250);
  }
  await all;
  const fleetMs = performance.now() - started;
  log(`all ${HOSTS} hosts updated in ${Math.round(fleetMs)} ms`);
  for (const p of publishers) await p.flushed();
  await sleep(1500); // the dashboard's last watch batch

  // No lost host: every one in etcd (on the members still up), updated, and on the dashboard.
  const inEtcd = (await admin.range(keys.hostsPrefix, { prefix: true })).kvs.map((kv) => parseHostReport(kv.value));
  const updated = inEtcd.filter((r) => r?.version === '2.0.0' && r.state === 'IDLE').length;
  const onDashboard = dashboard.model.snapshot().hosts.length;

  // The most holders the semaphore ever had, from every revision of the key etcd kept (watch from revision 1).
  const live = etcd.members.find((m) => m.running())!;
  let maxHoldersInEtcd = 0;
  let revisions = 0;
  const history = watchEtcdKey(live.clientUrl, semaphoreKey(GROUP), (value) => {
    revisions += 1;
    if (value !== undefined) maxHoldersInEtcd = Math.max(maxHoldersInEtcd, (JSON.parse(value) as { holders: string[] }).holders.length);
  });
  await history.ready;
  const target = Number((await admin.get(semaphoreKey(GROUP)))!.modRevision);
  const watchDeadline = Date.now() + 30_000;
  while (Date.now() < watchDeadline) {
    const lastSeen = revisions;
    await sleep(300);
    if (lastSeen === revisions && revisions > 0) break;
  }
  history.stop();

  // Dashboard JSON at rest with all hosts.
  const rest: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const text = await (await fetch(`${dashboard.url}/api/fleet`)).text();
    rest.push(performance.now() - t0);
    bytes = text.length;
  }

  // The page renders every host (Debian's headless Chromium).
  const context = await launchChromium(t);
  const page = await context.newPage();
  const t0 = performance.now();
  await page.goto(`${dashboard.url}/`);
  await page.waitForFunction((n: number) => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('#hosts tr').length === n, HOSTS, { timeout: 60_000 });
  const renderMs = performance.now() - t0;

  stop.abort();
  const result = {
    hosts: HOSTS,
    etcdMembers: 3,
    stoppedMember: { name: stoppedMember, atMs: stoppedAt === undefined ? null : Math.round(stoppedAt) },
    lostHosts: HOSTS - inEtcd.length,
    hostsInEtcd: inEtcd.length,
    hostsUpdated: updated,
    hostsOnDashboard: onDashboard,
    rebootLock: { max: MAX, mostHoldersSeenByHosts: held.max, mostHoldersInEtcd: maxHoldersInEtcd, semaphoreRevisions: revisions, lastRevision: target },
    fleetMs: Math.round(fleetMs),
    dashboardJson: {
      bytes,
      duringRunMs: { n: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: percentile(latencies, 100) },
      atRestMs: { n: rest.length, p50: percentile(rest, 50), p95: percentile(rest, 95), max: percentile(rest, 100) },
      targetMs: 200,
    },
    page: { rowsRendered: await page.$$eval('#hosts tr', (rows) => rows.length), loadToAllRowsMs: Math.round(renderMs) },
  };
  const ok = result.lostHosts === 0 && result.hostsOnDashboard === HOSTS && maxHoldersInEtcd <= MAX && held.max <= MAX;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stdout.write(
    [
      `no lost host: ${result.lostHosts === 0 ? 'yes' : 'NO'} (${result.hostsInEtcd} of ${HOSTS} in etcd, ${updated} updated to 2.0.0, ${onDashboard} on the dashboard) after stopping member ${stoppedMember}`,
      `reboot lock never held by more than ${MAX}: ${maxHoldersInEtcd <= MAX ? 'yes' : 'NO'} (most holders in any of ${revisions} revisions in etcd: ${maxHoldersInEtcd}; seen by hosts: ${held.max})`,
      `dashboard JSON (/api/fleet, ${bytes} bytes): p50 ${result.dashboardJson.atRestMs.p50} ms, p95 ${result.dashboardJson.atRestMs.p95} ms at rest; p95 ${result.dashboardJson.duringRunMs.p95} ms, max ${result.dashboardJson.duringRunMs.max} ms during the run (target 200 ms)`,
      `page renders ${result.page.rowsRendered} hosts, ${result.page.loadToAllRowsMs} ms from load to the last row`,
      '',
    ].join('\n'),
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
