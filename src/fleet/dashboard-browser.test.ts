// The dashboard in Debian's headless Chromium against a real etcd: it shows the hosts etcd holds, follows a change
// live, refuses to act without a token, pauses a group with one (seen in etcd), and is usable from the keyboard.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { launchChromium } from '../../fixtures/chromium.js';
import { useEtcdForFile } from '../../fixtures/etcd.js';
import { sampleReport, type SampleHost } from '../../fixtures/fleet-hosts.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { createMemoryLogger } from '../log.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { lockSemaphore, setSemaphoreMax } from '../reboot/etcd-semaphore.js';
import { startDashboard } from './dashboard-server.js';
import { FleetKeys } from './fleet-keys.js';
import { parseHostReport } from './host-report.js';
import { markRollback, setGate } from './rollout.js';

// The page's document, inside the functions playwright runs in the browser (this project compiles without the DOM lib).
declare const document: any;

const getEtcd = useEtcdForFile();
let client: EtcdClient;
const TOKEN = 'browser-token-0123456789abcdef';

before(async () => {
  client = new EtcdClient({ endpoints: (await getEtcd()).endpoints });
});

test('the dashboard in Chromium shows the hosts in etcd, refuses pause without the token, and pauses the group with it', async (t) => {
  const keys = new FleetKeys('b1/fleet');
  const hosts: SampleHost[] = [];
  for (let i = 0; i < 24; i++) {
    const group = i < 14 ? 'web' : 'db';
    const version = i % 3 === 0 ? '1.9.0' : '2.0.0';
    hosts.push({ machineId: `m${String(i).padStart(2, '0')}${'ab'.repeat(3)}`, group, version, state: i === 5 ? 'DOWNLOADING' : i === 7 ? 'UPDATED_NEED_REBOOT' : 'IDLE', ...(i === 5 ? { percent: 62, other: '2.1.0' } : {}), ...(i === 7 ? { rebootLock: true } : {}), ...(i === 9 ? { lastErrorCode: 'ERR_HEALTH_CHECK', badVersions: ['2.1.0'] } : {}) });
  }
  const { id } = await client.grantLease(120);
  for (const h of hosts) await client.put(keys.host(h.machineId), JSON.stringify(sampleReport(h)), { lease: id });
  await setGate({ client, keys }, 'web', 2, 'test');
  await markRollback({ client, keys }, { group: 'web', version: '2.1.0', machineId: hosts[9]!.machineId, code: 'ERR_HEALTH_CHECK' });
  await setSemaphoreMax({ client }, 2);
  await lockSemaphore({ client }, hosts[7]!.machineId);

  const stop = new AbortController();
  const dashboard = await startDashboard({ client, keys, host: '127.0.0.1', port: 0, token: TOKEN, logger: createMemoryLogger(), signal: stop.signal, batchMs: 50 });
  t.after(() => dashboard.close());
  await dashboard.ready;
  const context = await launchChromium(t);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  // The refused request below logs its 401 in the console; any other console error counts.
  page.on('console', (m) => m.type() === 'error' && !/status of 401/.test(m.text()) && problems.push(m.text()));
  await page.goto(`${dashboard.url}/`);

  // What the page shows against what etcd holds: every host row with its group, version and state.
  await page.waitForFunction((n) => document.querySelectorAll('#hosts tr').length === n, hosts.length);
  const inEtcd = (await client.range(keys.hostsPrefix, { prefix: true })).kvs.map((kv) => parseHostReport(kv.value)!);
  const rows = await page.$$eval('#hosts tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  assert.equal(rows.length, inEtcd.length);
  for (const report of inEtcd) {
    const row = rows.find((r) => r[0] === report.machineId);
    assert.ok(row, `row for ${report.machineId}`);
    assert.equal(row[1], report.group);
    assert.equal(row[2], report.version);
    assert.equal(row[3], report.state + (report.progress ? ` ${report.progress.percent}%` : ''));
  }
  assert.match((await page.textContent('#total')) ?? '', /^24 host\(s\) reporting/);
  const chart = await page.$$eval('#chart .bar', (bars) => bars.map((b) => b.getAttribute('aria-label')));
  assert.deepEqual(chart, ['db: 1.9.0 3, 2.0.0 7', 'web: 1.9.0 5, 2.0.0 9'], 'versions per group, as text for screen readers too');
  assert.match((await page.textContent('#locks')) ?? '', new RegExp(hosts[7]!.machineId), 'the reboot-lock holder');
  assert.match((await page.textContent('#rollbacks')) ?? '', /web2\.1\.01 \(m09/, 'the rollback of 2.1.0');

  // Live: a host changing in etcd changes on the page without a reload.
  await client.put(keys.host(hosts[0]!.machineId), JSON.stringify(sampleReport({ ...hosts[0]!, version: '2.0.0', state: 'HEALTH_CHECK' })), { lease: id });
  await page.waitForFunction((m) => document.querySelector(`#hosts tr[data-host="${m}"] td:nth-child(4)`)?.textContent === 'HEALTH_CHECK', hosts[0]!.machineId);

  // Without a token the switches are disabled; a request sent anyway is refused and nothing changes in etcd.
  assert.equal(await page.isDisabled('button[data-key="toggle:web"]'), true);
  const refused = await page.evaluate(async () => (await fetch('/api/groups/web/pause', { method: 'POST', body: '{}' })).status);
  assert.equal(refused, 401);
  assert.equal(JSON.parse((await client.get(keys.control('web')))!.value).paused, false);

  // With the token, from the keyboard: type it, submit with Enter, Tab to "Pause web" and press it.
  await page.focus('#token');
  await page.keyboard.type(TOKEN);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => !document.querySelector('button[data-key="toggle:web"]').disabled);
  await page.focus('button[data-key="toggle:web"]');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Pause web');
  await page.keyboard.press('Enter');
  await waitFor('the group paused in etcd', async () => JSON.parse((await client.get(keys.control('web')))!.value).paused === true);
  await page.waitForFunction(() => document.querySelector('button[data-key="toggle:web"]')?.textContent === 'Resume web');
  assert.match((await page.textContent('#groups')) ?? '', /webpaused|web14paused/);
  assert.match((await page.textContent('#action-result')) ?? '', /Done: pause web/);
  assert.deepEqual(problems, [], `no script errors on the page: ${problems.join('; ')}`);

  const dir = await makeTempDir(t, 'abupdate-shot-');
  const shot = path.join(dir, 'fleet-dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok((await stat(shot)).size > 10_000, 'a screenshot was saved');
  if (process.env.ABUPDATE_SCREENSHOT) await copyFile(shot, process.env.ABUPDATE_SCREENSHOT);
});
