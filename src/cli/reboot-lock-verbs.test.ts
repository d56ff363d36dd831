// `abupdate reboot-lock reboot` and `send-need-reboot` (locksmithctl's remaining verbs), --group, --etcd-api v2 and the
// etcd TLS flags, against Debian's etcd (with --enable-v2) and a private dbus-daemon.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../fixtures/cli.js';
import { etcdctl, useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { makeRebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTestPki } from '../../fixtures/tls.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';

const pki = await makeTestPki({ after });
const getEtcd = useEtcdForFile({ enableV2: true });
const getTlsEtcd = useEtcdForFile({ tls: pki });
let etcd: EtcdCluster;

before(async () => {
  etcd = await getEtcd();
});

const MACHINE_ID = '0123456789abcdef0123456789abcdef';

async function scene(t: Parameters<typeof makeTempDir>[0], exitCode?: number) {
  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir, exitCode === undefined ? {} : { exitCode });
  const machineId = path.join(dir, 'machine-id');
  await writeFile(machineId, `${MACHINE_ID}\n`);
  const conf = path.join(dir, 'update.conf');
  await writeFile(conf, `ETCD_ENDPOINTS=${etcd.endpoints.join(',')}\nREBOOT_COMMAND=${recorder.command('host-a').join(' ')}\nMACHINE_ID_PATH=${machineId}\n`);
  return { recorder, conf, env: { ABUPDATE_VENDOR_CONFIG: path.join(dir, 'absent.conf') } };
}

test('reboot-lock reboot takes the lock in --group and runs REBOOT_COMMAND; the lock stays held, as with locksmithctl', async (t) => {
  const { recorder, conf, env } = await scene(t);
  const result = await runCli(['reboot-lock', 'reboot', '--config', conf, '--group', 'verbs', '--json'], { env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.json().rebooting, true);
  assert.deepEqual(await recorder.rebooted(), ['host-a']);
  assert.equal(await etcdctl(etcd, ['get', '--print-value-only', 'coreos.com/updateengine/rebootlock/groups/verbs/semaphore']), `{"semaphore":0,"max":1,"holders":["${MACHINE_ID}"]}`);
  // Another host cannot take it now: no reboot.
  const other = await scene(t);
  const refused = await runCli(['reboot-lock', 'reboot', '--config', other.conf, '--group', 'verbs', '--id', 'host-b'], { env: other.env });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /all 1 slot\(s\) are held .*\[ERR_REBOOT_LOCK\]/);
  assert.deepEqual(await other.recorder.rebooted(), []);
});

test('reboot-lock reboot gives the slot back when the reboot command fails', async (t) => {
  const { conf, env } = await scene(t, 3);
  const result = await runCli(['reboot-lock', 'reboot', '--config', conf, '--group', 'verbs-fail'], { env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Cannot reboot: .* failed: .*\[ERR_REBOOT\]/);
  assert.equal(await etcdctl(etcd, ['get', '--print-value-only', 'coreos.com/updateengine/rebootlock/groups/verbs-fail/semaphore']), '{"semaphore":1,"max":1,"holders":[]}');
});

test('reboot-lock --etcd-api v2 works on the v2 key locksmithd uses (and v3 does not see it)', async () => {
  const endpoints = etcd.endpoints.join(',');
  const lock = await runCli(['reboot-lock', 'lock', '--id', 'host-v2', '--group', 'v2', '--endpoint', endpoints, '--etcd-api', 'v2']);
  assert.equal(lock.code, 0, lock.stderr);
  const v2 = (await (await fetch(`${etcd.endpoints[0]}/v2/keys/coreos.com/updateengine/rebootlock/groups/v2/semaphore`)).json()) as { node: { value: string } };
  assert.equal(v2.node.value, '{"semaphore":0,"max":1,"holders":["host-v2"]}');
  const status = await runCli(['reboot-lock', 'status', '--group', 'v2', '--endpoints', endpoints, '--etcd-api', 'v2', '--json']);
  assert.deepEqual([status.json().api, status.json().holders], ['v2', ['host-v2']]);
  const v3 = await runCli(['reboot-lock', 'status', '--group', 'v2', '--endpoints', endpoints, '--json']);
  assert.deepEqual([v3.json().api, v3.json().holders], ['v3', []], 'the v3 keyspace is separate: that is why ETCD_API=v2 exists');
  const bad = await runCli(['reboot-lock', 'status', '--endpoints', endpoints, '--etcd-api', 'v4']);
  assert.equal(bad.code, 2);
});

test('reboot-lock with --etcd-cafile/--etcd-certfile/--etcd-keyfile talks to etcd over TLS; a wrong CA is ERR_TLS', async () => {
  const tlsEtcd = await getTlsEtcd();
  const endpoints = tlsEtcd.endpoints.join(',');
  const ok = await runCli(['reboot-lock', 'lock', '--id', 'host-tls', '--endpoints', endpoints, '--etcd-cafile', pki.caFile, '--etcd-certfile', pki.clientCertFile, '--etcd-keyfile', pki.clientKeyFile, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(ok.json().holders, ['host-tls']);
  const wrong = await runCli(['reboot-lock', 'status', '--endpoints', endpoints, '--etcd-cafile', pki.otherCaFile, '--etcd-certfile', pki.clientCertFile, '--etcd-keyfile', pki.clientKeyFile]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /failed TLS verification: its certificate is not signed by a trusted CA .*\[ERR_TLS\]/);
});

test('reboot-lock send-need-reboot emits update_engine\'s StatusUpdate UPDATED_NEED_REBOOT on the system bus', async (t) => {
  const dir = await makeTempDir(t);
  const socket = path.join(dir, 'bus');
  const config = path.join(dir, 'bus.conf');
  await writeFile(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/><allow user="*"/></policy></busconfig>\n`);
  const bus = spawn('dbus-daemon', ['--config-file', config, '--nofork', '--nopidfile'], { stdio: 'ignore' });
  t.after(() => {
    bus.kill();
  });
  const address = `unix:path=${socket}`;
  await waitFor('the bus socket', async () => (await import('node:fs/promises')).stat(socket).then(() => true, () => false));
  let seen = '';
  const monitor = spawn('dbus-monitor', ['--address', address, "type='signal',interface='com.coreos.update1.Manager'"], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => {
    monitor.kill();
  });
  monitor.stdout.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  await waitFor('dbus-monitor to subscribe', () => seen.includes('NameAcquired') || seen.length > 0);
  const result = await runCli(['reboot-lock', 'send-need-reboot', '--json'], { env: { DBUS_SYSTEM_BUS_ADDRESS: address } });
  assert.equal(result.code, 0, result.stderr);
  await waitFor('the signal', () => seen.includes('UPDATE_STATUS_UPDATED_NEED_REBOOT'));
  assert.match(seen, /signal .*path=\/com\/coreos\/update1; interface=com\.coreos\.update1\.Manager; member=StatusUpdate/);
  assert.match(seen, /int64 0\s+double 0\s+string "UPDATE_STATUS_UPDATED_NEED_REBOOT"\s+string ""\s+int64 0/);
});
